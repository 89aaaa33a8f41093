// execve_enriched and cgroups: the test makes its own cgroups under the cgroup2 mount,
// moves children into them and has them exec: each event's cgroup path (and id, the
// directory's inode number) is that cgroup, and --cgroup shows only that subtree's
// execs, exactly. The cgroups are removed afterwards, also when a check fails.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "jsonl.h"
#include "test_cgroup.h"
#include "util/cgroup.h"

using harness::ToolProcess;

namespace {

using testcg::TestCgroup;

// n children that each join cgroup DIR, switch to uid and exec /bin/true; waited for.
void exec_in_cgroup(const std::string& dir, uid_t uid, int n) {
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      alarm(10);
      if (!testcg::join(dir)) _exit(120);
      if (setgid(uid) != 0 || setuid(uid) != 0) _exit(121);
      execl("/bin/true", "true", static_cast<char*>(nullptr));
      _exit(127);
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    REQUIRE(WIFEXITED(st));
    REQUIRE(WEXITSTATUS(st) == 0);
  }
}

std::unique_ptr<ToolProcess> start(std::vector<std::string> args) {
  args.insert(args.begin(), harness::tool_path("execve_enriched"));
  auto p = std::make_unique<ToolProcess>(args);
  if (!p->wait_for_stderr_line("Attached", 90)) FAIL("tool did not attach: " << p->err());
  return p;
}

std::vector<harness::Json> stop_and_read(ToolProcess& p) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the last batch is read
  p.signal(SIGINT);
  REQUIRE(p.wait_exit(30) == 0);
  return harness::of_type(harness::json_lines(p.out(), "execve_enriched"), "event");
}

}  // namespace

TEST_CASE("execve_enriched: the event's cgroup is the caller's; --cgroup shows exactly that subtree",
          "[execve_enriched][cgroup]") {
  const std::string tag = "/tracekit-test-" + std::to_string(getpid());
  TestCgroup top(tag), a(tag + "/a"), b(tag + "/a/b"), other(tag + "/other");
  if (!top.ok()) {
    WARN("no cgroup2 mount: skipped");
    return;
  }
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const uid_t uid = 54347;

  SECTION("paths and ids") {
    auto p = start({"--json", "-u", std::to_string(uid)});
    exec_in_cgroup(a.path(), uid, 3);
    exec_in_cgroup(b.path(), uid, 2);
    auto events = stop_and_read(*p);
    REQUIRE(events.size() == 5);
    std::map<std::string, int> by_path;
    for (const auto& e : events) {
      by_path[e["cgroup"].get<std::string>()]++;
      const std::string dir = tracekit::cgroup2_mount() + e["cgroup"].get<std::string>();
      struct stat st {};
      REQUIRE(::stat(dir.c_str(), &st) == 0);
      CHECK(e["cgroup_id"].get<uint64_t>() == st.st_ino);  // the id is the directory's inode
      CHECK(e["unit"].is_null());
      CHECK(e["container_id"].is_null());
    }
    CHECK(by_path[a.rel()] == 3);
    CHECK(by_path[b.rel()] == 2);
  }

  SECTION("--cgroup: 23 execs in the subtree, none from outside") {
    auto p = start({"--json", "--cgroup", a.rel()});
    exec_in_cgroup(a.path(), uid, 13);
    exec_in_cgroup(other.path(), uid, 7);
    exec_in_cgroup(b.path(), uid, 10);
    harness::exec_as(uid, "/bin/true", {"true"}, 5);  // the test's own cgroup: outside
    auto events = stop_and_read(*p);
    std::map<std::string, int> by_path;
    for (const auto& e : events) by_path[e["cgroup"].is_null() ? "?" : e["cgroup"].get<std::string>()]++;
    CHECK(events.size() == 23);
    CHECK(by_path[a.rel()] == 13);
    CHECK(by_path[b.rel()] == 10);
    CHECK(by_path.size() == 2);
  }

  SECTION("-C: the CGROUP column in text mode") {
    auto p = start({"-C", "--cgroup", b.rel()});
    exec_in_cgroup(b.path(), uid, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    p->signal(SIGINT);
    REQUIRE(p->wait_exit(30) == 0);
    auto lines = harness::lines(p->out());
    INFO(p->out());
    REQUIRE(lines.size() >= 3);
    CHECK(lines[0].find(" RET      CGROUP FILENAME ARGS") != std::string::npos);
    CHECK(lines[1].find(" " + b.rel() + " /bin/true") != std::string::npos);
    CHECK(lines[2].find(" " + b.rel() + " /bin/true") != std::string::npos);
  }
}

TEST_CASE("execve_enriched --cgroup: a path that is not a cgroup is one line and exit 2", "[execve_enriched][usage]") {
  auto r = harness::run({harness::tool_path("execve_enriched"), "--cgroup", "/no-such-cgroup-tk"}, 30);
  CHECK(r.exit_code == 2);
  CHECK(harness::lines(r.err).size() == 1);
  CHECK(r.err.rfind("execve_enriched: error: bad value for --cgroup: '/no-such-cgroup-tk'", 0) == 0);
}

TEST_CASE("execve_dumb --by cgroup / --by unit: 23 execs in a test cgroup are counted there exactly",
          "[execve_dumb][cgroup]") {
  const std::string tag = "/tracekit-test-" + std::to_string(getpid());
  const std::string unit = "tk-" + std::to_string(getpid()) + ".service";
  TestCgroup top(tag), svc(tag + "/" + unit);
  if (!top.ok()) {
    WARN("no cgroup2 mount: skipped");
    return;
  }
  REQUIRE(svc.ok());
  for (const std::string by : {"cgroup", "unit"}) {
    INFO("--by " << by);
    auto p = std::make_unique<ToolProcess>(
        std::vector<std::string>{harness::tool_path("execve_dumb"), "--by", by, "--json", "-i", "1"});
    REQUIRE(p->wait_for_stderr_line("Attached", 90));
    exec_in_cgroup(svc.path(), 54353, 23);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    p->signal(SIGINT);
    REQUIRE(p->wait_exit(30) == 0);
    auto reports = harness::of_type(harness::json_lines(p->out(), "execve_dumb"), "report");
    REQUIRE(!reports.empty());
    const auto& fin = reports.back();
    REQUIRE(fin["final"].get<bool>());
    const std::string key = by == "cgroup" ? "cgroups" : "units";
    const std::string want = by == "cgroup" ? svc.rel() : unit;
    int found = 0;
    uint64_t sum = 0;
    for (const auto& e : fin[key]) {
      sum += e["count"].get<uint64_t>();
      if (!e[by].is_null() && e[by].get<std::string>() == want) {
        ++found;
        CHECK(e["count"].get<uint64_t>() == 23);
      }
    }
    CHECK(found == 1);
    CHECK(sum == fin["total"].get<uint64_t>());
  }
  auto r = harness::run({harness::tool_path("execve_dumb"), "--by", "pid"}, 30);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "execve_dumb: error: bad value for --by: 'pid' (expected uid, cgroup or unit)\n");
}
