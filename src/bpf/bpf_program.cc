#include "bpf/bpf_program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <malloc.h>

#include <cerrno>
#include <cstring>

#include <cstdlib>

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

}  // namespace

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

BpfProgram::~BpfProgram() {
  if (!bpf_) return;
  StdioCapture quiet;  // detach chatter stays off stdout
  bpf_.reset();
}

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
  bpf_ = std::make_unique<ebpf::BPF>();
  StdioCapture capture;
  ebpf::StatusTuple status = bpf_->init(text, options.cflags);
  std::string captured = capture.finish();
  log_captured("compile", captured);
  if (!status.ok()) throw Error(summarize_compile_failure(captured, status.msg()));
}

int BpfProgram::load_function(const std::string& fn, bpf_prog_type type) {
  int fd = -1;
  StdioCapture capture;
  ebpf::StatusTuple status = bpf_->load_func(fn, type, fd);
  std::string captured = capture.finish();
  log_captured("load of " + fn, captured);
  if (!status.ok())
    throw Error("the kernel rejected BPF function " + fn + ": " + summarize_load_failure(captured, status.msg()));
  bool known = false;
  for (const auto& p : programs_) known |= p.name == fn;
  if (!known) programs_.push_back({fn, fd});
  return fd;
}

std::string BpfProgram::attach_tracepoint(const std::string& tracepoint, const std::string& fn) {
  auto colon = tracepoint.find(':');
  std::string category = tracepoint.substr(0, colon);
  std::string name = colon == std::string::npos ? "" : tracepoint.substr(colon + 1);
  if (!tracepoint_exists(category, name)) throw Error("tracepoint " + tracepoint + " does not exist on this kernel");
  load_function(fn, BPF_PROG_TYPE_TRACEPOINT);
  StdioCapture capture;
  ebpf::StatusTuple status = bpf_->attach_tracepoint(tracepoint, fn);
  std::string captured = capture.finish();
  log_captured("attach of " + tracepoint, captured);
  if (!status.ok()) throw Error("cannot attach tracepoint " + tracepoint + ": " + first_line(status.msg()));
  tracepoints_.push_back(tracepoint);
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

  std::string kernel_fn = bpf_->get_syscall_fnname(probe.syscall);
  std::string kind = probe.on_exit ? "kretprobe" : "kprobe";
  load_function(probe.kprobe_fn, BPF_PROG_TYPE_KPROBE);
  StdioCapture capture;
  ebpf::StatusTuple status =
      bpf_->attach_kprobe(kernel_fn, probe.kprobe_fn, 0, probe.on_exit ? BPF_PROBE_RETURN : BPF_PROBE_ENTRY);
  std::string captured = capture.finish();
  log_captured("attach of " + kind + " " + kernel_fn, captured);
  if (!status.ok()) throw Error("cannot attach a " + kind + " to " + kernel_fn + ": " + first_line(status.msg()));
  kprobes_.emplace_back(kernel_fn, probe.on_exit);
  return kind + " " + kernel_fn;
}

void BpfProgram::free_compiler_memory() {
  if (bpf_) bpf_->free_bcc_memory();
  ::malloc_trim(0);
}

void BpfProgram::detach_probes() {
  if (!bpf_) return;
  StdioCapture quiet;
  for (const auto& tp : tracepoints_) bpf_->detach_tracepoint(tp);
  for (const auto& [fn, ret] : kprobes_) bpf_->detach_kprobe(fn, ret ? BPF_PROBE_RETURN : BPF_PROBE_ENTRY);
  tracepoints_.clear();
  kprobes_.clear();
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
  int fd = bpf_->get_table(name).get_fd();
  if (fd < 0) throw Error("BPF map " + name + " not found in the program");
  return fd;
}

}  // namespace tracekit
