// The compile cache end to end (docs/DESIGN.md, "Compile cache"): a cold run (compiled by
// tracekit-compile, stored) and a warm run (loaded from the entry, no compiler started)
// of every tool count the same workload the same; a corrupted entry costs one warning,
// a correct run and a repaired entry; --no-cache writes nothing.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "harness.h"
#include "jsonl.h"
#include "netns.h"

namespace fs = std::filesystem;
using harness::Json;
using harness::ToolProcess;
using testnet::TestNet;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/tk-cache-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path());
  return out;
}

int count_lines_with(const std::string& text, const std::string& needle) {
  int n = 0;
  for (const auto& l : harness::lines(text)) n += l.find(needle) != std::string::npos;
  return n;
}

// What a run says about where its program came from (-v).
std::string source_of(const std::string& err) {
  if (err.find("compile cache: hit") != std::string::npos) return "cache";
  if (err.find("compiled with") != std::string::npos) return "compiler";
  return "unknown";
}

constexpr uid_t kUid = 54329;

struct ExecResult {
  uint64_t dumb = 0, enriched = 0;
  std::string source_dumb, source_enriched;
};

// execve_dumb and execve_enriched side by side over 23 execs of kUid.
ExecResult exec_run(const fs::path& cache) {
  ExecResult r;
  ToolProcess dumb({harness::tool_path("execve_dumb"), "-j", "-v", "-i", "1", "--cache-dir", cache});
  REQUIRE(dumb.wait_for_stderr_line("Attached", 60));
  ToolProcess enriched({harness::tool_path("execve_enriched"), "-j", "-v", "--cache-dir", cache});
  REQUIRE(enriched.wait_for_stderr_line("Attached", 60));
  harness::exec_as(kUid, "/bin/true", {"true"}, 23);
  usleep(300 * 1000);
  dumb.signal(SIGINT);
  enriched.signal(SIGINT);
  REQUIRE(dumb.wait_exit(10) == 0);
  REQUIRE(enriched.wait_exit(10) == 0);
  for (const auto& j : harness::of_type(harness::json_lines(dumb.out(), "execve_dumb"), "report")) {
    if (!j["final"].get<bool>()) continue;
    for (const auto& u : j["users"])
      if (u["uid"] == kUid) r.dumb = u["count"].get<uint64_t>();
  }
  for (const auto& j : harness::of_type(harness::json_lines(enriched.out(), "execve_enriched"), "event"))
    if (j["uid"] == kUid && j["filename"] == "/bin/true") ++r.enriched;
  r.source_dumb = source_of(dumb.err());
  r.source_enriched = source_of(enriched.err());
  return r;
}

struct TcpResult {
  std::set<uint16_t> tracker_clients;  // client ports with both directions counted
  size_t duration_connections = 0;
  std::set<uint16_t> duration_clients;
  std::string source_tracker, source_duration;
};

TcpResult tcp_run(const fs::path& cache, const fs::path& out, TestNet& net, uint16_t port) {
  TcpResult r;
  ToolProcess tracker({harness::tool_path("tcp_tracker"), net.host_if(), "-j", "-v", "-i", "60", "--cache-dir", cache});
  REQUIRE(tracker.wait_for_stderr_line("Attached", 60));
  ToolProcess duration({harness::tool_path("tcp_duration"), net.host_if(), "-j", "-v", "-o", out / "stat.dat", "--plot",
                        out / "hist.png", "--cache-dir", cache});
  REQUIRE(duration.wait_for_stderr_line("Attached", 60));
  std::set<uint16_t> clients;
  for (int i = 0; i < 29; ++i) {
    auto t = testnet::tcp_transfer(net.peer_ip4(), port, 1000, 2000, 10);
    INFO(t.error);
    REQUIRE(t.ok);
    clients.insert(t.local_port);
  }
  usleep(300 * 1000);
  tracker.signal(SIGINT);
  duration.signal(SIGINT);
  REQUIRE(tracker.wait_exit(10) == 0);
  REQUIRE(duration.wait_exit(10) == 0);
  std::map<uint16_t, int> directions;
  for (const auto& j : harness::of_type(harness::json_lines(tracker.out(), "tcp_tracker"), "flow")) {
    if (!j["final"].get<bool>()) continue;
    uint16_t src = j["src_port"], dst = j["dst_port"];
    uint64_t bytes = j["bytes"];
    if (dst == port && clients.count(src) && bytes > 1000) directions[src] |= 1;
    if (src == port && clients.count(dst) && bytes > 2000) directions[dst] |= 2;
  }
  for (const auto& [p, d] : directions)
    if (d == 3) r.tracker_clients.insert(p);
  for (const auto& j : harness::of_type(harness::json_lines(duration.out(), "tcp_duration"), "connection")) {
    if (j["server_port"] != port) continue;
    ++r.duration_connections;
    uint16_t c = j["client_port"];
    if (clients.count(c)) r.duration_clients.insert(c);
  }
  r.source_tracker = source_of(tracker.err());
  r.source_duration = source_of(duration.err());
  return r;
}

}  // namespace

TEST_CASE("cache: a cold and a warm run of every tool count the same", "[cache][root]") {
  TempDir tmp;
  fs::path cache = tmp.path / "c";
  SECTION("execve_dumb and execve_enriched: 23 execs") {
    ExecResult cold = exec_run(cache);
    CHECK(cold.source_dumb == "compiler");
    CHECK(cold.source_enriched == "compiler");
    CHECK(entries(cache).size() == 2);
    ExecResult warm = exec_run(cache);
    CHECK(warm.source_dumb == "cache");
    CHECK(warm.source_enriched == "cache");
    CHECK(entries(cache).size() == 2);
    CHECK(cold.dumb == 23);
    CHECK(cold.enriched == 23);
    CHECK(warm.dumb == 23);
    CHECK(warm.enriched == 23);
  }
  SECTION("tcp_tracker and tcp_duration: 29 connections") {
    TestNet net("ca");
    const uint16_t port = 5301;
    testnet::TcpServer server(net.ns(), port);
    TcpResult cold = tcp_run(cache, tmp.path, net, port);
    CHECK(cold.source_tracker == "compiler");
    CHECK(cold.source_duration == "compiler");
    size_t stored = entries(cache).size();
    CHECK(stored >= 2);
    TcpResult warm = tcp_run(cache, tmp.path, net, port);
    CHECK(warm.source_tracker == "cache");
    CHECK(warm.source_duration == "cache");
    CHECK(entries(cache).size() == stored);
    CHECK(cold.tracker_clients.size() == 29);
    CHECK(warm.tracker_clients.size() == 29);
    CHECK(cold.duration_connections == 29);
    CHECK(cold.duration_clients.size() == 29);
    CHECK(warm.duration_connections == 29);
    CHECK(warm.duration_clients.size() == 29);
  }
}

TEST_CASE("cache: a corrupted entry costs one warning, a correct run and a repaired entry", "[cache][root]") {
  TempDir tmp;
  fs::path cache = tmp.path / "c";
  auto run = [&](const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{harness::tool_path("execve_dumb"), "-d", "1", "-j", "--cache-dir", cache};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return harness::run(argv, 60);
  };
  auto first = run();
  REQUIRE(first.exit_code == 0);
  auto files = entries(cache);
  REQUIRE(files.size() == 1);
  fs::path entry = files[0];
  std::string bytes;
  {
    std::ifstream in(entry, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  REQUIRE(bytes.size() > 64);

  SECTION("a flipped bit") {
    bytes[bytes.size() / 2] ^= 0x04;
    std::ofstream(entry, std::ios::binary | std::ios::trunc) << bytes;
  }
  SECTION("truncated") { fs::resize_file(entry, bytes.size() / 3); }
  SECTION("group-writable") { ::chmod(entry.c_str(), 0660); }
  SECTION("replaced by a symlink") {
    fs::rename(entry, tmp.path / "moved");
    fs::create_symlink(tmp.path / "moved", entry);
  }
  auto second = run();
  INFO(second.err);
  CHECK(second.exit_code == 0);
  CHECK(count_lines_with(second.err, "compile cache: ignoring") == 1);
  int warnings = 0;  // besides the usual one about the kernel headers
  for (const auto& l : harness::lines(second.err))
    warnings +=
        l.find("warning") != std::string::npos && l.find("no headers for the running kernel") == std::string::npos;
  CHECK(warnings == 1);
  auto summary = harness::of_type(harness::json_lines(second.out, "execve_dumb"), "summary");
  CHECK(summary.size() == 1);
  // Repaired: a regular private file again, and the next run is a hit without warnings.
  struct stat st {};
  REQUIRE(::lstat(entry.c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  auto third = run({"-v"});
  CHECK(third.exit_code == 0);
  CHECK(source_of(third.err) == "cache");
  CHECK(count_lines_with(third.err, "compile cache: ignoring") == 0);
}

TEST_CASE("cache: --no-cache compiles and writes nothing", "[cache][root]") {
  TempDir tmp;
  fs::path cache = tmp.path / "never";
  // The default directory comes from the environment here; --no-cache must not touch it.
  std::string saved = getenv("TRACEKIT_CACHE_DIR") ? getenv("TRACEKIT_CACHE_DIR") : "";
  setenv("TRACEKIT_CACHE_DIR", cache.c_str(), 1);
  auto r = harness::run({harness::tool_path("execve_dumb"), "-d", "1", "-v", "--no-cache"}, 60);
  auto r2 = harness::run({harness::tool_path("tcp_tracker"), "lo", "-d", "1", "-q", "-v", "--no-cache"}, 60);
  if (saved.empty())
    unsetenv("TRACEKIT_CACHE_DIR");
  else
    setenv("TRACEKIT_CACHE_DIR", saved.c_str(), 1);
  CHECK(r.exit_code == 0);
  CHECK(r2.exit_code == 0);
  CHECK(source_of(r.err) == "compiler");
  CHECK(source_of(r2.err) == "compiler");
  CHECK(r.err.find("compile cache") == std::string::npos);
  CHECK_FALSE(fs::exists(cache));
}

TEST_CASE("cache: usage errors", "[cache][usage]") {
  auto a = harness::run({harness::tool_path("execve_dumb"), "--cache-dir", ""}, 10);
  CHECK(a.exit_code == 2);
  CHECK(harness::lines(a.err).size() <= 2);
  auto b = harness::run({harness::tool_path("execve_dumb"), "--no-cache", "--cache-dir", "/tmp/x"}, 10);
  CHECK(b.exit_code == 2);
  CHECK(b.err.find("exclude each other") != std::string::npos);
}
