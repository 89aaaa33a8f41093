#include "jsonl.h"

#include <catch2/catch.hpp>

#include <regex>

#include "harness.h"

namespace harness {

std::vector<Json> json_lines(const std::string& out, const std::string& tool) {
  static const std::regex ts(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  std::vector<Json> v;
  for (const auto& l : lines(out)) {
    INFO(l);
    Json j;
    REQUIRE_NOTHROW(j = Json::parse(l));
    REQUIRE(j.is_object());
    CHECK(j.value("tool", "") == tool);
    REQUIRE(j.contains("type"));
    REQUIRE(j["type"].is_string());
    REQUIRE(j.contains("ts"));
    CHECK(std::regex_match(j["ts"].get<std::string>(), ts));
    v.push_back(std::move(j));
  }
  return v;
}

std::vector<Json> of_type(const std::vector<Json>& lines, const std::string& type) {
  std::vector<Json> v;
  for (const auto& j : lines)
    if (j["type"] == type) v.push_back(j);
  return v;
}

std::optional<TextSummary> text_summary(const std::string& out) {
  static const std::regex re(
      R"((?:^|\n)Traced ([0-9.]+) s: (\d+) ([a-z ]+), (\d+) lost, (\d+) evicted, (\d+) not counted\n)");
  std::smatch m;
  if (!std::regex_search(out, m, re)) return std::nullopt;
  TextSummary s;
  s.seconds = std::stod(m[1]);
  s.events = std::stoull(m[2]);
  s.events_name = m[3];
  s.lost = std::stoull(m[4]);
  s.evicted = std::stoull(m[5]);
  s.not_counted = std::stoull(m[6]);
  return s;
}

}  // namespace harness
