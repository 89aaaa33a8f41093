// Facts about the running system checked before loading anything.
#pragma once

#include <cstdint>
#include <string>

namespace tracekit {

inline constexpr const char* kTracefs = "/sys/kernel/tracing";

// Effective capabilities of this process (bit n = capability n), from /proc/self/status.
uint64_t effective_capabilities();

// Throws Error("... needs root ...") unless we hold CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN),
// and CAP_NET_ADMIN when `net_admin` is set (TC tools).
void require_privileges(bool net_admin);

// Mounts tracefs at /sys/kernel/tracing when it is empty. Throws Error when that fails.
void ensure_tracefs();

// The tracefs directory for tracepoint `category:name`, e.g. syscalls:sys_enter_execve.
bool tracepoint_exists(const std::string& category, const std::string& name);

// Whether the kernel was built with kprobes (CONFIG_KPROBES).
bool kernel_has_kprobes();

}  // namespace tracekit
