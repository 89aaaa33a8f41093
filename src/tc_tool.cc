// See tc_tool.h.
#include "tc_tool.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "error.h"
#include "log.h"

namespace tracekit {

void add_tc_options(Cli& cli) {
  // clang-format off
  cli.options().add_options()
    ("iface", "network interface to attach to (IFACE)", cxxopts::value<std::string>(), "IFACE")
    ("attach", "how to attach: auto (tcx if the kernel has it, else clsact), tcx or clsact",
       cxxopts::value<std::string>()->default_value("auto"), "MODE")
    ("direction", "which packets: ingress, egress or both",
       cxxopts::value<std::string>()->default_value("both"), "DIR");
  // clang-format on
  cli.options().parse_positional({"iface"});
  cli.options().positional_help("IFACE");
}

TcOptions parse_tc_options(const cxxopts::ParseResult& r) {
  TcOptions o;
  if (!r.count("iface")) throw UsageError("missing interface (IFACE)", "e.g. veth0; see --help");
  o.ifname = r["iface"].as<std::string>();
  if (o.ifname.empty()) throw UsageError("no such interface: (empty name)");
  o.mode = parse_tc_mode(r["attach"].as<std::string>());
  o.directions = parse_tc_directions(r["direction"].as<std::string>());
  o.verbose = r.count("verbose") > 0;
  return o;
}

TcTool::TcTool(TcOptions options) : options_(std::move(options)), attacher_(options_.ifname) {
  quiet_libbpf(options_.verbose);
}

LoadOptions TcTool::load_options(const CommonOptions& common, std::vector<std::string> cflags) {
  LoadOptions l;
  l.kernel_headers = common.kernel_headers;
  l.cflags = std::move(cflags);
  l.net_admin = true;
  l.tracing = false;
  return l;
}

std::string TcTool::attach(BpfProgram& prog, const std::string& fn) {
  int fd = prog.load_function(fn, BPF_PROG_TYPE_SCHED_CLS);
  try {
    for (TcDirection d : options_.directions) attacher_.attach(fd, d, options_.mode);
  } catch (...) {
    attacher_.detach_all();
    throw;
  }
  return attacher_.describe();
}

bool TcTool::interface_gone() {
  if (gone_) return true;
  if (attacher_.interface_present()) return false;
  gone_ = true;
  spdlog::error("interface {} disappeared", options_.ifname);
  return true;
}

TcWait TcTool::wait_until(const RunClock& clock, RunClock::Clock::time_point until) {
  // 100 ms slices: if_indextoname is one cheap ioctl, and a vanished interface is
  // reported within a tenth of a second.
  constexpr auto kSlice = std::chrono::milliseconds(100);
  for (;;) {
    if (interface_gone()) return TcWait::InterfaceGone;
    if (clock.done()) return TcWait::Stop;
    auto now = RunClock::Clock::now();
    if (now >= until) return TcWait::Tick;
    auto step = std::min<RunClock::Clock::duration>(until - now, kSlice);
    if (!clock.sleep_until(now + step)) return interface_gone() ? TcWait::InterfaceGone : TcWait::Stop;
  }
}

int TcTool::exit_code() const { return gone_ ? kExitFailure : kExitOk; }

}  // namespace tracekit
