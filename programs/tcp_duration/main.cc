// tcp_duration: lifetime of every TCP connection on an interface, a statistics file,
// a summary with a log2 histogram on exit, and a PNG histogram (PLplot).
#include <bpf/bpf.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <string>
#include <vector>

#include "bpf_program.h"
#include "cli.h"
#include "error.h"
#include "event_reader.h"
#include "format.h"
#include "log.h"
#include "plot.h"
#include "report.h"
#include "tc_tool.h"
#include "tcp_duration.h"
#include "tool.h"

extern const char tcp_duration_bpf_text[];

static_assert(sizeof(td_key) == 40, "td_key layout must match the BPF side");
static_assert(sizeof(td_conn) == 56, "td_conn layout must match the BPF side");
static_assert(sizeof(td_event) == 96, "td_event layout must match the BPF side");

namespace {

using namespace tracekit;
using namespace tcp_duration;

constexpr const char* kExamples =
    "  tcp_duration veth0                     # trace until Ctrl-C; statistics.dat + graph.png here\n"
    "  tcp_duration eth0 -d 60 -o /tmp/s.dat  # one minute; /tmp/s.dat and /tmp/graph.png\n"
    "  tcp_duration eth0 --json --no-plot     # JSON lines on stdout and in the file, no picture\n"
    "  tcp_duration eth0 --log-x --bins 40    # picture with a log duration axis, 40 bars\n"
    "  tcp_duration lo -d 10                  # loopback: hooked on ingress only (packets pass it twice)\n"
    "  tcp_duration --plot-only statistics.dat --plot old.png --size 1200x800  # re-draw only\n";

// The output file, opened for writing at start-up but emptied only by start(), once the
// program compiled: a start that fails leaves an earlier run's file as it was, and
// removes a file it created.
class OutputFile {
 public:
  explicit OutputFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    created_ = fd_ >= 0;
    if (fd_ < 0 && errno == EEXIST) fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() {
    if (file_) {
      std::fclose(file_);
      return;
    }
    ::close(fd_);
    if (created_) ::unlink(path_.c_str());
  }
  FILE* start() {
    if (::ftruncate(fd_, 0) != 0 || !(file_ = ::fdopen(fd_, "w")))
      throw Error("cannot write " + path_ + ": " + std::strerror(errno));
    return file_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool created_ = false;
  FILE* file_ = nullptr;
};

constexpr int kArphrdLoopback = 772;

// ARPHRD_* type of a network device (in this netns), -1 if unknown.
int device_type(const std::string& ifname) {
  std::ifstream in("/sys/class/net/" + ifname + "/type");
  int type = -1;
  in >> type;
  return in ? type : -1;
}

// Header bytes in front of the IP header at the tc hook, from the device type.
int l2_header_len(const std::string& ifname) {
  const int type = device_type(ifname);
  switch (type) {
    case 1:    // ARPHRD_ETHER (veth, bridges, most NICs)
    case 772:  // ARPHRD_LOOPBACK (an all-zero Ethernet header)
      return 14;
    case 65534:  // ARPHRD_NONE (wireguard, tun)
    case 768:    // ARPHRD_TUNNEL (ipip)
    case 769:    // ARPHRD_TUNNEL6
    case 776:    // ARPHRD_SIT
      return 0;
    default:
      spdlog::warn("{}: unknown device type {}; assuming an Ethernet header", ifname, type);
      return 14;
  }
}

// CLOCK_REALTIME - CLOCK_MONOTONIC, to put bpf_ktime_get_ns() on the wall clock.
std::int64_t realtime_minus_monotonic_ns() {
  timespec rt{}, mono{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &rt);
  auto ns = [](const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec; };
  return ns(rt) - ns(mono);
}

// Entries left in the connection table (connections whose end was not seen).
std::uint64_t count_entries(int fd, std::uint64_t limit) {
  td_key key{}, next{};
  std::uint64_t n = 0;
  const void* prev = nullptr;
  while (n <= limit && bpf_map_get_next_key(fd, prev, &next) == 0) {
    ++n;
    key = next;
    prev = &key;
  }
  return n;
}

TableCounters read_counters(BpfProgram& prog, const EventReader& reader, std::uint64_t max_conns) {
  TableCounters t;
  auto stat = [&](std::uint32_t i) { return sum_percpu_u64(prog, "stats", i); };
  t.opened = stat(TD_STAT_OPENED);
  t.syn_retransmits = stat(TD_STAT_SYN_RETRANS);
  t.closed_fin = stat(TD_STAT_CLOSED_FIN);
  t.closed_rst = stat(TD_STAT_CLOSED_RST);
  t.orphan_fin = stat(TD_STAT_ORPHAN_FIN);
  t.orphan_rst = stat(TD_STAT_ORPHAN_RST);
  t.insert_failed = stat(TD_STAT_INSERT_FAILED);
  t.replaced = stat(TD_STAT_REPLACED);
  t.unparsed = stat(TD_STAT_UNPARSED);
  t.still_open = count_entries(prog.map_fd("connections"), max_conns);
  t.lost_events = reader.lost();
  return t;
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

void print_summary(const std::vector<std::uint64_t>& durations_ns, bool json, bool msecs,
                   const TableCounters* counters) {
  std::string out =
      json ? summary_json(durations_ns, msecs, counters) + "\n" : summary_text(durations_ns, msecs, counters);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

int plot_only(const std::string& file, const PictureFlags& pic, bool json, bool msecs) {
  DurationFile f = read_durations(file);
  if (f.unparsed) spdlog::warn("{}: {} of {} lines have no duration; skipped", file, f.unparsed, f.lines);
  print_summary(to_ns(f.seconds), json, msecs, nullptr);
  PictureFlags p = pic;
  if (p.options.subtitle.empty())
    p.options.subtitle = std::to_string(f.seconds.size()) + " connections from " +
                         std::filesystem::path(file).filename().string();
  draw(f.seconds, p);
  return kExitOk;
}

int run(int argc, char** argv) {
  Cli cli("tcp_duration",
          "Measure how long each TCP connection crossing IFACE lives (first SYN to both FINs, or an RST),\n"
          "print and save one line per connection, and on exit summarise the durations (percentiles, a\n"
          "log2 histogram) and draw them as a PNG histogram.",
          kExamples);
  add_tc_options(cli);
  // clang-format off
  cli.options().add_options()
    ("o,output", "file that gets every line, flushed per connection", cxxopts::value<std::string>()->default_value("statistics.dat"), "FILE")
    ("plot", "PNG histogram drawn on exit (default: graph.png next to the output file)", cxxopts::value<std::string>(), "FILE.png")
    ("no-plot", "do not draw the PNG")
    ("plot-only", "draw the PNG (and print the summary) from an existing statistics FILE; no tracing", cxxopts::value<std::string>(), "FILE")
    ("bins", "bars in the PNG", cxxopts::value<std::string>()->default_value("20"), "N")
    ("log-x", "logarithmic duration axis in the PNG, for wide ranges")
    ("size", "PNG size in pixels", cxxopts::value<std::string>()->default_value("800x600"), "WxH")
    ("m,milliseconds", "terminal histogram in milliseconds (default: microseconds)")
    ("max-connections", "live connections tracked at once (LRU table: the least recently active go first)", cxxopts::value<std::string>()->default_value(std::to_string(TD_DEFAULT_MAX_CONNECTIONS)), "N")
    ("buffer", "kernel-to-user transport: ring (ring buffer) or perf (perf buffer)", cxxopts::value<std::string>()->default_value("ring"), "KIND");
  // clang-format on
  auto parsed = cli.parse(argc, argv);
  if (!parsed) return kExitOk;
  const auto& r = *parsed;
  const bool json = cli.common().json;
  const bool msecs = r.count("milliseconds") > 0;

  PictureFlags pic;
  pic.enabled = r.count("no-plot") == 0;
  pic.options.bins = static_cast<int>(get_count(r, "bins", 1, 1000));
  pic.options.log_x = r.count("log-x") > 0;
  std::tie(pic.options.width, pic.options.height) = parse_size(r["size"].as<std::string>());

  if (r.count("plot-only")) {
    if (r.count("iface")) throw UsageError("--plot-only reads a file: give no IFACE");
    if (!pic.enabled) throw UsageError("--plot-only and --no-plot contradict each other");
    const std::string file = r["plot-only"].as<std::string>();
    pic.options.path = r.count("plot") ? r["plot"].as<std::string>() : default_plot_path(file);
    return plot_only(file, pic, json, msecs);
  }

  TcOptions tc_opts = parse_tc_options(r);
  const std::string output = r["output"].as<std::string>();
  if (output.empty()) throw UsageError("--output needs a file name");
  pic.options.path = r.count("plot") ? r["plot"].as<std::string>() : default_plot_path(output);
  const long max_conns = get_count(r, "max-connections", 16, 1L << 24);
  const BufferKind kind = parse_buffer_kind(r["buffer"].as<std::string>());

  // On a loopback device every packet leaves (egress) and comes back (ingress): hooking
  // both would count each packet twice and see each SYN as retransmitted.
  if (device_type(tc_opts.ifname) == kArphrdLoopback) {
    if (!r.count("direction")) {
      tc_opts.directions = {TcDirection::Ingress};
      spdlog::info("{} is a loopback device: hooking ingress only (each packet passes both hooks)",
                   tc_opts.ifname);
    } else if (tc_opts.directions.size() == 2) {
      spdlog::warn("{} is a loopback device: with both directions every packet is counted twice",
                   tc_opts.ifname);
    }
  }
  TcTool tc(tc_opts);  // "no such interface" now, before the slow compile
  BpfProgram prog;
  std::vector<std::string> cflags = buffer_cflags(kind);
  cflags.push_back("-DMAX_CONNECTIONS=" + std::to_string(max_conns));
  cflags.push_back("-DL2_LEN=" + std::to_string(l2_header_len(tc.ifname())));
  LoadOptions load = TcTool::load_options(cli.common(), cflags);
  prog.preflight(load);           // "needs root" before anything else
  OutputFile out_file(output);    // "cannot write FILE" before the slow compile
  prog.compile(tcp_duration_bpf_text, load);
  FILE* out = out_file.start();

  const std::int64_t wall_offset = realtime_minus_monotonic_ns();
  std::vector<std::uint64_t> durations;
  std::vector<double> seconds;
  std::uint64_t short_events = 0;
  std::string write_error;
  auto on_event = [&](const void* data, size_t size) {
    if (size < sizeof(td_event)) {
      ++short_events;
      return;
    }
    td_event e;
    std::memcpy(&e, data, sizeof e);
    Connection c = from_event(e, wall_offset);
    durations.push_back(c.duration_ns);
    seconds.push_back(static_cast<double>(c.duration_ns) / 1e9);
    std::string line = (json ? json_line(c) : text_line(c)) + "\n";
    std::fputs(line.c_str(), stdout);
    // No exception through libbpf's C frames: remember the failure, the loop stops.
    if (write_error.empty() && (std::fputs(line.c_str(), out) < 0 || std::fflush(out) != 0))
      write_error = "cannot write " + output + ": " + std::strerror(errno);
  };
  EventReaderOptions reader_opts;
  if (kind == BufferKind::Ring) reader_opts.lost_map = "events_lost";
  EventReader reader(prog, "events", kind, on_event, reader_opts);

  std::string where = tc.attach(prog, "tcp_duration");
  prog.free_compiler_memory();
  const auto started = std::chrono::system_clock::now();
  spdlog::info("Attached to {}: timing TCP connections ({} buffer, up to {} live). Hit Ctrl-C to end.", where,
               buffer_kind_name(kind), max_conns);

  RunClock clock(cli.common().duration);
  auto next_check = RunClock::Clock::now();
  while (!clock.done() && write_error.empty()) {
    if (reader.poll(clock.poll_timeout_ms(100)) > 0) std::fflush(stdout);
    if (RunClock::Clock::now() >= next_check) {
      if (tc.interface_gone()) break;
      next_check = RunClock::Clock::now() + std::chrono::milliseconds(100);
    }
  }
  // Stop the program, then collect what is still in the buffers.
  tc.detach();
  for (int i = 0; i < 1000 && reader.poll(0) > 0; ++i) {
  }
  std::fflush(stdout);
  if (!write_error.empty()) throw Error(write_error);
  if (short_events) spdlog::warn("{} events were shorter than expected and were skipped", short_events);

  TableCounters counters = read_counters(prog, reader, static_cast<std::uint64_t>(max_conns));
  if (counters.lost_events)
    spdlog::warn("{} connection events were lost (buffer full)", counters.lost_events);
  print_summary(durations, json, msecs, &counters);

  if (pic.options.subtitle.empty())
    pic.options.subtitle = std::to_string(seconds.size()) + " connections on " + tc.ifname() + ", " +
                           clock_hms(started) + " to " + clock_hms_now();
  draw(seconds, pic);
  return tc.exit_code();
}

}  // namespace

int main(int argc, char** argv) { return tracekit::run_tool("tcp_duration", argc, argv, run); }
