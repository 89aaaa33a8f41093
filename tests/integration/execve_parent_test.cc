// execve_enriched's parent pid against /proc: read through task_struct offsets from the
// running kernel's BTF (the default), and from the fork/exit bookkeeping that stands in
// when there is no BTF (TRACEKIT_NO_BTF=1). A reparented process shows the difference:
// /proc (and the BTF read) name its new parent, the bookkeeping the process that forked it.
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "harness.h"
#include "jsonl.h"

using harness::ToolProcess;

namespace {

constexpr uid_t kUid = 54331;

long proc_ppid_of_self() {
  std::ifstream in("/proc/self/stat");
  std::string stat;
  std::getline(in, stat);
  std::istringstream rest(stat.substr(stat.rfind(')') + 1));
  std::string state;
  long ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

struct Orphan {
  pid_t pid = -1;       // the process that made the exec
  pid_t forker = -1;    // the process that forked it, gone before the exec
  long proc_ppid = -1;  // its parent as /proc showed it just before the exec
};

// Forks A, which forks G and exits; G waits to be reparented, notes /proc's parent, and
// execs /bin/true as kUid.
Orphan reparented_exec() {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t a = fork();
  REQUIRE(a >= 0);
  if (a == 0) {
    const pid_t forker = getpid();  // A
    pid_t g = fork();
    if (g != 0) _exit(g > 0 ? 0 : 1);
    for (int i = 0; i < 500 && getppid() == forker; ++i) usleep(2000);
    long info[3] = {static_cast<long>(getpid()), static_cast<long>(forker), proc_ppid_of_self()};
    if (write(fds[1], info, sizeof info) != static_cast<ssize_t>(sizeof info)) _exit(1);
    close(fds[1]);
    if (setgroups(0, nullptr) != 0 || setgid(kUid) != 0 || setuid(kUid) != 0) _exit(126);
    char* argv[] = {const_cast<char*>("true"), nullptr};
    char* envp[] = {nullptr};
    execve("/bin/true", argv, envp);
    _exit(127);
  }
  close(fds[1]);
  int status = 0;
  waitpid(a, &status, 0);
  long info[3] = {-1, -1, -1};
  REQUIRE(read(fds[0], info, sizeof info) == static_cast<ssize_t>(sizeof info));
  close(fds[0]);
  usleep(200 * 1000);  // the exec happens after the write
  return {static_cast<pid_t>(info[0]), static_cast<pid_t>(info[1]), info[2]};
}

}  // namespace

TEST_CASE("execve_enriched: the parent pid, from BTF offsets and from the fork bookkeeping, against /proc",
          "[execve_enriched]") {
  const bool btf = GENERATE(true, false);
  INFO((btf ? "BTF offsets" : "fork/exit bookkeeping (TRACEKIT_NO_BTF=1)"));
  if (!btf) setenv("TRACEKIT_NO_BTF", "1", 1);
  ToolProcess tool({harness::tool_path("execve_enriched"), "-j", "-v", "-u", std::to_string(kUid)});
  unsetenv("TRACEKIT_NO_BTF");
  REQUIRE(tool.wait_for_stderr_line("Attached", 60));
  CHECK(tool.err().find(btf ? "parents from task_struct (BTF" : "parents from the fork and exit tracepoints") !=
        std::string::npos);

  auto children = harness::exec_as(kUid, "/bin/true", {"true"}, 23);
  Orphan orphan = reparented_exec();
  REQUIRE(orphan.pid > 0);
  REQUIRE(orphan.proc_ppid > 0);
  REQUIRE(orphan.proc_ppid != orphan.forker);  // it was reparented before the exec
  usleep(300 * 1000);
  tool.signal(SIGINT);
  REQUIRE(tool.wait_exit(10) == 0);

  std::map<long, long> ppid_of;  // pid -> ppid in the event
  for (const auto& ev : harness::of_type(harness::json_lines(tool.out(), "execve_enriched"), "event"))
    if (ev["filename"] == "/bin/true") ppid_of[ev["pid"].get<long>()] = ev["ppid"].get<long>();
  int right = 0;
  for (pid_t c : children) right += ppid_of.count(c) && ppid_of[c] == getpid();
  CHECK(right == 23);
  REQUIRE(ppid_of.count(orphan.pid));
  if (btf)
    CHECK(ppid_of[orphan.pid] == orphan.proc_ppid);  // what /proc said at the exec
  else
    CHECK(ppid_of[orphan.pid] == orphan.forker);  // the bookkeeping's answer: who forked it
}
