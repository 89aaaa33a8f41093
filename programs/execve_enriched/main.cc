// execve_enriched: one line per execve()/execveat(): who ran what, with which argv, and
// how the call ended.
#include <bpf/bpf.h>
#include <pwd.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bpf_program.h"
#include "cli.h"
#include "error.h"
#include "event_reader.h"
#include "execve_enriched.h"
#include "execve_format.h"
#include "log.h"
#include "tool.h"

extern const char execve_enriched_bpf_text[];

namespace {

using namespace tracekit;
using execve_enriched::Decorated;

static_assert(sizeof(execve_event) == EXECVE_EVENT_HEADER_SIZE + EXECVE_MAX_ARGS * EXECVE_ARG_SIZE);
static_assert(offsetof(execve_event, comm) == 80);
static_assert(offsetof(execve_event, args) == EXECVE_EVENT_HEADER_SIZE);

constexpr const char* kExamples =
    "  execve_enriched                    # every execve: pid, ppid, uid, command, result, file, argv\n"
    "  execve_enriched -T                 # with a time column\n"
    "  execve_enriched -u 1000            # only calls made by uid 1000 (or -u alice)\n"
    "  execve_enriched --failed-only      # only calls that failed (ENOENT, EACCES, ...)\n"
    "  execve_enriched --ppid 4242 -n sh  # children of 4242 whose command contains 'sh'\n"
    "  execve_enriched --json -d 10       # JSON lines for 10 seconds\n"
    "  execve_enriched --buffer perf      # BPF_PERF_OUTPUT instead of the ring buffer\n";

long parse_id(const cxxopts::ParseResult& r, const std::string& name) {
  if (!r.count(name)) return -1;
  return get_count(r, name, 0, 0xfffffffeL);
}

long parse_uid(const cxxopts::ParseResult& r) {
  if (!r.count("uid")) return -1;
  std::string text = r["uid"].as<std::string>();
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return get_count(r, "uid", 0, 0xfffffffeL);
  struct passwd pw {};
  struct passwd* res = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(text.c_str(), &pw, buf.data(), buf.size(), &res) == 0 && res) return res->pw_uid;
  throw UsageError("bad value for --uid: '" + text + "' is neither a number nor a user name");
}

// Parent pid from /proc/PID/stat (field 4), 0 when the process is gone.
uint32_t proc_ppid(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  auto close = stat.rfind(')');  // comm may contain spaces and parentheses
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  uint32_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

// Fills the pid -> ppid map with the processes that were forked before the tool
// started (the fork tracepoint is attached already; entries it wrote win).
size_t seed_parents(int map_fd) {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    uint32_t pid = static_cast<uint32_t>(std::stoul(name));
    uint32_t ppid = proc_ppid(pid);
    if (ppid == 0 && pid != 1) continue;
    if (bpf_map_update_elem(map_fd, &pid, &ppid, BPF_NOEXIST) == 0) ++n;
  }
  return n;
}

// CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) to wall-clock time.
class MonotonicToWall {
 public:
  MonotonicToWall() {
    timespec mono{}, real{};
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    offset_ns_ = (real.tv_sec - mono.tv_sec) * 1000000000LL + (real.tv_nsec - mono.tv_nsec);
  }
  std::chrono::system_clock::time_point operator()(uint64_t mono_ns) const {
    return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
        std::chrono::nanoseconds(static_cast<long long>(mono_ns) + offset_ns_)));
  }

 private:
  long long offset_ns_ = 0;
};

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

struct Stats {
  uint64_t printed = 0;
  uint64_t filtered = 0;   // dropped by --name
  uint64_t malformed = 0;  // shorter than the header
  uint64_t latency_sum_ns = 0;
  uint64_t latency_max_ns = 0;
};

int run(int argc, char** argv) {
  Cli cli("execve_enriched",
          "Trace execve() and execveat(): one line per call with pid, parent pid, uid, command, return value, "
          "file and argv.",
          kExamples);
  // clang-format off
  cli.options().add_options()
    ("T,timestamp", "add a TIME column (HH:MM:SS of the call)")
    ("u,uid", "only calls made by this uid (number or user name)", cxxopts::value<std::string>(), "UID")
    ("p,pid", "only calls made by this process id", cxxopts::value<std::string>(), "PID")
    ("ppid", "only calls made by children of this process id", cxxopts::value<std::string>(), "PPID")
    ("n,name", "only calls whose caller's command name contains TEXT", cxxopts::value<std::string>(), "TEXT")
    ("failed-only", "only calls that failed")
    ("success-only", "only calls that succeeded")
    ("buffer", "transport: ring (BPF ring buffer) or perf (BPF_PERF_OUTPUT)",
       cxxopts::value<std::string>()->default_value("ring"), "KIND")
    ("probe", "how to attach: auto, tracepoint or kprobe", cxxopts::value<std::string>()->default_value("auto"), "MODE")
    ("wakeup", "when the kernel wakes the reader: batch (every few ms or when the buffer fills) or each "
               "(every event; costs more kernel time per exec)",
       cxxopts::value<std::string>()->default_value("batch"), "WHEN");
  // clang-format on
  auto parsed = cli.parse(argc, argv);
  if (!parsed) return kExitOk;
  const auto& r = *parsed;
  set_verbose(cli.common().verbose);
  const bool json = cli.common().json;
  const bool with_time = r.count("timestamp") > 0;
  long uid = parse_uid(r);
  long pid = parse_id(r, "pid");
  long ppid = parse_id(r, "ppid");
  std::string name = r.count("name") ? r["name"].as<std::string>() : "";
  if (r.count("name") && name.empty()) throw UsageError("--name needs a non-empty text");
  if (r.count("failed-only") && r.count("success-only"))
    throw UsageError("--failed-only and --success-only exclude each other");
  int filter_ret = r.count("success-only") ? 1 : r.count("failed-only") ? 2 : 0;
  BufferKind kind = parse_buffer_kind(r["buffer"].as<std::string>());
  ProbeMode mode = parse_probe_mode(r["probe"].as<std::string>());
  std::string wakeup = r["wakeup"].as<std::string>();
  if (wakeup != "batch" && wakeup != "each")
    throw UsageError("bad value for --wakeup: '" + wakeup + "' (expected batch or each)");

  LoadOptions load{cli.common().kernel_headers, {}, false, true};
  load.cflags = buffer_cflags(kind);
  load.cflags.insert(load.cflags.end(), {"-DFILTER_UID=" + std::to_string(uid), "-DFILTER_PID=" + std::to_string(pid),
                 "-DFILTER_PPID=" + std::to_string(ppid), "-DFILTER_RET=" + std::to_string(filter_ret),
                 std::string("-DWAKEUP_EACH=") + (wakeup == "each" ? "1" : "0")});
  BpfProgram prog;
  prog.preflight(load);
  mode = resolve_probe_mode("execve", false, mode);
  if (mode == ProbeMode::Kprobe) load.cflags.push_back("-DWITH_KPROBES");
  prog.compile(execve_enriched_bpf_text, load);

  // Parents first, so that every fork from now on is seen, then those forked before.
  std::vector<std::string> where;
  where.push_back(prog.attach_tracepoint("sched:sched_process_fork", "tracepoint__sched__sched_process_fork"));
  where.push_back(prog.attach_tracepoint("sched:sched_process_exit", "tracepoint__sched__sched_process_exit"));
  // Before the syscall probes: the path an exec's sys_enter could not read, and execs
  // from non-leader threads (see the BPF text).
  where.push_back(prog.attach_tracepoint("sched:sched_process_exec", "tracepoint__sched__sched_process_exec"));
  size_t seeded = seed_parents(prog.map_fd("parents"));
  spdlog::debug("seeded {} parent pids from /proc", seeded);

  MonotonicToWall to_wall;
  Stats stats;
  std::string out;
  auto on_event = [&](const void* data, size_t size) {
    if (size < EXECVE_EVENT_HEADER_SIZE) {
      ++stats.malformed;
      return;
    }
    execve_event ev;
    std::memset(&ev, 0, sizeof ev);
    std::memcpy(&ev, data, std::min(size, sizeof ev));
    ev.argc = std::min<uint32_t>(ev.argc, static_cast<uint32_t>((size - EXECVE_EVENT_HEADER_SIZE) / EXECVE_ARG_SIZE));
    if (!name.empty() && execve_enriched::bounded(ev.comm, EXECVE_COMM_SIZE).find(name) == std::string_view::npos) {
      ++stats.filtered;
      return;
    }
    Decorated d;
    d.ev = &ev;
    d.when = to_wall(ev.enter_ns);
    d.ppid = ev.ppid;
    if (ev.flags & EXECVE_F_PPID_UNKNOWN) d.ppid = proc_ppid(ev.pid);
    d.user = user_name(ev.uid);
    out += json ? execve_enriched::json_line(d) : execve_enriched::text_line(d, with_time);
    ++stats.printed;
    uint64_t now = monotonic_ns();
    if (ev.exit_ns && now > ev.exit_ns) {
      stats.latency_sum_ns += now - ev.exit_ns;
      stats.latency_max_ns = std::max<uint64_t>(stats.latency_max_ns, now - ev.exit_ns);
    }
  };
  EventReaderOptions reader_options;
  reader_options.lost_map = kind == BufferKind::Ring ? "events_lost" : "";
  reader_options.perf_wakeup_events = wakeup == "each" ? 1 : 32;
  EventReader reader(prog, "events", kind, on_event, reader_options);

  SyscallProbe probes[] = {
      {"execve", false, "tracepoint__syscalls__sys_enter_execve", "syscall__execve"},
      {"execve", true, "tracepoint__syscalls__sys_exit_execve", "execve_return"},
      {"execveat", false, "tracepoint__syscalls__sys_enter_execveat", "syscall__execveat"},
      {"execveat", true, "tracepoint__syscalls__sys_exit_execveat", "execve_return"},
  };
  for (const auto& probe : probes) where.push_back(prog.attach_syscall(probe, mode));
  prog.free_compiler_memory();
  std::string joined;
  for (const auto& w : where) joined += (joined.empty() ? "" : ", ") + w;
  spdlog::info("Attached to {} ({} buffer): tracing execve. Hit Ctrl-C to end.", joined, buffer_kind_name(kind));

  if (!json) {
    std::fputs(execve_enriched::header_line(with_time).c_str(), stdout);
    std::fflush(stdout);
  }
  RunClock clock(cli.common().duration);
  uint64_t lost_reported = 0;
  auto next_lost_check = RunClock::Clock::now() + std::chrono::seconds(1);
  auto flush = [&] {
    if (out.empty()) return;
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    out.clear();
  };
  auto check_lost = [&] {
    uint64_t lost = reader.lost();
    if (lost > lost_reported) {
      spdlog::warn("lost {} events ({} in total): the reader fell behind", lost - lost_reported, lost);
      lost_reported = lost;
    }
  };
  while (!clock.done()) {
    reader.poll(clock.poll_timeout_ms(100));
    flush();
    if (RunClock::Clock::now() >= next_lost_check) {
      check_lost();
      next_lost_check = RunClock::Clock::now() + std::chrono::seconds(1);
    }
  }
  while (reader.poll(0) > 0) flush();  // what is still in the buffers
  flush();
  check_lost();

  double avg_ms = stats.printed ? static_cast<double>(stats.latency_sum_ns) / static_cast<double>(stats.printed) / 1e6 : 0;
  spdlog::info("Traced {} execve calls in {:.1f} s: {} printed, {} skipped by --name, {} lost ({} buffer)",
               reader.received(), clock.elapsed_seconds(), stats.printed, stats.filtered, reader.lost(),
               buffer_kind_name(kind));
  spdlog::debug("exec-to-read latency: avg {:.2f} ms, max {:.2f} ms", avg_ms,
                static_cast<double>(stats.latency_max_ns) / 1e6);
  if (stats.malformed) spdlog::warn("{} events were shorter than the event header and were dropped", stats.malformed);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) { return tracekit::run_tool("execve_enriched", argc, argv, run); }
