// The command line of every tool (cxxopts): the common flags, chosen by what the tool
// is (ToolInfo), plus the tool's own.
//
// Every tool:       -h/--help, --version, -d/--duration, -j/--json, -T/--timestamp,
//                   -v/--verbose, --kernel-headers, --no-cache, --cache-dir, --user, -q/--quiet,
//                   --metrics, --metrics-textfile, --metrics-max-series
// Interval tools:   -i/--interval, -c/--count and the positionals [interval [count]]
// TC tools:         IFACE (first positional), --attach, --direction
// Event buffers:    --buffer ring|perf, --wakeup batch|each
// Syscall probes:   --probe auto|tracepoint|kprobe
//
// Usage errors become tracekit::UsageError (exit code 2).
#pragma once

#include <cxxopts.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/options.h"
#include "metrics/endpoint.h"

namespace tracekit {

enum class ToolKind { Interval, Stream };

struct ToolInfo {
  std::string name;      // "tcp_tracker"
  std::string summary;   // one paragraph for --help
  std::string examples;  // the EXAMPLES block of --help
  ToolKind kind = ToolKind::Stream;
  double default_interval = 5;  // interval tools
  bool tc = false;              // IFACE, --attach, --direction
  bool event_buffer = false;    // --buffer, --wakeup
  bool syscall_probes = false;  // --probe
};

struct CommonOptions {
  double duration = 0;  // seconds; 0 = until a signal
  bool json = false;
  bool timestamps = false;  // -T
  bool verbose = false;
  std::string kernel_headers;  // empty = automatic
  bool cache = true;           // --no-cache clears it
  std::string cache_dir;       // --cache-dir (absolute); empty = default_cache_dir()
  std::string user;            // --user: switch to this user after attaching
  bool quiet = false;          // nothing on stdout (metrics only)
  // Metrics (docs/metrics.md).
  bool metrics_http = false;
  ListenAddress metrics_address;  // --metrics
  std::string metrics_textfile;   // --metrics-textfile DIR
  size_t metrics_max_series = 1000;
  bool metrics() const { return metrics_http || !metrics_textfile.empty(); }
  // Interval tools.
  double interval = 0;
  long count = 0;  // 0 = no limit
  // Event buffers.
  BufferKind buffer = BufferKind::Ring;
  bool wakeup_each = false;
  // Syscall probes.
  ProbeMode probe = ProbeMode::Auto;
  // TC tools.
  std::string ifname;  // empty: not given
  TcMode attach = TcMode::Auto;
  std::vector<TcDirection> directions{TcDirection::Ingress, TcDirection::Egress};
  bool direction_given = false;
};

class Cli {
 public:
  explicit Cli(ToolInfo info);
  // The tool adds its own flags here (they show under the tool's name in --help).
  cxxopts::Options& options() { return options_; }

  // Parses argv. Returns nullopt when --help or --version was printed (exit 0).
  std::optional<cxxopts::ParseResult> parse(int argc, char** argv);
  std::string help() const;

  const ToolInfo& info() const { return info_; }
  const CommonOptions& common() const { return common_; }
  CommonOptions& common() { return common_; }

 private:
  ToolInfo info_;
  cxxopts::Options options_;
  CommonOptions common_;
};

// Typed accessors that turn bad values into UsageError naming the flag.
double get_seconds(const cxxopts::ParseResult& r, const std::string& name, bool allow_zero);
long get_count(const cxxopts::ParseResult& r, const std::string& name, long min, long max);
// An optional id (pid, ppid): -1 when the flag is absent.
long get_id(const cxxopts::ParseResult& r, const std::string& name);

}  // namespace tracekit
