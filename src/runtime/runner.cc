// See runner.h.
#include "runtime/runner.h"

// glibc's <net/if.h> before <linux/if_arp.h>, so that the kernel headers defer to it.
#include <net/if.h>

#include <linux/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "bpf/event_reader.h"
#include "bpf/map_reader.h"
#include "bpf/tc_attach.h"
#include "metrics/endpoint.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/log.h"
#include "util/privileges.h"
#include "util/signals.h"

namespace tracekit {
namespace {

using Clock = RunClock::Clock;

// Link-layer header in front of the IP header at the TC hook, by device type.
struct LinkType {
  int type = -1;    // ARPHRD_*
  int l2_len = -1;  // -1: not a device the programs can parse
  const char* name = "unknown";
};

LinkType link_type(const std::string& ifname) {
  LinkType t;
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (!fd || ::ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0) return t;
  t.type = ifr.ifr_hwaddr.sa_family;
  switch (t.type) {
    case ARPHRD_ETHER:
      t = {t.type, 14, "Ethernet"};
      break;
    case ARPHRD_LOOPBACK:
      t = {t.type, 14, "loopback"};
      break;  // an all-zero Ethernet header
    // The packet starts at the IP header: tun, wireguard, ipip, ip6tnl, sit, raw IP.
    case ARPHRD_NONE:
      t = {t.type, 0, "none (tun, wireguard)"};
      break;
    case ARPHRD_TUNNEL:
      t = {t.type, 0, "IPIP tunnel"};
      break;
    case ARPHRD_TUNNEL6:
      t = {t.type, 0, "IPv6 tunnel"};
      break;
    case ARPHRD_SIT:
      t = {t.type, 0, "SIT tunnel"};
      break;
    case ARPHRD_RAWIP:
      t = {t.type, 0, "raw IP"};
      break;
    default:
      break;
  }
  return t;
}

// kernel.bpf_stats_enabled: whether the kernel counts the programs' run time.
bool bpf_stats_enabled() {
  std::ifstream in("/proc/sys/kernel/bpf_stats_enabled");
  int v = 0;
  return (in >> v) && v != 0;
}

void log_error(const Error& e) {
  std::string line = e.what();
  if (!e.hint().empty()) line += "; " + e.hint();
  spdlog::error("{}", line);
}

}  // namespace

struct Runner {
  static int run(Tool& tool, int argc, char** argv);
  static std::vector<prometheus::MetricFamily> collect(Tool& tool, Runtime& rt);
};

// One collection: the series every tool has, then the tool's own. Before attach (the
// server is up from before the compile) only the first two.
std::vector<prometheus::MetricFamily> Runner::collect(Tool& tool, Runtime& rt) {
  std::lock_guard<std::mutex> lock(rt.mu_);
  MetricsBuilder b;
  MetricLabels base = rt.base_labels();
  MetricLabels info = base;
  info.emplace_back("version", TRACEKIT_VERSION);
  b.gauge("tracekit_build_info", "The tool and its version; always 1.", info, 1);
  if (!rt.collecting_) return b.take();
  b.gauge("tracekit_start_time_seconds", "When the tool started tracing, in seconds since the Unix epoch.", base,
          rt.start_unix_);
  b.counter("tracekit_events_lost_total",
            "Events the kernel could not hand to the tool (its buffer was full); 0 for tools without an event buffer.",
            base, static_cast<double>(rt.events_lost()));
  const bool stats = bpf_stats_enabled();
  b.gauge("tracekit_bpf_stats_enabled",
          "1 when kernel.bpf_stats_enabled is set; when 0 the kernel does not count tracekit_bpf_run* (they stay put).",
          base, stats ? 1 : 0);
  for (const auto& p : rt.prog().programs()) {
    bpf_prog_info pi{};
    uint32_t len = sizeof pi;
    if (bpf_obj_get_info_by_fd(p.fd, &pi, &len) != 0) continue;
    MetricLabels l = base;
    l.emplace_back("program", p.name);
    b.counter("tracekit_bpf_run_seconds_total",
              "Time the kernel spent in this BPF program (needs kernel.bpf_stats_enabled=1).", l,
              static_cast<double>(pi.run_time_ns) / 1e9);
    b.counter("tracekit_bpf_runs_total", "Runs of this BPF program (needs kernel.bpf_stats_enabled=1).", l,
              static_cast<double>(pi.run_cnt));
  }
  tool.metrics(rt, b);
  return b.take();
}

int Runner::run(Tool& tool, int argc, char** argv) {
  Cli cli(tool.info());
  tool.add_options(cli.options());
  auto parsed = cli.parse(argc, argv);
  if (!parsed) return kExitOk;
  const auto& r = *parsed;
  const ToolInfo& info = cli.info();
  const CommonOptions& common = cli.common();
  quiet_libbpf(common.verbose);  // libbpf's own messages (no BTF, ...) only with -v
  Plan plan;
  tool.configure(r, common, plan);

  std::optional<RunAs> run_as;
  if (!common.user.empty()) run_as = parse_run_as(common.user);  // unknown user: exit 2 now
  Runtime rt(info.name, common);
  rt.base_sink_ = make_sink(common.json, info.name, common.quiet);
  rt.sink_ = rt.base_sink_.get();
  if (auto rc = tool.run_offline(r, *rt.sink_)) {
    rt.sink_->flush();
    return *rc;
  }

  std::unique_ptr<TcAttacher> tc;
  if (info.tc) {
    if (common.ifname.empty()) throw UsageError("missing interface (IFACE)", "e.g. veth0; see --help");
    tc = std::make_unique<TcAttacher>(common.ifname);  // exit 2 for a bad name, before the compile
    LinkType link = link_type(common.ifname);
    if (link.l2_len < 0)
      throw Error("cannot parse the packets of " + common.ifname + ": device type " + std::to_string(link.type) +
                      " is neither Ethernet nor a device that carries bare IP packets",
                  "supported: Ethernet, loopback, tun/wireguard (none), ipip, ip6tnl, sit, raw IP");
    rt.l2_len_ = link.l2_len;
    rt.loopback_ = link.type == ARPHRD_LOOPBACK;
    if (link.l2_len != 14)
      spdlog::info("{}: device type {}: packets start at the IP header (offset 0)", common.ifname, link.name);
    rt.directions_ = common.directions;
    if (rt.loopback_) {
      if (!common.direction_given) {
        rt.directions_ = {TcDirection::Ingress};
        spdlog::info("{} is a loopback device: counting on ingress only (each packet passes both hooks)",
                     common.ifname);
      } else if (rt.directions_.size() == 2) {
        spdlog::warn("{} is a loopback device: with both directions every packet is counted twice", common.ifname);
      }
    }
    plan.cflags.push_back("-DTK_L2_LEN=" + std::to_string(rt.l2_len_));
  }

  LoadOptions load;
  load.kernel_headers = common.kernel_headers;
  load.cache = common.cache;
  load.cache_dir = common.cache_dir;
  load.net_admin = info.tc;
  load.tracing = !plan.probes.empty();
  load.cflags = plan.cflags;
  if (!plan.events_map.empty()) {
    auto b = buffer_cflags(common.buffer);
    load.cflags.insert(load.cflags.end(), b.begin(), b.end());
    load.cflags.push_back(std::string("-DTK_WAKEUP_EACH=") + (common.wakeup_each ? "1" : "0"));
  }
  BpfProgram& prog = rt.prog_;
  prog.preflight(load);
  // Metrics outlets, before the compile: a bad directory or a port in use fails fast.
  std::unique_ptr<MetricsTextfile> textfile;
  if (!common.metrics_textfile.empty())
    textfile = std::make_unique<MetricsTextfile>(common.metrics_textfile,
                                                 info.name + (info.tc ? "-" + common.ifname : std::string()) + ".prom");
  std::unique_ptr<MetricsServer> server;
  if (common.metrics_http) {
    server = std::make_unique<MetricsServer>(common.metrics_address, [&] { return collect(tool, rt); });
    rt.shared_ = true;  // collections now run on the server's threads too
    spdlog::info("Serving metrics on http://{}/metrics", common.metrics_address.text());
  }
  std::string textfile_error;
  auto write_textfile = [&] {
    if (!textfile) return;
    std::string why = textfile->write(render_metrics(collect(tool, rt)));
    if (!why.empty() && why != textfile_error) spdlog::warn("{}", why);
    textfile_error = why;
  };
  ProbeMode mode = common.probe;
  bool any_syscall = false;
  for (const auto& p : plan.probes) any_syscall |= p.kind == Probe::Kind::Syscall;
  if (any_syscall) {
    // One attach kind for every syscall probe, picked before the compile.
    for (const auto& p : plan.probes)
      if (p.kind == Probe::Kind::Syscall) mode = resolve_probe_mode(p.name, p.on_exit, mode);
    if (mode == ProbeMode::Kprobe) load.cflags.push_back("-DWITH_KPROBES");
  }
  tool.prepare(rt);
  prog.compile(tool.bpf_text(), load);
  tool.loaded(rt);

  std::vector<std::string> where;
  for (const auto& p : plan.probes)
    if (p.kind == Probe::Kind::Tracepoint) where.push_back(prog.attach_tracepoint(p.name, p.fn));
  tool.ready(rt);
  if (!plan.events_map.empty()) {
    EventReaderOptions ro;
    if (common.buffer == BufferKind::Ring) ro.lost_map = "events_lost";
    ro.perf_wakeup_events = common.wakeup_each ? 1 : 32;
    if (common.buffer == BufferKind::Ring) {
      ro.woken_map = "events_woken";
      ro.tick_ms = kRingWakeupMs;
    }
    rt.reader_ = std::make_unique<EventReader>(
        prog, plan.events_map, common.buffer,
        [&](const void* data, size_t size) {
          auto lock = rt.state_lock();
          tool.event(rt, data, size);
        },
        ro);
  }
  for (const auto& p : plan.probes)
    if (p.kind == Probe::Kind::Syscall)
      where.push_back(prog.attach_syscall({p.name, p.on_exit, p.fn, p.kprobe_fn}, mode));
  if (tc) {
    const bool observe_egress =
        !plan.tc_observe_egress_function.empty() && rt.directions_ == std::vector<TcDirection>{TcDirection::Ingress};
    try {
      for (TcDirection d : rt.directions_) {
        const std::string& fn =
            d == TcDirection::Egress && !plan.tc_egress_function.empty() ? plan.tc_egress_function : plan.tc_function;
        tc->attach(prog.load_function(fn, BPF_PROG_TYPE_SCHED_CLS), d, common.attach);
      }
      if (observe_egress)
        tc->attach(prog.load_function(plan.tc_observe_egress_function, BPF_PROG_TYPE_SCHED_CLS), TcDirection::Egress,
                   common.attach);
    } catch (...) {
      tc->detach_all();
      throw;
    }
    where.push_back(tc->describe() + (observe_egress ? " (egress: " + plan.tc_observe_egress_what + " only)" : ""));
  }
  prog.free_compiler_memory();
  std::string joined;
  for (const auto& w : where) joined += (joined.empty() ? "" : ", ") + w;
  std::string buffer = plan.events_map.empty() ? "" : std::string(" (") + to_string(common.buffer) + " buffer)";
  spdlog::info("Attached to {}: {}{}. Hit Ctrl-C to end.", joined, plan.doing, buffer);

  // Least privilege from here on: only what the way out needs (util/privileges.h).
  if (any_syscall && mode == ProbeMode::Kprobe) {
    spdlog::debug("kprobes attached: capabilities kept (detaching writes to tracefs)");
  } else {
    std::vector<int> keep;
    if (tc && tc->uses_clsact()) keep.push_back(CAP_NET_ADMIN);  // to remove the filters at the end
    drop_privileges(keep, run_as ? &*run_as : nullptr);
  }

  rt.clock_ = std::make_unique<RunClock>(common.duration);
  const RunClock& clock = *rt.clock_;
  {
    std::lock_guard<std::mutex> lock(rt.mu_);
    rt.collecting_ = true;
    rt.start_unix_ = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  if (common.metrics() && !bpf_stats_enabled())
    spdlog::info(
        "kernel.bpf_stats_enabled is 0: tracekit_bpf_run_seconds_total and _runs_total stay put "
        "(sysctl -w kernel.bpf_stats_enabled=1 to count)");
  write_textfile();
  Sink& out = *rt.sink_;
  bool gone = false;
  auto interface_gone = [&] {
    if (gone || !tc) return gone;
    if (tc->interface_present()) return false;
    gone = true;
    spdlog::error("interface {} disappeared", common.ifname);
    return true;
  };
  uint64_t lost_reported = 0;
  auto check_lost = [&] {
    if (!rt.reader_) return;
    uint64_t lost = rt.reader_->lost();
    if (lost > lost_reported) {
      Notice n;
      n.kind = "events_lost";
      n.count = lost - lost_reported;
      n.total = lost;
      n.message =
          "lost " + std::to_string(n.count) + " events (" + std::to_string(lost) + " in total): the reader fell behind";
      rt.sink_->notice(n);
      lost_reported = lost;
    }
  };

  if (info.kind == ToolKind::Interval) {
    const auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(common.interval));
    auto next = clock.start() + step;
    // Sleeps until `until` in 100 ms slices, watching the clock and the interface.
    auto wait = [&](Clock::time_point until) {
      while (!interface_gone() && !clock.done()) {
        auto now = Clock::now();
        if (now >= until) return true;
        clock.sleep_until(std::min(until, now + std::chrono::milliseconds(100)));
      }
      return false;
    };
    for (long n = 1;; ++n, next += step) {
      if (!wait(next)) break;
      if (common.count && n == common.count) {  // the last report is the final one
        rt.final_n_ = n;
        break;
      }
      {
        auto lock = rt.state_lock();
        tool.report(rt, n);
      }
      out.flush();
      check_lost();
      write_textfile();
      if (!out.error().empty()) break;
    }
  } else {
    auto next_check = Clock::now();
    while (!clock.done() && out.error().empty()) {
      if (rt.reader_) {
        rt.reader_->poll(clock.poll_timeout_ms(100));
      } else {
        clock.sleep_until(Clock::now() + std::chrono::milliseconds(100));
      }
      out.flush();
      if (Clock::now() >= next_check) {
        if (interface_gone()) break;
        check_lost();
        write_textfile();
        next_check = Clock::now() + std::chrono::seconds(1);
      }
    }
  }

  rt.clock_->freeze();
  const double traced_s = clock.elapsed_seconds();
  // Stop the programs, then collect what is still in the buffers.
  if (tc) tc->detach_all();
  prog.detach_probes();
  if (rt.reader_) {
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    for (int i = 0; i < 1000 && Clock::now() < deadline && rt.reader_->poll(0) > 0; ++i) out.flush();
  }
  out.flush();
  check_lost();

  SummaryRecord summary;
  summary.lost = rt.events_lost();
  {
    auto lock = rt.state_lock();
    tool.finish(rt, summary);
  }
  summary.duration_s = traced_s;
  out.write(summary);
  out.flush();
  write_textfile();  // the final numbers
  server.reset();
  if (!out.error().empty()) throw Error(out.error());
  return gone ? kExitFailure : kExitOk;
}

Runtime::Runtime(std::string tool, CommonOptions common) : tool_(std::move(tool)), common_(std::move(common)) {}
Runtime::~Runtime() = default;

void Runtime::tee(FILE* file, const std::string& path, std::set<std::string, std::less<>> types) {
  tee_ = std::make_unique<FileTee>(*base_sink_, file, path, std::move(types));
  sink_ = tee_.get();
}

MetricLabels Runtime::base_labels() const {
  MetricLabels l{{"tool", tool_}};
  if (!common_.ifname.empty()) l.emplace_back("iface", common_.ifname);
  return l;
}

void Runtime::map_metrics(MetricsBuilder& out, const std::string& map, std::optional<uint64_t> entries,
                          std::optional<uint64_t> evictions) {
  const int fd = prog_.map_fd(map);
  bpf_map_info mi{};
  uint32_t len = sizeof mi;
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) != 0) return;
  if (!entries) entries = HashMapReader(fd).read();
  MetricLabels l = base_labels();
  l.emplace_back("map", map);
  out.gauge("tracekit_map_entries", "Entries in this BPF map now.", l, static_cast<double>(*entries));
  out.gauge("tracekit_map_capacity", "The most entries this BPF map can hold (max_entries).", l, mi.max_entries);
  if (evictions) {
    // The tools compute evictions from counters read one after the other while the
    // program runs, in an order that can only make the figure low for a moment; the
    // counter shown never goes back down.
    uint64_t& shown = evictions_shown_[map];
    shown = std::max(shown, *evictions);
    out.counter("tracekit_map_evictions_total",
                "Entries this LRU map dropped to make room for new ones (their counts until then are gone).", l,
                static_cast<double>(shown));
  }
}

uint64_t Runtime::events_lost() const { return reader_ ? reader_->lost() : 0; }
uint64_t Runtime::events_received() const { return reader_ ? reader_->received() : 0; }

int run(Tool& tool, int argc, char** argv) {
  init_logging(tool.info().name);
  install_stop_signals();
  int rc = kExitFailure;
  try {
    rc = Runner::run(tool, argc, argv);
  } catch (const Error& e) {
    log_error(e);
    rc = e.exit_code();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    rc = kExitFailure;
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace tracekit
