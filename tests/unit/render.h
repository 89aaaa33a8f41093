// Helpers for unit tests of rendering: a JSON object from a field writer.
#pragma once

#include <string>
#include <utility>

#include "output/json.h"

// "{...}" made by f(JsonLine&).
template <class F>
std::string json_of(F&& f) {
  std::string out;
  tracekit::JsonLine j(out);
  std::forward<F>(f)(j);
  j.finish();
  return out;
}
