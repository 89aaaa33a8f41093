// tcp_duration: lifetime of every TCP connection on an interface, a statistics file,
// a summary with a log2 histogram on exit, and a PNG histogram (PLplot).
#include <bpf/bpf.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "bpf/map_reader.h"
#include "plot.h"
#include "report.h"
#include "runtime/runner.h"
#include "tcp_duration.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/format.h"
#include "util/log.h"
#include "util/owner.h"

extern const char tcp_duration_bpf_text[];

static_assert(sizeof(td_key) == 40, "td_key layout must match the BPF side");
static_assert(sizeof(td_pair) == 40, "td_pair layout: no implicit padding");
static_assert(sizeof(td_conn) == 96, "td_conn layout must match the BPF side");
static_assert(sizeof(td_event) == 128, "td_event layout must match the BPF side");
static_assert(offsetof(td_event, syn_to_synack_ns) == 96 && offsetof(td_event, owner_uid) == 120,
              "td_event: no padding");
static_assert(offsetof(td_conn, owner_uid) == 88, "td_conn: no padding");

namespace {

using namespace tracekit;
using namespace tcp_duration;

// The output file, opened for writing at start-up but emptied only by start(), once the
// program compiled: a start that fails leaves an earlier run's file as it was, and
// removes a file it created.
class OutputFile {
 public:
  explicit OutputFile(std::string path) : path_(std::move(path)) {
    fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    created_ = static_cast<bool>(fd_);
    if (!fd_ && errno == EEXIST) fd_.reset(::open(path_.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd_) throw Error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() {
    if (file_) {
      std::fclose(file_);
      return;
    }
    fd_.reset();
    if (created_) ::unlink(path_.c_str());
  }
  FILE* start() {
    if (::ftruncate(fd_.get(), 0) != 0 || !(file_ = ::fdopen(fd_.get(), "w")))
      throw Error("cannot write " + path_ + ": " + std::strerror(errno));
    fd_.release();  // the FILE owns it now
    return file_;
  }

 private:
  std::string path_;
  UniqueFd fd_;
  bool created_ = false;
  FILE* file_ = nullptr;
};

// CLOCK_REALTIME - CLOCK_MONOTONIC, to put bpf_ktime_get_ns() on the wall clock.
std::int64_t realtime_minus_monotonic_ns() {
  timespec rt{}, mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &rt);
  auto ns = [](const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec; };
  return ns(rt) - ns(mono);
}

std::string default_plot_path(const std::string& data_file) {
  std::filesystem::path p(data_file);
  return (p.parent_path() / "graph.png").string();
}

struct PictureFlags {
  bool enabled = true;
  PlotOptions options;
};

void draw(const std::vector<double>& seconds, const PictureFlags& pic) {
  if (!pic.enabled) return;
  plot_histogram(seconds, pic.options);
  spdlog::info("Histogram of {} durations written to {} ({}x{}, {} bins{})", seconds.size(), pic.options.path,
               pic.options.width, pic.options.height, pic.options.bins, pic.options.log_x ? ", log x" : "");
}

// One finished connection: a line of statistics.dat, or a JSON line (ts: the first SYN).
class ConnectionRecord : public Record {
 public:
  ConnectionRecord(const Connection& c, bool timestamps, bool owner) : c_(c), timestamps_(timestamps), owner_(owner) {}
  const char* type() const override { return "connection"; }
  std::chrono::system_clock::time_point ts() const override { return c_.start; }
  void text(std::string& out) const override {
    if (timestamps_) out += clock_hms(c_.start) + " ";  // -T: when the first SYN was seen
    out += text_line(c_, owner_) + "\n";
  }
  void json(JsonLine& j) const override { connection_json(c_, j); }

 private:
  const Connection& c_;
  bool timestamps_, owner_;
};

// The summary of --plot-only: the durations of a file, no tracing.
class FileSummaryRecord : public Record {
 public:
  FileSummaryRecord(const std::vector<std::uint64_t>& ns, const Handshakes& hs, bool msecs, std::string file,
                    std::size_t unparsed)
      : ns_(ns), hs_(hs), msecs_(msecs), file_(std::move(file)), unparsed_(unparsed) {}
  const char* type() const override { return "summary"; }
  void text(std::string& out) const override { out += summary_text(ns_, msecs_, nullptr, &hs_); }
  void json(JsonLine& j) const override {
    // The fields of every summary (nothing was traced: 0 s, nothing lost or evicted; lines
    // without a duration count as not counted), then the file's statistics.
    j.field("duration_s", 0.0).field("events", static_cast<unsigned long long>(ns_.size()));
    j.field("lost", 0).field("evicted", 0).field("not_counted", static_cast<unsigned long long>(unparsed_));
    j.field("file", file_);
    summary_json(ns_, msecs_, nullptr, j, &hs_);
  }

 private:
  const std::vector<std::uint64_t>& ns_;
  const Handshakes& hs_;
  bool msecs_;
  std::string file_;
  std::size_t unparsed_;
};

class TcpDuration : public Tool {
 public:
  ToolInfo info() const override {
    ToolInfo i;
    i.name = "tcp_duration";
    i.summary =
        "Measure how long each TCP connection crossing IFACE lives (first SYN to both FINs, or an RST)\n"
        "and its handshake (SYN to SYN/ACK, SYN/ACK to ACK), print and save one line per connection, and\n"
        "on exit summarise them (percentiles, a log2 histogram) and draw the durations as a PNG histogram.";
    i.examples =
        "  tcp_duration veth0                     # trace until Ctrl-C; statistics.dat + graph.png here\n"
        "  tcp_duration eth0 -d 60 -o /tmp/s.dat  # one minute; /tmp/s.dat and /tmp/graph.png\n"
        "  tcp_duration eth0 --json --no-plot     # JSON lines on stdout and in the file, no picture\n"
        "  tcp_duration eth0 -O                   # each line ends with the local owner: uid, user, cgroup\n"
        "  tcp_duration eth0 --log-x --bins 40    # picture with a log duration axis, 40 bars\n"
        "  tcp_duration lo -d 10                  # loopback: counted on ingress only (packets pass both hooks)\n"
        "  tcp_duration --plot-only statistics.dat --plot old.png --size 1200x800  # re-draw only\n"
        "  tcp_duration eth0 --metrics 9754       # as usual, plus a duration histogram for Prometheus\n";
    i.kind = ToolKind::Stream;
    i.tc = true;
    i.event_buffer = true;
    return i;
  }
  const char* bpf_text() const override { return tcp_duration_bpf_text; }

  void add_options(cxxopts::Options& o) override {
    // clang-format off
    o.add_options()
      ("o,output", "file that gets every line, flushed per connection", cxxopts::value<std::string>()->default_value("statistics.dat"), "FILE")
      ("plot", "PNG histogram drawn on exit (default: graph.png next to the output file)", cxxopts::value<std::string>(), "FILE.png")
      ("no-plot", "do not draw the PNG")
      ("plot-only", "draw the PNG (and print the summary) from an existing statistics FILE; no tracing", cxxopts::value<std::string>(), "FILE")
      ("bins", "bars in the PNG", cxxopts::value<std::string>()->default_value("20"), "N")
      ("log-x", "logarithmic duration axis in the PNG, for wide ranges")
      ("size", "PNG size in pixels", cxxopts::value<std::string>()->default_value("800x600"), "WxH")
      ("m,milliseconds", "terminal histogram in milliseconds (default: microseconds)")
      ("O,owner", "text: each line ends with the connection's local owner (which end, uid, user, cgroup)")
      ("max-connections", "live connections tracked at once (LRU table: the least recently active go first)", cxxopts::value<std::string>()->default_value(std::to_string(TD_DEFAULT_MAX_CONNECTIONS)), "N");
    // clang-format on
  }

  void configure(const cxxopts::ParseResult& r, const CommonOptions& common, Plan& plan) override {
    msecs_ = r.count("milliseconds") > 0;
    show_owner_ = r.count("owner") > 0;
    pic_.enabled = r.count("no-plot") == 0;
    pic_.options.bins = static_cast<int>(get_count(r, "bins", 1, 1000));
    pic_.options.log_x = r.count("log-x") > 0;
    std::tie(pic_.options.width, pic_.options.height) = parse_size(r["size"].as<std::string>());
    if (r.count("plot-only")) {
      if (!common.ifname.empty()) throw UsageError("--plot-only reads a file: give no IFACE");
      if (!pic_.enabled) throw UsageError("--plot-only and --no-plot contradict each other");
      plot_only_ = r["plot-only"].as<std::string>();
      pic_.options.path = r.count("plot") ? r["plot"].as<std::string>() : default_plot_path(plot_only_);
      return;
    }
    output_ = r["output"].as<std::string>();
    if (output_.empty()) throw UsageError("--output needs a file name");
    pic_.options.path = r.count("plot") ? r["plot"].as<std::string>() : default_plot_path(output_);
    max_conns_ = get_count(r, "max-connections", 16, 1L << 24);
    plan.cflags = {"-DMAX_CONNECTIONS=" + std::to_string(max_conns_)};
    plan.tc_function = "tcp_duration_ingress";
    plan.tc_egress_function = "tcp_duration_egress";
    plan.tc_observe_egress_function = "tcp_duration_owner";
    plan.tc_observe_egress_what = "owners";
    plan.events_map = "events";
    plan.doing = "timing TCP connections, up to " + std::to_string(max_conns_) + " live";
  }

  // The program's counters and the connections in the table now.
  static TableCounters counters(Runtime& rt) {
    auto stat = [&](std::uint32_t i) { return rt.prog().sum_percpu_u64("stats", i); };
    TableCounters t;
    // In this order (opened, the table, then the ends): a connection that opens or ends
    // while they are read makes evicted() low for a moment, never high.
    t.opened = stat(TD_STAT_OPENED);
    HashMapReader open_conns(rt.prog().map_fd("connections"));
    t.still_open = open_conns.read();
    t.syn_retransmits = stat(TD_STAT_SYN_RETRANS);
    t.closed_fin = stat(TD_STAT_CLOSED_FIN);
    t.closed_rst = stat(TD_STAT_CLOSED_RST);
    t.orphan_fin = stat(TD_STAT_ORPHAN_FIN);
    t.orphan_rst = stat(TD_STAT_ORPHAN_RST);
    t.insert_failed = stat(TD_STAT_INSERT_FAILED);
    t.replaced = stat(TD_STAT_REPLACED);
    t.unparsed = stat(TD_STAT_UNPARSED);
    t.lost_events = rt.events_lost();
    return t;
  }

  std::optional<int> run_offline(const cxxopts::ParseResult&, Sink& out) override {
    if (plot_only_.empty()) return std::nullopt;
    DurationFile f = read_durations(plot_only_);
    if (f.unparsed) spdlog::warn("{}: {} of {} lines have no duration; skipped", plot_only_, f.unparsed, f.lines);
    const std::vector<std::uint64_t> ns = to_ns(f.seconds);
    out.write(FileSummaryRecord(ns, f.handshakes, msecs_, plot_only_, f.unparsed));
    out.flush();
    if (pic_.options.subtitle.empty())
      pic_.options.subtitle = std::to_string(f.seconds.size()) + " connections from " +
                              std::filesystem::path(plot_only_).filename().string();
    draw(f.seconds, pic_);
    return kExitOk;
  }

  // "cannot write FILE" before the slow compile; emptied only once it compiled.
  void prepare(Runtime&) override { out_file_ = std::make_unique<OutputFile>(output_); }

  void loaded(Runtime& rt) override {
    rt.tee(out_file_->start(), output_, {"connection"});
    owners_ = std::make_unique<OwnerBook>(cgroup2_mount());
    wall_offset_ = realtime_minus_monotonic_ns();
    started_ = std::chrono::system_clock::now();
  }

  void event(Runtime& rt, const void* data, size_t size) override {
    if (size < sizeof(td_event)) {
      ++short_events_;
      return;
    }
    td_event e;
    std::memcpy(&e, data, sizeof e);
    Connection c = from_event(e, wall_offset_);
    if (c.owner_side) c.owner = &owners_->get(c.owner_uid, c.owner_cgroup_id);
    durations_.push_back(c.duration_ns);
    if (c.syn_to_synack_ns) handshakes_.syn_to_synack_ns.push_back(*c.syn_to_synack_ns);
    if (c.synack_to_ack_ns) handshakes_.synack_to_ack_ns.push_back(*c.synack_to_ack_ns);
    seconds_.push_back(static_cast<double>(c.duration_ns) / 1e9);
    if (rt.metrics_on()) hist_[c.end == End::Rst ? 1 : 0].observe(static_cast<double>(c.duration_ns) / 1e9);
    rt.out().write(ConnectionRecord(c, rt.common().timestamps, show_owner_));
  }

  void metrics(Runtime& rt, MetricsBuilder& out) override {
    const TableCounters t = counters(rt);
    rt.map_metrics(out, "connections", t.still_open, t.evicted());
    for (int end : {0, 1}) {
      MetricLabels l = rt.base_labels();
      l.emplace_back("end", end ? "rst" : "fin");
      out.histogram(
          "tracekit_tcp_connection_duration_seconds",
          "Lifetime of each TCP connection seen on the interface, first SYN to the last FIN's ACK or the RST.", l,
          hist_[end]);
      out.counter("tracekit_tcp_connections_total", "TCP connections seen to their end on the interface.", l,
                  static_cast<double>(hist_[end].count));
    }
  }

  void finish(Runtime& rt, SummaryRecord& s) override {
    if (short_events_) spdlog::warn("{} events were shorter than expected and were skipped", short_events_);
    counters_ = counters(rt);
    TableCounters& t = counters_;
    if (t.lost_events) spdlog::warn("{} connection events were lost (buffer full)", t.lost_events);
    s.events = durations_.size();
    s.events_name = "connections";
    s.evicted = t.evicted();
    s.not_counted = t.unparsed;
    s.extra_text = summary_text(durations_, msecs_, &counters_, &handshakes_) + "\n";
    s.extra_json = [this](JsonLine& j) { summary_json(durations_, msecs_, &counters_, j, &handshakes_); };
    if (pic_.options.subtitle.empty())
      pic_.options.subtitle = std::to_string(seconds_.size()) + " connections on " + rt.ifname() + ", " +
                              clock_hms(started_) + " to " + clock_hms_now();
    draw(seconds_, pic_);
  }

 private:
  std::string output_, plot_only_;
  PictureFlags pic_;
  bool msecs_ = false, show_owner_ = false;
  long max_conns_ = TD_DEFAULT_MAX_CONNECTIONS;
  std::unique_ptr<OutputFile> out_file_;
  std::int64_t wall_offset_ = 0;
  std::chrono::system_clock::time_point started_;
  std::unique_ptr<OwnerBook> owners_;
  std::vector<std::uint64_t> durations_;
  Handshakes handshakes_;
  std::vector<double> seconds_;
  std::uint64_t short_events_ = 0;
  TableCounters counters_;
  HistogramData hist_[2] = {HistogramData(duration_buckets_seconds()), HistogramData(duration_buckets_seconds())};
};

}  // namespace

TRACEKIT_TOOL_MAIN(TcpDuration)
