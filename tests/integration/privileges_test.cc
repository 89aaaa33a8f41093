// Least privilege: every tool runs as an unprivileged uid with the capability set its
// doc lists and counts exactly; without one of them it exits 1 with a line naming it;
// once attached it holds no capability (CAP_NET_ADMIN only for a clsact filter) and has
// no_new_privs; --user nobody runs as nobody after attaching and still cleans up.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "jsonl.h"
#include "netns.h"

using harness::ToolProcess;
using testnet::TestNet;

namespace {

constexpr uid_t kRunUid = 4517;    // the unprivileged uid the tools run as
constexpr uid_t kExecUid = 54371;  // execs as this uid come from these tests only

const std::string kTraceCaps = "+bpf,+perfmon,+dac_read_search";
const std::string kTcCaps = "+bpf,+perfmon,+net_admin";

// argv that runs `tool args` as kRunUid with exactly `caps`.
std::vector<std::string> as_user(const std::string& caps, const std::string& tool, std::vector<std::string> args) {
  return harness::as_uid(kRunUid, caps, harness::tool_path(tool), args);
}

std::map<std::string, std::string> proc_status(pid_t pid) {
  std::map<std::string, std::string> m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    m[line.substr(0, colon)] = v;
  }
  return m;
}

std::unique_ptr<ToolProcess> start(const std::vector<std::string>& argv) {
  auto p = std::make_unique<ToolProcess>(argv);
  bool attached = p->wait_for_stderr_line("Attached", 90);
  INFO(p->err());
  REQUIRE(attached);
  usleep(100 * 1000);  // the drop follows the Attached line
  return p;
}

void check_dropped(pid_t pid, const std::string& want_eff) {
  auto st = proc_status(pid);
  CHECK(st["CapEff"] == want_eff);
  CHECK(st["CapPrm"] == want_eff);
  CHECK(st["CapAmb"] == "0000000000000000");
  CHECK(st["NoNewPrivs"] == "1");
}

std::string drop_one(const std::string& caps, const std::string& cap) {
  std::string out;
  size_t pos = 0;
  while (pos <= caps.size()) {
    size_t comma = caps.find(',', pos);
    std::string c = caps.substr(pos, comma - pos);
    if (c != "+" + cap) out += (out.empty() ? "" : ",") + c;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("privileges: execve tools as an unprivileged uid with their set, then nothing", "[privileges]") {
  auto dumb = start(as_user(kTraceCaps, "execve_dumb", {"--json", "-i", "1"}));
  auto enriched = start(as_user(kTraceCaps, "execve_enriched", {"--json", "-u", std::to_string(kExecUid)}));
  for (auto* p : {dumb.get(), enriched.get()}) {
    CHECK(proc_status(p->pid())["Uid"].rfind(std::to_string(kRunUid) + "\t", 0) == 0);
    check_dropped(p->pid(), "0000000000000000");
  }
  harness::exec_as(kExecUid, "/bin/true", {"true"}, 23);
  usleep(1300 * 1000);
  dumb->signal(SIGINT);
  enriched->signal(SIGINT);
  REQUIRE(dumb->wait_exit(20) == 0);
  REQUIRE(enriched->wait_exit(20) == 0);
  auto reports = harness::of_type(harness::json_lines(dumb->out(), "execve_dumb"), "report");
  REQUIRE_FALSE(reports.empty());
  uint64_t counted = 0;
  for (const auto& u : reports.back()["users"])
    if (u["uid"] == kExecUid) counted = u["count"].get<uint64_t>();
  CHECK(counted == 23);
  CHECK(harness::of_type(harness::json_lines(enriched->out(), "execve_enriched"), "event").size() == 23);
}

TEST_CASE("privileges: TC tools as an unprivileged uid with their set count exactly", "[privileges]") {
  TestNet net("pv");
  testnet::TcpServer server(net.ns(), 5501);
  faults::TempDir dir("priv");
  ::chown(dir.path().c_str(), kRunUid, kRunUid);
  auto tracker = start(as_user(kTcCaps, "tcp_tracker", {net.host_if(), "--json", "-i", "60"}));
  auto duration = start(as_user(kTcCaps, "tcp_duration",
                                {net.host_if(), "--json", "-o", dir.file("d.json"), "--plot", dir.file("g.png")}));
  for (auto* p : {tracker.get(), duration.get()}) check_dropped(p->pid(), "0000000000000000");  // tcx: nothing kept
  testnet::Capture cap(net.host_if(), "tcp port 5501");
  for (int i = 0; i < 7; ++i) REQUIRE(testnet::tcp_transfer(net.peer_ip4(), 5501, 3000 + 101 * i, 50).ok);
  auto frames = cap.stop();
  tracker->signal(SIGINT);
  duration->signal(SIGINT);
  REQUIRE(tracker->wait_exit(20) == 0);
  REQUIRE(duration->wait_exit(20) == 0);
  auto summary = harness::json_lines(tracker->out(), "tcp_tracker").back();
  CHECK(summary["events"] == frames.size());  // every packet tcpdump saw, once
  CHECK(harness::of_type(harness::json_lines(duration->out(), "tcp_duration"), "connection").size() == 7);
}

TEST_CASE("privileges: without one capability of the set, exit 1 with the line naming it", "[privileges]") {
  struct Case {
    std::string tool, caps;
    std::vector<std::string> args;
  };
  TestNet net("pm");
  const std::vector<Case> cases = {
      {"execve_dumb", kTraceCaps, {"-d", "1"}},
      {"execve_enriched", kTraceCaps, {"-d", "1"}},
      {"tcp_tracker", kTcCaps, {net.host_if(), "-d", "1"}},
      {"tcp_duration", kTcCaps, {net.host_if(), "-d", "1", "-o", "/dev/null", "--no-plot"}}};
  for (const auto& c : cases) {
    for (std::string cap : {"bpf", "perfmon", "dac_read_search", "net_admin"}) {
      if (c.caps.find("+" + cap) == std::string::npos) continue;
      INFO(c.tool << " without CAP_" << cap);
      auto r = harness::run(as_user(drop_one(c.caps, cap), c.tool, c.args), 60);
      CHECK(r.exit_code == 1);
      auto errs = harness::lines(r.err);
      std::string upper = cap;
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      REQUIRE(errs.size() == 1);
      CHECK(errs[0].rfind(c.tool + ": error: needs CAP_" + upper + " ", 0) == 0);
      if (cap == "dac_read_search")
        CHECK(errs[0].find("to read tracefs (/sys/kernel/tracing is 0700)") != std::string::npos);
      CHECK(r.out.empty());
    }
  }
}

TEST_CASE("privileges: --user nobody after attaching; clsact keeps only CAP_NET_ADMIN and removes its filter",
          "[privileges]") {
  TestNet net("pu");
  testnet::TcpServer server(net.ns(), 5502);
  auto tool = start({harness::tool_path("tcp_tracker"), net.host_if(), "--attach", "clsact", "--user", "nobody",
                     "--json", "-i", "60"});
  auto st = proc_status(tool->pid());
  CHECK(st["Uid"] == "65534\t65534\t65534\t65534");
  check_dropped(tool->pid(), "0000000000001000");  // CAP_NET_ADMIN (12) only
  CHECK(testnet::tc_filter_count(net.host_if(), "ingress", true) == 1);
  testnet::Capture cap(net.host_if(), "tcp port 5502");
  for (int i = 0; i < 5; ++i) REQUIRE(testnet::tcp_transfer(net.peer_ip6(), 5502, 1000 + 7 * i, 10).ok);
  auto frames = cap.stop();
  tool->signal(SIGINT);
  REQUIRE(tool->wait_exit(20) == 0);
  INFO(tool->err());
  CHECK(harness::json_lines(tool->out(), "tcp_tracker").back()["events"] == frames.size());
  CHECK(testnet::tc_filter_count(net.host_if(), "ingress", true) == 0);
  CHECK(testnet::tc_filter_count(net.host_if(), "egress", true) == 0);
  CHECK_FALSE(testnet::has_clsact(net.host_if()));
  // And the exec tools as nobody.
  auto r = harness::run({harness::tool_path("execve_dumb"), "--user", "nobody", "-d", "1"}, 60);
  CHECK(r.exit_code == 0);
  auto bad = harness::run({harness::tool_path("execve_dumb"), "--user", "no-such-user-xyz", "-d", "1"}, 60);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("no such user: no-such-user-xyz") != std::string::npos);
}
