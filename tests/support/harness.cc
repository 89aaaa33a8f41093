#include "harness.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace harness {
namespace {
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}
}  // namespace

std::string tool_path(const std::string& tool) { return std::string(TRACEKIT_BIN_DIR) + "/" + tool; }

ToolProcess::ToolProcess(const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    setpgid(0, 0);
    auto args = c_argv(argv);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

ToolProcess::~ToolProcess() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

bool ToolProcess::pump(double timeout_s) {
  struct pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  int nfds = 0;
  for (auto& f : fds)
    if (f.fd >= 0) ++nfds;
  if (nfds == 0) return false;
  int rc = poll(fds, 2, static_cast<int>(timeout_s * 1000));
  if (rc <= 0) return true;
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char buf[65536];
    ssize_t n = read(fds[i].fd, buf, sizeof buf);
    if (n > 0) {
      (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      close(fds[i].fd);
      (i == 0 ? out_fd_ : err_fd_) = -1;
    }
  }
  return true;
}

bool ToolProcess::wait_for_stderr_line(const std::string& prefix, double timeout_s) {
  auto start = Clock::now();
  while (seconds_since(start) < timeout_s) {
    if (err_.rfind(prefix, 0) == 0 || err_.find("\n" + prefix) != std::string::npos) return true;
    if (!pump(0.05) && exited_) return false;
    if (out_fd_ < 0 && err_fd_ < 0) return err_.find(prefix) != std::string::npos;
  }
  return false;
}

std::optional<std::string> ToolProcess::next_line(double timeout_s) {
  auto start = Clock::now();
  while (true) {
    auto nl = out_.find('\n', out_pos_);
    if (nl != std::string::npos) {
      std::string line = out_.substr(out_pos_, nl - out_pos_);
      out_pos_ = nl + 1;
      return line;
    }
    if (seconds_since(start) >= timeout_s) return std::nullopt;
    if (!pump(0.05)) return std::nullopt;
    if (out_fd_ < 0 && out_.find('\n', out_pos_) == std::string::npos) return std::nullopt;
  }
}

void ToolProcess::signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

int ToolProcess::wait_exit(double timeout_s) {
  auto start = Clock::now();
  while (!exited_) {
    pid_t r = waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      break;
    }
    if (seconds_since(start) >= timeout_s) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      exited_ = true;
      while (pump(0.01)) {
      }
      return -1;
    }
    pump(0.05);
  }
  while (pump(0.01)) {
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

RunResult run(const std::vector<std::string>& argv, double timeout_s) {
  ToolProcess p(argv);
  int rc = p.wait_exit(timeout_s);
  return {rc, p.out(), p.err()};
}

std::vector<pid_t> exec_as(uid_t uid, const std::string& path, const std::vector<std::string>& argv, int n) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 1);
      dup2(devnull, 2);
      if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(126);
      auto args = c_argv(argv);
      char* envp[] = {nullptr};
      execve(path.c_str(), args.data(), envp);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    pids.push_back(pid);
  }
  return pids;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

int sh(const std::string& command) {
  int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::vector<std::string> as_uid(uid_t uid, const std::string& caps, const std::string& cmd,
                                const std::vector<std::string>& args) {
  const std::string set = "-all" + (caps.empty() ? std::string() : "," + caps);
  std::vector<std::string> v = {"/usr/bin/setpriv",
                                "--reuid=" + std::to_string(uid),
                                "--regid=" + std::to_string(uid),
                                "--clear-groups",
                                "--inh-caps=" + set,
                                "--ambient-caps=" + set,
                                cmd};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

}  // namespace harness
