// Field offsets of kernel structs, from the running kernel's BTF (/sys/kernel/btf/vmlinux).
// The tools compile against Debian's 6.1 headers, whose kernel-internal structs do not
// match the running kernel; BTF does. A program that
// needs such a field gets the offset from user space (a config map) and reads it with
// bpf_probe_read_kernel. Tests check the values read against /proc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tracekit {

// Byte offset of each of `members` in struct `type` ("task_struct", {"real_parent",
// "tgid"}), looking through anonymous structs and unions; nullopt for a member the kernel
// does not have, every one nullopt when it has no BTF. /sys/kernel/btf/vmlinux is
// read for the call, in two passes with a 64 KiB buffer (kernel_btf.cc says why not libbpf).
// $TRACEKIT_NO_BTF (non-empty) makes it answer nullopt: tests run the fallbacks with it.
std::vector<std::optional<uint32_t>> kernel_member_offsets(const std::string& type,
                                                           const std::vector<std::string>& members);

// The same from the raw BTF file at `path` (tests).
std::vector<std::optional<uint32_t>> btf_member_offsets(const std::string& path, const std::string& type,
                                                        const std::vector<std::string>& members);

}  // namespace tracekit
