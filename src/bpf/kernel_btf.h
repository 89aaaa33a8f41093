// Field offsets of kernel structs, from the running kernel's BTF (/sys/kernel/btf/vmlinux,
// through libbpf's btf API). The tools compile against Debian's 6.1 headers, whose
// kernel-internal structs do not match the running kernel; BTF does. A program that
// needs such a field gets the offset from user space (a config map) and reads it with
// bpf_probe_read_kernel. Tests check the values read against /proc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tracekit {

// Byte offset of each member in `path` ("task_struct", {"real_parent"}), looking through
// anonymous structs and unions; nullopt when the kernel has no BTF or no such member.
// The BTF is loaded once per process (about 15-25 ms for a 5 MiB vmlinux BTF).
// $TRACEKIT_NO_BTF (non-empty) makes it answer nullopt: tests run the fallbacks with it.
std::optional<uint32_t> kernel_member_offset(const std::string& type, const std::string& member);

}  // namespace tracekit
