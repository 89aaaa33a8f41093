#include "faults.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "netns.h"

namespace faults {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

volatile sig_atomic_t g_stop = 0;
void on_term(int) { g_stop = 1; }

// In a forked load child: SIGTERM ends the loop, the parent's death too, and a hard
// alarm backs up the deadline.
void child_setup(int max_seconds) {
  struct sigaction sa {};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  alarm(static_cast<unsigned>(max_seconds) + 15);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
  }
}

// Reads what a load child wrote to its pipe before exiting (up to timeout_s).
std::string read_result(int fd, double timeout_s) {
  std::string out;
  auto start = Clock::now();
  while (since(start) < timeout_s) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Paces a loop to `per_second` iterations a second (0 = no pacing).
void pace(Clock::time_point start, long done, int per_second) {
  if (per_second <= 0) return;
  auto due = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(static_cast<double>(done) / per_second));
  if (due > Clock::now()) std::this_thread::sleep_until(due);
}

void reap(pid_t pid, double timeout_s) {
  auto start = Clock::now();
  int st;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (since(start) > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// JSON syntax check: recursive descent over one value.
struct JsonParser {
  std::string_view s;
  size_t i = 0;
  int depth = 0;
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  bool str() {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (i >= s.size()) return false;
        char e = s[i++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k, ++i)
            if (i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return false;
        }
      }
    }
    return false;
  }
  bool digits() {
    size_t b = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i > b;
  }
  bool num() {
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0') {
      ++i;
    } else if (!digits()) {
      return false;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return true;
  }
  bool value() {
    if (++depth > 64) return false;
    ws();
    bool ok = false;
    if (i >= s.size()) return false;
    char c = s[i];
    if (c == '{') {
      ++i;
      ws();
      if (i < s.size() && s[i] == '}') {
        ++i;
        ok = true;
      } else {
        while (true) {
          ws();
          if (!str()) return false;
          ws();
          if (i >= s.size() || s[i++] != ':') return false;
          if (!value()) return false;
          ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == '}') {
            ++i;
            ok = true;
          }
          break;
        }
      }
    } else if (c == '[') {
      ++i;
      ws();
      if (i < s.size() && s[i] == ']') {
        ++i;
        ok = true;
      } else {
        while (true) {
          if (!value()) return false;
          ws();
          if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
          }
          if (i < s.size() && s[i] == ']') {
            ++i;
            ok = true;
          }
          break;
        }
      }
    } else if (c == '"') {
      ok = str();
    } else if (c == 't') {
      ok = lit("true");
    } else if (c == 'f') {
      ok = lit("false");
    } else if (c == 'n') {
      ok = lit("null");
    } else {
      ok = num();
    }
    --depth;
    return ok;
  }
};

}  // namespace

int env_seconds(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == 0 && n > 0 && n < 100000) ? static_cast<int>(n) : fallback;
}

void note(const std::string& line) {
  std::printf("[faults] %s\n", line.c_str());
  std::fflush(stdout);
}

// ---- Background --------------------------------------------------------------------

Background::Background(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    int in = open("/dev/null", O_RDONLY);
    int out = open(out_path.empty() ? "/dev/null" : out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.empty() ? "/dev/null" : err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  setpgid(pid_, pid_);
}

Background::~Background() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    if (!reaped_) waitpid(pid_, &status_, 0);
  }
}

void Background::signal(int sig) const {
  if (!reaped_) kill(pid_, sig);
}

bool Background::running() {
  if (reaped_) return false;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

int Background::wait_exit(double timeout_s) {
  auto start = Clock::now();
  while (running()) {
    if (since(start) > timeout_s) {
      kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      reaped_ = true;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

// ---- ExecLoad --------------------------------------------------------------------

ExecLoad::ExecLoad(int max_seconds, int per_second, uid_t uid) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    close(p[0]);
    child_setup(max_seconds);
    if (uid != 0 && (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0)) _exit(126);
    auto start = Clock::now();
    long made = 0;
    while (!g_stop && since(start) < max_seconds) {
      pid_t c = fork();
      if (c == 0) {
        execl("/bin/true", "true", static_cast<char*>(nullptr));
        _exit(127);
      }
      if (c > 0) {
        int st;
        waitpid(c, &st, 0);
        ++made;
      }
      pace(start, made, per_second);
    }
    std::string r = std::to_string(made) + "\n";
    (void)!write(p[1], r.data(), r.size());
    _exit(0);
  }
  close(p[1]);
  pipe_fd_ = p[0];
}

long ExecLoad::stop() {
  if (made_ >= 0 || pid_ <= 0) return made_;
  kill(pid_, SIGTERM);
  std::string r = read_result(pipe_fd_, 10);
  reap(pid_, 5);
  made_ = r.empty() ? 0 : std::stol(r);
  pid_ = -1;
  return made_;
}

ExecLoad::~ExecLoad() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (pipe_fd_ >= 0) close(pipe_fd_);
}

// ---- ConnLoad --------------------------------------------------------------------

ConnLoad::ConnLoad(const std::string& addr, uint16_t port, int max_seconds, int per_second, long max_connections,
                   uint64_t send_bytes, uint64_t reply_bytes) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    close(p[0]);
    child_setup(max_seconds);
    auto start = Clock::now();
    long ok = 0, failed = 0;
    while (!g_stop && since(start) < max_seconds && (max_connections == 0 || ok + failed < max_connections)) {
      auto t = testnet::tcp_transfer(addr, port, send_bytes, reply_bytes, 5);
      (t.ok ? ok : failed) += 1;
      if (!t.ok) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      pace(start, ok + failed, per_second);
    }
    std::string r = std::to_string(ok) + " " + std::to_string(failed) + "\n";
    (void)!write(p[1], r.data(), r.size());
    _exit(0);
  }
  close(p[1]);
  pipe_fd_ = p[0];
}

bool ConnLoad::wait(double timeout_s) {
  auto start = Clock::now();
  while (since(start) < timeout_s) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      std::istringstream in(read_result(pipe_fd_, 2));
      in >> result_.first >> result_.second;
      pid_ = -1;
      done_ = true;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::pair<long, long> ConnLoad::stop() {
  if (done_ || pid_ <= 0) return result_;
  kill(pid_, SIGTERM);
  std::istringstream in(read_result(pipe_fd_, 10));
  in >> result_.first >> result_.second;
  reap(pid_, 5);
  pid_ = -1;
  done_ = true;
  return result_;
}

ConnLoad::~ConnLoad() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (pipe_fd_ >= 0) close(pipe_fd_);
}

// ---- BulkLoad --------------------------------------------------------------------

BulkLoad::BulkLoad(const std::string& ns, const std::string& server_addr, uint16_t port, int seconds,
                   const std::string& bitrate) {
  const std::string p = std::to_string(port);
  server_.emplace(std::vector<std::string>{"timeout", std::to_string(seconds + 20), "ip", "netns", "exec", ns, "iperf3",
                                           "-s", "-p", p, "-1"});
  const std::string client = "for i in 1 2 3 4 5 6 7 8 9 10; do iperf3 -c " + server_addr + " -p " + p + " -t " +
                             std::to_string(seconds) + (bitrate.empty() ? "" : " -b " + bitrate) +
                             " && break; sleep 0.3; done";
  client_.emplace(std::vector<std::string>{"timeout", std::to_string(seconds + 15), "sh", "-c", client});
}

BulkLoad::~BulkLoad() {
  client_.reset();
  server_.reset();
}

// ---- odds and ends ---------------------------------------------------------------

void pump_for(harness::ToolProcess& p, double seconds) {
  auto start = Clock::now();
  while (since(start) < seconds) {
    double left = seconds - since(start);
    if (left <= 0) break;
    if (!p.next_line(std::min(left, 0.2)) && since(start) < seconds) {
      // no complete line right now (or the tool ended): keep the time bounded
      if (kill(p.pid(), 0) != 0) break;
    }
  }
}

long long json_number(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  auto at = line.find(k);
  if (at == std::string::npos) return -1;
  at += k.size();
  size_t end = at;
  while (end < line.size() && (std::isdigit(static_cast<unsigned char>(line[end])) || line[end] == '-')) ++end;
  if (end == at) return -1;
  return std::stoll(line.substr(at, end - at));
}

std::string json_string(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":\"";
  auto at = line.find(k);
  if (at == std::string::npos) return "";
  at += k.size();
  auto end = line.find('"', at);
  return end == std::string::npos ? "" : line.substr(at, end - at);
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

bool is_json(std::string_view text) {
  JsonParser p{text};
  if (!p.value()) return false;
  p.ws();
  return p.i == text.size();
}

std::vector<std::string> split_lines(const std::string& text, bool* unterminated) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      out.push_back(text.substr(pos));
      if (unterminated) *unterminated = true;
      return out;
    }
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (unterminated) *unterminated = false;
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir(const std::string& tag) {
  std::string tmpl = "/tmp/tkfaults-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ForeignFilter::ForeignFilter(const std::string& dev) : dev_(dev) {
  testnet::sh("tc qdisc add dev " + dev + " clsact");
  for (const char* dir : {"ingress", "egress"}) {
    auto r =
        testnet::sh(std::string("tc filter add dev ") + dev + " " + dir + " prio 5 handle 1 bpf bytecode '1,6 0 0 0,'");
    if (r.rc != 0) throw std::runtime_error("cannot add the foreign filter: " + r.out);
  }
}

ForeignFilter::~ForeignFilter() { testnet::sh("tc qdisc del dev " + dev_ + " clsact >/dev/null 2>&1; true"); }

int ForeignFilter::count() const {
  int n = 0;
  for (const char* dir : {"ingress", "egress"}) {
    auto r = testnet::sh("tc filter show dev " + dev_ + " " + dir);
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("filter ", 0) == 0 && line.find(" pref 5 bpf ") != std::string::npos &&
          line.find(" handle 0x1 ") != std::string::npos)
        ++n;
  }
  return n;
}

ClsactCleanup::~ClsactCleanup() { testnet::sh("tc qdisc del dev " + dev_ + " clsact >/dev/null 2>&1; true"); }

}  // namespace faults
