// Reading the tools' output the way a consumer would: JSON lines with nlohmann-json,
// and the text summary line.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace harness {

using Json = nlohmann::json;

// Every line of `out` parsed as JSON. A line that does not parse, or that lacks the
// envelope (tool, type, ts in RFC 3339 UTC with milliseconds), fails the test.
std::vector<Json> json_lines(const std::string& out, const std::string& tool);
// The lines of one type.
std::vector<Json> of_type(const std::vector<Json>& lines, const std::string& type);

// The text summary "Traced 3.1 s: 23 execve calls, 0 lost, 0 evicted, 0 not counted".
struct TextSummary {
  double seconds = 0;
  unsigned long long events = 0, lost = 0, evicted = 0, not_counted = 0;
  std::string events_name;
};
std::optional<TextSummary> text_summary(const std::string& out);

}  // namespace harness
