// Compiling, loading and attaching an embedded BCC program.
//
// load() does the preflight every tool needs (privileges, tracefs, kernel headers), then
// gets the compiled program: from the compile cache (util/artifact.h) when an entry for
// exactly these inputs is there and trusted, else from the helper tracekit-compile (the
// only binary that links bcc's LLVM), whose result it stores. Maps and programs are
// created from that with libbpf; tracepoints and kprobes are attached through bcc's C
// library. The tools themselves never map LLVM. A failure is one tracekit::Error line that
// names the file:line or the fix.
#pragma once

#include <linux/bpf.h>

#include <string>
#include <vector>

#include "cli/options.h"
#include "util/artifact.h"
#include "util/fd.h"

namespace tracekit {

// Points bcc at usable kernel headers (see kernel_headers.h); logs a warning when
// distribution headers of another version are used. Tests and benchmarks call it too.
void use_kernel_headers(const std::string& override_dir);

// Picks the attach kind for a syscall before anything is compiled: auto becomes
// tracepoint or kprobe; an explicit choice the kernel cannot do throws a one-line Error.
// Needs tracefs (call after BpfProgram::preflight).
ProbeMode resolve_probe_mode(const std::string& syscall, bool on_exit, ProbeMode mode);

// The compile helper a cache miss runs: $TRACEKIT_COMPILER, tracekit-compile next to this
// binary, <its dir>/../libexec/tracekit/, else the install's libexec directory.
std::string compile_helper_path();

// The kernel function behind a syscall ("execve" -> "__x64_sys_execve"), from
// /proc/kallsyms as bcc's get_syscall_fnname finds it; the bare name when none matches.
std::string kernel_syscall_function(const std::string& name);

struct LoadOptions {
  std::string kernel_headers;       // --kernel-headers
  std::vector<std::string> cflags;  // "-DFILTER_UID=1000", ...
  bool net_admin = false;           // TC tools need CAP_NET_ADMIN too
  bool tracing = true;              // needs tracefs (tracepoints, kprobes)
  bool cache = true;                // --no-cache: compile every time, store nothing
  std::string cache_dir;            // --cache-dir (empty: default_cache_dir())
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
  // Picks kernel headers, gets the compiled text (cache or helper) and creates its maps.
  void compile(const char* text, const LoadOptions& options);
  // preflight() + compile().
  void load(const char* text, const LoadOptions& options);

  // Attaches and returns a description like "tracepoint syscalls:sys_enter_execve".
  std::string attach_syscall(const SyscallProbe& probe, ProbeMode mode);
  std::string attach_tracepoint(const std::string& tracepoint, const std::string& fn);

  // Loads `fn` as a program of `type` and returns its fd (owned by the BpfProgram).
  int load_function(const std::string& fn, bpf_prog_type type);

  // Returns freed heap to the kernel once every program is loaded (malloc_trim).
  void free_compiler_memory();

  // File descriptor of a map declared in the text.
  int map_fd(const std::string& name);

  // Sum over every possible CPU of the u64 at `key` of a BPF_PERCPU_ARRAY `map`.
  uint64_t sum_percpu_u64(const std::string& map, uint32_t key = 0);

  // Detaches the tracepoints and kprobes attached through this object (maps, loaded
  // programs and perf buffers stay, so that what is in flight can still be read).
  void detach_probes();

  // Every function loaded so far (load_function and the attach_* calls), in load order.
  struct Loaded {
    std::string name;
    int fd;
  };
  const std::vector<Loaded>& programs() const { return programs_; }

 private:
  void create_maps();

  Artifact artifact_;
  std::vector<UniqueFd> maps_;  // by artifact map index
  std::vector<UniqueFd> prog_fds_;
  bool preflight_done_ = false;
  struct Probe {
    UniqueFd perf;
    std::string kprobe_event;  // empty for a tracepoint
  };
  std::vector<Probe> probes_;  // attached, for detach_probes()
  std::vector<Loaded> programs_;
};

}  // namespace tracekit
