// Minimal JSON-lines writer: one flat or nested object per line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tracekit {

std::string json_escape(std::string_view s);  // with surrounding quotes

// Builds one JSON object: JsonObject o; o.add("pid", 12).add("comm", "sh"); o.str()
class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, long long value);
  JsonObject& add(std::string_view key, unsigned long long value);
  JsonObject& add(std::string_view key, int value) { return add(key, static_cast<long long>(value)); }
  JsonObject& add(std::string_view key, unsigned value) { return add(key, static_cast<unsigned long long>(value)); }
  JsonObject& add(std::string_view key, long value) { return add(key, static_cast<long long>(value)); }
  JsonObject& add(std::string_view key, unsigned long value) { return add(key, static_cast<unsigned long long>(value)); }
  JsonObject& add(std::string_view key, double value);
  JsonObject& add(std::string_view key, bool value);
  JsonObject& add_null(std::string_view key);
  JsonObject& add_raw(std::string_view key, std::string_view json);  // pre-rendered value
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};

// Renders a JSON array from pre-rendered elements.
class JsonArray {
 public:
  JsonArray& add_raw(std::string_view json);
  JsonArray& add(std::string_view s) { return add_raw(json_escape(s)); }
  std::string str() const { return "[" + body_ + "]"; }

 private:
  std::string body_;
};

}  // namespace tracekit
