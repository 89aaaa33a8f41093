// tracekit-doctor: what this host gives the tools, one line per check with the fix.
//
// Every check reads the system as it is (capabilities of this process, tracefs, the
// tracepoints the embedded BPF texts name, kprobes, BTF, tcx, the kernel headers bcc
// would get, cgroup2, the compile helper and cache) and says ok, warn (the tools run,
// with a limit the line names) or fail (some tool cannot run, and which). Exit 0 when
// every tool can run as this user on this host, 1 otherwise, 2 on bad usage.
#include <bpf/bpf.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <dirent.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bpf/bpf_program.h"
#include "bpf/kernel_btf.h"
#include "bpf/tc_attach.h"
#include "util/artifact.h"
#include "util/cgroup.h"
#include "util/error.h"
#include "util/kernel_headers.h"
#include "util/privileges.h"
#include "util/system_checks.h"

extern const char execve_dumb_bpf_text[];
extern const char execve_enriched_bpf_text[];

namespace tracekit {
namespace {

constexpr const char* kName = "tracekit-doctor";
constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC
const std::vector<std::string> kTracingTools = {"execve_dumb", "execve_enriched"};
const std::vector<std::string> kTcTools = {"tcp_tracker", "tcp_duration"};
const std::vector<std::string> kAllTools = {"execve_dumb", "execve_enriched", "tcp_tracker", "tcp_duration"};

enum class Status { Ok, Info, Warn, Fail };
const char* status_name(Status s) {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::Info:
      return "info";
    case Status::Warn:
      return "warn";
    case Status::Fail:
      return "fail";
  }
  return "?";
}

struct Check {
  std::string name;  // "tracefs"
  Status status = Status::Ok;
  std::string summary;              // what was found
  std::string fix;                  // what to do (empty when nothing)
  std::vector<std::string> blocks;  // tools that cannot run because of it (fail only)
};

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// "6.18.44-fc" -> {6, 18}
std::pair<int, int> major_minor(const std::string& release) {
  int a = 0, b = 0;
  std::sscanf(release.c_str(), "%d.%d", &a, &b);
  return {a, b};
}

std::string uname_release() {
  struct utsname u {};
  ::uname(&u);
  return u.release;
}

// ---- the checks -----------------------------------------------------------------------

Check check_privileges() {
  Check c{"privileges"};
  const bool root = ::geteuid() == 0;
  const bool sys_admin = has_capability(CAP_SYS_ADMIN);
  auto held = [&](int cap) { return has_capability(cap) || ((cap == CAP_BPF || cap == CAP_PERFMON) && sys_admin); };
  std::vector<std::string> missing_tracing, missing_tc;
  for (int cap : {CAP_BPF, CAP_PERFMON})
    if (!held(cap)) missing_tracing.push_back(cap_name(cap));
  for (int cap : {CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON})
    if (!held(cap)) missing_tc.push_back(cap_name(cap));
  std::string who = root ? "root" : fmt::format("uid {}", ::geteuid());
  if (missing_tracing.empty() && missing_tc.empty()) {
    c.summary = who + ", with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN: every tool can load and attach";
    return c;
  }
  c.status = Status::Fail;
  std::vector<std::string> parts;
  if (!missing_tracing.empty()) {
    parts.push_back(fmt::format("{} missing for execve_dumb, execve_enriched", join(missing_tracing)));
    c.blocks.insert(c.blocks.end(), kTracingTools.begin(), kTracingTools.end());
  }
  if (!missing_tc.empty()) {
    parts.push_back(fmt::format("{} missing for tcp_tracker, tcp_duration", join(missing_tc)));
    c.blocks.insert(c.blocks.end(), kTcTools.begin(), kTcTools.end());
  }
  c.summary = who + ": " + join(parts, "; ");
  c.fix =
      "run as root (or with sudo), or grant the capabilities: setcap "
      "cap_bpf,cap_perfmon,cap_net_admin,cap_dac_read_search+ep on the binary, or AmbientCapabilities= in "
      "its unit (docs/privileges.md)";
  return c;
}

// Creating (and closing) a one-entry array proves bpf() works for this process: not
// blocked by seccomp, by kernel.unprivileged_bpf_disabled, or by a memlock limit.
Check check_bpf_syscall() {
  Check c{"bpf"};
  int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tk_doctor", 4, 8, 1, nullptr);
  if (fd >= 0) {
    ::close(fd);
    c.summary = "bpf(): created and closed a map";
    return c;
  }
  int err = -fd > 0 ? -fd : errno;
  c.status = Status::Fail;
  c.blocks = kAllTools;
  c.summary = fmt::format("bpf(BPF_MAP_CREATE) failed: {}", std::strerror(err));
  if (err == EPERM)
    c.fix = "needs CAP_BPF (or root); in a container: a seccomp profile that allows bpf()";
  else if (err == ENOSYS)
    c.fix = "the kernel is built without CONFIG_BPF_SYSCALL: no tool can run on it";
  else
    c.fix = "see `dmesg`; a memlock limit (ulimit -l) matters only before kernel 5.11";
  return c;
}

struct TracefsState {
  bool mounted = false;   // a tracefs (or the debugfs tracing dir) at kTracefs
  bool readable = false;  // this process can list it
};

Check check_tracefs(TracefsState& st) {
  Check c{"tracefs"};
  struct statfs fs {};
  const bool mounted = ::statfs(kTracefs, &fs) == 0 && static_cast<long>(fs.f_type) == kTracefsMagic;
  st.mounted = mounted;
  if (!mounted) {
    // Only root (CAP_SYS_ADMIN) can mount it, as the tools do when it is missing.
    const bool can_mount = has_capability(CAP_SYS_ADMIN);
    c.status = can_mount ? Status::Warn : Status::Fail;
    if (!can_mount) c.blocks = kTracingTools;
    c.summary = std::string("no tracefs mounted at ") + kTracefs;
    c.fix = std::string("the tools mount it themselves when they run as root; otherwise: mount -t tracefs tracefs ") +
            kTracefs;
    return c;
  }
  struct stat s {};
  ::stat(kTracefs, &s);
  // Readable twice over: events/ opens, and the tools' own test passes (access(), which
  // judges by the real uid without capabilities, or CAP_DAC_READ_SEARCH held).
  bool opens = false;
  if (DIR* d = ::opendir((std::string(kTracefs) + "/events").c_str())) {
    ::closedir(d);
    opens = true;
  }
  const bool tools_accept = !tracefs_refused();
  if (opens && tools_accept) {
    st.readable = true;
    c.summary = fmt::format("mounted at {} (mode {:04o}), readable", kTracefs, s.st_mode & 07777);
    return c;
  }
  if (opens) {
    st.readable = true;  // the tracepoints can still be listed
    c.status = Status::Fail;
    c.blocks = kTracingTools;
    c.summary = fmt::format("readable by uid {} only through a capability other than CAP_DAC_READ_SEARCH (mode {:04o})",
                            ::geteuid(), s.st_mode & 07777);
    c.fix = "grant CAP_DAC_READ_SEARCH: the tools ask for that one by name (docs/privileges.md)";
    return c;
  }
  c.status = Status::Fail;
  c.blocks = kTracingTools;
  c.summary = fmt::format("mounted at {} but not readable by uid {} (mode {:04o}, owner {})", kTracefs, ::geteuid(),
                          s.st_mode & 07777, s.st_uid);
  c.fix = "run as root, or grant CAP_DAC_READ_SEARCH (docs/privileges.md)";
  return c;
}

// The tracepoints the embedded texts name, as the tools will attach them.
Check check_tracepoints(const TracefsState& ts, bool kprobes) {
  Check c{"tracepoints"};
  if (!ts.readable) {
    c.status = ts.mounted ? Status::Fail : Status::Warn;
    c.summary = ts.mounted ? "cannot list them: tracefs is not readable" : "cannot list them: tracefs is not mounted";
    if (ts.mounted) c.blocks = kTracingTools;
    c.fix = "see the tracefs line";
    return c;
  }
  std::map<std::string, std::vector<std::string>> by_tool = {
      {"execve_dumb", tracepoints_in_text(execve_dumb_bpf_text)},
      {"execve_enriched", tracepoints_in_text(execve_enriched_bpf_text)},
  };
  // execve_dumb has no TRACEPOINT_PROBE: it attaches its function to the syscall's, and
  // --probe auto takes a kprobe instead when that tracepoint is missing. execve_enriched's
  // TRACEPOINT_PROBEs are compiled whatever the mode: bcc needs every format file.
  by_tool["execve_dumb"].push_back("syscalls:sys_enter_execve");
  std::set<std::string> all, missing;
  std::vector<std::string> notes;
  for (const auto& [tool, tps] : by_tool) {
    std::vector<std::string> gone;
    for (const auto& tp : tps) {
      all.insert(tp);
      auto colon = tp.find(':');
      if (!tracepoint_exists(tp.substr(0, colon), tp.substr(colon + 1))) gone.push_back(tp);
    }
    if (gone.empty()) continue;
    missing.insert(gone.begin(), gone.end());
    if (tool == "execve_dumb" && kprobes) {
      notes.push_back("execve_dumb falls back to a kprobe (--probe auto)");
    } else {
      c.blocks.push_back(tool);
      notes.push_back(tool + " needs " + join(gone));
    }
  }
  if (missing.empty()) {
    c.summary = fmt::format("all {} the tools use exist ({})", all.size(),
                            join(std::vector<std::string>(all.begin(), all.end())));
    return c;
  }
  c.summary = "missing: " + join(std::vector<std::string>(missing.begin(), missing.end())) + "; " + join(notes, "; ");
  c.status = c.blocks.empty() ? Status::Warn : Status::Fail;
  c.fix = "a kernel with CONFIG_FTRACE_SYSCALLS (syscall tracepoints) and these tracepoints";
  return c;
}

// The kernel's own answer for CONFIG_X: "y", "m", "n" (is not set), or "" when the
// running kernel's config is not available (/proc/config.gz, /boot/config-RELEASE).
std::string kernel_config(const std::string& option, const std::string& release) {
  for (const std::string& path : {std::string("/proc/config.gz"), "/boot/config-" + release}) {
    gzFile f = ::gzopen(path.c_str(), "rb");  // reads plain text files too
    if (!f) continue;
    char buf[512];
    std::string found;
    while (::gzgets(f, buf, sizeof buf)) {
      std::string line(buf);
      while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
      if (line == "# " + option + " is not set") found = "n";
      if (line.rfind(option + "=", 0) == 0) found = line.substr(option.size() + 1);
      if (!found.empty()) break;
    }
    ::gzclose(f);
    if (!found.empty()) return found;
  }
  return "";
}

// kprobes: only --probe kprobe needs them. Their absence is the kernel's configuration
// when neither the kprobe PMU nor kprobe_events exists; a function that is inlined or
// notrace is a different case (the facility is there, the symbol is not traceable).
Check check_kprobes(const TracefsState& ts, const std::string& release, bool& available) {
  Check c{"kprobes"};
  available = kernel_has_kprobes();
  if (!available) {
    c.status = Status::Info;
    std::string config = kernel_config("CONFIG_KPROBES", release);
    c.summary = config == "n" ? "absent: CONFIG_KPROBES is not set in the running kernel's config (the kernel's "
                                "configuration, not an inlined or notrace function)"
                              : "absent: no /sys/bus/event_source/devices/kprobe and no kprobe_events (no kernel "
                                "config to read: most likely built without CONFIG_KPROBES)";
    c.fix = "nothing needed: the tools use syscall tracepoints (--probe auto); --probe kprobe cannot work here";
    return c;
  }
  const std::string fn = kernel_syscall_function("execve");
  if (ts.readable && exists(std::string(kTracefs) + "/available_filter_functions")) {
    std::ifstream in(std::string(kTracefs) + "/available_filter_functions");
    std::string line;
    bool traceable = false;
    while (std::getline(in, line))
      if (line.compare(0, fn.size(), fn) == 0 && (line.size() == fn.size() || line[fn.size()] == ' ')) {
        traceable = true;
        break;
      }
    if (!traceable) {
      c.status = Status::Warn;
      c.summary = "kprobes present, but " + fn + " is not in available_filter_functions (notrace)";
      c.fix = "use the syscall tracepoints (--probe tracepoint)";
      return c;
    }
  }
  c.summary = "present; --probe kprobe attaches to " + fn;
  return c;
}

Check check_btf() {
  Check c{"btf"};
  const char* path = "/sys/kernel/btf/vmlinux";
  if (!exists(path)) {
    c.status = Status::Warn;
    c.summary = std::string("no ") + path;
    c.fix =
        "execve_enriched takes the parent from fork/exit bookkeeping instead (about 1 us more per exec, "
        "and a reparented process shows its first parent); a kernel with CONFIG_DEBUG_INFO_BTF removes that";
    return c;
  }
  auto offsets = kernel_member_offsets("task_struct", {"real_parent", "tgid"});
  if (!offsets[0] || !offsets[1]) {
    c.status = Status::Warn;
    c.summary = std::string(path) + " exists but task_struct.real_parent/tgid were not found in it";
    c.fix = "execve_enriched falls back to fork/exit bookkeeping for the parent";
    return c;
  }
  c.summary = fmt::format("{}: task_struct.real_parent at {}, tgid at {} (execve_enriched reads the parent with them)",
                          path, *offsets[0], *offsets[1]);
  return c;
}

// Whether a kernel module is loaded, built in, or installed.
std::string module_state(const std::string& mod, const std::string& release) {
  if (exists("/sys/module/" + mod)) return "loaded";
  std::ifstream builtin("/lib/modules/" + release + "/modules.builtin");
  std::string line;
  while (std::getline(builtin, line))
    if (line.size() >= mod.size() + 3 && line.compare(line.size() - mod.size() - 3, mod.size() + 3, mod + ".ko") == 0)
      return "built in";
  std::ifstream dep("/lib/modules/" + release + "/modules.dep");
  while (std::getline(dep, line)) {
    auto colon = line.find(':');
    std::string file = line.substr(0, colon);
    auto slash = file.rfind('/');
    std::string base = file.substr(slash == std::string::npos ? 0 : slash + 1);
    if (base.rfind(mod + ".ko", 0) == 0) return "installed";
  }
  return "";
}

Check check_tc(const std::string& release) {
  Check c{"tc"};
  auto [maj, min] = major_minor(release);
  if (kernel_has_tcx()) {
    c.summary = fmt::format(
        "tcx links (kernel {}.{} >= 6.6): --attach auto uses them, and a killed tool leaves nothing attached", maj,
        min);
    return c;
  }
  // No tcx: clsact qdisc (sch_ingress) + cls_bpf filters.
  std::string sch = module_state("sch_ingress", release), cls = module_state("cls_bpf", release);
  // A container may have no /lib/modules: the kernel's config says what is built in.
  if (sch.empty() && kernel_config("CONFIG_NET_SCH_INGRESS", release) == "y") sch = "built in";
  if (cls.empty() && kernel_config("CONFIG_NET_CLS_BPF", release) == "y") cls = "built in";
  if (!sch.empty() && !cls.empty()) {
    c.summary = fmt::format("no tcx (kernel {}.{} < 6.6): clsact ({}) with cls_bpf ({}); --attach auto uses clsact",
                            maj, min, sch, cls);
    return c;
  }
  // Modules may be compiled in without a modules.builtin (a custom kernel): only warn.
  c.status = Status::Warn;
  c.summary = fmt::format("no tcx (kernel {}.{} < 6.6), and sch_ingress/cls_bpf were not found as modules", maj, min);
  c.fix = "tcp_tracker and tcp_duration need clsact and cls_bpf (CONFIG_NET_SCH_INGRESS, CONFIG_NET_CLS_BPF)";
  return c;
}

// UTS_RELEASE of a header tree ("6.1.0-27-amd64"), empty when unknown.
std::string headers_release(const std::string& dir) {
  std::ifstream in(dir + "/include/generated/utsrelease.h");
  std::string line;
  while (std::getline(in, line)) {
    auto q = line.find('"');
    auto e = line.rfind('"');
    if (line.find("UTS_RELEASE") != std::string::npos && q != e) return line.substr(q + 1, e - q - 1);
  }
  return "";
}

Check check_headers(const std::string& override_dir, const std::string& release) {
  Check c{"kernel-headers"};
  HeaderChoice choice;
  try {
    choice = resolve_kernel_headers(override_dir);
  } catch (const UsageError&) {
    throw;  // a junk --kernel-headers: exit 2, as the tools do
  } catch (const std::exception& e) {
    c.status = Status::Fail;
    c.blocks = kAllTools;
    c.summary = std::string("none usable: ") + e.what();
    c.fix =
        "apt-get install linux-headers-$(uname -r), or linux-headers-amd64 when no package matches the "
        "running kernel (the tools need a tree even when the compile cache has their programs)";
    return c;
  }
  std::string dir = choice.path.empty() ? "/lib/modules/" + release + "/build" : choice.path;
  std::string where;
  switch (choice.kind) {
    case HeaderChoice::Kind::BccDefault:
      where = dir;
      break;
    case HeaderChoice::Kind::Environment:
      where = dir + " ($BCC_KERNEL_SOURCE)";
      break;
    case HeaderChoice::Kind::Override:
      where = dir + " (--kernel-headers)";
      break;
    case HeaderChoice::Kind::Distribution:
      where = dir + " (assembled from /usr/src/linux-headers-" + choice.version + "*)";
      break;
  }
  std::string theirs = headers_release(dir);
  if (theirs.empty() && choice.kind == HeaderChoice::Kind::BccDefault && exists("/sys/kernel/kheaders.tar.xz") &&
      !exists(dir)) {
    c.summary = "the kernel's own /sys/kernel/kheaders.tar.xz (same version as the running kernel)";
    return c;
  }
  if (theirs == release) {
    c.summary = fmt::format("{} in {}, the running kernel's version", theirs, where);
    return c;
  }
  c.status = Status::Warn;
  c.summary = fmt::format("{} in {} for the running kernel {}: mismatched", theirs.empty() ? "unknown version" : theirs,
                          where, release);
  c.fix =
      "safe for tracekit: its programs use only UAPI structs, tracepoint fields (laid out from tracefs at compile "
      "time) and kernel structs through BTF offsets. Not safe for a text that reads kernel-internal structs "
      "through these headers (their layout is another kernel's: garbage). Matching headers: apt-get install "
      "linux-headers-" +
      release + " where such a package exists";
  return c;
}

Check check_cgroup2() {
  Check c{"cgroup2"};
  std::string mount = cgroup2_mount();
  if (mount.empty()) {
    c.status = Status::Warn;
    c.summary = "no cgroup2 mount in /proc/mounts";
    c.fix =
        "owners have no cgroup/unit/container, and --by cgroup|unit and --cgroup cannot work: mount -t cgroup2 "
        "none /sys/fs/cgroup/unified (or boot with systemd's unified hierarchy)";
    return c;
  }
  c.summary = "mounted at " + mount + ": owners get cgroup, unit and container";
  return c;
}

Check check_bpf_stats() {
  Check c{"bpf-stats"};
  std::string v = read_first_line("/proc/sys/kernel/bpf_stats_enabled");
  c.status = Status::Info;
  if (v == "1") {
    c.summary = "kernel.bpf_stats_enabled=1: every BPF program run is timed (run_time_ns in bpftool prog show)";
    c.fix = "costs tens of ns per program run; sysctl -w kernel.bpf_stats_enabled=0 when not measuring";
  } else if (v == "0") {
    c.summary = "kernel.bpf_stats_enabled=0: programs are not timed (bench/run.sh turns it on while it measures)";
    c.fix = "to see each program's run time: sysctl -w kernel.bpf_stats_enabled=1";
  } else {
    c.summary = "kernel.bpf_stats_enabled: not available";
  }
  return c;
}

Check check_memlock(const std::string& release) {
  Check c{"memlock"};
  struct rlimit rl {};
  ::getrlimit(RLIMIT_MEMLOCK, &rl);
  std::string limit = rl.rlim_cur == RLIM_INFINITY ? "unlimited" : fmt::format("{} KiB", rl.rlim_cur / 1024);
  auto [maj, min] = major_minor(release);
  if (maj > 5 || (maj == 5 && min >= 11)) {
    c.summary = "RLIMIT_MEMLOCK " + limit + ": not used (kernel >= 5.11 charges BPF memory to the memory cgroup)";
    return c;
  }
  if (rl.rlim_cur == RLIM_INFINITY || has_capability(CAP_SYS_RESOURCE)) {
    c.summary = "RLIMIT_MEMLOCK " + limit + " (kernel < 5.11 counts BPF memory against it)";
    return c;
  }
  c.status = Status::Warn;
  c.summary = "RLIMIT_MEMLOCK " + limit + " on a kernel < 5.11, which counts BPF maps against it";
  c.fix = "ulimit -l unlimited, or LimitMEMLOCK=infinity in the unit";
  return c;
}

Check check_helper() {
  Check c{"compile-helper"};
  std::string path = compile_helper_path();
  if (::access(path.c_str(), X_OK) == 0) {
    c.summary = path + ": runs on a compile cache miss (the tools themselves never load LLVM)";
    return c;
  }
  c.status = Status::Fail;
  c.blocks = kAllTools;
  c.summary = path + ": not found or not executable";
  c.fix = "reinstall tracekit (the package puts the helper in libexec/tracekit), or set TRACEKIT_COMPILER";
  return c;
}

Check check_cache(const std::string& dir_arg) {
  Check c{"compile-cache"};
  std::string dir = dir_arg.empty() ? default_cache_dir() : dir_arg;
  // A service's CacheDirectory= with DynamicUser= is a symlink into private/.
  if (char* real = ::realpath(dir.c_str(), nullptr)) {
    dir = real;
    std::free(real);
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    c.status = Status::Info;
    c.summary = dir + ": none yet (the first run of each tool compiles and fills it)";
    return c;
  }
  if (!S_ISDIR(st.st_mode)) {
    c.status = Status::Warn;
    c.summary = dir + ": not a directory: the tools compile every time";
    c.fix = "remove it; the tools create the directory (0700) on their first run";
    return c;
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    c.status = Status::Warn;
    c.summary = fmt::format("{}: owned by uid {}: a tool running as uid {} does not trust it and compiles every time",
                            dir, st.st_uid, ::geteuid());
    c.fix =
        "run the doctor as the user the tool runs as (a service's cache belongs to its user), or give the "
        "directory to that user";
    return c;
  }
  if (st.st_mode & 022) {
    c.status = Status::Warn;
    c.summary =
        fmt::format("{}: mode {:04o}, writable by group or others: the tools do not trust it", dir, st.st_mode & 07777);
    c.fix = "chmod 0700 " + dir;
    return c;
  }
  size_t entries = 0;
  unsigned long long bytes = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".bpfa") == 0) {
        struct stat es {};
        if (::stat((dir + "/" + n).c_str(), &es) == 0) bytes += static_cast<unsigned long long>(es.st_size);
        ++entries;
      }
    }
    ::closedir(d);
    c.summary = fmt::format("{}: {} entr{}, {} KiB (owner {}, mode {:04o})", dir, entries, entries == 1 ? "y" : "ies",
                            (bytes + 1023) / 1024, st.st_uid, st.st_mode & 07777);
  } else {
    c.status = Status::Info;
    c.summary = fmt::format("{}: not readable by uid {}: the tools compile every time", dir, ::geteuid());
  }
  return c;
}

struct Options {
  bool json = false;
  std::string kernel_headers;
  std::string cache_dir;
};

int run(const Options& o) {
  const std::string release = uname_release();
  quiet_libbpf(false);
  std::vector<Check> checks;
  checks.push_back(check_privileges());
  checks.push_back(check_bpf_syscall());
  TracefsState ts;
  checks.push_back(check_tracefs(ts));
  bool kprobes = false;
  Check kp = check_kprobes(ts, release, kprobes);
  checks.push_back(check_tracepoints(ts, kprobes));
  checks.push_back(std::move(kp));
  checks.push_back(check_btf());
  checks.push_back(check_tc(release));
  checks.push_back(check_headers(o.kernel_headers, release));
  checks.push_back(check_helper());
  checks.push_back(check_cache(o.cache_dir));
  checks.push_back(check_cgroup2());
  checks.push_back(check_memlock(release));
  checks.push_back(check_bpf_stats());

  std::map<std::string, std::vector<std::string>> blocked;  // tool -> checks
  for (const auto& t : kAllTools) blocked[t];
  for (const auto& c : checks)
    for (const auto& t : c.blocks) blocked[t].push_back(c.name);
  bool all_ok = true;
  for (const auto& [t, b] : blocked)
    if (!b.empty()) all_ok = false;

  if (o.json) {
    nlohmann::json j;
    j["tool"] = kName;
    j["version"] = TRACEKIT_VERSION;
    j["kernel"] = release;
    j["euid"] = ::geteuid();
    j["checks"] = nlohmann::json::array();
    for (const auto& c : checks)
      j["checks"].push_back({{"check", c.name},
                             {"status", status_name(c.status)},
                             {"summary", c.summary},
                             {"fix", c.fix.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.fix)},
                             {"blocks", c.blocks}});
    j["tools"] = nlohmann::json::object();
    for (const auto& t : kAllTools) j["tools"][t] = {{"can_run", blocked[t].empty()}, {"blocked_by", blocked[t]}};
    j["ok"] = all_ok;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else {
    std::cout << fmt::format("{} {}: kernel {}, uid {}\n", kName, TRACEKIT_VERSION, release, ::geteuid());
    for (const auto& c : checks) {
      std::cout << fmt::format("{:<5} {:<15} {}\n", status_name(c.status), c.name, c.summary);
      if (!c.fix.empty()) std::cout << fmt::format("{:<21} fix: {}\n", "", c.fix);
    }
    std::string line;
    for (const auto& t : kAllTools) {
      const auto& b = blocked[t];
      line +=
          fmt::format("{}{}: {}", line.empty() ? "" : ", ", t, b.empty() ? "can run" : "blocked by " + join(b, "+"));
    }
    std::cout << "tools: " << line << '\n';
  }
  std::cout.flush();
  return all_ok ? kExitOk : kExitFailure;
}

}  // namespace
}  // namespace tracekit

int main(int argc, char** argv) {
  using namespace tracekit;
  cxxopts::Options opts(kName, "Check what this host gives the tracekit tools: one line per check, with the fix.");
  opts.custom_help("[OPTION...]");
  // clang-format off
  opts.add_options()
    ("h,help", "show this help and exit")
    ("version", "print the version and exit")
    ("j,json", "print the report as one JSON object")
    ("kernel-headers", "check this kernel header tree instead of the automatic choice", cxxopts::value<std::string>(), "DIR")
    ("cache-dir", "check this compile cache directory (default: /var/cache/tracekit)", cxxopts::value<std::string>(), "DIR");
  // clang-format on
  Options o;
  try {
    auto r = opts.parse(argc, argv);
    if (!r.unmatched().empty()) throw UsageError("unexpected argument: " + r.unmatched().front());
    if (r.count("help")) {
      std::cout << opts.help()
                << "\nExit status: 0 when every tool can run as this user on this host, 1 when one cannot, 2 on "
                   "bad usage.\n\nEXAMPLES:\n"
                   "  tracekit-doctor          # one line per check, with the fix\n"
                   "  tracekit-doctor --json   # the same report as one JSON object\n";
      return kExitOk;
    }
    if (r.count("version")) {
      std::cout << kName << ' ' << TRACEKIT_VERSION << '\n';
      return kExitOk;
    }
    o.json = r.count("json") > 0;
    if (r.count("kernel-headers")) o.kernel_headers = r["kernel-headers"].as<std::string>();
    if (r.count("cache-dir")) {
      o.cache_dir = r["cache-dir"].as<std::string>();
      if (o.cache_dir.empty() || o.cache_dir[0] != '/') throw UsageError("--cache-dir needs an absolute path");
    }
    if (!o.kernel_headers.empty()) {
      struct stat st {};
      if (::stat(o.kernel_headers.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw UsageError("--kernel-headers " + o.kernel_headers + ": no such directory");
    }
    return run(o);
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << kName << ": error: " << e.what() << " (see --help)\n";
    return kExitUsage;
  } catch (const Error& e) {
    std::cerr << kName << ": error: " << e.what() << '\n';
    if (!e.hint().empty()) std::cerr << kName << ": hint: " << e.hint() << '\n';
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << kName << ": error: " << e.what() << '\n';
    return kExitFailure;
  }
}
