// The runner's command line (cli/cli.h): common flags by kind of tool, the positional
// [interval [count]] of every interval tool (after IFACE for TC tools), -T.
#include <catch2/catch.hpp>

#include <vector>

#include "cli/cli.h"
#include "util/error.h"

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

ToolInfo interval_tool(bool tc = false) {
  ToolInfo i;
  i.name = "tool";
  i.summary = "A test tool.";
  i.examples = "  tool -i 1\n";
  i.kind = ToolKind::Interval;
  i.default_interval = 5;
  i.tc = tc;
  return i;
}

ToolInfo stream_tool() {
  ToolInfo i = interval_tool();
  i.kind = ToolKind::Stream;
  i.event_buffer = true;
  i.syscall_probes = true;
  return i;
}

CommonOptions parse(ToolInfo info, std::vector<std::string> args) {
  Cli cli(std::move(info));
  args.insert(args.begin(), "tool");
  Argv a(args);
  auto r = cli.parse(a.argc(), a.argv());
  REQUIRE(r);
  return cli.common();
}

void expect_usage_error(ToolInfo info, std::vector<std::string> args, const std::string& contains) {
  Cli cli(std::move(info));
  args.insert(args.begin(), "tool");
  Argv a(args);
  try {
    cli.parse(a.argc(), a.argv());
    FAIL("no exception for " << contains);
  } catch (const UsageError& e) {
    CHECK(e.exit_code() == 2);
    CHECK_THAT(e.what(), Catch::Contains(contains));
  }
}
}  // namespace

TEST_CASE("common flags are parsed", "[cli]") {
  CommonOptions c = parse(interval_tool(), {"-d", "2.5", "--json", "-v", "-T", "--kernel-headers", "/tmp/k"});
  CHECK(c.duration == 2.5);
  CHECK(c.json);
  CHECK(c.verbose);
  CHECK(c.timestamps);
  CHECK(c.kernel_headers == "/tmp/k");
  CHECK(c.interval == 5.0);  // the tool's default
  CHECK(c.count == 0);
}

TEST_CASE("interval tools: -i/-c and the positional [interval [count]]", "[cli]") {
  CommonOptions c = parse(interval_tool(), {"2", "7"});
  CHECK(c.interval == 2.0);
  CHECK(c.count == 7);
  c = parse(interval_tool(), {"0.5"});
  CHECK(c.interval == 0.5);
  CHECK(c.count == 0);
  c = parse(interval_tool(), {"-i", "3", "-c", "4"});
  CHECK(c.interval == 3.0);
  CHECK(c.count == 4);
  SECTION("TC interval tools: IFACE first, then [interval [count]]") {
    c = parse(interval_tool(true), {"veth0", "1", "3"});
    CHECK(c.ifname == "veth0");
    CHECK(c.interval == 1.0);
    CHECK(c.count == 3);
    CHECK(c.directions.size() == 2);
    CHECK_FALSE(c.direction_given);
    c = parse(interval_tool(true), {"lo", "--direction", "ingress", "--attach", "clsact"});
    CHECK(c.ifname == "lo");
    CHECK(c.direction_given);
    REQUIRE(c.directions.size() == 1);
    CHECK(c.directions[0] == TcDirection::Ingress);
    CHECK(c.attach == TcMode::Clsact);
  }
  SECTION("stream tools have neither") {
    expect_usage_error(stream_tool(), {"-i", "1"}, "does not exist");
    expect_usage_error(stream_tool(), {"1"}, "unexpected argument: 1");
  }
}

TEST_CASE("stream tools: --buffer, --wakeup, --probe", "[cli]") {
  CommonOptions c = parse(stream_tool(), {"--buffer", "perf", "--wakeup", "each", "--probe", "tracepoint"});
  CHECK(c.buffer == BufferKind::Perf);
  CHECK(c.wakeup_each);
  CHECK(c.probe == ProbeMode::Tracepoint);
  c = parse(stream_tool(), {});
  CHECK(c.buffer == BufferKind::Ring);
  CHECK_FALSE(c.wakeup_each);
  CHECK(c.probe == ProbeMode::Auto);
}

TEST_CASE("usage errors are UsageError with exit code 2, naming the flag", "[cli]") {
  expect_usage_error(interval_tool(), {"--bogus"}, "bogus");
  expect_usage_error(interval_tool(), {"-d", "soon"}, "--duration");
  for (const char* bad : {"-1", "0", "1x", "nan", "inf"})
    expect_usage_error(interval_tool(), {"-i", bad}, "--interval");
  expect_usage_error(interval_tool(), {"-c", "-3"}, "--count");
  expect_usage_error(interval_tool(), {"1", "2", "3"}, "unexpected argument: 3");
  expect_usage_error(interval_tool(true), {"lo", "--attach", "xdp"},
                     "bad value for --attach: 'xdp' (expected auto, tcx or clsact)");
  expect_usage_error(interval_tool(true), {"lo", "--direction", "up"},
                     "bad value for --direction: 'up' (expected ingress, egress or both)");
  expect_usage_error(stream_tool(), {"--buffer", "pipe"}, "bad value for --buffer: 'pipe' (expected ring or perf)");
  expect_usage_error(stream_tool(), {"--wakeup", "never"}, "bad value for --wakeup: 'never' (expected batch or each)");
  expect_usage_error(stream_tool(), {"--probe", "uprobe"},
                     "bad value for --probe: 'uprobe' (expected auto, tracepoint or kprobe)");
}

TEST_CASE("help lists the common flags of the kind and ends with examples", "[cli]") {
  Cli cli(interval_tool(true));
  std::string help = cli.help();
  for (const char* flag : {"--duration", "--kernel-headers", "--interval", "--count", "--timestamp", "--attach"})
    CHECK_THAT(help, Catch::Contains(flag));
  CHECK_THAT(help, Catch::Contains("IFACE [interval [count]]"));
  CHECK(help.rfind("EXAMPLES:\n  tool -i 1\n") == help.size() - std::string("EXAMPLES:\n  tool -i 1\n").size());
  CHECK_THAT(Cli(stream_tool()).help(), !Catch::Contains("--interval"));
}
