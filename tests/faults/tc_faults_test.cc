// The TC tools (tcp_tracker, tcp_duration) under faults, each case a real run on the
// host end of a veth pair into a throwaway netns, with heavy traffic (an iperf3 stream
// plus a loop of short connections):
//   - SIGINT / SIGTERM / SIGHUP: exit 0, a final report, every output line parseable,
//     no filter or tcx program of ours left;
//   - SIGKILL: tcx leaves nothing attached; clsact leaves its filters, which the next
//     start replaces (exactly one of ours per direction) and whose clean exit removes;
//     a foreign clsact filter installed before survives all of it;
//   - the interface removed while running: one clear error line, exit 1.
#include <catch2/catch.hpp>

#include <signal.h>
#include <string.h>

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "netns.h"

using harness::ToolProcess;
using testnet::TestNet;

namespace {

constexpr uint16_t kConnPort = 5001;
constexpr uint16_t kBulkPort = 5201;

// The network, a server and the load. The load starts in the constructor.
struct Loaded {
  TestNet net;
  testnet::TcpServer server;
  std::optional<faults::BulkLoad> bulk;
  std::optional<faults::ConnLoad> conns;

  explicit Loaded(const std::string& tag, int seconds = 40, bool bulk_stream = true)
      : net(tag), server(net.ns(), kConnPort, seconds + 20) {
    if (bulk_stream) bulk.emplace(net.ns(), net.peer_ip4(), kBulkPort, seconds);
    conns.emplace(net.peer_ip4(), kConnPort, seconds);
  }
};

// tcp_duration's output file of a run.
struct ToolRun {
  std::string tool;
  std::string out_file;  // tcp_duration -o
  std::unique_ptr<ToolProcess> proc;
};

ToolRun start_tool(const std::string& tool, const std::string& iface, const std::string& mode,
                   const faults::TempDir& dir, std::vector<std::string> extra = {}) {
  ToolRun r;
  r.tool = tool;
  std::vector<std::string> argv = {harness::tool_path(tool), iface, "--attach", mode, "--json"};
  if (tool == "tcp_tracker") {
    argv.insert(argv.end(), {"-i", "1"});
  } else {
    r.out_file = dir.file("s.dat");
    argv.insert(argv.end(), {"-o", r.out_file, "--plot", dir.file("graph.png")});
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  r.proc = std::make_unique<ToolProcess>(argv);
  return r;
}

int ours(const std::string& dev, const std::string& dir) { return testnet::tc_filter_count(dev, dir, true); }

// Every stdout line a JSON object; returns them. `final_expected`: the run ended
// normally, so the last report must be there.
std::vector<std::string> check_json_stdout(const ToolRun& r, bool final_expected) {
  bool unterminated = true;
  auto lines = faults::split_lines(r.proc->out(), &unterminated);
  INFO(r.tool << " stdout tail: " << r.proc->out().substr(r.proc->out().size() > 600 ? r.proc->out().size() - 600 : 0));
  CHECK_FALSE(unterminated);
  size_t bad = 0;
  for (const auto& l : lines)
    if (!faults::is_json(l)) ++bad;
  CHECK(bad == 0);
  if (final_expected) {
    REQUIRE(lines.size() >= 1);
    // Every run ends with one summary line; tcp_tracker's final report comes before it.
    CHECK(faults::json_string(lines.back(), "type") == "summary");
    if (r.tool == "tcp_tracker") {
      REQUIRE(lines.size() >= 2);
      CHECK(lines[lines.size() - 2].find("\"final\":true") != std::string::npos);
    }
  }
  return lines;
}

// tcp_duration: the file holds exactly the connection lines of stdout, each one JSON,
// and the tool itself reads every line back (--plot-only).
void check_duration_file(const ToolRun& r, const std::vector<std::string>& stdout_lines, const faults::TempDir& dir) {
  bool unterminated = true;
  auto file_lines = faults::split_lines(faults::read_file(r.out_file), &unterminated);
  CHECK_FALSE(unterminated);
  std::vector<std::string> conn_lines;
  for (const auto& l : stdout_lines)
    if (faults::json_string(l, "type") == "connection") conn_lines.push_back(l);
  CHECK(file_lines == conn_lines);
  size_t bad = 0;
  for (const auto& l : file_lines)
    if (!faults::is_json(l) || faults::json_string(l, "type") != "connection") ++bad;
  CHECK(bad == 0);
  if (!stdout_lines.empty() && faults::json_string(stdout_lines.back(), "type") == "summary")
    CHECK(faults::json_number(stdout_lines.back(), "count") == static_cast<long long>(file_lines.size()));
  auto back = harness::run(
      {harness::tool_path("tcp_duration"), "--plot-only", r.out_file, "--plot", dir.file("replot.png"), "--json"}, 60);
  INFO("--plot-only stderr: " << back.err);
  CHECK(back.exit_code == 0);
  CHECK(back.err.find("no duration") == std::string::npos);  // no unparsed line
  CHECK(faults::json_number(back.out, "count") == static_cast<long long>(file_lines.size()));
  faults::note(r.tool + ": " + std::to_string(file_lines.size()) + " connection lines in the file, all parsed back");
}

void check_nothing_of_ours(const TestNet& net) {
  CHECK(ours(net.host_if(), "ingress") == 0);
  CHECK(ours(net.host_if(), "egress") == 0);
  CHECK(testnet::eventually([&] { return testnet::tcx_prog_count(net.host_ifindex(), "ingress") == 0; }));
  CHECK(testnet::eventually([&] { return testnet::tcx_prog_count(net.host_ifindex(), "egress") == 0; }));
}

void check_attached(const TestNet& net, const std::string& mode) {
  if (mode == "clsact") {
    CHECK(ours(net.host_if(), "ingress") == 1);
    CHECK(ours(net.host_if(), "egress") == 1);
  } else {
    CHECK(testnet::tcx_prog_count(net.host_ifindex(), "ingress") == 1);
    CHECK(testnet::tcx_prog_count(net.host_ifindex(), "egress") == 1);
  }
}

const char* sig_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"; }

}  // namespace

TEST_CASE("TC tools: SIGINT, SIGTERM and SIGHUP under load give a final report and leave nothing", "[signals][tc]") {
  const std::string tool = GENERATE(as<std::string>{}, "tcp_tracker", "tcp_duration");
  const std::string mode = GENERATE(as<std::string>{}, "tcx", "clsact");
  const int sig = GENERATE(SIGINT, SIGTERM, SIGHUP);
  INFO(tool << " --attach " << mode << ", " << sig_name(sig));
  faults::TempDir dir("sig");
  Loaded load("sg");
  ToolRun r = start_tool(tool, load.net.host_if(), mode, dir);
  REQUIRE(r.proc->wait_for_stderr_line("Attached", 90));
  check_attached(load.net, mode);
  faults::pump_for(*r.proc, 2.5);
  r.proc->signal(sig);
  const int rc = r.proc->wait_exit(30);
  INFO("stderr: " << r.proc->err());
  CHECK(rc == 0);
  auto conns = load.conns->stop();
  check_nothing_of_ours(load.net);
  if (mode == "clsact") CHECK_FALSE(testnet::has_clsact(load.net.host_if()));  // we created it, we removed it
  auto lines = check_json_stdout(r, true);
  if (tool == "tcp_duration") check_duration_file(r, lines, dir);
  CHECK(harness::lines(r.proc->err()).size() >= 1);
  CHECK(r.proc->err().find("error") == std::string::npos);
  faults::note(tool + " " + mode + " " + sig_name(sig) + ": exit " + std::to_string(rc) + ", " +
               std::to_string(lines.size()) + " stdout lines, " + std::to_string(conns.first) +
               " connections made during the run");
}

TEST_CASE("TC tools: SIGKILL with tcx leaves nothing attached", "[sigkill][tc]") {
  const std::string tool = GENERATE(as<std::string>{}, "tcp_tracker", "tcp_duration");
  INFO(tool);
  faults::TempDir dir("kill");
  Loaded load("kt");
  ToolRun r = start_tool(tool, load.net.host_if(), "tcx", dir);
  REQUIRE(r.proc->wait_for_stderr_line("Attached", 90));
  check_attached(load.net, "tcx");
  faults::pump_for(*r.proc, 1.5);
  r.proc->signal(SIGKILL);
  CHECK(r.proc->wait_exit(10) == 128 + SIGKILL);
  check_nothing_of_ours(load.net);
  CHECK_FALSE(testnet::has_clsact(load.net.host_if()));
  if (tool == "tcp_duration") {
    // What was written before the kill is whole lines.
    bool unterminated = true;
    auto file_lines = faults::split_lines(faults::read_file(r.out_file), &unterminated);
    CHECK_FALSE(unterminated);
    for (const auto& l : file_lines) CHECK(faults::is_json(l));
  }
}

TEST_CASE("TC tools: SIGKILL with clsact: the next start recovers, a clean exit leaves none, a foreign filter survives",
          "[sigkill][tc]") {
  const std::string tool = GENERATE(as<std::string>{}, "tcp_tracker", "tcp_duration");
  const bool foreign = GENERATE(true, false);
  INFO(tool << (foreign ? " with" : " without") << " a foreign filter");
  faults::TempDir dir("killc");
  Loaded load("kc");
  const std::string dev = load.net.host_if();
  faults::ClsactCleanup cleanup(dev);  // the killed run leaves the qdisc and our filters
  std::optional<faults::ForeignFilter> ff;
  if (foreign) {
    ff.emplace(dev);
    REQUIRE(ff->count() == 2);
  }
  {
    ToolRun r = start_tool(tool, dev, "clsact", dir);
    REQUIRE(r.proc->wait_for_stderr_line("Attached", 90));
    check_attached(load.net, "clsact");
    faults::pump_for(*r.proc, 1.5);
    r.proc->signal(SIGKILL);
    CHECK(r.proc->wait_exit(10) == 128 + SIGKILL);
  }
  // clsact filters are not owned by the process: ours stay, as documented.
  CHECK(ours(dev, "ingress") == 1);
  CHECK(ours(dev, "egress") == 1);
  if (ff) CHECK(ff->count() == 2);

  faults::TempDir dir2("killc2");
  ToolRun r = start_tool(tool, dev, "clsact", dir2);
  REQUIRE(r.proc->wait_for_stderr_line("Attached", 90));
  CHECK(ours(dev, "ingress") == 1);  // replaced, not duplicated
  CHECK(ours(dev, "egress") == 1);
  if (ff) CHECK(ff->count() == 2);
  faults::pump_for(*r.proc, 3);
  r.proc->signal(SIGINT);
  INFO("stderr: " << r.proc->err());
  CHECK(r.proc->wait_exit(30) == 0);
  CHECK(ours(dev, "ingress") == 0);
  CHECK(ours(dev, "egress") == 0);
  if (ff) {
    CHECK(ff->count() == 2);
    CHECK(testnet::has_clsact(dev));
  }
  // The recovered run really traced: it saw the load's traffic.
  auto lines = check_json_stdout(r, true);
  size_t seen = 0;
  for (const auto& l : lines)
    if ((tool == "tcp_tracker" && faults::json_number(l, "dst_port") == kConnPort) ||
        (tool == "tcp_duration" && faults::json_number(l, "server_port") == kConnPort))
      ++seen;
  CHECK(seen > 0);
  if (tool == "tcp_duration") check_duration_file(r, lines, dir2);
}

TEST_CASE("TC tools: the interface removed while running -> one clear line, exit 1", "[iface_gone][tc]") {
  const std::string tool = GENERATE(as<std::string>{}, "tcp_tracker", "tcp_duration");
  const std::string mode = GENERATE(as<std::string>{}, "tcx", "clsact");
  INFO(tool << " --attach " << mode);
  faults::TempDir dir("gone");
  Loaded load("ig", 30, false);
  const std::string dev = load.net.host_if();
  ToolRun r = start_tool(tool, dev, mode, dir);
  REQUIRE(r.proc->wait_for_stderr_line("Attached", 90));
  faults::pump_for(*r.proc, 2);
  load.net.delete_link();
  const int rc = r.proc->wait_exit(20);
  load.conns->stop();
  INFO("stderr: " << r.proc->err());
  CHECK(rc == 1);
  std::vector<std::string> errors;
  for (const auto& l : harness::lines(r.proc->err()))
    if (l.find("error") != std::string::npos) errors.push_back(l);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == tool + ": error: interface " + dev + " disappeared");
  for (const char* noise : {"libbpf", "Cannot", "No such device"})
    CHECK(r.proc->err().find(noise) == std::string::npos);
  auto lines = check_json_stdout(r, true);
  if (tool == "tcp_duration") check_duration_file(r, lines, dir);
}
