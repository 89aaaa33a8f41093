#include "bpf/bpf_program.h"

#include <bcc/bcc_version.h>
#include <bcc/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>

#include "bpf/stdio_capture.h"
#include "util/diagnostics.h"
#include "util/error.h"
#include "util/kernel_headers.h"
#include "util/log.h"
#include "util/system_checks.h"

namespace tracekit {
namespace {

void log_captured(const std::string& what, const std::string& text) {
  if (text.empty()) return;
  spdlog::debug("bcc output during {}:\n{}", what, text);
}

std::string compiler_path() {
  if (const char* p = std::getenv("TRACEKIT_COMPILER"); p && *p) return p;
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    std::string here = dir + "/tracekit-compile";
    if (::access(here.c_str(), X_OK) == 0) return here;
    // An installed tree unpacked anywhere (a scratch root): <dir>/../libexec/tracekit.
    std::string installed = dir + "/../libexec/tracekit/tracekit-compile";
    if (::access(installed.c_str(), X_OK) == 0) return installed;
  }
  return TRACEKIT_LIBEXECDIR "/tracekit-compile";
}

// In the child, before exec: a tool that runs with capabilities but not as root (file
// capabilities, or a service's AmbientCapabilities) passes what it has to the helper,
// which needs CAP_BPF to create the maps bcc makes while compiling. Raw syscalls only.
void pass_capabilities_on() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return;
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (syscall(SYS_capset, &hdr, data) != 0) return;
  for (int cap = 0; cap < 64; ++cap)
    if (data[cap / 32].permitted & (1u << (cap % 32))) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

// Runs tracekit-compile on the text; returns what it produced or throws the compile error.
Artifact run_compiler(const char* text, const std::vector<std::string>& cflags) {
  std::string path = compiler_path();
  std::vector<std::string> args{path};
  args.insert(args.end(), cflags.begin(), cflags.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
    throw Error(std::string("cannot start the compiler: ") + std::strerror(errno));
  auto t0 = std::chrono::steady_clock::now();
  bool raise = ::geteuid() != 0;
  pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("cannot start the compiler: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (raise) pass_capabilities_on();
    ::execv(path.c_str(), argv.data());
    const char* why = std::strerror(errno);
    ssize_t ignored = ::write(2, "cannot run ", 11);
    ignored = ::write(2, path.c_str(), path.size());
    ignored = ::write(2, ": ", 2);
    ignored = ::write(2, why, std::strlen(why));
    (void)ignored;
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  // The helper reads all of its input before it writes anything. A helper that died
  // early must not kill the tool with SIGPIPE: its status says what happened.
  struct sigaction ignore {
  }, saved{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &saved);
  std::string_view rest(text);
  while (!rest.empty()) {
    ssize_t n = ::write(in[1], rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    rest.remove_prefix(static_cast<size_t>(n));
  }
  ::close(in[1]);
  ::sigaction(SIGPIPE, &saved, nullptr);
  std::string artifact, messages;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? artifact : messages).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  log_captured("compile", messages);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    throw Error(first_line(messages),
                "the helper is /usr/libexec/tracekit/tracekit-compile in an install, next to the tools in a build "
                "tree; TRACEKIT_COMPILER names another (tracekit-doctor checks it)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string what = WIFSIGNALED(status) ? "the compiler was killed by signal " + std::to_string(WTERMSIG(status))
                                           : std::string("Unable to initialize BPF program");
    throw Error(summarize_compile_failure(messages, what));
  }
  std::string why;
  auto a = parse_artifact(artifact, Digest{}, &why);
  if (!a) throw Error("the compiler's output is unusable: " + why);
  spdlog::debug("compiled with {} in {:.0f} ms", path, ms);
  return std::move(*a);
}

}  // namespace

std::string compile_helper_path() { return compiler_path(); }

// The kernel function behind a syscall, as bcc's get_syscall_fnname finds it.
std::string kernel_syscall_function(const std::string& name) {
  std::ifstream in("/proc/kallsyms");
  std::string line;
  bool plain = false, x64 = false;
  while (std::getline(in, line) && !plain) {
    auto sp = line.rfind(' ');
    std::string sym = sp == std::string::npos ? line : line.substr(sp + 1);
    if (sym == "sys_bpf") plain = true;
    if (sym == "__x64_sys_bpf") x64 = true;
  }
  return (plain ? "sys_" : x64 ? "__x64_sys_" : "") + name;
}

void use_kernel_headers(const std::string& override_dir) {
  HeaderChoice choice = resolve_kernel_headers(override_dir);
  switch (choice.kind) {
    case HeaderChoice::Kind::BccDefault:
      spdlog::debug("kernel headers: bcc's default lookup");
      return;
    case HeaderChoice::Kind::Environment:
      spdlog::debug("kernel headers: BCC_KERNEL_SOURCE={}", choice.path);
      return;
    case HeaderChoice::Kind::Override:
      spdlog::debug("kernel headers: {} (--kernel-headers)", choice.path);
      break;
    case HeaderChoice::Kind::Distribution:
      spdlog::warn("no headers for the running kernel; using linux-headers-{} from /usr/src (assembled in {})",
                   choice.version, choice.path);
      break;
  }
  ::setenv("BCC_KERNEL_SOURCE", choice.path.c_str(), 1);
}

BpfProgram::BpfProgram() = default;

BpfProgram::~BpfProgram() { detach_probes(); }

void BpfProgram::preflight(const LoadOptions& options) {
  require_privileges(options.net_admin, options.tracing);
  if (options.tracing) ensure_tracefs();
  preflight_done_ = true;
}

void BpfProgram::load(const char* text, const LoadOptions& options) {
  preflight(options);
  compile(text, options);
}

void BpfProgram::compile(const char* text, const LoadOptions& options) {
  if (!preflight_done_) preflight(options);
  use_kernel_headers(options.kernel_headers);
  std::optional<Artifact> art;
  Digest key{};
  std::unique_ptr<ArtifactCache> cache;
  if (options.cache) {
    auto t0 = std::chrono::steady_clock::now();
    key = cache_key(collect_key_inputs(text, options.cflags, LIBBCC_VERSION, kTracefs));
    cache = std::make_unique<ArtifactCache>(options.cache_dir.empty() ? default_cache_dir() : options.cache_dir);
    std::string why;
    art = cache->load(key, &why);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (art) {
      spdlog::debug("compile cache: hit {} ({:.1f} ms)", cache->path(key), ms);
    } else if (!why.empty()) {
      spdlog::warn("compile cache: ignoring {}; compiling again", why);
    } else {
      spdlog::debug("compile cache: miss {}", cache->path(key));
    }
  }
  if (!art) {
    art = run_compiler(text, options.cflags);
    if (cache) {
      std::string why = cache->store(key, *art);
      if (why.empty())
        spdlog::debug("compile cache: stored {}", cache->path(key));
      else if (options.cache_dir.empty())
        spdlog::debug("compile cache: not stored: {}", why);
      else
        spdlog::warn("compile cache: not stored: {}", why);
    }
  }
  artifact_ = std::move(*art);
  create_maps();
}

void BpfProgram::create_maps() {
  maps_.clear();
  maps_.resize(artifact_.maps.size());
  // Inner templates first: a map-in-map is created with its template's fd.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < artifact_.maps.size(); ++i) {
      const ArtifactMap& m = artifact_.maps[i];
      if ((m.inner >= 0) != (pass == 1)) continue;
      LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = m.flags);
      if (m.inner >= 0) opts.inner_map_fd = static_cast<uint32_t>(maps_[static_cast<size_t>(m.inner)].get());
      std::string name = m.name.substr(0, BPF_OBJ_NAME_LEN - 1);
      int fd = bpf_map_create(static_cast<bpf_map_type>(m.type), name.c_str(), m.key_size, m.value_size, m.max_entries,
                              &opts);
      if (fd < 0)
        throw Error("cannot create BPF map " + m.name + ": " + std::strerror(errno),
                    errno == EPERM ? "run as root, or with CAP_BPF" : "");
      maps_[i].reset(fd);
    }
  }
}

int BpfProgram::load_function(const std::string& fn, bpf_prog_type type) {
  for (const auto& p : programs_)
    if (p.name == fn) return p.fd;
  const ArtifactProgram* p = artifact_.program(fn);
  if (!p) throw Error("BPF function " + fn + " not found in the program");
  std::vector<bpf_insn> insns = p->insns;
  for (const auto& r : p->relocs) insns[r.insn].imm = maps_[r.map].get();
  // The kernel's name for it, as bcc gives it: without bcc's section prefix, 15 chars.
  std::string name = fn;
  for (const char* prefix : {"kprobe__", "kretprobe__", "tracepoint__", "raw_tracepoint__"})
    if (name.rfind(prefix, 0) == 0) {
      name = name.substr(std::strlen(prefix));
      break;
    }
  name = name.substr(0, BPF_OBJ_NAME_LEN - 1);
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .kern_version = artifact_.kern_version);
  int fd = bpf_prog_load(type, name.c_str(), artifact_.license.c_str(), insns.data(), insns.size(), &opts);
  if (fd < 0) {
    int err = errno;
    // Again with the verifier's log (the kernel keeps its tail when the buffer is short).
    std::string log(4u << 20, '\0');
    LIBBPF_OPTS(bpf_prog_load_opts, again, .kern_version = artifact_.kern_version);
    again.log_level = 1;
    again.log_size = static_cast<uint32_t>(log.size());
    again.log_buf = log.data();
    int fd2 = bpf_prog_load(type, name.c_str(), artifact_.license.c_str(), insns.data(), insns.size(), &again);
    if (fd2 >= 0) {
      fd = fd2;
    } else {
      log.resize(std::strlen(log.c_str()));
      spdlog::debug("verifier log of {}:\n{}", fn, log);
      throw Error("the kernel rejected BPF function " + fn + ": " +
                  summarize_load_failure(log, "Failed to load " + fn + ": " + std::to_string(-err)));
    }
  }
  prog_fds_.emplace_back(fd);
  programs_.push_back({fn, fd});
  return fd;
}

std::string BpfProgram::attach_tracepoint(const std::string& tracepoint, const std::string& fn) {
  auto colon = tracepoint.find(':');
  std::string category = tracepoint.substr(0, colon);
  std::string name = colon == std::string::npos ? "" : tracepoint.substr(colon + 1);
  if (!tracepoint_exists(category, name)) throw Error("tracepoint " + tracepoint + " does not exist on this kernel");
  int prog = load_function(fn, BPF_PROG_TYPE_TRACEPOINT);
  StdioCapture capture;
  int fd = bpf_attach_tracepoint(prog, category.c_str(), name.c_str());
  int err = errno;
  std::string captured = capture.finish();
  log_captured("attach of " + tracepoint, captured);
  if (fd < 0)
    throw Error("cannot attach tracepoint " + tracepoint + ": " +
                (captured.empty() ? std::string(std::strerror(err)) : first_line(captured)));
  probes_.push_back({UniqueFd(fd), {}});
  return "tracepoint " + tracepoint;
}

ProbeMode resolve_probe_mode(const std::string& syscall, bool on_exit, ProbeMode mode) {
  std::string tp_name = std::string(on_exit ? "sys_exit_" : "sys_enter_") + syscall;
  bool has_tp = tracepoint_exists("syscalls", tp_name);
  std::string kind = on_exit ? "kretprobe" : "kprobe";
  switch (mode) {
    case ProbeMode::Auto:
      if (has_tp) return ProbeMode::Tracepoint;
      if (kernel_has_kprobes()) {
        spdlog::debug("no tracepoint syscalls:{}: falling back to a {}", tp_name, kind);
        return ProbeMode::Kprobe;
      }
      throw Error("cannot trace " + syscall + ": this kernel has neither the syscalls:" + tp_name +
                  " tracepoint (CONFIG_FTRACE_SYSCALLS) nor kprobes (CONFIG_KPROBES)");
    case ProbeMode::Tracepoint:
      if (!has_tp)
        throw Error("tracepoint syscalls:" + tp_name +
                    " does not exist (kernel built without CONFIG_FTRACE_SYSCALLS?); try --probe kprobe");
      return mode;
    case ProbeMode::Kprobe:
      if (!kernel_has_kprobes())
        throw Error("cannot attach a " + kind + " to " + syscall +
                    ": this kernel was built without kprobes (CONFIG_KPROBES is off), so bcc's hint about "
                    "inlined or notrace functions does not apply; use --probe tracepoint");
      return mode;
  }
  return mode;
}

std::string BpfProgram::attach_syscall(const SyscallProbe& probe, ProbeMode mode) {
  mode = resolve_probe_mode(probe.syscall, probe.on_exit, mode);
  if (mode == ProbeMode::Tracepoint)
    return attach_tracepoint(std::string("syscalls:") + (probe.on_exit ? "sys_exit_" : "sys_enter_") + probe.syscall,
                             probe.tracepoint_fn);

  std::string kernel_fn = kernel_syscall_function(probe.syscall);
  std::string kind = probe.on_exit ? "kretprobe" : "kprobe";
  int prog = load_function(probe.kprobe_fn, BPF_PROG_TYPE_KPROBE);
  std::string event = std::string(probe.on_exit ? "r_" : "p_") + kernel_fn;
  for (char& c : event)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  StdioCapture capture;
  int fd = bpf_attach_kprobe(prog, probe.on_exit ? BPF_PROBE_RETURN : BPF_PROBE_ENTRY, event.c_str(), kernel_fn.c_str(),
                             0, 0);
  int err = errno;
  std::string captured = capture.finish();
  log_captured("attach of " + kind + " " + kernel_fn, captured);
  if (fd < 0)
    throw Error("cannot attach a " + kind + " to " + kernel_fn + ": " +
                (captured.empty() ? std::string(std::strerror(err)) : first_line(captured)));
  probes_.push_back({UniqueFd(fd), event});
  return kind + " " + kernel_fn;
}

void BpfProgram::free_compiler_memory() { ::malloc_trim(0); }

void BpfProgram::detach_probes() {
  StdioCapture quiet;
  for (auto& p : probes_) {
    bpf_close_perf_event_fd(p.perf.release());
    if (!p.kprobe_event.empty()) bpf_detach_kprobe(p.kprobe_event.c_str());
  }
  probes_.clear();
}

uint64_t BpfProgram::sum_percpu_u64(const std::string& map, uint32_t key) {
  int fd = map_fd(map);
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw Error("cannot count the possible CPUs: " + std::string(std::strerror(-cpus)));
  std::vector<uint64_t> values(static_cast<size_t>(cpus), 0);  // per-CPU values are 8-byte slots
  if (bpf_map_lookup_elem(fd, &key, values.data()) != 0)
    throw Error("cannot read BPF map " + map + ": " + std::strerror(errno));
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return sum;
}

int BpfProgram::map_fd(const std::string& name) {
  int i = artifact_.map_index(name);
  if (i < 0 || !maps_[static_cast<size_t>(i)]) throw Error("BPF map " + name + " not found in the program");
  return maps_[static_cast<size_t>(i)].get();
}

}  // namespace tracekit
