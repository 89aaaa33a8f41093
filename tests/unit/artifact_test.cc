// The compile cache's file format, its trust checks and its key (util/artifact.h).
#include "util/artifact.h"

#include "temp_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace fs = std::filesystem;
using namespace tracekit;

namespace {

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// Two maps (the second an array of maps whose template is the first), two programs, one
// of which loads both maps (ld_imm64 pairs with their imm cleared).
Artifact sample() {
  Artifact a;
  a.license = "GPL";
  a.kern_version = 0x060100;
  a.maps.push_back({"flows", BPF_MAP_TYPE_LRU_HASH, 16, 24, 1024, 0, -1});
  a.maps.push_back({"flow_tables", BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1, 0, 0});
  ArtifactProgram p;
  p.name = "prog_a";
  p.insns = {insn(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, 0),
             insn(0, 0, 0, 0, 0),
             insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 7),
             insn(BPF_LD | BPF_IMM | BPF_DW, 2, BPF_PSEUDO_MAP_FD, 0, 0),
             insn(0, 0, 0, 0, 0),
             insn(BPF_LD | BPF_IMM | BPF_DW, 3, 0, 0, 42),  // a plain 64-bit constant
             insn(0, 0, 0, 0, 0),
             insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)};
  p.relocs = {{0, 1}, {3, 0}};
  a.programs.push_back(p);
  ArtifactProgram q;
  q.name = "prog_b";
  q.insns = {insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0), insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)};
  a.programs.push_back(q);
  return a;
}

Digest key_of(const std::string& s) { return sha256(s); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

bool same(const Artifact& x, const Artifact& y) {
  if (x.license != y.license || x.kern_version != y.kern_version || x.maps.size() != y.maps.size() ||
      x.programs.size() != y.programs.size())
    return false;
  for (size_t i = 0; i < x.maps.size(); ++i) {
    const auto &a = x.maps[i], &b = y.maps[i];
    if (a.name != b.name || a.type != b.type || a.key_size != b.key_size || a.value_size != b.value_size ||
        a.max_entries != b.max_entries || a.flags != b.flags || a.inner != b.inner)
      return false;
  }
  for (size_t i = 0; i < x.programs.size(); ++i) {
    const auto &a = x.programs[i], &b = y.programs[i];
    if (a.name != b.name || a.insns.size() != b.insns.size() || a.relocs.size() != b.relocs.size()) return false;
    if (std::memcmp(a.insns.data(), b.insns.data(), a.insns.size() * sizeof(bpf_insn)) != 0) return false;
    for (size_t k = 0; k < a.relocs.size(); ++k)
      if (a.relocs[k].insn != b.relocs[k].insn || a.relocs[k].map != b.relocs[k].map) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("artifact: the format round-trips", "[artifact]") {
  Artifact a = sample();
  REQUIRE(validate_artifact(a).empty());
  Digest k = key_of("k");
  std::string bytes = serialize_artifact(a, k);
  std::string why;
  auto b = parse_artifact(bytes, k, &why);
  REQUIRE(b);
  CHECK(why.empty());
  CHECK(same(a, *b));
  REQUIRE(b->program("prog_a"));
  CHECK(b->program("nope") == nullptr);
  CHECK(b->map_index("flow_tables") == 1);
  CHECK(b->map_index("nope") == -1);
}

TEST_CASE("artifact: truncated, bit-flipped, foreign and oversized bytes are rejected", "[artifact]") {
  Digest k = key_of("k");
  std::string bytes = serialize_artifact(sample(), k);
  std::string why;
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n);
    CHECK_FALSE(parse_artifact(bytes.substr(0, n), k, &why));
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
    INFO("bit flipped in byte " << i);
    CHECK_FALSE(parse_artifact(flipped, k, &why));
  }
  CHECK_FALSE(parse_artifact(bytes + "x", k, &why));
  CHECK_FALSE(parse_artifact(bytes, key_of("other"), &why));
  CHECK(why == "stored under another key");
  CHECK_FALSE(parse_artifact(std::string(kArtifactMaxBytes + 1, '\0'), k, &why));
  CHECK(why.find("larger than") == 0);
}

TEST_CASE("artifact: structural checks catch what a checksum cannot", "[artifact]") {
  Digest k = key_of("k");
  std::string why;
  auto rejected = [&](const Artifact& a) {
    // serialize_artifact writes a valid checksum: only validation can refuse it.
    bool refused = !parse_artifact(serialize_artifact(a, k), k, &why);
    return refused && !validate_artifact(a).empty();
  };
  Artifact a = sample();
  a.programs[0].relocs[0].map = 2;  // out of range
  CHECK(rejected(a));
  a = sample();
  a.programs[0].relocs[1].insn = 2;  // not an ld_imm64
  CHECK(rejected(a));
  a = sample();
  a.programs[0].relocs.pop_back();  // a map reference nobody relocates
  CHECK(rejected(a));
  CHECK(why.find("without a relocation") != std::string::npos);
  a = sample();
  a.programs[0].relocs = {{0, 1}, {3, 0}, {5, 0}};  // on a plain constant
  CHECK(rejected(a));
  a = sample();
  a.programs[0].insns[0].imm = 9;  // a stale fd left in
  CHECK(rejected(a));
  a = sample();
  a.programs[0].insns.resize(6);  // an ld_imm64 cut in half
  CHECK(rejected(a));
  a = sample();
  a.maps[1].inner = 1;  // itself
  CHECK(rejected(a));
  a = sample();
  a.maps[1].inner = 5;
  CHECK(rejected(a));
  a = sample();
  a.maps[0].name = "bad/name";
  CHECK(rejected(a));
  a = sample();
  a.programs[1].name = "prog_a";  // twice
  CHECK(rejected(a));
  a = sample();
  a.programs[0].insns[5].src_reg = BPF_PSEUDO_MAP_VALUE;  // a kind the loader does not handle
  CHECK(rejected(a));
}

TEST_CASE("artifact cache: store, load, and every untrusted entry is a miss with a reason", "[artifact]") {
  TempDir tmp("tk-artifact");
  fs::path dir = tmp.path / "cache";
  ArtifactCache cache(dir.string());
  Digest k = key_of("inputs");
  std::string why;
  CHECK_FALSE(cache.load(k, &why));  // no directory yet: a plain miss
  CHECK(why.empty());
  REQUIRE(cache.store(k, sample()).empty());
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  fs::path entry = cache.path(k);
  REQUIRE(::stat(entry.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // no temp file left
  auto got = cache.load(k, &why);
  REQUIRE(got);
  CHECK(same(*got, sample()));
  CHECK_FALSE(cache.load(key_of("other"), &why));
  CHECK(why.empty());

  SECTION("group or other writable entry") {
    ::chmod(entry.c_str(), 0620);
    CHECK_FALSE(cache.load(k, &why));
    CHECK(why.find("writable by group or other") != std::string::npos);
    ::chmod(entry.c_str(), 0602);
    CHECK_FALSE(cache.load(k, &why));
  }
  SECTION("group writable directory") {
    ::chmod(dir.c_str(), 0770);
    CHECK_FALSE(cache.load(k, &why));
    CHECK(why.find("not a private directory") != std::string::npos);
    CHECK_FALSE(cache.store(k, sample()).empty());
    ::chmod(dir.c_str(), 0700);
  }
  SECTION("symlinked entry and symlinked directory") {
    fs::path real = tmp.path / "real";
    fs::rename(entry, real);
    fs::create_symlink(real, entry);
    CHECK_FALSE(cache.load(k, &why));
    CHECK(why.find("symlink") != std::string::npos);
    fs::path link = tmp.path / "linkdir";
    fs::create_directory_symlink(dir, link);
    ArtifactCache via_link(link.string());
    CHECK_FALSE(via_link.load(k, &why));
    CHECK(why.find("symlink") != std::string::npos);
  }
  SECTION("wrong owner") {
    if (::geteuid() == 0) {  // only root can give the entry away
      REQUIRE(::chown(entry.c_str(), 4517, 4517) == 0);
      CHECK_FALSE(cache.load(k, &why));
      CHECK(why.find("owned by uid 4517") != std::string::npos);
    } else {
      WARN("not root: the wrong-owner case is not run");
    }
  }
  SECTION("oversized entry") {
    REQUIRE(::truncate(entry.c_str(), static_cast<off_t>(kArtifactMaxBytes) + 1) == 0);
    CHECK_FALSE(cache.load(k, &why));
    CHECK(why.find("too large") != std::string::npos);
  }
  SECTION("corrupted entry, then repaired by a store") {
    std::string bytes = slurp(entry);
    bytes[bytes.size() / 2] ^= 0x10;
    spit(entry, bytes);
    CHECK_FALSE(cache.load(k, &why));
    CHECK(why.find("checksum mismatch") != std::string::npos);
    REQUIRE(cache.store(k, sample()).empty());
    CHECK(cache.load(k, &why));
  }
  SECTION("an entry renamed to another key") {
    Digest k2 = key_of("elsewhere");
    fs::rename(entry, cache.path(k2));
    CHECK_FALSE(cache.load(k2, &why));
    CHECK(why.find("another key") != std::string::npos);
  }
}

TEST_CASE("artifact key: changes when any input does", "[artifact]") {
  CacheKeyInputs base;
  base.text = "int f(void *ctx) { return 0; }";
  base.cflags = {"-DA=1"};
  base.tool_version = "tracekit 0.2.0 artifact 1";
  base.bcc_version = "0.26.0";
  base.kernel_release = "6.18.0";
  base.kernel_version = "#1 SMP";
  base.kernel_notes = std::string("\x04\0\0\0build-id", 12);
  base.header_dir = "/run/tracekit/kernel-headers/6.1.0";
  base.header_files = "version.h\0LINUX_VERSION_CODE 393472";
  base.tracepoint_formats = "syscalls:sys_enter_execve\0format";
  base.possible_cpus = 2;
  base.bcc_env = {"BCC_KERNEL_SOURCE=/x"};
  Digest k = cache_key(base);
  CHECK(cache_key(base) == k);
  std::vector<std::pair<std::string, void (*)(CacheKeyInputs&)>> changes = {
      {"text", [](CacheKeyInputs& i) { i.text += " "; }},
      {"cflags", [](CacheKeyInputs& i) { i.cflags.push_back("-DB=2"); }},
      {"cflag value", [](CacheKeyInputs& i) { i.cflags[0] = "-DA=2"; }},
      {"cflags split differently",
       [](CacheKeyInputs& i) {
         i.cflags = {"-DA", "=1"};
       }},
      {"tool version", [](CacheKeyInputs& i) { i.tool_version = "tracekit 0.2.1 artifact 1"; }},
      {"bcc version", [](CacheKeyInputs& i) { i.bcc_version = "0.26.1"; }},
      {"kernel release", [](CacheKeyInputs& i) { i.kernel_release = "6.18.1"; }},
      {"kernel version", [](CacheKeyInputs& i) { i.kernel_version = "#2 SMP"; }},
      {"kernel build id", [](CacheKeyInputs& i) { i.kernel_notes.back() = 'e'; }},
      {"header dir", [](CacheKeyInputs& i) { i.header_dir = "/usr/src/linux"; }},
      {"header version files", [](CacheKeyInputs& i) { i.header_files += "1"; }},
      {"tracepoint format", [](CacheKeyInputs& i) { i.tracepoint_formats += " "; }},
      {"possible CPUs", [](CacheKeyInputs& i) { i.possible_cpus = 4; }},
      {"bcc environment", [](CacheKeyInputs& i) { i.bcc_env.push_back("BCC_PROBE_LIMIT=10"); }},
  };
  for (const auto& [what, change] : changes) {
    CacheKeyInputs in = base;
    change(in);
    INFO(what);
    CHECK(cache_key(in) != k);
  }
}

TEST_CASE("artifact key: the tracepoints a text uses", "[artifact]") {
  std::string text =
      "TRACEPOINT_PROBE(sched, sched_process_exec) { return 0; }\n"
      "TRACEPOINT_PROBE ( syscalls , sys_enter_execve ) { return 0; }\n"
      "int f(struct tracepoint__syscalls__sys_exit_execve *args) { return 0; }\n"
      "int g(struct tracepoint__sched__sched_process_exec *args) { return 0; }\n"
      "int my_tracepoint__x(void) { return 0; }\n";
  CHECK(tracepoints_in_text(text) ==
        std::vector<std::string>{"sched:sched_process_exec", "syscalls:sys_enter_execve", "syscalls:sys_exit_execve"});
  CHECK(tracepoints_in_text("int f(void) { return 0; }").empty());
}

TEST_CASE("artifact cache: the default directory", "[artifact]") {
  ::unsetenv("TRACEKIT_CACHE_DIR");
  ::unsetenv("CACHE_DIRECTORY");
  CHECK(default_cache_dir() == "/var/cache/tracekit");
  ::setenv("CACHE_DIRECTORY", "/var/cache/tracekit-svc:/var/cache/other", 1);
  CHECK(default_cache_dir() == "/var/cache/tracekit-svc");
  {
    // DynamicUser=: CACHE_DIRECTORY is a symlink into private/; the real path is used.
    TempDir tmp;
    const std::string real = tmp.path.string() + "/private/svc";
    std::filesystem::create_directories(real);
    std::filesystem::create_directory_symlink("private/svc", tmp.path.string() + "/svc");
    ::setenv("CACHE_DIRECTORY", (tmp.path.string() + "/svc").c_str(), 1);
    CHECK(default_cache_dir() == std::filesystem::canonical(real).string());
    ::setenv("CACHE_DIRECTORY", "/var/cache/tracekit-svc", 1);
  }
  ::setenv("TRACEKIT_CACHE_DIR", "/tmp/x", 1);
  CHECK(default_cache_dir() == "/tmp/x");
  ::unsetenv("TRACEKIT_CACHE_DIR");
  ::unsetenv("CACHE_DIRECTORY");
}
