#include "cli/cli.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "util/error.h"
#include "util/log.h"

#ifndef TRACEKIT_VERSION
#define TRACEKIT_VERSION "0.0.0"
#endif

namespace tracekit {

Cli::Cli(ToolInfo info) : info_(std::move(info)), options_(info_.name, info_.summary) {
  options_.set_width(100);
  // clang-format off
  options_.add_options("Common")
    ("h,help", "show this help and exit")
    ("version", "print the version and exit")
    ("d,duration", "stop after SECONDS (0 = run until Ctrl-C/SIGTERM/SIGHUP)",
       cxxopts::value<std::string>()->default_value("0"), "SECONDS")
    ("j,json", "print JSON lines (one object per line, docs/json.md) on stdout")
    ("T,timestamp", "text: start each line with the time (HH:MM:SS)")
    ("v,verbose", "debug logs on stderr, including bcc's and libbpf's own messages")
    ("kernel-headers", "kernel header tree for bcc (default: automatic)",
       cxxopts::value<std::string>(), "DIR")
    ("no-cache", "compile the BPF program every time; read and write no compile cache")
    ("cache-dir", "compile cache directory (default: /var/cache/tracekit)", cxxopts::value<std::string>(), "DIR")
    ("user", "started as root: become this user once attached (capabilities are dropped either way)",
       cxxopts::value<std::string>(), "NAME")
    ("q,quiet", "print nothing on stdout (for a service that only exports metrics)")
    ("metrics", "serve Prometheus metrics at http://ADDR:PORT/metrics (PORT alone: 127.0.0.1)",
       cxxopts::value<std::string>(), "ADDR:PORT")
    ("metrics-textfile", "write the metrics to DIR/<tool>.prom (TC tools: <tool>-IFACE.prom) after each report "
                         "(execve_enriched, tcp_duration: every second), for node_exporter's textfile collector",
       cxxopts::value<std::string>(), "DIR")
    ("metrics-max-series", "at most N series per metric whose labels grow with the workload; the rest "
                           "are summed in one series labelled other",
       cxxopts::value<std::string>()->default_value("1000"), "N");
  // clang-format on
  std::vector<std::string> positional;
  std::string positional_help;
  if (info_.tc) {
    // clang-format off
    options_.add_options("Common")
      ("iface", "network interface to attach to (IFACE)", cxxopts::value<std::string>(), "IFACE")
      ("attach", "how to attach: auto (tcx if the kernel has it, else clsact), tcx or clsact",
         cxxopts::value<std::string>()->default_value("auto"), "MODE")
      ("direction", "which packets: ingress, egress or both",
         cxxopts::value<std::string>()->default_value("both"), "DIR");
    // clang-format on
    positional.push_back("iface");
    positional_help = "IFACE";
  }
  if (info_.kind == ToolKind::Interval) {
    const std::string def = fmt::format("{}", info_.default_interval);
    // clang-format off
    options_.add_options("Common")
      ("i,interval", "seconds between reports", cxxopts::value<std::string>()->default_value(def), "SECONDS")
      ("c,count", "stop after N reports (0 = no limit)", cxxopts::value<std::string>()->default_value("0"), "N");
    // clang-format on
    positional.insert(positional.end(), {"interval", "count"});
    positional_help += std::string(positional_help.empty() ? "" : " ") + "[interval [count]]";
  }
  if (info_.event_buffer) {
    // clang-format off
    options_.add_options("Common")
      ("buffer", "kernel-to-user transport: ring (BPF ring buffer) or perf (BPF_PERF_OUTPUT)",
         cxxopts::value<std::string>()->default_value("ring"), "KIND")
      ("wakeup", "when the kernel wakes the reader: batch (at once for the first event after a quiet "
                 "spell, then every 10 to 100 ms while events keep coming) or each (every event; costs more "
                 "kernel time per event)",
         cxxopts::value<std::string>()->default_value("batch"), "WHEN");
    // clang-format on
  }
  if (info_.syscall_probes) {
    options_.add_options("Common")("probe", "how to attach: auto, tracepoint or kprobe",
                                   cxxopts::value<std::string>()->default_value("auto"), "MODE");
  }
  if (!positional.empty()) {
    options_.parse_positional(positional);
    options_.positional_help(positional_help).show_positional_help();
  }
}

std::string Cli::help() const {
  std::string text = options_.help({"", "Common"});
  if (!info_.examples.empty()) text += "\nEXAMPLES:\n" + info_.examples;
  return text;
}

std::optional<cxxopts::ParseResult> Cli::parse(int argc, char** argv) {
  cxxopts::ParseResult result;
  try {
    result = options_.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what(), "see " + info_.name + " --help");
  }
  if (result.count("help")) {
    std::cout << help() << std::flush;
    return std::nullopt;
  }
  if (result.count("version")) {
    std::cout << info_.name << " " << TRACEKIT_VERSION << "\n" << std::flush;
    return std::nullopt;
  }
  if (!result.unmatched().empty())
    throw UsageError("unexpected argument: " + result.unmatched().front(), "see " + info_.name + " --help");
  CommonOptions& c = common_;
  c.duration = get_seconds(result, "duration", true);
  c.json = result.count("json") > 0;
  c.timestamps = result.count("timestamp") > 0;
  c.verbose = result.count("verbose") > 0;
  set_verbose(c.verbose);
  if (result.count("kernel-headers")) {
    c.kernel_headers = result["kernel-headers"].as<std::string>();
    if (c.kernel_headers.empty()) throw UsageError("--kernel-headers needs a directory");
  }
  c.cache = result.count("no-cache") == 0;
  if (result.count("cache-dir")) {
    std::string dir = result["cache-dir"].as<std::string>();
    if (dir.empty()) throw UsageError("--cache-dir needs a directory");
    if (!c.cache) throw UsageError("--cache-dir and --no-cache exclude each other");
    c.cache_dir = std::filesystem::absolute(dir).lexically_normal().string();
    while (c.cache_dir.size() > 1 && c.cache_dir.back() == '/') c.cache_dir.pop_back();
  }
  if (result.count("user")) {
    c.user = result["user"].as<std::string>();
    if (c.user.empty()) throw UsageError("--user needs a user name");
  }
  c.quiet = result.count("quiet") > 0;
  if (result.count("metrics")) {
    c.metrics_address = parse_listen_address(result["metrics"].as<std::string>());
    c.metrics_http = true;
  }
  if (result.count("metrics-textfile")) {
    c.metrics_textfile = result["metrics-textfile"].as<std::string>();
    if (c.metrics_textfile.empty()) throw UsageError("--metrics-textfile needs a directory");
  }
  c.metrics_max_series = static_cast<size_t>(get_count(result, "metrics-max-series", 1, 1000000));
  if (result.count("metrics-max-series") && !c.metrics())
    throw UsageError("--metrics-max-series needs --metrics or --metrics-textfile");
  if (info_.tc) {
    if (result.count("iface")) {
      c.ifname = result["iface"].as<std::string>();
      if (c.ifname.empty()) throw UsageError("no such interface: (empty name)");
    }
    c.attach = parse_tc_mode(result["attach"].as<std::string>());
    c.directions = parse_tc_directions(result["direction"].as<std::string>());
    c.direction_given = result.count("direction") > 0;
  }
  if (info_.kind == ToolKind::Interval) {
    c.interval = get_seconds(result, "interval", false);
    c.count = get_count(result, "count", 0, 1L << 40);
  }
  if (info_.event_buffer) {
    c.buffer = parse_buffer_kind(result["buffer"].as<std::string>());
    c.wakeup_each =
        parse_choice<bool>("wakeup", result["wakeup"].as<std::string>(), {{"batch", false}, {"each", true}});
  }
  if (info_.syscall_probes) c.probe = parse_probe_mode(result["probe"].as<std::string>());
  return result;
}

namespace {
std::string raw_value(const cxxopts::ParseResult& r, const std::string& name) {
  try {
    return r[name].as<std::string>();
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError("--" + name + ": " + e.what());
  }
}
}  // namespace

double get_seconds(const cxxopts::ParseResult& r, const std::string& name, bool allow_zero) {
  std::string text = raw_value(r, name);
  double v = 0;
  size_t used = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(v) || v < 0 || (!allow_zero && v == 0) || v > 1e7)
    throw UsageError("bad value for --" + name + ": '" + text + "' (expected seconds" +
                     (allow_zero ? ", 0 or more)" : ", more than 0)"));
  return v;
}

long get_count(const cxxopts::ParseResult& r, const std::string& name, long min, long max) {
  std::string text = raw_value(r, name);
  long v = 0;
  size_t used = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < min || v > max)
    throw UsageError("bad value for --" + name + ": '" + text + "' (expected a whole number from " +
                     std::to_string(min) + " to " + std::to_string(max) + ")");
  return v;
}

long get_id(const cxxopts::ParseResult& r, const std::string& name) {
  if (!r.count(name)) return -1;
  return get_count(r, name, 0, 0xfffffffeL);
}

}  // namespace tracekit
