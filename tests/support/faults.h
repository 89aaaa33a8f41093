// Helpers for the fault suite (tests/faults): load generators, background processes,
// output checks, RSS sampling and tc state guards. Every object here cleans up after
// itself in its destructor (processes killed by their own pid, filters and qdiscs
// removed), so a failed assertion leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness.h"

namespace faults {

// Seconds from the environment variable `name` (a positive integer), else `fallback`.
int env_seconds(const char* name, int fallback);

// Prints one "[faults] ..." line on stdout right away (numbers for the report).
void note(const std::string& line);

// A process started in its own process group with stdout/stderr sent to files (or
// /dev/null when the path is empty). The destructor SIGKILLs the group and reaps it.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& out_path = "", const std::string& err_path = "");
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Exit code, 128+signal, or -1 on timeout (then the group is killed).
  int wait_exit(double timeout_s);
  bool running();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Forks and execs /bin/true in a loop (at most `per_second` per second, 0 = as fast
// as possible) as `uid` (and gid `uid`; 0 = stay root) until stopped or `max_seconds`
// have passed. Counts what it made.
class ExecLoad {
 public:
  explicit ExecLoad(int max_seconds, int per_second = 0, uid_t uid = 0);
  ~ExecLoad();
  ExecLoad(const ExecLoad&) = delete;
  ExecLoad& operator=(const ExecLoad&) = delete;
  // Stops the loop; returns the number of execs made.
  long stop();

 private:
  pid_t pid_ = -1;
  int pipe_fd_ = -1;
  long made_ = -1;
};

// Opens short TCP connections to addr:port (a testnet::TcpServer) in a loop from the
// caller's netns, at most `per_second` per second (0 = as fast as possible), until
// stopped, `max_connections` were made (0 = no limit) or `max_seconds` passed.
class ConnLoad {
 public:
  ConnLoad(const std::string& addr, uint16_t port, int max_seconds, int per_second = 0, long max_connections = 0,
           uint64_t send_bytes = 200, uint64_t reply_bytes = 300);
  ~ConnLoad();
  ConnLoad(const ConnLoad&) = delete;
  ConnLoad& operator=(const ConnLoad&) = delete;
  // Waits for the loop to end by itself (max_connections reached) up to timeout_s.
  bool wait(double timeout_s);
  // Stops the loop; returns {connections that completed, connections that failed}.
  std::pair<long, long> stop();

 private:
  pid_t pid_ = -1;
  int pipe_fd_ = -1;
  bool done_ = false;
  std::pair<long, long> result_{-1, -1};
};

// A bulk TCP stream (iperf3) from the caller's netns to an iperf3 server inside netns
// `ns`, for `seconds`, at `bitrate` (iperf3 -b, "" = unlimited). Both processes are
// killed by the destructor.
class BulkLoad {
 public:
  BulkLoad(const std::string& ns, const std::string& server_addr, uint16_t port, int seconds,
           const std::string& bitrate = "");
  ~BulkLoad();
  BulkLoad(const BulkLoad&) = delete;
  BulkLoad& operator=(const BulkLoad&) = delete;

 private:
  std::optional<Background> server_;
  std::optional<Background> client_;
};

// Reads the tool's output for `seconds`, so that its pipes never fill up and block it.
void pump_for(harness::ToolProcess& p, double seconds);

// The integer value of "key":N in a JSON line, or -1 when absent.
long long json_number(const std::string& line, const std::string& key);
// The string value of "key":"..." in a JSON line (no unescaping), or "" when absent.
std::string json_string(const std::string& line, const std::string& key);

// Resident set size of a process in KiB (VmRSS), or -1.
long rss_kib(pid_t pid);

// Whether `text` is exactly one JSON value (object, array, string, number, literal).
bool is_json(std::string_view text);

// Lines of a text that ends in '\n' (an unterminated last line is returned too, and
// reported through `unterminated`).
std::vector<std::string> split_lines(const std::string& text, bool* unterminated = nullptr);

std::string read_file(const std::string& path);

// A fresh directory under /tmp, removed with its contents by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A foreign classic-BPF tc filter (prio 5, handle 1, accept-all bytecode) on the
// clsact qdisc of `dev` (ingress and egress), installed in the constructor (which
// creates the qdisc); the destructor removes the qdisc with everything on it.
class ForeignFilter {
 public:
  explicit ForeignFilter(const std::string& dev);
  ~ForeignFilter();
  ForeignFilter(const ForeignFilter&) = delete;
  ForeignFilter& operator=(const ForeignFilter&) = delete;
  // Foreign filters still present (0, 1 or 2: one per direction).
  int count() const;

 private:
  std::string dev_;
};

// Removes the clsact qdisc of `dev` (and every filter on it) when destroyed; for
// cases that may leave our clsact filters behind.
class ClsactCleanup {
 public:
  explicit ClsactCleanup(std::string dev) : dev_(std::move(dev)) {}
  ~ClsactCleanup();
  ClsactCleanup(const ClsactCleanup&) = delete;
  ClsactCleanup& operator=(const ClsactCleanup&) = delete;

 private:
  std::string dev_;
};

}  // namespace faults
