// The BTF reader of src/bpf/kernel_btf.cc against libbpf: on BTF that libbpf wrote (with
// anonymous unions, qualified anonymous structs, a bitfield, and enough filler types to
// cross the reader's 64 KiB chunks), and on the running kernel's own BTF, where libbpf's
// parse is the reference.
#include <catch2/catch.hpp>

#include <bpf/btf.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bpf/kernel_btf.h"

using tracekit::btf_member_offsets;

namespace {

struct TempFile {
  std::string path = "/tmp/tk-btf-" + std::to_string(getpid()) + ".raw";
  ~TempFile() { std::remove(path.c_str()); }
  void write(const void* data, size_t size) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
};

// libbpf's answer: the offset of `member` in struct/union `id`, through anonymous members.
std::optional<uint32_t> libbpf_member(const btf* b, uint32_t id, const std::string& member) {
  const btf_type* t = btf__type_by_id(b, id);
  if (!t || !(btf_is_struct(t) || btf_is_union(t))) return std::nullopt;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i) {
    const char* name = btf__name_by_offset(b, m[i].name_off);
    const uint32_t bits = btf_member_bit_offset(t, static_cast<uint32_t>(i));
    if (name && member == name) return bits % 8 ? std::nullopt : std::optional<uint32_t>(bits / 8);
    if (!name || !*name) {
      const int inner = btf__resolve_type(b, m[i].type);
      if (inner < 0) continue;
      if (auto off = libbpf_member(b, static_cast<uint32_t>(inner), member)) return bits / 8 + *off;
    }
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("kernel BTF reader: offsets through anonymous members, bitfields refused", "[btf]") {
  btf* b = btf__new_empty();
  REQUIRE(b);
  const int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  const int chr = btf__add_int(b, "char", 1, 0);
  // Filler: more than 64 KiB of types and of strings before the struct looked for.
  for (int i = 0; i < 3000; ++i) {
    const int f = btf__add_struct(b, ("filler_struct_with_a_long_name_" + std::to_string(i)).c_str(), 12);
    REQUIRE(f > 0);
    REQUIRE(btf__add_field(b, ("first_" + std::to_string(i)).c_str(), i32, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "tgid", i32, 32, 0) == 0);  // same names, other structs
    REQUIRE(btf__add_field(b, "last", i32, 64, 0) == 0);
  }
  REQUIRE(btf__add_union(b, "task", 4) > 0);  // a union of that name is not the struct
  REQUIRE(btf__add_field(b, "first", i32, 0, 0) == 0);
  const int un = btf__add_union(b, nullptr, 4);
  REQUIRE(btf__add_field(b, "in_union", i32, 0, 0) == 0);
  REQUIRE(btf__add_field(b, "other", chr, 0, 0) == 0);
  const int inner = btf__add_struct(b, nullptr, 8);
  REQUIRE(btf__add_field(b, "pad", i32, 0, 0) == 0);
  REQUIRE(btf__add_field(b, "deep", i32, 32, 0) == 0);
  const int qualified = btf__add_typedef(b, "inner_t", btf__add_const(b, inner));
  const int ptr = btf__add_ptr(b, chr);
  const int task = btf__add_struct(b, "task", 40);
  REQUIRE(task > 0);
  REQUIRE(btf__add_field(b, "first", i32, 0, 0) == 0);
  REQUIRE(btf__add_field(b, "bits", i32, 35, 3) == 0);
  REQUIRE(btf__add_field(b, nullptr, un, 64, 0) == 0);
  REQUIRE(btf__add_field(b, nullptr, qualified, 128, 0) == 0);
  REQUIRE(btf__add_field(b, "tgid", i32, 224, 0) == 0);
  REQUIRE(btf__add_field(b, "last", ptr, 256, 0) == 0);
  uint32_t size = 0;
  const void* raw = btf__raw_data(b, &size);
  REQUIRE(raw);
  REQUIRE(size > 2 * 64 * 1024);
  TempFile f;
  f.write(raw, size);

  const std::vector<std::string> names = {"first", "bits", "in_union", "other", "deep", "tgid", "last", "absent"};
  const auto got = btf_member_offsets(f.path, "task", names);
  const std::vector<std::optional<uint32_t>> want = {0, std::nullopt, 8, 8, 20, 28, 32, std::nullopt};
  CHECK(got == want);
  for (size_t i = 0; i < names.size(); ++i) {
    INFO(names[i]);
    CHECK(got[i] == libbpf_member(b, static_cast<uint32_t>(task), names[i]));
  }
  CHECK(btf_member_offsets(f.path, "no_such_struct", {"first"}) == std::vector<std::optional<uint32_t>>{std::nullopt});

  SECTION("a cut or foreign file gives no offsets, and no crash") {
    const std::vector<std::optional<uint32_t>> none(names.size());
    for (uint32_t cut : {0u, 8u, 24u, size / 3, size / 2, size - 1}) {
      INFO("cut at " << cut);
      f.write(raw, cut);
      CHECK(btf_member_offsets(f.path, "task", names) == none);
    }
    std::string junk(static_cast<const char*>(raw), size);
    junk[0] = 'x';  // the magic
    f.write(junk.data(), junk.size());
    CHECK(btf_member_offsets(f.path, "task", names) == none);
    CHECK(btf_member_offsets("/nonexistent/btf", "task", names) == none);
  }
  btf__free(b);
}

TEST_CASE("kernel BTF reader: the running kernel's offsets equal libbpf's", "[btf]") {
  btf* k = btf__load_vmlinux_btf();
  if (!k) {
    WARN("no kernel BTF on this host: nothing to compare");
    return;
  }
  struct Case {
    std::string type;
    std::vector<std::string> members;
  };
  const std::vector<Case> cases = {
      {"task_struct", {"real_parent", "tgid", "pid", "comm", "mm", "cred", "flags", "rcu_users", "rcu", "nope"}},
      {"mm_struct", {"arg_start", "arg_end", "mmap_base"}},
      {"sk_buff", {"len", "data", "protocol", "sk"}},
  };
  for (const auto& c : cases) {
    const int id = btf__find_by_name_kind(k, c.type.c_str(), BTF_KIND_STRUCT);
    REQUIRE(id > 0);
    const auto got = btf_member_offsets("/sys/kernel/btf/vmlinux", c.type, c.members);
    REQUIRE(got.size() == c.members.size());
    for (size_t i = 0; i < c.members.size(); ++i) {
      INFO(c.type << "." << c.members[i]);
      CHECK(got[i] == libbpf_member(k, static_cast<uint32_t>(id), c.members[i]));
    }
    if (c.type == "task_struct") {
      CHECK(got[0].has_value());  // real_parent and tgid: what execve_enriched reads
      CHECK(got[1].has_value());
      CHECK_FALSE(got.back().has_value());
    }
  }
  btf__free(k);
}
