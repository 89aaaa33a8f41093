// bench_storm: a bounded exec storm. J worker processes fork+exec a program
// (default /bin/true) N times in total, as fast as they can, and the wall time is
// reported. Every execve is made by a child whose comm is still "bench_storm", so a
// tracer's events for the storm can be counted by that name.
//
//   bench_storm [-n 20000] [-j 2] [--path /bin/true] [--max-seconds 300]
//
// Prints: execs=N failed=F seconds=S rate=R   (rate in execs per second)
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

int main(int argc, char** argv) {
  long total = 20000;
  int jobs = 2;
  std::string path = "/bin/true";
  double max_seconds = 300;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_storm: missing value for %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-n")
      total = std::stol(value());
    else if (a == "-j")
      jobs = std::stoi(value());
    else if (a == "--path")
      path = value();
    else if (a == "--max-seconds")
      max_seconds = std::stod(value());
    else {
      std::fprintf(stderr, "usage: bench_storm [-n N] [-j JOBS] [--path PROG] [--max-seconds S]\n");
      return 2;
    }
  }
  if (total < 1 || jobs < 1) return 2;

  // Shared counters: execs done and failed, across the workers.
  auto* shared = static_cast<std::atomic<long>*>(
      ::mmap(nullptr, 2 * sizeof(std::atomic<long>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shared == MAP_FAILED) return 1;
  new (&shared[0]) std::atomic<long>(0);
  new (&shared[1]) std::atomic<long>(0);

  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_seconds));
  std::vector<pid_t> workers;
  for (int j = 0; j < jobs; ++j) {
    long share = total / jobs + (j < total % jobs ? 1 : 0);
    pid_t w = ::fork();
    if (w < 0) return 1;
    if (w == 0) {
      char* child_argv[] = {path.data(), nullptr};
      for (long k = 0; k < share; ++k) {
        if ((k & 63) == 0 && Clock::now() > deadline) break;
        pid_t c = ::fork();
        if (c == 0) {
          ::execve(path.c_str(), child_argv, environ);
          _exit(127);
        }
        int status = 0;
        if (c < 0 || ::waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
          shared[1].fetch_add(1);
        shared[0].fetch_add(1);
      }
      _exit(0);
    }
    workers.push_back(w);
  }
  for (pid_t w : workers) ::waitpid(w, nullptr, 0);
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  long done = shared[0].load();
  std::printf("execs=%ld\nfailed=%ld\nseconds=%.4f\nrate=%.1f\n", done, shared[1].load(), seconds, done / seconds);
  return done == total && shared[1].load() == 0 ? 0 : 1;
}
