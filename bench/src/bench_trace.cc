// bench_trace: runs a tracer (ours or a baseline), times its start-up to the stderr
// line starting with "Attached", samples its memory, optionally runs a workload while
// it is attached and measures the tracer's CPU time and its BPF programs' run time
// around that workload, then stops it with SIGINT (SIGKILL if it does not exit).
//
//   bench_trace [--out FILE] [--err FILE] [--ready-stdout] [--attach-timeout S] [--settle S]
//               [--run 'SHELL COMMAND'] [--run-timeout S] [--drain S] [--stop-timeout S]
//               -- TRACER [ARGS...]
//
// Prints key=value lines on stdout (the workload's own stdout passes through):
//   startup_s           fork to the "Attached" line (on stdout with --ready-stdout, for
//                       bpftrace, whose BEGIN probe prints it once every probe is attached)
//   vmhwm_kib rss_anon_kib rss_file_kib    /proc/PID/status after --settle seconds
//   cpu_ticks           utime+stime (/proc/PID/stat) spent during workload + drain
//   cpu_ns              the same from /proc/PID/task/*/schedstat (nanoseconds)
//   bpf_run_ns bpf_run_cnt   run_time_ns / run_cnt deltas of the tracer's BPF programs
//                            (/proc/PID/fdinfo; needs kernel.bpf_stats_enabled=1)
//   bpf_prog=ID:NAME:RUN_NS:RUN_CNT   the same per program
//   workload_s workload_rc   wall time and exit code of --run
//   exit_code           tracer's exit code (128+N if killed by signal N; -1 not started)
// Exit status: 0 when the tracer attached, 1 otherwise.
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void sleep_s(double s) {
  if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

struct Options {
  std::string out = "/dev/null";
  std::string err;
  double attach_timeout = 120;
  double settle = 1.0;
  std::string run;
  double run_timeout = 300;
  double drain = 5.0;
  double stop_timeout = 15;
  bool ready_stdout = false;
  std::vector<std::string> argv;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "bench_trace: %s\nusage: bench_trace [options] -- TRACER [ARGS...]\n", msg);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  auto value = [&](const char* name) -> std::string {
    if (i + 1 >= argc) usage((std::string("missing value for ") + name).c_str());
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) o.argv.push_back(argv[i]);
      break;
    } else if (a == "--out")
      o.out = value("--out");
    else if (a == "--err")
      o.err = value("--err");
    else if (a == "--ready-stdout")
      o.ready_stdout = true;
    else if (a == "--attach-timeout")
      o.attach_timeout = std::stod(value("--attach-timeout"));
    else if (a == "--settle")
      o.settle = std::stod(value("--settle"));
    else if (a == "--run")
      o.run = value("--run");
    else if (a == "--run-timeout")
      o.run_timeout = std::stod(value("--run-timeout"));
    else if (a == "--drain")
      o.drain = std::stod(value("--drain"));
    else if (a == "--stop-timeout")
      o.stop_timeout = std::stod(value("--stop-timeout"));
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.argv.empty()) usage("no tracer command");
  return o;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// "VmHWM:   1234 kB" -> 1234
long status_kib(const std::string& status, const std::string& key) {
  auto pos = status.find("\n" + key + ":");
  if (pos == std::string::npos) return -1;
  return std::strtol(status.c_str() + pos + key.size() + 2, nullptr, 10);
}

// utime + stime, in clock ticks (fields 14 and 15 of /proc/PID/stat).
long long cpu_ticks(pid_t pid) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int n = 3; in >> field; ++n) {
    if (n == 14) utime = std::stoll(field);
    if (n == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  return utime + stime;
}

// Sum of time on CPU (ns) of every thread (/proc/PID/task/*/schedstat, first field).
long long cpu_ns(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  long long total = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string s = read_file(dir + "/" + e->d_name + "/schedstat");
    total += std::strtoll(s.c_str(), nullptr, 10);
  }
  ::closedir(d);
  return total;
}

struct ProgStats {
  std::string name;
  long long run_ns = 0;
  long long run_cnt = 0;
};

struct BpfStats {
  long long run_ns = 0;
  long long run_cnt = 0;
  int progs = 0;
  std::map<long long, ProgStats> by_id;
};

// The program's name (bpf_prog_info.name), looked up by id.
std::string prog_name(long long id) {
  int fd = bpf_prog_get_fd_by_id(static_cast<__u32>(id));
  if (fd < 0) return "?";
  bpf_prog_info info{};
  __u32 len = sizeof info;
  std::string name = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.name : "?";
  ::close(fd);
  return name.empty() ? "?" : name;
}

// Sums run_time_ns / run_cnt over the BPF programs the tracer holds open (one per
// prog_id, however many fds point at it).
BpfStats bpf_stats(pid_t pid) {
  BpfStats st;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return st;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(read_file(dir + "/" + e->d_name));
    std::string line;
    long long id = -1, ns = 0, cnt = 0;
    while (std::getline(in, line)) {
      auto num = [&](const char* key) { return std::strtoll(line.c_str() + std::strlen(key), nullptr, 10); };
      if (line.rfind("prog_id:", 0) == 0)
        id = num("prog_id:");
      else if (line.rfind("run_time_ns:", 0) == 0)
        ns = num("run_time_ns:");
      else if (line.rfind("run_cnt:", 0) == 0)
        cnt = num("run_cnt:");
    }
    if (id >= 0) st.by_id[id] = {"", ns, cnt};
  }
  ::closedir(d);
  for (auto& [id, p] : st.by_id) {
    p.name = prog_name(id);
    st.run_ns += p.run_ns;
    st.run_cnt += p.run_cnt;
    ++st.progs;
  }
  return st;
}

// Reads the tracer's stderr, copies it to a log, and notes when "Attached" shows up.
class StderrWatcher {
 public:
  StderrWatcher(int fd, const std::string& log_path) : fd_(fd) {
    if (!log_path.empty()) log_ = std::fopen(log_path.c_str(), "w");
    thread_ = std::thread([this] { loop(); });
  }
  ~StderrWatcher() {
    thread_.join();
    if (log_) std::fclose(log_);
    ::close(fd_);
  }
  bool attached() const { return attached_.load(); }
  bool closed() const { return closed_.load(); }
  Clock::time_point attached_at() const { return attached_at_; }

 private:
  void loop() {
    std::string line;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (log_) {
        std::fwrite(buf, 1, n, log_);
        std::fflush(log_);
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] != '\n') {
          line += buf[i];
          continue;
        }
        if (!attached_ && line.rfind("Attached", 0) == 0) {
          attached_at_ = Clock::now();
          attached_.store(true);
        }
        line.clear();
      }
    }
    closed_.store(true);
  }

  int fd_;
  std::FILE* log_ = nullptr;
  std::thread thread_;
  std::atomic<bool> attached_{false};
  std::atomic<bool> closed_{false};
  Clock::time_point attached_at_;
};

// Waits for pid up to timeout_s; returns true if it exited (status filled).
bool wait_for(pid_t pid, double timeout_s, int& status) {
  auto t0 = Clock::now();
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;
    if (seconds_since(t0) > timeout_s) return false;
    sleep_s(0.01);
  }
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

off_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);

  int err_pipe[2], out_pipe[2] = {-1, -1};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0 || (o.ready_stdout && ::pipe2(out_pipe, O_CLOEXEC) != 0)) {
    std::perror("bench_trace: pipe");
    return 1;
  }
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("bench_trace: fork");
    return 1;
  }
  if (pid == 0) {
    int out = o.ready_stdout ? out_pipe[1] : ::open(o.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) _exit(126);
    ::dup2(out, 1);
    ::dup2(err_pipe[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> args;
    for (auto& a : o.argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(err_pipe[1]);
  if (o.ready_stdout) ::close(out_pipe[1]);

  int status = 0;
  bool exited = false;
  {
    StderrWatcher err_watcher(err_pipe[0], o.err);
    std::unique_ptr<StderrWatcher> out_watcher;
    if (o.ready_stdout) out_watcher = std::make_unique<StderrWatcher>(out_pipe[0], o.out);
    StderrWatcher& watcher = o.ready_stdout ? *out_watcher : err_watcher;
    while (!watcher.attached() && !watcher.closed() && seconds_since(t0) < o.attach_timeout) sleep_s(0.001);

    if (watcher.attached()) {
      std::printf("startup_s=%.4f\n", std::chrono::duration<double>(watcher.attached_at() - t0).count());
      sleep_s(o.settle);
      std::string st = read_file("/proc/" + std::to_string(pid) + "/status");
      std::printf("vmhwm_kib=%ld\nvmrss_kib=%ld\nrss_anon_kib=%ld\nrss_file_kib=%ld\n", status_kib(st, "VmHWM"),
                  status_kib(st, "VmRSS"), status_kib(st, "RssAnon"), status_kib(st, "RssFile"));
      std::fflush(stdout);

      if (!o.run.empty()) {
        long long ticks0 = cpu_ticks(pid), ns0 = cpu_ns(pid);
        BpfStats b0 = bpf_stats(pid);
        auto w0 = Clock::now();
        pid_t w = ::fork();
        if (w == 0) {
          ::execl("/bin/sh", "sh", "-c", o.run.c_str(), static_cast<char*>(nullptr));
          _exit(127);
        }
        int wstatus = 0;
        if (!wait_for(w, o.run_timeout, wstatus)) {
          ::kill(w, SIGKILL);
          ::waitpid(w, &wstatus, 0);
          std::fprintf(stderr, "bench_trace: workload timed out after %.0f s\n", o.run_timeout);
        }
        double workload_s = seconds_since(w0);
        // Drain: wait until the tracer's output stops growing (its reader caught up).
        auto d0 = Clock::now();
        off_t last = file_size(o.out);
        auto still_since = Clock::now();
        while (seconds_since(d0) < o.drain) {
          sleep_s(0.05);
          off_t now = file_size(o.out);
          if (now != last) {
            last = now;
            still_since = Clock::now();
          } else if (seconds_since(still_since) >= 0.5) {
            break;
          }
        }
        long long ticks1 = cpu_ticks(pid), ns1 = cpu_ns(pid);
        BpfStats b1 = bpf_stats(pid);
        std::printf("workload_s=%.4f\nworkload_rc=%d\ndrain_s=%.3f\n", workload_s, exit_code(wstatus),
                    seconds_since(d0));
        std::printf("cpu_ticks=%lld\nclk_tck=%ld\ncpu_ns=%lld\n", ticks1 - ticks0, ::sysconf(_SC_CLK_TCK), ns1 - ns0);
        std::printf("bpf_progs=%d\nbpf_run_ns=%lld\nbpf_run_cnt=%lld\n", b1.progs, b1.run_ns - b0.run_ns,
                    b1.run_cnt - b0.run_cnt);
        for (auto& [id, p] : b1.by_id) {
          const ProgStats& before = b0.by_id.count(id) ? b0.by_id[id] : ProgStats{};
          std::printf("bpf_prog=%lld:%s:%lld:%lld\n", id, p.name.c_str(), p.run_ns - before.run_ns,
                      p.run_cnt - before.run_cnt);
        }
        std::fflush(stdout);
      }
    } else {
      std::fprintf(stderr, "bench_trace: %s did not print an Attached line (%s)\n", o.argv[0].c_str(),
                   watcher.closed() ? "its stderr closed" : "timeout");
    }

    ::kill(pid, SIGINT);
    exited = wait_for(pid, o.stop_timeout, status);
    if (!exited) {
      std::fprintf(stderr, "bench_trace: %s ignored SIGINT for %.0f s: SIGKILL\n", o.argv[0].c_str(), o.stop_timeout);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    std::printf("exit_code=%d\nstopped_by_sigint=%d\n", exit_code(status), exited ? 1 : 0);
    std::fflush(stdout);
    bool ok = watcher.attached();
    // The watcher's destructor joins its thread once the tracer's stderr closes.
    return ok ? 0 : 1;
  }
}
