#include <catch2/catch.hpp>

#include <chrono>

#include "util/format.h"
#include "util/user.h"

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

TEST_CASE("user names resolve through NSS", "[format]") {
  CHECK(user_name(0) == std::optional<std::string>("root"));
  CHECK_FALSE(user_name(4000000000u).has_value());
}

TEST_CASE("uid_from_name takes numbers and names", "[format]") {
  CHECK(uid_from_name("0") == std::optional<uid_t>(0));
  CHECK(uid_from_name("root") == std::optional<uid_t>(0));
  CHECK(uid_from_name("4500") == std::optional<uid_t>(4500));
  CHECK_FALSE(uid_from_name("no-such-user-here"));
  CHECK_FALSE(uid_from_name(""));
  CHECK_FALSE(uid_from_name("4294967295"));  // (uid_t)-1 is no uid
  CHECK_FALSE(uid_from_name("99999999999"));
}
