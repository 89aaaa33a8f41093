// Compiling, loading and attaching an embedded BCC program (ebpf::BPF).
//
// load() does the preflight every tool needs (privileges, tracefs, kernel headers),
// compiles the text with bcc while keeping bcc's chatter off stdout, and turns a
// failure into one tracekit::Error line that names the file:line or the fix.
#pragma once

#include <bcc/BPF.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/options.h"

namespace tracekit {

// Points bcc at usable kernel headers (see kernel_headers.h); logs a warning when
// distribution headers of another version are used. Tests and benchmarks call it too.
void use_kernel_headers(const std::string& override_dir);

// Picks the attach kind for a syscall before anything is compiled: auto becomes
// tracepoint or kprobe; an explicit choice the kernel cannot do throws a one-line Error.
// Needs tracefs (call after BpfProgram::preflight).
ProbeMode resolve_probe_mode(const std::string& syscall, bool on_exit, ProbeMode mode);

struct LoadOptions {
  std::string kernel_headers;       // --kernel-headers
  std::vector<std::string> cflags;  // "-DFILTER_UID=1000", ...
  bool net_admin = false;           // TC tools need CAP_NET_ADMIN too
  bool tracing = true;              // needs tracefs (tracepoints, kprobes)
};

// A syscall probe: function names in the BPF text for each attach kind.
struct SyscallProbe {
  std::string syscall;        // "execve"
  bool on_exit = false;       // sys_exit_* / kretprobe
  std::string tracepoint_fn;  // function attached to syscalls:sys_{enter,exit}_<syscall>
  std::string kprobe_fn;      // function attached to the syscall's kernel entry point
};

class BpfProgram {
 public:
  BpfProgram();
  ~BpfProgram();
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;

  // Checks privileges and mounts tracefs if needed.
  void preflight(const LoadOptions& options);
  // Picks kernel headers and compiles the text with bcc (after preflight).
  void compile(const char* text, const LoadOptions& options);
  // preflight() + compile().
  void load(const char* text, const LoadOptions& options);

  // Attaches and returns a description like "tracepoint syscalls:sys_enter_execve".
  std::string attach_syscall(const SyscallProbe& probe, ProbeMode mode);
  std::string attach_tracepoint(const std::string& tracepoint, const std::string& fn);

  // Loads `fn` as a program of `type` and returns its fd (owned by the BpfProgram).
  int load_function(const std::string& fn, bpf_prog_type type);

  // Releases the compiler's memory once every program is loaded (bcc's free_bcc_memory
  // plus malloc_trim): tens of MiB of RSS.
  void free_compiler_memory();

  // File descriptor of a map declared in the text.
  int map_fd(const std::string& name);

  // Sum over every possible CPU of the u64 at `key` of a BPF_PERCPU_ARRAY `map`.
  uint64_t sum_percpu_u64(const std::string& map, uint32_t key = 0);

  // Detaches the tracepoints and kprobes attached through this object (maps, loaded
  // programs and perf buffers stay, so that what is in flight can still be read).
  void detach_probes();

  ebpf::BPF& bpf() { return *bpf_; }

  // Every function loaded so far (load_function and the attach_* calls), in load order.
  struct Loaded {
    std::string name;
    int fd;
  };
  const std::vector<Loaded>& programs() const { return programs_; }

 private:
  std::unique_ptr<ebpf::BPF> bpf_;
  bool preflight_done_ = false;
  std::vector<std::string> tracepoints_;               // attached, for detach_probes()
  std::vector<std::pair<std::string, bool>> kprobes_;  // kernel function, return probe
  std::vector<Loaded> programs_;
};

}  // namespace tracekit
