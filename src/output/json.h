// JSON lines, written straight into a caller's buffer.
//
//   std::string line;
//   JsonLine j(line);                       // '{'
//   j.field("pid", 12).field("comm", comm);
//   j.begin_array("args"); for (...) j.element(arg); j.end();
//   j.finish();                             // adds "invalid_utf8" if needed, then '}'
//
// Strings follow src/output/strings.h: valid UTF-8 unchanged, only ", \ and control
// characters escaped; a string that is not valid UTF-8 is written in the escaped form
// (\xHH, doubled backslashes) and its field is named in "invalid_utf8" ("args.2" for
// an array element). Numbers are exact (integers) or shortest round-trip (doubles; not
// finite -> null).
//
// Why not nlohmann-json's DOM and dump()? Measured on an execve event of 20 fields:
// 3.46 us to build and dump an ordered_json, 1.39 us with a reused DOM and serializer,
// 0.69 us for the writer this replaces; the tracer's whole budget per event is ~4 us.
// Tests parse every line the tools write with nlohmann-json (tests/unit/json_test.cc,
// the integration suites), so the library remains the judge of what is valid.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tracekit {

// Appends s as a JSON string literal (quotes included). Returns false when s was not
// valid UTF-8 and was written in the escaped form.
bool append_json_string(std::string& out, std::string_view s);

class JsonLine {
 public:
  explicit JsonLine(std::string& out);
  JsonLine(const JsonLine&) = delete;
  JsonLine& operator=(const JsonLine&) = delete;

  JsonLine& field(std::string_view key, std::string_view value);
  JsonLine& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  JsonLine& field(std::string_view key, const std::string& value) { return field(key, std::string_view(value)); }
  JsonLine& field(std::string_view key, bool value);
  JsonLine& field(std::string_view key, double value);
  JsonLine& field(std::string_view key, int value) { return field(key, static_cast<long long>(value)); }
  JsonLine& field(std::string_view key, long value) { return field(key, static_cast<long long>(value)); }
  JsonLine& field(std::string_view key, long long value);
  JsonLine& field(std::string_view key, unsigned value) { return field(key, static_cast<unsigned long long>(value)); }
  JsonLine& field(std::string_view key, unsigned long value) {
    return field(key, static_cast<unsigned long long>(value));
  }
  JsonLine& field(std::string_view key, unsigned long long value);
  JsonLine& null(std::string_view key);
  // A value already rendered as JSON (an exact decimal such as 0.244123127).
  JsonLine& raw(std::string_view key, std::string_view json);

  // Nested values: begin_*(key) inside an object, begin_*() inside an array; end()
  // closes the innermost one.
  JsonLine& begin_array(std::string_view key);
  JsonLine& begin_object(std::string_view key);
  JsonLine& begin_array();
  JsonLine& begin_object();
  JsonLine& end();

  // Array elements.
  JsonLine& element(std::string_view value);
  JsonLine& element(long long value);
  JsonLine& element(unsigned long long value);
  JsonLine& element(double value);

  // Closes every open level; adds "invalid_utf8":[...] when a string needed it.
  void finish();

 private:
  void key(std::string_view k);
  void comma();
  void string_value(std::string_view v);
  void path_of_current(std::string& path) const;

  struct Level {
    bool array;
    bool first;
    std::string_view key;  // this level's key in its parent (outlives the writer)
    size_t index;          // arrays: elements written so far
  };
  std::string& out_;
  std::vector<Level> stack_;
  std::string_view current_key_;
  std::vector<std::string> invalid_;
};

}  // namespace tracekit
