// exec_storm: makes a known number of execve() calls as fast as it can, for load tests
// and benchmarks of execve_enriched.
//
//   exec_storm --uid UID --count N [--procs P] [--path /bin/true] [--timeout SECONDS]
//
// P worker processes switch to UID (and gid UID) and, between them, fork and execve
// PATH N times (each child execs once and exits; the worker waits for it). Stops early
// at the timeout. Prints one line on stdout:
//   made=N wall_s=S sys_s=S user_s=S
// made counts the execve() calls made; sys_s/user_s are the CPU time of all workers and
// their children.
#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Shared {
  std::atomic<long> claimed;  // execs handed out
  std::atomic<long> made;     // execve() calls made
};

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: exec_storm --uid UID --count N [--procs P] [--path PATH] [--timeout SECONDS]\n");
  std::exit(2);
}

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  long uid = -1, count = -1, procs = 2;
  double timeout_s = 120;
  std::string path = "/bin/true";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--uid")
      uid = std::atol(value);
    else if (flag == "--count")
      count = std::atol(value);
    else if (flag == "--procs")
      procs = std::atol(value);
    else if (flag == "--path")
      path = value;
    else if (flag == "--timeout")
      timeout_s = std::atof(value);
    else
      usage();
  }
  if (argc % 2 == 0 || uid < 0 || count < 0 || procs < 1 || procs > 64) usage();

  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("exec_storm: mmap");
    return 1;
  }
  auto* shared = new (mem) Shared{};
  auto start = std::chrono::steady_clock::now();
  auto deadline =
      start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout_s));

  std::vector<pid_t> workers;
  for (long w = 0; w < procs; ++w) {
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("exec_storm: fork");
      return 1;
    }
    if (pid > 0) {
      workers.push_back(pid);
      continue;
    }
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    if (setgroups(0, nullptr) != 0 || setgid(static_cast<gid_t>(uid)) != 0 || setuid(static_cast<uid_t>(uid)) != 0)
      _exit(126);
    char* child_argv[] = {const_cast<char*>(path.c_str()), nullptr};
    char* envp[] = {nullptr};
    while (std::chrono::steady_clock::now() < deadline && shared->claimed.fetch_add(1) < count) {
      pid_t child = fork();
      if (child < 0) {
        shared->claimed.fetch_sub(1);
        usleep(1000);
        continue;
      }
      if (child == 0) {
        shared->made.fetch_add(1);
        execve(path.c_str(), child_argv, envp);
        _exit(127);
      }
      int status = 0;
      waitpid(child, &status, 0);
    }
    _exit(0);
  }
  int failed = 0;
  for (pid_t w : workers) {
    int status = 0;
    waitpid(w, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  std::printf("made=%ld wall_s=%.3f sys_s=%.3f user_s=%.3f\n", shared->made.load(), wall, seconds(ru.ru_stime),
              seconds(ru.ru_utime));
  if (failed) std::fprintf(stderr, "exec_storm: %d workers failed (could not switch to uid %ld?)\n", failed, uid);
  return failed ? 1 : 0;
}
