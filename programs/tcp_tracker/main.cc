// tcp_tracker: bytes, packets and wire segments per TCP flow direction on one network
// interface, counted on its TC hook (tcx or clsact) and printed every interval.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <chrono>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "bpf_program.h"
#include "cli.h"
#include "error.h"
#include "event_reader.h"  // sum_percpu_u64
#include "flow_format.h"
#include "format.h"
#include "log.h"
#include "map_reader.h"
#include "tc_tool.h"
#include "tcp_tracker.h"
#include "tool.h"

extern const char tcp_tracker_bpf_text[];

namespace {

using namespace tracekit;

static_assert(sizeof(flow_key) == 40, "flow_key layout: no implicit padding");
static_assert(sizeof(flow_value) == 24, "flow_value layout");
static_assert(OUTSIDE_REASONS == OutsideCounts::kReasons, "outside reasons");

constexpr long kMaxFlowsLimit = 1L << 22;  // ~4M entries: ~500 MiB of preallocated LRU map

constexpr const char* kExamples =
    "  tcp_tracker eth0                       # every 2 s, every TCP flow through eth0, both directions\n"
    "  tcp_tracker eth0 -i 5 -c 3             # every 5 seconds, 3 reports\n"
    "  tcp_tracker eth0 --top 10 --sort rate  # the 10 busiest flows of the last interval\n"
    "  tcp_tracker eth0 --reset               # counts of each interval instead of running totals\n"
    "  tcp_tracker eth0 --direction ingress   # received packets only\n"
    "  tcp_tracker eth0 --attach clsact       # a clsact filter instead of a tcx link\n"
    "  tcp_tracker eth0 -d 60 --json          # one JSON object per flow per interval, for a minute\n";

struct Options {
  double interval = 2;
  long count = 0;
  FlowSort sort = FlowSort::Bytes;
  size_t top = 0;
  long max_flows = TCP_TRACKER_DEFAULT_MAX_FLOWS;
  bool reset = false;
  bool json = false;
};

// The maps of the program, from user space. The program reaches its flow table through
// slot 0 of the array of maps "flow_tables" (see tcp_tracker.bpf.c).
//  - Cumulative mode: slot 0 -> "flows", read in place every report.
//  - --reset: two tables, "flows" and "flows_spare". A report points slot 0 at the
//    other table first, then drains the one it left. The kernel returns from that map
//    update only after an RCU grace period (kernel/bpf/syscall.c, maybe_wait_bpf_programs:
//    user-space updates of an array of maps wait for the running BPF programs), so
//    nothing writes to the drained table any more: every packet is counted in exactly
//    one interval.
class FlowTable {
 public:
  FlowTable(BpfProgram& prog, const Options& o)
      : prog_(prog), outer_fd_(prog.map_fd("flow_tables")), rates_(!o.reset), reset_(o.reset) {
    const auto max = static_cast<uint32_t>(o.max_flows);
    fds_[0] = prog.map_fd("flows");
    readers_.emplace_back(fds_[0], sizeof(flow_key), sizeof(flow_value), max);
    if (reset_) {
      fds_[1] = prog.map_fd("flows_spare");
      readers_.emplace_back(fds_[1], sizeof(flow_key), sizeof(flow_value), max);
    }
    point_at(0);
    outside_fd_ = prog.map_fd("outside");
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) throw Error("cannot count the possible CPUs: " + std::string(std::strerror(-cpus)));
    percpu_.resize(static_cast<size_t>(cpus));
  }

  // Reads (with --reset: swaps and drains) the flow table; rates over `seconds`.
  std::vector<FlowRow> read(double seconds) {
    size_t which = 0;
    if (reset_) {
      which = active_;
      auto t0 = std::chrono::steady_clock::now();
      point_at(1 - active_);
      spdlog::debug("switched flow tables in {:.2f} ms",
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    HashMapReader& reader = readers_[which];
    size_t n = reader.read(reset_);
    if (reset_)
      drained_ += n;
    else
      in_table_ = n;
    std::vector<FlowRow> rows(n);
    for (size_t i = 0; i < n; ++i) {
      auto k = reader.key_as<flow_key>(i);
      auto v = reader.value_as<flow_value>(i);
      FlowRow& r = rows[i];
      r.id.family = k.family == 6 ? 6 : 4;
      std::memcpy(r.id.src.data(), k.saddr, 16);
      std::memcpy(r.id.dst.data(), k.daddr, 16);
      r.id.sport = k.sport;
      r.id.dport = k.dport;
      r.bytes = v.bytes;
      r.packets = v.packets;
      r.segments = v.segments;
    }
    rates_.update(rows, seconds);
    spdlog::debug("read {} flows in {:.2f} ms with {} bpf() calls ({})", n,
                  std::chrono::duration<double, std::milli>(reader.took()).count(), reader.syscalls(),
                  reader.batched() ? "batched" : "iterated");
    return rows;
  }

  // Flows the LRU table evicted since the start: created by the program, minus those in
  // the table at the last read, minus those drained by --reset. Exact once detached.
  uint64_t evicted() {
    const uint64_t created = sum_percpu_u64(prog_, "flows_created");
    const uint64_t known = drained_ + (reset_ ? readers_[active_].read(false) : in_table_);
    return created > known ? created - known : 0;
  }

  OutsideCounts outside() {
    OutsideCounts c;
    for (uint32_t reason = 0; reason < OutsideCounts::kReasons; ++reason) {
      if (bpf_map_lookup_elem(outside_fd_, &reason, percpu_.data()) != 0) continue;
      for (uint64_t v : percpu_) c.n[reason] += v;
    }
    return c;
  }

 private:
  // Points the program at table i; returns once no program uses the previous one.
  void point_at(size_t i) {
    const uint32_t slot = 0;
    if (bpf_map_update_elem(outer_fd_, &slot, &fds_[i], BPF_ANY) != 0)
      throw Error("cannot set up the flow table: " + std::string(std::strerror(errno)));
    active_ = i;
  }

  BpfProgram& prog_;
  int outer_fd_;
  int fds_[2] = {-1, -1};
  std::vector<HashMapReader> readers_;
  size_t active_ = 0;
  int outside_fd_ = -1;
  uint64_t drained_ = 0;   // flows read and deleted by --reset
  uint64_t in_table_ = 0;  // flows in the table at the last read (running totals)
  FlowRates rates_;
  bool reset_;
  std::vector<uint64_t> percpu_;
};

class Reporter {
 public:
  Reporter(const Options& o, FlowTable& table) : o_(o), table_(table), last_(RunClock::Clock::now()) {}

  // One report: n >= 1 for the periodic ones, final_report for the last one.
  void report(long n, bool final_report, double elapsed) {
    auto now = RunClock::Clock::now();
    double seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    std::vector<FlowRow> rows = table_.read(seconds);
    if (final_report && !o_.reset && elapsed > 0) {
      // The final report of running totals gives the average rate over the whole trace.
      for (auto& r : rows) {
        r.bytes_per_sec = static_cast<double>(r.bytes) / elapsed;
        r.packets_per_sec = static_cast<double>(r.packets) / elapsed;
      }
    }
    const size_t total = rows.size();
    sort_flows(rows, o_.sort, o_.top);
    auto wall = std::chrono::system_clock::now();
    std::string out;
    if (o_.json) {
      const std::string ts = iso8601(wall);
      for (const auto& r : rows) out += flow_json(r, ts, n, final_report) + "\n";
    } else {
      if (final_report) {
        char buf[64];
        std::snprintf(buf, sizeof buf, " (%.1f s traced)", elapsed);
        out = "Final at: " + clock_hms(wall) + buf + "\n";
      } else {
        out = "Trace at: " + clock_hms(wall) + "\n";
      }
      if (rows.empty()) out += o_.reset ? "No TCP packets in this interval.\n" : "No TCP flows yet.\n";
      out += format_flow_rows(rows);
      if (rows.size() < total)
        out += "(" + std::to_string(rows.size()) + " of " + std::to_string(total) + " flows shown)\n";
    }
    // (With --reset, counting the live table costs one more read: only at the end.)
    const uint64_t evicted = final_report || !o_.reset ? table_.evicted() : 0;
    std::string evicted_line;
    if (evicted > 0)
      evicted_line = "Evicted: " + std::to_string(evicted) + " flows from the LRU table of " +
                     std::to_string(o_.max_flows) + " (their counts until then are lost; raise --max-flows)";
    if (!evicted_line.empty() && !final_report && !warned_evicted_) {
      spdlog::warn("{}", evicted_line);
      warned_evicted_ = true;
    }
    if (final_report) {
      std::string outside = format_outside(table_.outside());
      if (o_.json) {
        spdlog::info("{}", outside);
        if (!evicted_line.empty()) spdlog::warn("{}", evicted_line);
      } else {
        out += outside + "\n";
        if (!evicted_line.empty()) out += evicted_line + "\n";
      }
    }
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    spdlog::debug("report of {} flows ({} printed) took {:.2f} ms", total, rows.size(),
                  std::chrono::duration<double, std::milli>(RunClock::Clock::now() - now).count());
  }

 private:
  const Options& o_;
  FlowTable& table_;
  RunClock::Clock::time_point last_;
  bool warned_evicted_ = false;
};

int run(int argc, char** argv) {
  Cli cli("tcp_tracker",
          "Bytes, packets and wire segments per TCP flow on a network interface, counted on its TC hook\n"
          "(tcx or clsact) and printed every interval.",
          kExamples);
  add_tc_options(cli);
  // clang-format off
  cli.options().add_options()
    ("i,interval", "seconds between reports", cxxopts::value<std::string>()->default_value("2"), "SECONDS")
    ("c,count", "stop after N reports (0 = no limit)", cxxopts::value<std::string>()->default_value("0"), "N")
    ("sort", "order of the table: bytes, packets or rate (of the last interval)",
       cxxopts::value<std::string>()->default_value("bytes"), "KEY")
    ("top", "print only the first N flows of each report (0 = all)",
       cxxopts::value<std::string>()->default_value("0"), "N")
    ("max-flows", "flow table size; when full, the least recently updated flow is evicted",
       cxxopts::value<std::string>()->default_value(std::to_string(TCP_TRACKER_DEFAULT_MAX_FLOWS)), "N")
    ("reset", "clear the counters after each report: per-interval counts instead of running totals");
  // clang-format on
  auto parsed = cli.parse(argc, argv);
  if (!parsed) return kExitOk;
  const auto& r = *parsed;
  set_verbose(cli.common().verbose);
  TcOptions tc_opts = parse_tc_options(r);
  Options o;
  o.interval = get_seconds(r, "interval", false);
  o.count = get_count(r, "count", 0, 1L << 40);
  o.sort = parse_flow_sort(r["sort"].as<std::string>());
  o.top = static_cast<size_t>(get_count(r, "top", 0, 1L << 30));
  o.max_flows = get_count(r, "max-flows", 1, kMaxFlowsLimit);
  o.reset = r.count("reset") > 0;
  o.json = cli.common().json;

  TcTool tc(tc_opts);  // unknown interface: exit 2 before the slow compile
  BpfProgram prog;
  std::vector<std::string> cflags = {"-DTCP_TRACKER_MAX_FLOWS=" + std::to_string(o.max_flows)};
  if (o.reset) cflags.push_back("-DTCP_TRACKER_SPARE");
  prog.load(tcp_tracker_bpf_text, TcTool::load_options(cli.common(), cflags));
  FlowTable table(prog, o);
  std::string where = tc.attach(prog, "trace_tcp_tracker");
  prog.free_compiler_memory();
  spdlog::info("Attached to {}: counting TCP bytes and packets per flow. Hit Ctrl-C to end.", where);

  RunClock clock(cli.common().duration);
  Reporter reporter(o, table);
  auto interval_d =
      std::chrono::duration_cast<RunClock::Clock::duration>(std::chrono::duration<double>(o.interval));
  auto next = clock.start() + interval_d;
  for (long n = 1; o.count == 0 || n <= o.count; ++n, next += interval_d) {
    if (tc.wait_until(clock, next) != TcWait::Tick) break;
    reporter.report(n, false, clock.elapsed_seconds());
  }
  tc.detach();  // the final report counts exactly what was seen until now
  reporter.report(0, true, clock.elapsed_seconds());
  return tc.exit_code();
}

}  // namespace

int main(int argc, char** argv) { return tracekit::run_tool("tcp_tracker", argc, argv, run); }
