// What a bcc compile produces, as a file: the compile cache (docs/DESIGN.md, "Compile
// cache").
//
// The helper tracekit-compile (src/compile/) runs bcc once and writes an Artifact: per
// map its definition, per program its instructions with the places that refer to maps
// (ld_imm64 BPF_PSEUDO_MAP_FD pairs, whose imm is stored as 0), the license and the
// kernel version. The tools load an Artifact with libbpf and never link LLVM.
//
// The cache is a trust store (what it holds is loaded into the kernel): a directory owned
// by root (or by the running user, for a service with its own CacheDirectory=), not
// writable by group or other; one file per key, 0600, written through a temp file +
// fsync + rename. load() refuses symlinks, checks owner and mode on the open fd, bounds
// the size, verifies a SHA-256 over the content and bounds-checks every field. Anything
// wrong is a miss with a reason; the caller warns once and recompiles.
//
// LLVM-free and libbpf-free (tracekit_core): unit tests run it under ASan/UBSan.
#pragma once

#include <linux/bpf.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tracekit {

using Digest = std::array<uint8_t, 32>;  // SHA-256

struct ArtifactMap {
  std::string name;
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
  int32_t inner = -1;  // array/hash of maps: index of the map whose definition is the inner template
};

struct ArtifactReloc {
  uint32_t insn = 0;  // index of the first half of an ld_imm64 BPF_PSEUDO_MAP_FD
  uint32_t map = 0;   // index into Artifact::maps
};

struct ArtifactProgram {
  std::string name;
  std::vector<bpf_insn> insns;  // map fds zeroed: see relocs
  std::vector<ArtifactReloc> relocs;
};

struct Artifact {
  std::string license;
  uint32_t kern_version = 0;
  std::vector<ArtifactMap> maps;
  std::vector<ArtifactProgram> programs;

  const ArtifactProgram* program(const std::string& name) const;
  int map_index(const std::string& name) const;  // -1 when absent
};

// Limits every parsed field is checked against.
inline constexpr size_t kArtifactMaxBytes = 64u << 20;
inline constexpr size_t kArtifactMaxName = 256;
inline constexpr size_t kArtifactMaxMaps = 1024;
inline constexpr size_t kArtifactMaxPrograms = 256;
inline constexpr size_t kArtifactMaxInsns = 1000000;  // BPF_COMPLEXITY_LIMIT_INSNS

// Checks the structure: every reloc points at an ld_imm64 BPF_PSEUDO_MAP_FD pair inside
// its program, every such pair has exactly one reloc, map indices are in range, names
// are short and printable. Returns the first problem, or empty.
std::string validate_artifact(const Artifact& a);

// The file: magic, format version, the key it was stored under, the body, and a SHA-256
// over all of that. parse_artifact() returns nullopt with *why set on any problem (and
// runs validate_artifact on the result).
std::string serialize_artifact(const Artifact& a, const Digest& key);
std::optional<Artifact> parse_artifact(const std::string& bytes, const Digest& key, std::string* why);

// ---- the key -------------------------------------------------------------------------
// Everything that changes what bcc produces. A changed input is a different key.
struct CacheKeyInputs {
  std::string text;
  std::vector<std::string> cflags;
  std::string tool_version;  // tracekit's version and the artifact format
  std::string bcc_version;
  std::string kernel_release;      // uname -r
  std::string kernel_version;      // uname -v
  std::string kernel_notes;        // /sys/kernel/notes (holds the kernel's build id)
  std::string header_dir;          // the tree bcc compiles against
  std::string header_files;        // the tree's version files, concatenated with their names
  std::string tracepoint_formats;  // the format file of each tracepoint the text uses
  int possible_cpus = 0;
  std::vector<std::string> bcc_env;  // every BCC_* variable, "NAME=value", sorted
};

Digest sha256(const std::string& bytes);
std::string hex(const Digest& d);
Digest cache_key(const CacheKeyInputs& in);

// The tracepoints a bcc text names: TRACEPOINT_PROBE(cat, name) and
// struct tracepoint__cat__name, as "cat:name", sorted, unique.
std::vector<std::string> tracepoints_in_text(const std::string& text);

// Fills the inputs from this machine. header_dir: what BCC_KERNEL_SOURCE points at (empty:
// bcc's default, /lib/modules/$(uname -r)/build). tracefs: its mount point.
CacheKeyInputs collect_key_inputs(const std::string& text, const std::vector<std::string>& cflags,
                                  const std::string& bcc_version, const std::string& tracefs);

// ---- the store -----------------------------------------------------------------------
class ArtifactCache {
 public:
  // dir must be absolute. Nothing is touched until load() or store().
  explicit ArtifactCache(std::string dir);

  const std::string& dir() const { return dir_; }
  std::string path(const Digest& key) const;  // dir/<hex key>.bpfa

  // nullopt with *why empty: no entry (a plain miss). nullopt with *why set: an entry
  // that cannot be trusted or read (the caller warns and replaces it).
  std::optional<Artifact> load(const Digest& key, std::string* why) const;

  // Creates the directory (0700) if needed, writes a temp file (0600), fsyncs it and
  // renames it over the entry. Returns empty on success, else why not.
  std::string store(const Digest& key, const Artifact& a) const;

 private:
  // Opens dir_ (O_DIRECTORY|O_NOFOLLOW) and checks owner/mode; -1 with *why set.
  int open_dir(bool create, std::string* why) const;
  std::string dir_;
};

// The directory a tool uses when --cache-dir is not given: $TRACEKIT_CACHE_DIR, else
// $CACHE_DIRECTORY (systemd's CacheDirectory=), else /var/cache/tracekit.
std::string default_cache_dir();

}  // namespace tracekit
