// tcp_tracker: bytes, packets and wire segments per TCP flow direction on one network
// interface, counted on its TC hook (tcx or clsact) and printed every interval.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "bpf/map_reader.h"
#include "flow_format.h"
#include "runtime/runner.h"
#include "tcp_tracker.h"
#include "util/cgroup.h"
#include "util/error.h"
#include "util/format.h"
#include "util/log.h"
#include "util/owner.h"
#include "util/user.h"

extern const char tcp_tracker_bpf_text[];

namespace {

using namespace tracekit;

static_assert(sizeof(flow_key) == 40, "flow_key layout: no implicit padding");
static_assert(sizeof(flow_value) == 40, "flow_value layout");
static_assert(OUTSIDE_REASONS == OutsideCounts::kReasons, "outside reasons");

constexpr long kMaxFlowsLimit = 1L << 22;  // ~4M entries: ~500 MiB of preallocated LRU map

struct Options {
  FlowSort sort = FlowSort::Bytes;
  size_t top = 0;
  long max_flows = TCP_TRACKER_DEFAULT_MAX_FLOWS;
  bool reset = false;
  FlowBy by = FlowBy::Flow;
  bool show_owner = false;            // -O
  std::optional<uid_t> uid;           // -u: only flows of this owner uid
  std::optional<std::string> cgroup;  // --cgroup: only flows whose owner is in this subtree (relative path)
  bool filtered() const { return uid || cgroup; }
};

// The maps of the program, from user space (see tcp_tracker.bpf.c).
//  - Cumulative mode: the program writes "flows" directly; read in place every report.
//  - --reset: two tables, "flows" and "flows_spare", reached through slot 0 of the
//    array of maps "flow_tables". A report points slot 0 at the
//    other table first, then drains the one it left. The kernel returns from that map
//    update only after an RCU grace period (kernel/bpf/syscall.c, maybe_wait_bpf_programs:
//    user-space updates of an array of maps wait for the running BPF programs), so
//    nothing writes to the drained table any more: every packet is counted in exactly
//    one interval.
class FlowTable {
 public:
  FlowTable(BpfProgram& prog, const Options& o, OwnerBook& owners)
      : prog_(prog), owners_(owners), rates_(!o.reset), reset_(o.reset) {
    fds_[0] = prog.map_fd("flows");
    readers_.emplace_back(fds_[0]);
    if (reset_) {
      outer_fd_ = prog.map_fd("flow_tables");
      fds_[1] = prog.map_fd("flows_spare");
      readers_.emplace_back(fds_[1]);
      point_at(0);
    }
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
    std::vector<FlowRow> rows = rows_of(reader, n, true);
    rates_.update(rows, seconds);
    spdlog::debug("read {} flows in {:.2f} ms with {} bpf() calls ({})", n,
                  std::chrono::duration<double, std::milli>(reader.took()).count(), reader.syscalls(),
                  reader.batched() ? "batched" : "iterated");
    return rows;
  }

  // with_owners: each owned row points at its owner's names.
  std::vector<FlowRow> rows_of(HashMapReader& reader, size_t n, bool with_owners) {
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
      r.id.egress = k.direction == TCP_TRACKER_EGRESS;
      r.bytes = v.bytes;
      r.packets = v.packets;
      r.segments = v.segments;
      if (with_owners && v.owned) r.owner = &owners_.get(v.uid, v.cgroup_id);
    }
    return rows;
  }

  // The active table as it is now, for metrics: no swap, no drain, rates untouched.
  // (The owners' names come from the book the reports use: the runner serializes both.)
  std::vector<FlowRow> peek() {
    HashMapReader& reader = readers_[reset_ ? active_ : 0];
    size_t n = reader.read(false);
    if (!reset_) in_table_ = n;
    return rows_of(reader, n, true);
  }

  // Flows the LRU table evicted since the start: created by the program, minus those in
  // the table at the last read, minus those drained by --reset. Exact once detached.
  uint64_t evicted() {
    const uint64_t created = prog_.sum_percpu_u64("flows_created");
    const uint64_t known = drained_ + (reset_ ? readers_[active_].read(false) : in_table_);
    return created > known ? created - known : 0;
  }

  // The same for a scrape, from the program's count of created flows read *before* the
  // table (`rows_now` entries): a flow created in between can only make it low, never
  // high, so the monotonic counter built on it never overshoots.
  uint64_t created() { return prog_.sum_percpu_u64("flows_created"); }
  uint64_t evicted(uint64_t created_before, size_t rows_now) const {
    const uint64_t known = drained_ + rows_now;
    return created_before > known ? created_before - known : 0;
  }

  OutsideCounts outside() {
    OutsideCounts c;
    for (uint32_t reason = 0; reason < OutsideCounts::kReasons; ++reason)
      c.n[reason] = prog_.sum_percpu_u64("outside", reason);
    return c;
  }

  // Every packet counted into a flow since the start (evicted flows included), seen on
  // the hook `direction` (TCP_TRACKER_INGRESS, TCP_TRACKER_EGRESS).
  flow_value totals(uint32_t direction) {
    int fd = prog_.map_fd("totals");
    std::vector<flow_value> percpu(static_cast<size_t>(std::max(1, libbpf_num_possible_cpus())));
    flow_value t{};
    if (bpf_map_lookup_elem(fd, &direction, percpu.data()) != 0) return t;
    for (const auto& v : percpu) {
      t.bytes += v.bytes;
      t.packets += v.packets;
      t.segments += v.segments;
    }
    return t;
  }
  flow_value totals() {
    flow_value t{};
    for (uint32_t d : {TCP_TRACKER_INGRESS, TCP_TRACKER_EGRESS}) {
      flow_value v = totals(d);
      t.bytes += v.bytes;
      t.packets += v.packets;
      t.segments += v.segments;
    }
    return t;
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
  OwnerBook& owners_;
  int outer_fd_ = -1;
  int fds_[2] = {-1, -1};
  std::vector<HashMapReader> readers_;
  size_t active_ = 0;
  uint64_t drained_ = 0;   // flows read and deleted by --reset
  uint64_t in_table_ = 0;  // flows in the table at the last read (running totals)
  FlowRates rates_;
  bool reset_;
};

// The busiest flows as Prometheus counters: {direction, local_port, remote_addr}, the
// local end being the source of what egress saw and the destination of what ingress
// saw. Every read of the table (a report or a scrape) is observed: the growth of each
// flow since the last read is added to its series. A flow that vanished (evicted, or
// drained by --reset) keeps what it had; one that came back starts again from zero.
// What an evicted flow gained after its last read is in the interface totals only.
class FlowMetrics {
 public:
  // Half of --metrics-max-series for each direction (the fold keeps its direction, so
  // the flows of one direction always sum to that direction's interface total).
  explicit FlowMetrics(size_t max_series)
      : series_{CappedSeries({"local_port", "remote_addr"}, 3, std::max<size_t>(1, max_series - max_series / 2)),
                CappedSeries({"local_port", "remote_addr"}, 3, std::max<size_t>(1, max_series / 2))},
        owners_{CappedSeries({"uid", "unit"}, 3, std::max<size_t>(1, max_series - max_series / 2)),
                CappedSeries({"uid", "unit"}, 3, std::max<size_t>(1, max_series / 2))} {}

  // rows: the table as read; drained: they were deleted (--reset), the next table starts empty.
  void observe(const std::vector<FlowRow>& rows, bool drained) {
    std::unordered_map<FlowId, flow_value, FlowIdHash> now;
    if (!drained) now.reserve(rows.size());
    for (const FlowRow& r : rows) {
      flow_value before{};
      if (auto it = last_.find(r.id); it != last_.end()) before = it->second;
      const bool again = r.bytes < before.bytes || r.packets < before.packets;  // re-created since
      if (again) before = {};
      const uint64_t deltas[3] = {r.bytes - before.bytes, r.packets - before.packets, r.segments - before.segments};
      if (deltas[0] || deltas[1] || deltas[2]) {
        series_[r.id.egress ? 1 : 0].add(labels(r.id), deltas);
        owners_[r.id.egress ? 1 : 0].add(owner_labels(r.owner), deltas);
      }
      if (!drained) now[r.id] = {r.bytes, r.packets, r.segments};
    }
    last_ = std::move(now);
  }

  void emit(MetricsBuilder& out, const MetricLabels& base) {
    for (int egress : {0, 1}) {
      MetricLabels fixed = base;
      fixed.emplace_back("direction", egress ? "egress" : "ingress");
      series_[egress].emit(
          out, {"tracekit_tcp_flow_bytes_total", "tracekit_tcp_flow_packets_total", "tracekit_tcp_flow_segments_total"},
          {"Bytes (frame lengths) of the busiest flows; the rest are summed in the series labelled other.",
           "Packets of the busiest flows; the rest are summed in the series labelled other.",
           "Wire segments (GSO/GRO segments) of the busiest flows; the rest are in the series labelled other."},
          fixed);
      owners_[egress].emit(
          out,
          {"tracekit_tcp_owner_bytes_total", "tracekit_tcp_owner_packets_total", "tracekit_tcp_owner_segments_total"},
          {"Bytes (frame lengths) of the flows of each local owner (uid and systemd unit; both empty: no local "
           "socket).",
           "Packets of the flows of each local owner (uid and systemd unit; both empty: no local socket).",
           "Wire segments of the flows of each local owner (uid and systemd unit; both empty: no local socket)."},
          fixed);
    }
  }

 private:
  // uid and unit of the local owner; "" and "" for a flow without one.
  static std::vector<std::string> owner_labels(const OwnerInfo* o) {
    if (!o) return {"", ""};
    return {std::to_string(o->uid), o->names.unit};
  }
  // The local end's port and the remote address: what grows with the workload.
  static std::vector<std::string> labels(const FlowId& id) {
    if (id.egress) return {std::to_string(id.sport), format_address(id, false)};
    return {std::to_string(id.dport), format_address(id, true)};
  }
  CappedSeries series_[2];  // ingress, egress
  CappedSeries owners_[2];
  std::unordered_map<FlowId, flow_value, FlowIdHash> last_;
};

// One flow of a report: a JSON line (the text table shows it in the report).
class FlowRecord : public Record {
 public:
  FlowRecord(const FlowRow& r, long n, bool final_report) : r_(r), n_(n), final_(final_report) {}
  const char* type() const override { return "flow"; }
  void text(std::string&) const override {}
  void json(JsonLine& j) const override { flow_json(r_, n_, final_, j); }

 private:
  const FlowRow& r_;
  long n_;
  bool final_;
};

// One aggregated row of a report (--by uid|cgroup|unit): a JSON line.
class OwnerRecord : public Record {
 public:
  OwnerRecord(const OwnerRow& r, FlowBy by, long n, bool final_report) : r_(r), by_(by), n_(n), final_(final_report) {}
  const char* type() const override { return "owner"; }
  void text(std::string&) const override {}
  void json(JsonLine& j) const override { owner_row_json(r_, by_, n_, final_, j); }

 private:
  const OwnerRow& r_;
  FlowBy by_;
  long n_;
  bool final_;
};

// One report: the text table; in JSON, after its flow lines, how many flows there were.
class ReportRecord : public Record {
 public:
  const std::vector<FlowRow>* rows = nullptr;
  const std::vector<OwnerRow>* owner_rows = nullptr;  // --by uid|cgroup|unit: printed instead of rows
  FlowBy by = FlowBy::Flow;
  bool show_owner = false;
  bool filtered = false;
  size_t total = 0;
  long n = 0;
  bool final_report = false;
  bool reset = false;
  bool timestamps = false;
  double elapsed = 0;

  const char* type() const override { return "report"; }
  void text(std::string& out) const override {
    const std::string now = clock_hms_now();
    std::string body;
    if (final_report)
      body = fmt::format("Final at: {} ({:.1f} s traced)\n", now, elapsed);
    else
      body = "Trace at: " + now + "\n";
    if (rows->empty())
      body += reset      ? "No TCP packets in this interval.\n"
              : filtered ? "No TCP flows of the chosen owner yet.\n"
                         : "No TCP flows yet.\n";
    if (owner_rows) {
      body += format_owner_rows(*owner_rows, by);
    } else {
      body += format_flow_rows(*rows, show_owner);
      if (rows->size() < total) body += fmt::format("({} of {} flows shown)\n", rows->size(), total);
    }
    if (!timestamps) {
      out += body;
      return;
    }
    for (size_t pos = 0; pos < body.size();) {  // -T: every line starts with the time
      size_t nl = body.find('\n', pos);
      out += now + " " + body.substr(pos, nl - pos + 1);
      pos = nl + 1;
    }
  }
  void json(JsonLine& j) const override {
    j.field("interval", n).field("final", final_report).field("elapsed_s", elapsed);
    j.field("flows", static_cast<unsigned long long>(total))
        .field("shown", static_cast<unsigned long long>(owner_rows ? 0 : rows->size()));
    if (owner_rows) j.field("by", to_string(by)).field("rows", static_cast<unsigned long long>(owner_rows->size()));
  }
};

class TcpTracker : public Tool {
 public:
  ToolInfo info() const override {
    ToolInfo i;
    i.name = "tcp_tracker";
    i.summary =
        "Bytes, packets and wire segments per TCP flow on a network interface, counted on its TC hook\n"
        "(tcx or clsact) and printed every interval.";
    i.examples =
        "  tcp_tracker eth0                       # every 2 s, every TCP flow through eth0, both directions\n"
        "  tcp_tracker eth0 5 3                   # every 5 seconds, 3 reports (same as -i 5 -c 3)\n"
        "  tcp_tracker eth0 --top 10 --sort rate  # the 10 busiest flows of the last interval\n"
        "  tcp_tracker eth0 --reset               # counts of each interval instead of running totals\n"
        "  tcp_tracker eth0 --direction ingress   # received packets only\n"
        "  tcp_tracker eth0 -O                    # with each flow's local owner: uid, user, cgroup\n"
        "  tcp_tracker eth0 --by unit             # bytes and packets per systemd unit and direction\n"
        "  tcp_tracker eth0 -u www-data --cgroup /system.slice/nginx.service  # one owner's flows\n"
        "  tcp_tracker eth0 --attach clsact       # a clsact filter instead of a tcx link\n"
        "  tcp_tracker eth0 -d 60 --json          # one JSON object per flow per interval, for a minute\n"
        "  tcp_tracker eth0 -q -i 15 --metrics-textfile /var/lib/prometheus/node-exporter  # for node_exporter\n";
    i.kind = ToolKind::Interval;
    i.default_interval = 2;
    i.tc = true;
    return i;
  }
  const char* bpf_text() const override { return tcp_tracker_bpf_text; }

  void add_options(cxxopts::Options& o) override {
    // clang-format off
    o.add_options()
      ("sort", "order of the table: bytes, packets or rate (of the last interval)",
         cxxopts::value<std::string>()->default_value("bytes"), "KEY")
      ("top", "print only the first N flows of each report (0 = all)",
         cxxopts::value<std::string>()->default_value("0"), "N")
      ("max-flows", "flow table size; when full, the least recently updated flow is evicted",
         cxxopts::value<std::string>()->default_value(std::to_string(TCP_TRACKER_DEFAULT_MAX_FLOWS)), "N")
      ("reset", "clear the counters after each report: per-interval counts instead of running totals")
      ("by", "aggregate the table: per flow, or per owner uid, cgroup (v2 path) or unit (systemd), and direction",
         cxxopts::value<std::string>()->default_value("flow"), "KEY")
      ("O,owner", "text: each flow's local owner (uid, user, cgroup) at the end of its line")
      ("u,uid", "only flows whose local owner has this uid (number or user name)", cxxopts::value<std::string>(), "UID")
      ("cgroup", "only flows whose local owner is in this cgroup v2 or below it (a path under the cgroup2 mount, "
                 "or relative to it: /system.slice)", cxxopts::value<std::string>(), "PATH");
    // clang-format on
  }

  void configure(const cxxopts::ParseResult& r, const CommonOptions&, Plan& plan) override {
    o_.sort = parse_flow_sort(r["sort"].as<std::string>());
    o_.top = static_cast<size_t>(get_count(r, "top", 0, 1L << 30));
    o_.max_flows = get_count(r, "max-flows", 1, kMaxFlowsLimit);
    o_.reset = r.count("reset") > 0;
    o_.by = parse_flow_by(r["by"].as<std::string>());
    o_.show_owner = r.count("owner") > 0;
    if (o_.show_owner && o_.by != FlowBy::Flow)
      throw UsageError("-O/--owner shows owners per flow: not with --by " + std::string(to_string(o_.by)));
    if (r.count("uid")) {
      o_.uid = uid_from_name(r["uid"].as<std::string>());
      if (!o_.uid)
        throw UsageError("bad value for --uid: '" + r["uid"].as<std::string>() +
                         "' is neither a number nor a user name");
    }
    mount_ = cgroup2_mount();
    if (r.count("cgroup")) {
      const std::string arg = r["cgroup"].as<std::string>();
      if (mount_.empty()) throw UsageError("--cgroup needs cgroup v2, and this host has no cgroup2 mount");
      const std::string full = resolve_cgroup_arg(mount_, arg);
      if (full.empty())
        throw UsageError("bad value for --cgroup: '" + arg + "' (" + cgroup_arg_full_path(mount_, arg) +
                         " is not a cgroup directory under " + mount_ + ")");
      o_.cgroup = cgroup_relative_path(mount_, full);
    }
    plan.cflags = {"-DTCP_TRACKER_MAX_FLOWS=" + std::to_string(o_.max_flows)};
    if (o_.reset) plan.cflags.push_back("-DTCP_TRACKER_SPARE");
    plan.tc_function = "trace_tcp_tracker_ingress";
    plan.tc_egress_function = "trace_tcp_tracker_egress";
    plan.tc_observe_egress_function = "trace_tcp_tracker_owner";
    plan.tc_observe_egress_what = "owners";
    plan.doing = "counting TCP bytes and packets per flow";
  }

  void loaded(Runtime& rt) override {
    owners_ = std::make_unique<OwnerBook>(mount_);
    table_ = std::make_unique<FlowTable>(rt.prog(), o_, *owners_);
    last_ = RunClock::Clock::now();
    if (rt.metrics_on()) flow_metrics_ = std::make_unique<FlowMetrics>(rt.max_series());
  }

  void metrics(Runtime& rt, MetricsBuilder& out) override {
    const uint64_t created = table_->created();
    std::vector<FlowRow> rows = table_->peek();
    flow_metrics_->observe(rows, false);
    rt.map_metrics(out, "flows", rows.size(), table_->evicted(created, rows.size()));
    const MetricLabels base = rt.base_labels();
    for (TcDirection d : rt.directions()) {
      const bool egress = d == TcDirection::Egress;
      const flow_value t = table_->totals(egress ? TCP_TRACKER_EGRESS : TCP_TRACKER_INGRESS);
      MetricLabels l = base;
      l.emplace_back("direction", egress ? "egress" : "ingress");
      out.counter("tracekit_tcp_bytes_total",
                  "Bytes (frame lengths, as tcpdump counts them) of TCP packets on the hook.", l,
                  static_cast<double>(t.bytes));
      out.counter("tracekit_tcp_packets_total", "TCP packets (skbs) on the hook.", l, static_cast<double>(t.packets));
      out.counter("tracekit_tcp_segments_total", "TCP wire segments on the hook (GSO/GRO packets count each segment).",
                  l, static_cast<double>(t.segments));
    }
    const OutsideCounts outside = table_->outside();
    for (size_t i = 0; i < OutsideCounts::kReasons; ++i) {
      MetricLabels l = base;
      l.emplace_back("reason", outside_reason_key(i));
      out.counter("tracekit_tcp_packets_not_counted_total", "Packets on the hooks that are in no flow, by reason.", l,
                  static_cast<double>(outside.n[i]));
    }
    flow_metrics_->emit(out, base);
  }

  void report(Runtime& rt, long n) override { print(rt, n, false); }

  void finish(Runtime& rt, SummaryRecord& s) override {
    print(rt, rt.final_report_number(), true);
    const uint64_t evicted = table_->evicted();
    const OutsideCounts outside = table_->outside();
    const flow_value t = table_->totals();
    s.events = t.packets;
    s.events_name = "packets";
    s.evicted = evicted;
    s.not_counted = outside.total();
    s.extra_text = format_outside(outside) + "\n";
    if (evicted) s.extra_text += evicted_line(evicted) + "\n";
    s.extra_json = [t, outside](JsonLine& j) {
      j.field("bytes", static_cast<unsigned long long>(t.bytes));
      j.field("segments", static_cast<unsigned long long>(t.segments));
      j.begin_object("not_counted_by_reason");
      for (size_t i = 0; i < OutsideCounts::kReasons; ++i)
        j.field(outside_reason_key(i), static_cast<unsigned long long>(outside.n[i]));
      j.end();
    };
  }

 private:
  std::string evicted_line(uint64_t evicted) const {
    return fmt::format(
        "Evicted: {} flows from the LRU table of {} (their counts until then are lost; raise --max-flows)", evicted,
        o_.max_flows);
  }

  void print(Runtime& rt, long n, bool final_report) {
    auto now = RunClock::Clock::now();
    double seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    const double elapsed = rt.clock().elapsed_seconds();
    std::vector<FlowRow> rows = table_->read(seconds);
    if (flow_metrics_) flow_metrics_->observe(rows, o_.reset);
    if (final_report && !o_.reset && elapsed > 0) {
      // The final report of running totals gives the average rate over the whole trace.
      for (auto& r : rows) {
        r.bytes_per_sec = static_cast<double>(r.bytes) / elapsed;
        r.packets_per_sec = static_cast<double>(r.packets) / elapsed;
      }
    }
    if (o_.filtered()) {
      rows.erase(std::remove_if(rows.begin(), rows.end(), [this](const FlowRow& r) { return !chosen(r); }), rows.end());
    }
    const size_t total = rows.size();
    std::vector<OwnerRow> owner_rows;
    if (o_.by == FlowBy::Flow) {
      sort_flows(rows, o_.sort, o_.top);
      for (const auto& r : rows) rt.out().write(FlowRecord(r, n, final_report));
    } else {
      owner_rows = aggregate_flows(rows, o_.by, o_.sort, o_.top);
      for (const auto& r : owner_rows) rt.out().write(OwnerRecord(r, o_.by, n, final_report));
    }
    ReportRecord rep;
    rep.rows = &rows;
    if (o_.by != FlowBy::Flow) rep.owner_rows = &owner_rows;
    rep.by = o_.by;
    rep.show_owner = o_.show_owner;
    rep.filtered = o_.filtered();
    rep.total = total;
    rep.n = n;
    rep.final_report = final_report;
    rep.reset = o_.reset;
    rep.timestamps = rt.common().timestamps;
    rep.elapsed = elapsed;
    rt.out().write(rep);
    // (With --reset, counting the live table costs one more read: only at the end.)
    if (!final_report && !o_.reset && !warned_evicted_) {
      if (uint64_t evicted = table_->evicted()) {
        rt.notice({NoticeLevel::Warning, "evicted", evicted_line(evicted), evicted, evicted});
        warned_evicted_ = true;
      }
    }
    spdlog::debug("report of {} flows ({} printed) took {:.2f} ms", total, rows.size(),
                  std::chrono::duration<double, std::milli>(RunClock::Clock::now() - now).count());
  }

  // -u / --cgroup: the flow's owner is the chosen one (flows without an owner never are).
  bool chosen(const FlowRow& r) const {
    if (!r.owner) return false;
    if (o_.uid && r.owner->uid != *o_.uid) return false;
    if (o_.cgroup && !(r.owner->cgroup && cgroup_path_under(*r.owner->cgroup, *o_.cgroup))) return false;
    return true;
  }

  Options o_;
  std::string mount_;  // the cgroup2 mount ("" on a v1-only host)
  std::unique_ptr<OwnerBook> owners_;
  std::unique_ptr<FlowTable> table_;
  std::unique_ptr<FlowMetrics> flow_metrics_;
  RunClock::Clock::time_point last_;
  bool warned_evicted_ = false;
};

}  // namespace

TRACEKIT_TOOL_MAIN(TcpTracker)
