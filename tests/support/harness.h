// Helpers for integration tests: run the real tool binaries, make real execs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace harness {

std::string tool_path(const std::string& tool);  // <build>/<tool>

// A tool running in the background with its stdout and stderr captured.
class ToolProcess {
 public:
  explicit ToolProcess(const std::vector<std::string>& argv);
  ~ToolProcess();  // SIGKILLs a tool still running
  ToolProcess(const ToolProcess&) = delete;
  ToolProcess& operator=(const ToolProcess&) = delete;

  // Waits until stderr holds a line starting with `prefix` ("Attached").
  bool wait_for_stderr_line(const std::string& prefix, double timeout_s);
  // Next complete stdout line, or nullopt on timeout / end of output.
  std::optional<std::string> next_line(double timeout_s);
  void signal(int sig);
  // Exit code, 128+signal when killed by one, or -1 on timeout (then it is killed).
  int wait_exit(double timeout_s);
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  pid_t pid() const { return pid_; }

 private:
  bool pump(double timeout_s);  // reads what is available; false when both pipes closed
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_, err_;
  size_t out_pos_ = 0;
  int status_ = -1;
  bool exited_ = false;
};

struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};
// Runs a tool to completion (killed after timeout_s).
RunResult run(const std::vector<std::string>& argv, double timeout_s);

// argv that runs `cmd args` as `uid` (and gid, no groups) with exactly `caps` ("+bpf,+perfmon",
// "" for none) as inheritable and ambient capabilities, which setpriv keeps across the exec.
std::vector<std::string> as_uid(uid_t uid, const std::string& caps, const std::string& cmd,
                                const std::vector<std::string>& args);

// Forks n children that each switch to uid/gid and execve(path, argv); waits for them.
// Returns their pids (the pid that made each execve).
std::vector<pid_t> exec_as(uid_t uid, const std::string& path, const std::vector<std::string>& argv, int n);

// Non-empty lines of a text.
std::vector<std::string> lines(const std::string& text);

// Runs a shell command, returns its exit status.
int sh(const std::string& command);

}  // namespace harness
