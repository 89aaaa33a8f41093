// --metrics and --metrics-textfile against a real Prometheus (and node_exporter for the
// textfile), both run by the test on 127.0.0.1 with their own config and data in temp
// directories (tests/support/prometheus.h). Ground truth: tcpdump on the same interface
// for tcp_tracker, execs made by the test for execve_dumb and execve_enriched, the
// connections the test makes for tcp_duration. promtool checks each tool's scrape.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "netns.h"
#include "prometheus.h"

using harness::ToolProcess;
using testnet::TestNet;

namespace {

std::unique_ptr<ToolProcess> start(const std::string& tool, std::vector<std::string> args) {
  args.insert(args.begin(), harness::tool_path(tool));
  auto p = std::make_unique<ToolProcess>(args);
  const bool attached = p->wait_for_stderr_line("Attached", 60);
  INFO(p->err());
  REQUIRE(attached);
  return p;
}

std::string scrape(uint16_t port) {
  auto r = promtest::http_get(port, "/metrics", 5);
  INFO(r.error);
  REQUIRE(r.status == 200);
  return r.body;
}

// promtool's lint of a scrape: no problems at all.
void check_with_promtool(const std::string& text) {
  auto r = promtest::promtool_check_metrics(text);
  INFO(r.out);
  CHECK(r.rc == 0);
  CHECK(r.out.find("tracekit_") == std::string::npos);  // no complaint names one of ours
}

// Every thread of the server (civetweb's) holds no capability, whatever the main one keeps.
void check_server_threads_unprivileged(pid_t pid) {
  int server_threads = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string comm = faults::read_file(e.path().string() + "/comm");
    if (comm.rfind("civetweb", 0) != 0) continue;
    ++server_threads;
    const std::string status = faults::read_file(e.path().string() + "/status");
    INFO(comm << status);
    CHECK(status.find("CapEff:\t0000000000000000\n") != std::string::npos);
    CHECK(status.find("CapPrm:\t0000000000000000\n") != std::string::npos);
  }
  CHECK(server_threads >= 1);
}

double equal_within(promtest::PromServer& prom, const std::string& q, double want, double timeout_s = 20) {
  auto v = prom.wait_for(
      q, [&](double x) { return x == want; }, timeout_s);
  INFO(q);
  REQUIRE(v);
  return *v;
}

}  // namespace

TEST_CASE("metrics: tcp_tracker's byte counters in Prometheus equal tcpdump, per direction; textfile via node_exporter",
          "[metrics][tcp_tracker][prometheus]") {
  TestNet net("mt");
  const uint16_t port = 5301;
  testnet::TcpServer server(net.ns(), port);
  faults::TempDir textdir("prom");
  const uint16_t mport = promtest::free_port();
  testnet::Capture cap(net.host_if(), "tcp port " + std::to_string(port), 96);
  // 29 connections: 58 flows; at most 11 series per flow family, the rest in "other".
  auto tool = start("tcp_tracker", {net.host_if(), "-q", "--metrics", std::to_string(mport), "--metrics-textfile",
                                    textdir.path(), "--metrics-max-series", "11"});
  promtest::NodeExporter node(textdir.path());
  promtest::PromServer prom(
      {{"tool", "127.0.0.1:" + std::to_string(mport)}, {"node", "127.0.0.1:" + std::to_string(node.port())}});
  REQUIRE(prom.wait_scraped());

  const int n = 29;
  for (int i = 0; i < n; ++i) {
    const std::string& addr = i % 3 == 0 ? net.peer_ip6() : net.peer_ip4();
    auto t = testnet::tcp_transfer(addr, port, 1000ULL * i * i + 17ULL * i, 512ULL * i + 3, 10);
    INFO("transfer " << i << ": " << t.error);
    REQUIRE(t.ok);
  }
  auto frames = cap.stop();
  std::map<std::string, uint64_t> bytes, packets;  // by direction
  for (const auto& p : frames) {
    auto f = testnet::parse_tcp_frame(p);
    REQUIRE(f);
    const bool egress = f->src == net.host_ip4() || f->src == net.host_ip6();
    bytes[egress ? "egress" : "ingress"] += f->orig_len;
    packets[egress ? "egress" : "ingress"] += 1;
  }
  REQUIRE(bytes["egress"] > 0);
  REQUIRE(bytes["ingress"] > 0);

  for (const std::string dir : {"ingress", "egress"}) {
    INFO(dir);
    const std::string sel = "{job=\"tool\",direction=\"" + dir + "\",iface=\"" + net.host_if() + "\"}";
    CHECK(equal_within(prom, "tracekit_tcp_bytes_total" + sel, static_cast<double>(bytes[dir])) ==
          static_cast<double>(bytes[dir]));
    CHECK(equal_within(prom, "tracekit_tcp_packets_total" + sel, static_cast<double>(packets[dir])) ==
          static_cast<double>(packets[dir]));
    // The busiest flows plus the fold add up to the interface total.
    CHECK(equal_within(prom, "sum(tracekit_tcp_flow_bytes_total" + sel + ")", static_cast<double>(bytes[dir])) ==
          static_cast<double>(bytes[dir]));
    // The textfile, read by node_exporter and scraped from there, says the same.
    const std::string nsel = "{job=\"node\",direction=\"" + dir + "\",iface=\"" + net.host_if() + "\"}";
    CHECK(equal_within(prom, "tracekit_tcp_bytes_total" + nsel, static_cast<double>(bytes[dir])) ==
          static_cast<double>(bytes[dir]));
  }
  // The cap: at most 11 flow series per family (6 ingress, 5 egress), a fold in each direction.
  auto flows = prom.query("tracekit_tcp_flow_bytes_total{job=\"tool\"}");
  CHECK(flows.size() == 11);
  CHECK(prom.query("tracekit_tcp_flow_bytes_total{job=\"tool\",remote_addr=\"other\",local_port=\"other\"}").size() ==
        2);
  CHECK(prom.value("tracekit_map_capacity{job=\"tool\",map=\"flows\"}").value_or(0) > 0);
  CHECK(prom.value("tracekit_build_info{job=\"tool\",tool=\"tcp_tracker\"}").value_or(0) == 1);

  const std::string text = scrape(mport);
  check_with_promtool(text);
  check_server_threads_unprivileged(tool->pid());

  tool->signal(SIGTERM);
  CHECK(tool->wait_exit(30) == 0);
  CHECK(tool->out().empty());  // --quiet
  // The last textfile holds the final numbers; no temporary file is left.
  const std::string prom_file = textdir.path() + "/tcp_tracker-" + net.host_if() + ".prom";
  auto final_samples = promtest::parse_exposition(faults::read_file(prom_file));
  CHECK(promtest::sum(final_samples, "tracekit_tcp_bytes_total") ==
        static_cast<double>(bytes["ingress"] + bytes["egress"]));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(textdir.path())) {
    INFO(e.path());
    CHECK(e.path().extension() == ".prom");
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("metrics: execve_dumb counts 23 execs of a uid in Prometheus", "[metrics][execve_dumb][prometheus]") {
  const uid_t uid = 54329;
  const uint16_t mport = promtest::free_port();
  auto tool = start("execve_dumb", {"-q", "--metrics", "127.0.0.1:" + std::to_string(mport), "-i", "1"});
  promtest::PromServer prom({{"tool", "127.0.0.1:" + std::to_string(mport)}});
  REQUIRE(prom.wait_scraped());
  harness::exec_as(uid, "/bin/true", {"true"}, 23);
  const std::string q = "tracekit_execve_total{job=\"tool\",tool=\"execve_dumb\",uid=\"" + std::to_string(uid) + "\"}";
  CHECK(equal_within(prom, q, 23) == 23);
  // Stays 23: nothing double counted across scrapes and reports.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(prom.value(q).value_or(-1) == 23);
  check_with_promtool(scrape(mport));
  tool->signal(SIGINT);
  CHECK(tool->wait_exit(30) == 0);
  CHECK(tool->out().empty());
}

TEST_CASE("metrics: execve_enriched counts its events by comm and result; the cap folds the rest",
          "[metrics][execve_enriched]") {
  const uid_t uid = 54331;
  const uint16_t mport = promtest::free_port();
  auto tool = start("execve_enriched",
                    {"-u", std::to_string(uid), "--metrics", std::to_string(mport), "--metrics-max-series", "2"});
  harness::exec_as(uid, "/bin/true", {"true"}, 23);
  harness::exec_as(uid, "/nonexistent/tk", {"tk"}, 7);  // ENOENT
  std::vector<promtest::Sample> s;
  for (int i = 0; i < 50; ++i) {
    s = promtest::parse_exposition(scrape(mport));
    if (promtest::sum(s, "tracekit_exec_events_total") >= 30) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(promtest::sum(s, "tracekit_exec_events_total") == 30);
  // Cap 2: the busiest (23 ok) keeps its own series, the 7 failures are in the fold.
  CHECK(promtest::sum(s, "tracekit_exec_events_total", {{"comm", "integration_tes"}, {"result", "ok"}}) == 23);
  CHECK(promtest::sum(s, "tracekit_exec_events_total", {{"comm", "other"}, {"result", "other"}}) == 7);
  CHECK(promtest::find(s, "tracekit_exec_events_total").size() == 2);
  CHECK(promtest::find(s, "tracekit_map_capacity", {{"map", "pending"}}).size() == 1);
  check_with_promtool(scrape(mport));
  tool->signal(SIGINT);
  CHECK(tool->wait_exit(30) == 0);
  // Without --quiet the terminal output is there as before: 30 event lines.
  int lines = 0;
  for (const auto& l : harness::lines(tool->out())) lines += l.find(std::to_string(uid)) != std::string::npos;
  CHECK(lines == 30);
}

TEST_CASE("metrics: tcp_duration's histogram counts FIN- and RST-closed connections",
          "[metrics][tcp_duration][prometheus]") {
  TestNet net("md");
  const uint16_t port = 5311;
  testnet::TcpServer server(net.ns(), port);
  faults::TempDir dir("dur");
  const uint16_t mport = promtest::free_port();
  auto tool = start("tcp_duration", {net.host_if(), "-q", "--metrics", std::to_string(mport), "-o",
                                     dir.file("statistics.dat"), "--no-plot"});
  promtest::PromServer prom({{"tool", "127.0.0.1:" + std::to_string(mport)}});
  REQUIRE(prom.wait_scraped());
  const int fin = 19, rst = 10;
  for (int i = 0; i < fin; ++i) {
    auto t = testnet::tcp_transfer(i % 2 ? net.peer_ip4() : net.peer_ip6(), port, 100 * i, 10, 10);
    INFO(t.error);
    REQUIRE(t.ok);
  }
  for (int i = 0; i < rst; ++i) {  // nothing listens on port + 1: SYN, then RST
    auto t = testnet::tcp_transfer(net.peer_ip4(), port + 1, 1, 1, 5);
    CHECK_FALSE(t.ok);
  }
  const std::string sel = "{job=\"tool\",iface=\"" + net.host_if() + "\",end=";
  CHECK(equal_within(prom, "tracekit_tcp_connection_duration_seconds_count" + sel + "\"fin\"}", fin) == fin);
  CHECK(equal_within(prom, "tracekit_tcp_connection_duration_seconds_count" + sel + "\"rst\"}", rst) == rst);
  CHECK(equal_within(prom, "tracekit_tcp_connections_total" + sel + "\"fin\"}", fin) == fin);
  CHECK(equal_within(prom, "tracekit_tcp_connection_duration_seconds_bucket" + sel + "\"fin\",le=\"+Inf\"}", fin) ==
        fin);
  // 27 bounds from 100 us to 1 h, and +Inf.
  CHECK(prom.query("tracekit_tcp_connection_duration_seconds_bucket" + sel + "\"fin\"}").size() == 28);
  // Every FIN connection here lasts well under 1 s.
  CHECK(equal_within(prom, "tracekit_tcp_connection_duration_seconds_bucket" + sel + "\"fin\",le=\"1.6384\"}", fin) ==
        fin);
  check_with_promtool(scrape(mport));
  tool->signal(SIGTERM);
  CHECK(tool->wait_exit(30) == 0);
  // statistics.dat is still written under --quiet: one line per connection.
  int rows = 0;
  for (const auto& l : harness::lines(faults::read_file(dir.file("statistics.dat")))) rows += l[0] != '#';
  CHECK(rows == fin + rst);
}

TEST_CASE("metrics: a port in use is one line and exit 1; a bad address one line and exit 2", "[metrics][usage]") {
  // Something else holds the port.
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(s, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string port = std::to_string(ntohs(a.sin_port));
  auto r = harness::run({harness::tool_path("execve_dumb"), "--metrics", port}, 60);
  ::close(s);
  CHECK(r.exit_code == 1);
  CHECK(r.err ==
        "execve_dumb: error: cannot serve metrics on 127.0.0.1:" + port + ": the port is in use; pick another port\n");
  CHECK(r.out.empty());

  for (const std::string bad : {"99999", "host.example:80", "[::1]", "1.2.3.4.5:80"}) {
    auto u = harness::run({harness::tool_path("execve_dumb"), "--metrics", bad}, 30);
    INFO(bad << " -> " << u.err);
    CHECK(u.exit_code == 2);
    CHECK(harness::lines(u.err).size() == 1);
    CHECK(u.err.rfind("execve_dumb: error: bad value for --metrics: '" + bad + "'", 0) == 0);
  }
  // An address that is not this host's: exit 1.
  auto na = harness::run({harness::tool_path("execve_dumb"), "--metrics", "192.0.2.1:9435"}, 30);
  CHECK(na.exit_code == 1);
  CHECK(harness::lines(na.err).size() == 1);
  // A textfile directory that does not exist: exit 1 before anything is attached.
  auto nd = harness::run({harness::tool_path("execve_dumb"), "--metrics-textfile", "/nonexistent/tk"}, 30);
  CHECK(nd.exit_code == 1);
  CHECK(nd.err.find("Attached") == std::string::npos);
  // --metrics-max-series without an outlet is a usage error.
  auto ms = harness::run({harness::tool_path("execve_dumb"), "--metrics-max-series", "5"}, 30);
  CHECK(ms.exit_code == 2);
  CHECK(harness::lines(ms.err).size() == 1);
}

TEST_CASE("metrics: docs/alerts.yml passes promtool check rules", "[metrics][docs]") {
  const std::string path = std::string(TRACEKIT_SOURCE_DIR) + "/docs/alerts.yml";
  REQUIRE(std::filesystem::exists(path));
  auto r = promtest::promtool_check_rules(path);
  INFO(r.out);
  CHECK(r.rc == 0);
  CHECK(r.out.find("SUCCESS") != std::string::npos);
}
