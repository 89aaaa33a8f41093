// The one output layer, seen from outside: every tool's --json output parses line by
// line with nlohmann-json, every line carries tool/type/ts, the last line is the
// summary, and its numbers equal the text summary of an equal run (both modes run side
// by side on the same workload). Exact strings: valid UTF-8 unchanged, invalid bytes
// in the documented form, control characters escaped in text.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "jsonl.h"
#include "netns.h"

using harness::Json;
using harness::ToolProcess;
using testnet::TestNet;

namespace {

constexpr uid_t kUid = 54361;  // execs as this uid come from these tests only

std::unique_ptr<ToolProcess> start(const std::string& tool, std::vector<std::string> args) {
  args.insert(args.begin(), harness::tool_path(tool));
  auto p = std::make_unique<ToolProcess>(args);
  bool attached = p->wait_for_stderr_line("Attached", 90);
  INFO(p->err());
  REQUIRE(attached);
  return p;
}

// Stops both runs, checks the JSON envelope on every line and returns (json summary,
// text summary).
std::pair<Json, harness::TextSummary> stop_both(const std::string& tool, ToolProcess& json, ToolProcess& text) {
  json.signal(SIGINT);
  text.signal(SIGINT);
  REQUIRE(json.wait_exit(30) == 0);
  REQUIRE(text.wait_exit(30) == 0);
  auto lines = harness::json_lines(json.out(), tool);
  REQUIRE_FALSE(lines.empty());
  INFO(json.out());
  REQUIRE(lines.back()["type"] == "summary");
  CHECK(harness::of_type(lines, "summary").size() == 1);
  for (const char* key : {"duration_s", "events", "lost", "evicted", "not_counted"}) CHECK(lines.back().contains(key));
  auto t = harness::text_summary(text.out());
  INFO(text.out());
  REQUIRE(t);
  // The summary is the text mode's last line too.
  CHECK(harness::lines(text.out()).back().rfind("Traced ", 0) == 0);
  return {lines.back(), *t};
}

// `background`: the runs also see packets the test did not send (IPv6 neighbour and
// multicast listener traffic, not TCP), at moments that differ between two runs, so
// their not-counted numbers may differ by those.
void check_equal(const Json& j, const harness::TextSummary& t, bool background = false) {
  CHECK(j["events"] == t.events);
  CHECK(j["lost"] == t.lost);
  CHECK(j["evicted"] == t.evicted);
  if (!background) CHECK(j["not_counted"] == t.not_counted);
  // The runs start one after the other (each waits for the previous one's Attached).
  CHECK(j["duration_s"].get<double>() == Approx(t.seconds).margin(4.0));
}

}  // namespace

TEST_CASE("output: execve_enriched, JSON and text summaries of one workload agree", "[output][execve_enriched]") {
  const std::string uid = std::to_string(kUid);
  auto json = start("execve_enriched", {"--json", "-u", uid});
  auto text = start("execve_enriched", {"-u", uid});
  harness::exec_as(kUid, "/bin/true", {"true"}, 23);
  usleep(300 * 1000);
  auto [j, t] = stop_both("execve_enriched", *json, *text);
  CHECK(j["events"] == 23);
  CHECK(j["printed"] == 23);
  check_equal(j, t);
  CHECK(t.events_name == "execve calls");
  auto lines = harness::json_lines(json->out(), "execve_enriched");
  CHECK(harness::of_type(lines, "event").size() == 23);
}

TEST_CASE("output: execve_dumb, JSON and text reports of one workload agree", "[output][execve_dumb]") {
  auto json = start("execve_dumb", {"--json", "-i", "1"});
  auto text = start("execve_dumb", {"-i", "1"});
  harness::exec_as(kUid + 1, "/bin/true", {"true"}, 23);
  usleep(1200 * 1000);
  auto [j, t] = stop_both("execve_dumb", *json, *text);
  // Other processes of the machine exec too: the totals are each run's own sum; the
  // test uid's count is exact in both.
  auto lines = harness::json_lines(json->out(), "execve_dumb");
  auto reports = harness::of_type(lines, "report");
  REQUIRE_FALSE(reports.empty());
  const Json& last = reports.back();
  CHECK(last["final"] == true);
  CHECK(j["events"] == last["total"]);
  bool found = false;
  for (const auto& u : last["users"])
    if (u["uid"] == kUid + 1) {
      found = true;
      CHECK(u["count"] == 23);
    }
  CHECK(found);
  CHECK(text->out().find("User ID " + std::to_string(kUid + 1) + " has invoked 23 times execve syscall!") !=
        std::string::npos);
  CHECK(t.events_name == "execve calls");
  CHECK(j["lost"] == t.lost);
  CHECK(j["evicted"] == t.evicted);
}

TEST_CASE("output: tcp_tracker and tcp_duration, JSON and text summaries of one workload agree",
          "[output][tcp_tracker][tcp_duration]") {
  TestNet net("ou");
  testnet::TcpServer server(net.ns(), 5301);
  faults::TempDir dir("out");
  auto tj = start("tcp_tracker", {net.host_if(), "--json", "-i", "1"});
  auto tt = start("tcp_tracker", {net.host_if(), "-i", "1"});
  auto dj = start("tcp_duration", {net.host_if(), "--json", "-o", dir.file("j.dat"), "--no-plot"});
  auto dt = start("tcp_duration", {net.host_if(), "-o", dir.file("t.dat"), "--no-plot"});
  const int n = 29;
  for (int i = 0; i < n; ++i) {
    auto r = testnet::tcp_transfer(i % 2 ? net.peer_ip6() : net.peer_ip4(), 5301, 1000 + 97 * i, 50);
    INFO(r.error);
    REQUIRE(r.ok);
  }
  usleep(300 * 1000);
  SECTION("tcp_tracker") {
    auto [j, t] = stop_both("tcp_tracker", *tj, *tt);
    check_equal(j, t, true);
    const Json& why = j["not_counted_by_reason"];
    CHECK(j["not_counted"] == why["non_tcp"].get<uint64_t>() + why["non_ip"].get<uint64_t>());
    CHECK(j["events"].get<uint64_t>() > 29 * 6);
    CHECK(t.events_name == "packets");
    uint64_t sum = 0;
    for (const auto& f : harness::of_type(harness::json_lines(tj->out(), "tcp_tracker"), "flow"))
      if (f["final"] == true) sum += f["packets"].get<uint64_t>();
    CHECK(sum == j["events"]);
  }
  SECTION("tcp_duration") {
    auto [j, t] = stop_both("tcp_duration", *dj, *dt);
    check_equal(j, t);
    CHECK(j["events"] == n);
    CHECK(t.events_name == "connections");
    CHECK(harness::of_type(harness::json_lines(dj->out(), "tcp_duration"), "connection").size() == n);
  }
}

TEST_CASE("output: exact strings, in JSON and in text", "[output][execve_enriched][utf8]") {
  const std::string uid = std::to_string(kUid + 2);
  auto json = start("execve_enriched", {"--json", "-u", uid});
  auto text = start("execve_enriched", {"-u", uid});
  const std::vector<std::string> argv = {"true", "ünï", "日本語", "😀", "\xff\xfe", "a\nb", "\x1b[31m", "back\\slash"};
  harness::exec_as(kUid + 2, "/bin/true", argv, 1);
  usleep(300 * 1000);
  stop_both("execve_enriched", *json, *text);

  auto events = harness::of_type(harness::json_lines(json->out(), "execve_enriched"), "event");
  REQUIRE(events.size() == 1);
  const Json& ev = events[0];
  INFO(ev.dump());
  REQUIRE(ev["args"].size() == argv.size());
  for (size_t i : {0, 1, 2, 3, 5, 6, 7}) CHECK(ev["args"][i] == argv[i]);  // valid UTF-8: unchanged
  CHECK(ev["args"][4] == "\\xff\\xfe");                                    // the documented form
  CHECK(ev["invalid_utf8"] == Json::array({"args.4"}));

  // Text: UTF-8 as is, control bytes and invalid bytes escaped; one line for the exec.
  std::string row;
  for (const auto& l : harness::lines(text->out()))
    if (l.find("/bin/true") != std::string::npos) row = l;
  INFO(text->out());
  CHECK(row.find(" ünï 日本語 😀 '\\xff\\xfe' 'a\\nb' '\\x1b[31m' 'back\\\\slash'") != std::string::npos);
  CHECK(text->out().find('\x1b') == std::string::npos);
  CHECK(text->out().find("a\nb") == std::string::npos);
}
