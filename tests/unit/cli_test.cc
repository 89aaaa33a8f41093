#include <catch2/catch.hpp>

#include <vector>

#include "cli.h"
#include "error.h"

using namespace tracekit;

namespace {
struct Argv {
  std::vector<std::string> args;
  std::vector<char*> ptrs;
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) ptrs.push_back(s.data());
  }
  int argc() { return static_cast<int>(ptrs.size()); }
  char** argv() { return ptrs.data(); }
};

Cli make_cli() {
  Cli cli("tool", "A test tool.", "  tool -i 1\n");
  cli.options().add_options()("i,interval", "secs", cxxopts::value<std::string>()->default_value("5"), "S")(
      "c,count", "n", cxxopts::value<std::string>()->default_value("0"), "N");
  cli.options().parse_positional({"interval", "count"});
  return cli;
}
}  // namespace

TEST_CASE("common flags are parsed", "[cli]") {
  Cli cli = make_cli();
  Argv a({"tool", "-d", "2.5", "--json", "-v", "--kernel-headers", "/tmp/k"});
  auto r = cli.parse(a.argc(), a.argv());
  REQUIRE(r);
  CHECK(cli.common().duration == 2.5);
  CHECK(cli.common().json);
  CHECK(cli.common().verbose);
  CHECK(cli.common().kernel_headers == "/tmp/k");
  CHECK(get_seconds(*r, "interval", false) == 5.0);
}

TEST_CASE("positional interval and count", "[cli]") {
  Cli cli = make_cli();
  Argv a({"tool", "2", "7"});
  auto r = cli.parse(a.argc(), a.argv());
  REQUIRE(r);
  CHECK(get_seconds(*r, "interval", false) == 2.0);
  CHECK(get_count(*r, "count", 0, 100) == 7);
}

TEST_CASE("usage errors are UsageError with exit code 2", "[cli]") {
  SECTION("unknown flag") {
    Cli cli = make_cli();
    Argv a({"tool", "--bogus"});
    REQUIRE_THROWS_AS(cli.parse(a.argc(), a.argv()), UsageError);
  }
  SECTION("bad duration") {
    Cli cli = make_cli();
    Argv a({"tool", "-d", "soon"});
    try {
      cli.parse(a.argc(), a.argv());
      FAIL("no exception");
    } catch (const UsageError& e) {
      CHECK(e.exit_code() == 2);
      CHECK(std::string(e.what()).find("--duration") != std::string::npos);
    }
  }
  SECTION("negative and zero interval, bad count") {
    for (const char* bad : {"-1", "0", "1x", "nan", "inf"}) {
      Cli cli = make_cli();
      Argv a({"tool", "-i", bad});
      auto r = cli.parse(a.argc(), a.argv());
      REQUIRE(r);
      CHECK_THROWS_AS(get_seconds(*r, "interval", false), UsageError);
    }
    Cli cli = make_cli();
    Argv a({"tool", "-c", "-3"});
    auto r = cli.parse(a.argc(), a.argv());
    REQUIRE(r);
    CHECK_THROWS_AS(get_count(*r, "count", 0, 100), UsageError);
  }
  SECTION("extra positional") {
    Cli cli = make_cli();
    Argv a({"tool", "1", "2", "3"});
    CHECK_THROWS_AS(cli.parse(a.argc(), a.argv()), UsageError);
  }
}

TEST_CASE("help ends with examples", "[cli]") {
  Cli cli = make_cli();
  std::string help = cli.help();
  CHECK(help.find("--duration") != std::string::npos);
  CHECK(help.find("--kernel-headers") != std::string::npos);
  CHECK(help.rfind("EXAMPLES:\n  tool -i 1\n") == help.size() - std::string("EXAMPLES:\n  tool -i 1\n").size());
}
