// The life of every tool, written once.
//
// A tool is a class derived from tracekit::Tool plus one line:
//
//   TRACEKIT_TOOL_MAIN(ExecveDumb)
//
// run() does what every tracer repeats, in this order:
//   1. logging, stop signals (SIGINT, SIGTERM, SIGHUP set a flag; loops poll it);
//   2. the command line: the common flags of the tool's kind (cli/cli.h) and the
//      tool's own (add_options), then configure() reads them into a Plan;
//      run_offline() may end the run here (tcp_duration --plot-only);
//   3. TC tools: the interface is resolved now (exit 2 "no such interface: X" before
//      the slow compile), its link-layer header length is learnt from its device type
//      (-DTK_L2_LEN, programs/include/tracekit/packet.bpf.h) and a loopback device is
//      hooked on ingress only (every packet passes both hooks there);
//   4. preflight (privileges, tracefs), prepare(), compile (bcc, with the plan's and
//      the runner's cflags), loaded();
//   5. attach: the plan's tracepoints, ready(), the event buffer (stream tools), the
//      syscall probes, the TC hooks; then exactly one "Attached to ...: ... Hit Ctrl-C
//      to end." line on stderr;
//   6. the loop: interval tools call report(n) every --interval; stream tools poll the
//      event buffer and call event() for each event; both flush the output after every
//      batch, report lost events as notices (once a second) and stop on --duration,
//      --count, a stop signal, a vanished interface or a failed write;
//   7. on the way out: detach first, then a bounded drain of the buffers (at most 1000
//      batches or 2 s), then finish() (the final report) and one summary record;
//   8. exit code: 0, or 1 when the interface vanished or a write failed (after the
//      final report), 2 for usage errors; errors are one line "<tool>: error: ...".
//
// Metrics (--metrics, --metrics-textfile; docs/metrics.md): the HTTP endpoint is bound
// before the compile (a port in use fails fast, before privileges are dropped) and
// answers from its own thread, which calls Tool::metrics() under the runtime's lock; while
// there is a server the runner holds the same lock around report(), event() and
// finish(), so a tool's state is never read half-updated (without one, every collection
// runs on the main thread and nothing is locked). The textfile is written every interval (stream tools:
// every second) and once more after the final report.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bpf/bpf_program.h"
#include "cli/cli.h"
#include "metrics/metrics.h"
#include "output/sink.h"
#include "runtime/clock.h"

namespace tracekit {

class TcAttacher;
class EventReader;

struct Probe {
  enum class Kind { Tracepoint, Syscall };
  Kind kind = Kind::Tracepoint;
  std::string name;       // "sched:sched_process_fork", or the syscall: "execve"
  std::string fn;         // BPF function (for a syscall: on its syscalls:sys_* tracepoint)
  std::string kprobe_fn;  // syscall: the function used with --probe kprobe
  bool on_exit = false;   // syscall: sys_exit_* / kretprobe

  static Probe tracepoint(std::string name, std::string fn) {
    return {Kind::Tracepoint, std::move(name), std::move(fn), {}, false};
  }
  static Probe syscall(std::string name, bool on_exit, std::string fn, std::string kprobe_fn) {
    return {Kind::Syscall, std::move(name), std::move(fn), std::move(kprobe_fn), on_exit};
  }
};

// What a tool asks of the runner; filled by Tool::configure().
struct Plan {
  std::vector<std::string> cflags;  // "-DMAX_FLOWS=...": the tool's own knobs
  std::vector<Probe> probes;        // tracepoints first, then syscalls (see above)
  std::string tc_function;          // TC tools: the SCHED_CLS function
  std::string tc_egress_function;   // when egress needs its own (else tc_function)
  // Attached on egress when egress is not hooked (a loopback device, --direction
  // ingress), for what ingress needs to learn there (tcp_tracker: the owners).
  std::string tc_observe_egress_function;
  std::string tc_observe_egress_what;  // for the Attached line: "owners"
  std::string events_map;              // stream tools: the event buffer ("events")
  std::string doing;                   // end of the Attached line: "counting execve() per UID"
};

// What the runner hands a tool while it runs.
class Runtime {
 public:
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  BpfProgram& prog() { return prog_; }
  Sink& out() { return *sink_; }
  const CommonOptions& common() const { return common_; }
  const RunClock& clock() const { return *clock_; }
  const std::string& tool() const { return tool_; }
  void notice(const Notice& n) { sink_->notice(n); }
  // Also writes the records of `types` to `file` (flushed per record); see FileTee.
  void tee(FILE* file, const std::string& path, std::set<std::string, std::less<>> types);

  // TC tools: the interface and what the runner learnt about it.
  const std::string& ifname() const { return common_.ifname; }
  int l2_len() const { return l2_len_; }
  bool loopback() const { return loopback_; }
  // The directions actually hooked (a loopback device: ingress only).
  const std::vector<TcDirection>& directions() const { return directions_; }

  // Events the kernel could not deliver so far (stream tools; 0 otherwise).
  uint64_t events_lost() const;
  // Events read from the buffer so far.
  uint64_t events_received() const;
  // The number of the final report: the --count-th when --count ended the run, else 0
  // (the run was stopped between two reports).
  long final_report_number() const { return final_n_; }

  // Metrics: on with --metrics or --metrics-textfile.
  bool metrics_on() const { return common_.metrics(); }
  size_t max_series() const { return common_.metrics_max_series; }
  // Labels of every tool-wide series: tool, and iface for TC tools.
  MetricLabels base_labels() const;
  // tracekit_map_entries, _capacity and _evictions_total of one map. `entries`: when the
  // caller just counted them (else they are counted here); `evictions`: when the tool
  // knows them (a map that cannot evict, or whose evictions are not counted, gets none).
  void map_metrics(MetricsBuilder& out, const std::string& map, std::optional<uint64_t> entries,
                   std::optional<uint64_t> evictions);

 private:
  friend struct Runner;
  Runtime(std::string tool, CommonOptions common);
  std::string tool_;
  CommonOptions common_;
  BpfProgram prog_;
  std::unique_ptr<Sink> base_sink_;
  std::unique_ptr<Sink> tee_;
  Sink* sink_ = nullptr;
  std::unique_ptr<RunClock> clock_;
  std::unique_ptr<EventReader> reader_;
  int l2_len_ = 14;
  bool loopback_ = false;
  std::vector<TcDirection> directions_;
  long final_n_ = 0;
  // The tool's state: report(), event() and finish() against metrics() called from the
  // HTTP server's threads. Only taken when there is a server (shared_): without one every
  // collection runs on the main thread, and the per-event path takes no lock.
  std::unique_lock<std::mutex> state_lock() {
    return shared_ ? std::unique_lock<std::mutex>(mu_) : std::unique_lock<std::mutex>();
  }
  std::mutex mu_;
  bool shared_ = false;
  bool collecting_ = false;
  double start_unix_ = 0;
  std::map<std::string, uint64_t> evictions_shown_;
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual ToolInfo info() const = 0;
  // The embedded BPF text (<tool>_bpf_text, cmake/EmbedBpf.cmake).
  virtual const char* bpf_text() const = 0;
  virtual void add_options(cxxopts::Options&) {}
  // Reads the tool's own flags (UsageError on a bad one) and fills the plan.
  virtual void configure(const cxxopts::ParseResult& r, const CommonOptions& common, Plan& plan) = 0;
  // Work that needs no tracing (tcp_duration --plot-only): a value ends the run with it.
  virtual std::optional<int> run_offline(const cxxopts::ParseResult&, Sink&) { return std::nullopt; }
  // After the privilege check, before the compile: open what the user named.
  virtual void prepare(Runtime&) {}
  // After the compile, before anything is attached: set up maps, readers.
  virtual void loaded(Runtime&) {}
  // After the plan's tracepoints, before the event sources: seed maps.
  virtual void ready(Runtime&) {}
  // Stream tools: one event as the kernel sent it (size may exceed what was sent).
  virtual void event(Runtime&, const void* /*data*/, size_t /*size*/) {}
  // Interval tools: report number n (1, 2, ...).
  virtual void report(Runtime&, long /*n*/) {}
  // Everything is detached and drained: the final report, and the summary's numbers.
  virtual void finish(Runtime& rt, SummaryRecord& summary) = 0;
  // Metrics: the tool's own series and its maps' (Runtime::map_metrics); called at every
  // scrape and textfile write, under the runtime's lock, after attach (docs/metrics.md).
  virtual void metrics(Runtime&, MetricsBuilder&) {}
};

int run(Tool& tool, int argc, char** argv);

}  // namespace tracekit

#define TRACEKIT_TOOL_MAIN(ToolClass)       \
  int main(int argc, char** argv) {         \
    ToolClass tool;                         \
    return tracekit::run(tool, argc, argv); \
  }
