// Facts about the running system checked before loading anything.
#pragma once

#include <cstdint>
#include <string>

namespace tracekit {

inline constexpr const char* kTracefs = "/sys/kernel/tracing";

// Throws Error("needs CAP_X to ...") for the first capability the tool lacks (see
// util/privileges.h): CAP_BPF; tracing: CAP_PERFMON, and CAP_DAC_READ_SEARCH when
// tracefs is not readable; net_admin (TC tools): CAP_NET_ADMIN and CAP_PERFMON.
void require_privileges(bool net_admin, bool tracing);

// The tools' test for tracefs: access() refuses it (EACCES: access() judges by the real
// uid, without capabilities) and the process lacks CAP_DAC_READ_SEARCH.
bool tracefs_refused();
// Mounts tracefs at /sys/kernel/tracing when it is empty. Throws Error when that fails.
void ensure_tracefs();

// The tracefs directory for tracepoint `category:name`, e.g. syscalls:sys_enter_execve.
bool tracepoint_exists(const std::string& category, const std::string& name);

// Whether the kernel was built with kprobes (CONFIG_KPROBES).
bool kernel_has_kprobes();

// The running kernel's release (uname -r) is at least major.minor.
bool kernel_version_at_least(int major, int minor);

}  // namespace tracekit
