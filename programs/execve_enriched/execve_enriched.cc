// execve_enriched: one line per execve()/execveat(): who ran what, with which argv, and
// how the call ended.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bpf/kernel_btf.h"
#include "execve_enriched.h"
#include "execve_format.h"
#include "runtime/runner.h"
#include "util/cgroup.h"
#include "util/error.h"
#include "util/log.h"
#include "util/owner.h"
#include "util/system_checks.h"
#include "util/user.h"

extern const char execve_enriched_bpf_text[];

namespace {

using namespace tracekit;
using execve_enriched::Decorated;

static_assert(sizeof(execve_event) == EXECVE_EVENT_HEADER_SIZE + EXECVE_MAX_ARGS * EXECVE_ARG_SIZE);
static_assert(offsetof(execve_event, comm) == 88);
static_assert(offsetof(execve_event, pid) == 16 &&
              offsetof(execve_event, tid) == 20);  // one 64-bit word: the slot's holder
static_assert(offsetof(execve_event, args) == EXECVE_EVENT_HEADER_SIZE);

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

class ExecveEnriched : public Tool {
 public:
  ToolInfo info() const override {
    ToolInfo i;
    i.name = "execve_enriched";
    i.summary =
        "Trace execve() and execveat(): one line per call with pid, parent pid, uid, command, return value, "
        "file and argv.";
    i.examples =
        "  execve_enriched                    # every execve: pid, ppid, uid, command, result, file, argv\n"
        "  execve_enriched -T                 # with a time column\n"
        "  execve_enriched -u 1000            # only calls made by uid 1000 (or -u alice)\n"
        "  execve_enriched --failed-only      # only calls that failed (ENOENT, EACCES, ...)\n"
        "  execve_enriched -C --cgroup /system.slice  # system services only, with their cgroup\n"
        "  execve_enriched --ppid 4242 -n sh  # children of 4242 whose command contains 'sh'\n"
        "  execve_enriched --json -d 10       # JSON lines for 10 seconds\n"
        "  execve_enriched --buffer perf      # BPF_PERF_OUTPUT instead of the ring buffer\n"
        "  execve_enriched -q --metrics 0.0.0.0:9752  # only Prometheus metrics: events by command and result\n";
    i.kind = ToolKind::Stream;
    i.event_buffer = true;
    i.syscall_probes = true;
    return i;
  }
  const char* bpf_text() const override { return execve_enriched_bpf_text; }

  void add_options(cxxopts::Options& o) override {
    // clang-format off
    o.add_options()
      ("u,uid", "only calls made by this uid (number or user name)", cxxopts::value<std::string>(), "UID")
      ("p,pid", "only calls made by this process id", cxxopts::value<std::string>(), "PID")
      ("ppid", "only calls made by children of this process id", cxxopts::value<std::string>(), "PPID")
      ("n,name", "only calls whose caller's command name contains TEXT", cxxopts::value<std::string>(), "TEXT")
      ("C,cgroups", "text: a CGROUP column (the caller's cgroup v2 path) before FILENAME")
      ("cgroup", "only calls made in this cgroup v2 or below it (a path under the cgroup2 mount, or relative "
                 "to it: /system.slice)", cxxopts::value<std::string>(), "PATH")
      ("failed-only", "only calls that failed")
      ("success-only", "only calls that succeeded");
    // clang-format on
  }

  void configure(const cxxopts::ParseResult& r, const CommonOptions& common, Plan& plan) override {
    long uid = -1;
    if (r.count("uid")) {
      auto u = uid_from_name(r["uid"].as<std::string>());
      if (!u)
        throw UsageError("bad value for --uid: '" + r["uid"].as<std::string>() +
                         "' is neither a number nor a user name");
      uid = *u;
    }
    const long pid = get_id(r, "pid");
    const long ppid = get_id(r, "ppid");
    if (r.count("name")) {
      name_ = r["name"].as<std::string>();
      if (name_.empty()) throw UsageError("--name needs a non-empty text");
    }
    if (r.count("failed-only") && r.count("success-only"))
      throw UsageError("--failed-only and --success-only exclude each other");
    const int filter_ret = r.count("success-only") ? 1 : r.count("failed-only") ? 2 : 0;
    columns_.time = common.timestamps;
    columns_.cgroup = r.count("cgroups") > 0;
    // Set in config[0] after the load (loaded()): filters do not change the compiled text.
    config_ = execve_config{};
    auto set = [&](long value, uint32_t flag, uint32_t& field) {
      if (value < 0) return;
      config_.flags |= flag;
      field = static_cast<uint32_t>(value);
    };
    set(uid, EXECVE_CF_UID, config_.uid);
    set(pid, EXECVE_CF_PID, config_.pid);
    set(ppid, EXECVE_CF_PPID, config_.ppid);
    if (filter_ret == 1) config_.flags |= EXECVE_CF_SUCCESS;
    if (filter_ret == 2) config_.flags |= EXECVE_CF_FAILED;
    const std::string mount = cgroup2_mount();
    owners_ = std::make_unique<OwnerBook>(mount);
    if (r.count("cgroup")) {
      std::string path = r["cgroup"].as<std::string>();
      if (mount.empty()) throw UsageError("--cgroup needs cgroup v2, and this host has no cgroup2 mount");
      const std::string full = resolve_cgroup_arg(mount, path);
      cgroup_fd_ = full.empty() ? -1 : ::open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (cgroup_fd_ < 0)
        throw UsageError("bad value for --cgroup: '" + path + "' (" + cgroup_arg_full_path(mount, path) +
                         " is not a cgroup directory under " + mount + ")");
      config_.flags |= EXECVE_CF_CGROUP;
    }
    // The parent: current->real_parent->tgid at offsets from the kernel's BTF; without
    // BTF, a pid -> parent map kept by the fork and exit tracepoints. Parsing the BTF
    // (10-25 ms) runs beside the compile or the cache load; loaded() takes the result and
    // adds the fork/exit probes when there are no offsets.
    offsets_ = std::async(std::launch::async, [] {
      try {
        return kernel_member_offsets("task_struct", {"real_parent", "tgid"});
      } catch (const std::exception& e) {
        spdlog::debug("kernel BTF: {}", e.what());
        return std::vector<std::optional<uint32_t>>(2);
      }
    });
    // The events in flight sit in slots claimed with BPF_CMPXCHG (kernel 5.12); before
    // that kernel, all of them in the hash (execve_enriched.bpf.c). Tests: fewer slots
    // with TRACEKIT_EXECVE_SLOTS (a power of two), so that concurrent execs share them
    // and take the hash; 0 for the hash only.
    unsigned long slots = 256;
    if (const char* env = std::getenv("TRACEKIT_EXECVE_SLOTS"); env && *env) {
      slots = std::strtoul(env, nullptr, 10);
      if ((slots & (slots - 1)) != 0) throw UsageError("TRACEKIT_EXECVE_SLOTS must be 0 or a power of two");
    }
    if (slots == 0 || !kernel_version_at_least(5, 12))
      plan.cflags.push_back("-DEXECVE_HASH_ONLY");
    else if (slots != 256)
      plan.cflags.push_back("-DEXECVE_SLOTS=" + std::to_string(slots));
    plan_ = &plan;  // the runner's plan lives until the run ends; loaded() completes it
    plan.probes.clear();
    plan.probes.insert(
        plan.probes.end(),
        {
            Probe::tracepoint("sched:sched_process_exec", "tracepoint__sched__sched_process_exec"),
            Probe::syscall("execve", false, "tracepoint__syscalls__sys_enter_execve", "syscall__execve"),
            Probe::syscall("execve", true, "tracepoint__syscalls__sys_exit_execve", "execve_return"),
            Probe::syscall("execveat", false, "tracepoint__syscalls__sys_enter_execveat", "syscall__execveat"),
            Probe::syscall("execveat", true, "tracepoint__syscalls__sys_exit_execveat", "execve_return"),
        });
    plan.events_map = "events";
    plan.doing = "tracing execve";
  }

  void ready(Runtime& rt) override {
    if (bookkeeping_) {
      size_t seeded = seed_parents(rt.prog().map_fd("parents"));
      spdlog::debug("seeded {} parent pids from /proc", seeded);
    }
    rt.out().write(execve_enriched::HeaderRecord(columns_));
  }

  void event(Runtime& rt, const void* data, size_t size) override {
    if (size < EXECVE_EVENT_HEADER_SIZE) {
      ++malformed_;
      return;
    }
    std::memcpy(&ev_, data, std::min(size, sizeof ev_));
    if (size < sizeof ev_) std::memset(reinterpret_cast<char*>(&ev_) + size, 0, sizeof ev_ - size);
    ev_.argc = std::min<uint32_t>(ev_.argc, static_cast<uint32_t>((size - EXECVE_EVENT_HEADER_SIZE) / EXECVE_ARG_SIZE));
    if (!name_.empty() && execve_enriched::bounded(ev_.comm, EXECVE_COMM_SIZE).find(name_) == std::string_view::npos) {
      ++filtered_;
      return;
    }
    Decorated d;
    d.ev = &ev_;
    d.when = to_wall_(ev_.enter_ns);
    d.ppid = ev_.ppid;
    if (ev_.flags & EXECVE_F_PPID_UNKNOWN) d.ppid = proc_ppid(ev_.pid);
    d.owner = &owners_->get(ev_.uid, ev_.cgroup_id);  // named once per uid and cgroup
    rt.out().write(execve_enriched::ExecRecord(d, columns_));
    ++printed_;
    if (series_) {
      std::string result = ev_.ret >= 0 ? "ok" : execve_enriched::errno_name(ev_.ret);
      if (result.empty()) result = std::to_string(-static_cast<int64_t>(ev_.ret));
      series_->add({std::string(execve_enriched::bounded(ev_.comm, EXECVE_COMM_SIZE)), std::move(result)}, 1);
    }
    uint64_t now = monotonic_ns();
    if (ev_.exit_ns && now > ev_.exit_ns) {
      latency_sum_ns_ += now - ev_.exit_ns;
      latency_max_ns_ = std::max<uint64_t>(latency_max_ns_, now - ev_.exit_ns);
    }
  }

  void loaded(Runtime& rt) override {
    const auto offsets = offsets_.get();
    const auto& parent_off = offsets[0];
    const auto& tgid_off = offsets[1];
    bookkeeping_ = !parent_off || !tgid_off || *parent_off == 0;
    if (!bookkeeping_) {
      config_.task_real_parent_off = *parent_off;
      config_.task_tgid_off = *tgid_off;
      spdlog::debug("parents from task_struct (BTF: real_parent at {}, tgid at {})", *parent_off, *tgid_off);
    } else {
      spdlog::debug("no task_struct offsets from BTF: parents from the fork and exit tracepoints");
      // Parents first, so that every fork from now on is seen; then (ready) those
      // forked before.
      plan_->probes.insert(plan_->probes.begin(),
                           {
                               Probe::tracepoint("sched:sched_process_fork", "tracepoint__sched__sched_process_fork"),
                               Probe::tracepoint("sched:sched_process_exit", "tracepoint__sched__sched_process_exit"),
                           });
    }
    const int zero = 0;
    if (cgroup_fd_ >= 0 && bpf_map_update_elem(rt.prog().map_fd("cgroup_filter"), &zero, &cgroup_fd_, BPF_ANY) != 0)
      throw Error(std::string("cannot set the --cgroup filter: ") + std::strerror(errno));
    if (bpf_map_update_elem(rt.prog().map_fd("config"), &zero, &config_, BPF_ANY) != 0)
      throw Error(std::string("cannot set the filters: ") + std::strerror(errno));
    if (rt.metrics_on())
      series_ = std::make_unique<CappedSeries>(std::vector<std::string>{"comm", "result"}, 1, rt.max_series());
  }

  void metrics(Runtime& rt, MetricsBuilder& out) override {
    series_->emit(out, {"tracekit_exec_events_total"},
                  {"execve()/execveat() calls printed, by the caller's command name and the result (ok, or the "
                   "errno name); the rest in the series labelled other."},
                  rt.base_labels());
    // LRU maps whose evictions are not counted (docs/metrics.md).
    rt.map_metrics(out, "parents", std::nullopt, std::nullopt);
    rt.map_metrics(out, "pending", std::nullopt, std::nullopt);
  }

  void finish(Runtime& rt, SummaryRecord& s) override {
    s.events = rt.events_received();
    s.events_name = "execve calls";
    s.not_counted = malformed_;
    const uint64_t printed = printed_, filtered = filtered_;
    s.extra_json = [printed, filtered](JsonLine& j) {
      j.field("printed", static_cast<unsigned long long>(printed));
      j.field("skipped_by_name", static_cast<unsigned long long>(filtered));
    };
    if (filtered_) s.extra_text = std::to_string(filtered_) + " calls skipped by --name\n";
    double avg_ms = printed_ ? static_cast<double>(latency_sum_ns_) / static_cast<double>(printed_) / 1e6 : 0;
    spdlog::debug("exec-to-read latency: avg {:.2f} ms, max {:.2f} ms", avg_ms,
                  static_cast<double>(latency_max_ns_) / 1e6);
    if (malformed_) spdlog::warn("{} events were shorter than the event header and were dropped", malformed_);
  }

 private:
  std::string name_;
  execve_enriched::Columns columns_;
  std::unique_ptr<OwnerBook> owners_;
  int cgroup_fd_ = -1;
  execve_config config_{};
  bool bookkeeping_ = false;                                   // parents from the fork/exit tracepoints (no BTF)
  std::future<std::vector<std::optional<uint32_t>>> offsets_;  // from configure() to loaded()
  Plan* plan_ = nullptr;
  execve_event ev_{};
  MonotonicToWall to_wall_;
  uint64_t printed_ = 0, filtered_ = 0, malformed_ = 0;
  uint64_t latency_sum_ns_ = 0, latency_max_ns_ = 0;
  std::unique_ptr<CappedSeries> series_;
};

}  // namespace

TRACEKIT_TOOL_MAIN(ExecveEnriched)
