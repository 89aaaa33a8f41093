// See kernel_btf.h.
#include "bpf/kernel_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "util/log.h"

namespace tracekit {
namespace {

struct BtfFree {
  void operator()(btf* b) const { btf__free(b); }
};

// Offset in bytes of `member` inside the struct/union `type_id`, recursing into
// anonymous members.
std::optional<uint32_t> find_member(const btf* b, uint32_t type_id, const std::string& member) {
  const btf_type* t = btf__type_by_id(b, type_id);
  if (!t || !(btf_is_struct(t) || btf_is_union(t))) return std::nullopt;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i) {
    const char* name = btf__name_by_offset(b, m[i].name_off);
    uint32_t bits = btf_member_bit_offset(t, static_cast<uint32_t>(i));
    if (name && member == name) {
      if (bits % 8 != 0) return std::nullopt;  // a bitfield
      return bits / 8;
    }
    if (!name || !*name) {
      int inner = btf__resolve_type(b, m[i].type);
      if (inner < 0) continue;
      if (auto off = find_member(b, static_cast<uint32_t>(inner), member)) return bits / 8 + *off;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::optional<uint32_t>> kernel_member_offsets(const std::string& type,
                                                           const std::vector<std::string>& members) {
  std::vector<std::optional<uint32_t>> out(members.size());
  if (const char* off = std::getenv("TRACEKIT_NO_BTF"); off && *off) return out;  // tests: the fallbacks
  std::unique_ptr<btf, BtfFree> b(btf__load_vmlinux_btf());
  if (!b) {
    spdlog::debug("no kernel BTF: {}", std::strerror(errno));
    return out;
  }
  int id = btf__find_by_name_kind(b.get(), type.c_str(), BTF_KIND_STRUCT);
  if (id < 0) return out;
  for (size_t i = 0; i < members.size(); ++i) out[i] = find_member(b.get(), static_cast<uint32_t>(id), members[i]);
  return out;
}

}  // namespace tracekit
