#include <catch2/catch.hpp>

#include <chrono>

#include "format.h"
#include "json.h"

using namespace tracekit;

TEST_CASE("human_bytes matches the original's units", "[format]") {
  CHECK(human_bytes(0) == "0.00  B");
  CHECK(human_bytes(913) == "913.00  B");
  CHECK(human_bytes(3523) == "3.44 KB");
  CHECK(human_bytes(1024 * 1024) == "1.00 MB");
}

TEST_CASE("iso8601 is UTC with milliseconds", "[format]") {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764074944123LL));
  CHECK(iso8601(t) == "2025-11-25T12:49:04.123Z");
}

TEST_CASE("json escaping and objects", "[json]") {
  CHECK(json_escape("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
  CHECK(json_escape("\xff") == "\"\\u00ff\"");
  JsonObject o;
  o.add("uid", 1001u).add("user", "alice").add("ok", true).add("x", -5).add_null("n");
  CHECK(o.str() == R"({"uid":1001,"user":"alice","ok":true,"x":-5,"n":null})");
  JsonArray a;
  a.add("p").add_raw("1");
  CHECK(a.str() == R"(["p",1])");
}

TEST_CASE("user names resolve through NSS", "[format]") {
  CHECK(user_name(0) == std::optional<std::string>("root"));
  CHECK_FALSE(user_name(4000000000u).has_value());
}
