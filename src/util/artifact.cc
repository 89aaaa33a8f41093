// See artifact.h.
#include "util/artifact.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>

extern char** environ;

namespace tracekit {
namespace {

constexpr char kMagic[8] = {'T', 'K', 'B', 'P', 'F', 'A', 'R', 'T'};
constexpr uint32_t kFormat = 1;
constexpr size_t kHeader = sizeof kMagic + 4 + 32;
constexpr uint8_t kLdImm64 = BPF_LD | BPF_IMM | BPF_DW;

class Writer {
 public:
  void u32(uint32_t v) { raw(&v, sizeof v); }
  void i32(int32_t v) { raw(&v, sizeof v); }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    out_ += s;
  }
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const std::string& s, size_t pos, size_t end) : s_(s), pos_(pos), end_(end) {}
  bool raw(void* p, size_t n) {
    if (n > end_ - pos_) return fail();
    if (n == 0) return true;
    std::memcpy(p, s_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool u32(uint32_t& v) { return raw(&v, sizeof v); }
  bool i32(int32_t& v) { return raw(&v, sizeof v); }
  bool str(std::string& v, size_t max) {
    uint32_t n = 0;
    if (!u32(n) || n > max || n > end_ - pos_) return fail();
    v.assign(s_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  // A count whose items take at least `each` bytes: bounded by what is left.
  bool count(uint32_t& n, size_t max, size_t each) {
    if (!u32(n) || n > max || static_cast<size_t>(n) * each > end_ - pos_) return fail();
    return true;
  }
  bool done() const { return pos_ == end_; }
  bool failed() const { return failed_; }

 private:
  bool fail() {
    failed_ = true;
    return false;
  }
  const std::string& s_;
  size_t pos_, end_;
  bool failed_ = false;
};

bool good_name(const std::string& s) {
  if (s.empty() || s.size() > kArtifactMaxName) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.'; });
}

// At most `max` bytes of a file, read in pieces: nothing of the size of `max` is allocated
// (sysfs and tracefs files report no size to fstat).
std::optional<std::string> read_small_file(const std::string& path, size_t max = 4u << 20) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string s;
  char buf[16384];
  while (s.size() < max) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, max - s.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return s;
}

int count_cpu_list(const std::string& list) {
  int n = 0;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int a = 0, b = 0;
    if (std::sscanf(part.c_str(), "%d-%d", &a, &b) == 2)
      n += b - a + 1;
    else if (std::sscanf(part.c_str(), "%d", &a) == 1)
      n += 1;
  }
  return n;
}

bool is_ident(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

const ArtifactProgram* Artifact::program(const std::string& name) const {
  for (const auto& p : programs)
    if (p.name == name) return &p;
  return nullptr;
}

int Artifact::map_index(const std::string& name) const {
  for (size_t i = 0; i < maps.size(); ++i)
    if (maps[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string validate_artifact(const Artifact& a) {
  if (a.license.empty() || a.license.size() > 128 ||
      !std::all_of(a.license.begin(), a.license.end(), [](unsigned char c) { return std::isprint(c); }))
    return "bad license string";
  if (a.maps.size() > kArtifactMaxMaps) return "too many maps";
  if (a.programs.empty() || a.programs.size() > kArtifactMaxPrograms) return "bad program count";
  std::set<std::string> names;
  for (size_t i = 0; i < a.maps.size(); ++i) {
    const auto& m = a.maps[i];
    if (!good_name(m.name)) return "bad map name";
    if (!names.insert(m.name).second) return "map " + m.name + " appears twice";
    if (m.type == 0 || m.type > 255) return "map " + m.name + ": bad type";
    if (m.inner != -1) {
      if (m.inner < 0 || static_cast<size_t>(m.inner) >= a.maps.size() || static_cast<size_t>(m.inner) == i ||
          a.maps[static_cast<size_t>(m.inner)].inner != -1)
        return "map " + m.name + ": bad inner map index";
    }
  }
  names.clear();
  for (const auto& p : a.programs) {
    if (!good_name(p.name)) return "bad program name";
    if (!names.insert(p.name).second) return "program " + p.name + " appears twice";
    if (p.insns.empty() || p.insns.size() > kArtifactMaxInsns) return "program " + p.name + ": bad length";
    size_t r = 0;  // relocs are sorted by insn: walk both together
    for (size_t i = 0; i < p.insns.size(); ++i) {
      const bpf_insn& in = p.insns[i];
      bool has_reloc = r < p.relocs.size() && p.relocs[r].insn == i;
      if (in.code == kLdImm64) {
        if (i + 1 >= p.insns.size()) return "program " + p.name + ": truncated ld_imm64";
        if (in.src_reg == BPF_PSEUDO_MAP_FD) {
          if (!has_reloc) return "program " + p.name + ": map reference without a relocation";
          if (p.relocs[r].map >= a.maps.size()) return "program " + p.name + ": map index out of range";
          if (in.imm != 0 || p.insns[i + 1].imm != 0) return "program " + p.name + ": map reference not cleared";
          ++r;
        } else if (in.src_reg != 0) {
          return "program " + p.name + ": unsupported ld_imm64 kind";
        } else if (has_reloc) {
          return "program " + p.name + ": relocation on a plain ld_imm64";
        }
        ++i;  // second half of the pair
      } else if (has_reloc) {
        return "program " + p.name + ": relocation points at no ld_imm64";
      }
    }
    if (r != p.relocs.size()) return "program " + p.name + ": relocations out of order or out of range";
  }
  return {};
}

std::string serialize_artifact(const Artifact& a, const Digest& key) {
  Writer w;
  w.raw(kMagic, sizeof kMagic);
  w.u32(kFormat);
  w.raw(key.data(), key.size());
  w.str(a.license);
  w.u32(a.kern_version);
  w.u32(static_cast<uint32_t>(a.maps.size()));
  for (const auto& m : a.maps) {
    w.str(m.name);
    w.u32(m.type);
    w.u32(m.key_size);
    w.u32(m.value_size);
    w.u32(m.max_entries);
    w.u32(m.flags);
    w.i32(m.inner);
  }
  w.u32(static_cast<uint32_t>(a.programs.size()));
  for (const auto& p : a.programs) {
    w.str(p.name);
    w.u32(static_cast<uint32_t>(p.insns.size()));
    w.raw(p.insns.data(), p.insns.size() * sizeof(bpf_insn));
    w.u32(static_cast<uint32_t>(p.relocs.size()));
    for (const auto& r : p.relocs) {
      w.u32(r.insn);
      w.u32(r.map);
    }
  }
  Digest d = sha256(w.out());
  w.raw(d.data(), d.size());
  return std::move(w.out());
}

std::optional<Artifact> parse_artifact(const std::string& bytes, const Digest& key, std::string* why) {
  auto bad = [&](const std::string& what) -> std::optional<Artifact> {
    if (why) *why = what;
    return std::nullopt;
  };
  if (bytes.size() > kArtifactMaxBytes) return bad("larger than " + std::to_string(kArtifactMaxBytes) + " bytes");
  if (bytes.size() < kHeader + 32) return bad("truncated");
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) return bad("not a tracekit artifact");
  size_t body_end = bytes.size() - 32;
  Digest want = sha256(bytes.substr(0, body_end));
  if (std::memcmp(want.data(), bytes.data() + body_end, 32) != 0) return bad("checksum mismatch");
  Reader r(bytes, sizeof kMagic, body_end);
  uint32_t format = 0;
  Digest stored{};
  r.u32(format);
  r.raw(stored.data(), stored.size());
  if (format != kFormat) return bad("format " + std::to_string(format) + ", expected " + std::to_string(kFormat));
  if (stored != key) return bad("stored under another key");
  Artifact a;
  uint32_t n = 0;
  r.str(a.license, 128);
  r.u32(a.kern_version);
  if (r.count(n, kArtifactMaxMaps, 28)) {
    a.maps.resize(n);
    for (auto& m : a.maps) {
      r.str(m.name, kArtifactMaxName);
      r.u32(m.type);
      r.u32(m.key_size);
      r.u32(m.value_size);
      r.u32(m.max_entries);
      r.u32(m.flags);
      r.i32(m.inner);
    }
  }
  if (!r.failed() && r.count(n, kArtifactMaxPrograms, 12)) {
    a.programs.resize(n);
    for (auto& p : a.programs) {
      uint32_t ni = 0, nr = 0;
      if (!r.str(p.name, kArtifactMaxName) || !r.count(ni, kArtifactMaxInsns, sizeof(bpf_insn))) break;
      p.insns.resize(ni);
      r.raw(p.insns.data(), ni * sizeof(bpf_insn));
      if (!r.count(nr, ni, 8)) break;
      p.relocs.resize(nr);
      for (auto& x : p.relocs) {
        r.u32(x.insn);
        r.u32(x.map);
      }
    }
  }
  if (r.failed()) return bad("a field runs past the end");
  if (!r.done()) return bad("trailing bytes");
  std::string problem = validate_artifact(a);
  if (!problem.empty()) return bad(problem);
  return a;
}

Digest sha256(const std::string& bytes) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

std::string hex(const Digest& d) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : d) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

Digest cache_key(const CacheKeyInputs& in) {
  // Length-prefixed fields: no two different inputs serialise the same.
  Writer w;
  w.str("tracekit-cache-key-1");
  w.str(in.text);
  w.u32(static_cast<uint32_t>(in.cflags.size()));
  for (const auto& f : in.cflags) w.str(f);
  w.str(in.tool_version);
  w.str(in.bcc_version);
  w.str(in.kernel_release);
  w.str(in.kernel_version);
  w.str(in.kernel_notes);
  w.str(in.header_dir);
  w.str(in.header_files);
  w.str(in.tracepoint_formats);
  w.i32(in.possible_cpus);
  w.u32(static_cast<uint32_t>(in.bcc_env.size()));
  for (const auto& e : in.bcc_env) w.str(e);
  return sha256(w.out());
}

std::vector<std::string> tracepoints_in_text(const std::string& text) {
  std::set<std::string> found;
  auto ident_at = [&](size_t& i) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t start = i;
    while (i < text.size() && is_ident(text[i])) ++i;
    return text.substr(start, i - start);
  };
  for (size_t pos = text.find("TRACEPOINT_PROBE"); pos != std::string::npos;
       pos = text.find("TRACEPOINT_PROBE", pos + 1)) {
    size_t i = pos + std::strlen("TRACEPOINT_PROBE");
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size() || text[i] != '(') continue;
    ++i;
    std::string cat = ident_at(i);
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size() || text[i] != ',') continue;
    ++i;
    std::string name = ident_at(i);
    if (!cat.empty() && !name.empty()) found.insert(cat + ":" + name);
  }
  const std::string prefix = "tracepoint__";
  for (size_t pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, pos + 1)) {
    if (pos > 0 && is_ident(text[pos - 1])) continue;
    size_t i = pos + prefix.size();
    std::string rest = ident_at(i);
    size_t sep = rest.find("__");
    if (sep == std::string::npos || sep == 0 || sep + 2 >= rest.size()) continue;
    found.insert(rest.substr(0, sep) + ":" + rest.substr(sep + 2));
  }
  return {found.begin(), found.end()};
}

CacheKeyInputs collect_key_inputs(const std::string& text, const std::vector<std::string>& cflags,
                                  const std::string& bcc_version, const std::string& tracefs) {
  CacheKeyInputs in;
  in.text = text;
  in.cflags = cflags;
  in.tool_version = std::string("tracekit ") + TRACEKIT_VERSION + " artifact " + std::to_string(kFormat);
  in.bcc_version = bcc_version;
  struct utsname u {};
  if (::uname(&u) == 0) {
    in.kernel_release = u.release;
    in.kernel_version = u.version;
  }
  in.kernel_notes = read_small_file("/sys/kernel/notes", 1u << 16).value_or("");
  const char* src = std::getenv("BCC_KERNEL_SOURCE");
  in.header_dir = src && *src ? src : "/lib/modules/" + in.kernel_release + "/build";
  for (const char* f : {"include/generated/uapi/linux/version.h", "include/generated/utsrelease.h",
                        "include/config/kernel.release", "include/generated/autoconf.h"}) {
    auto content = read_small_file(in.header_dir + "/" + f);
    in.header_files +=
        std::string(f) + '\0' + (content ? std::to_string(content->size()) + '\0' + *content : "-") + '\0';
  }
  for (const auto& tp : tracepoints_in_text(text)) {
    std::string path =
        tracefs + "/events/" + tp.substr(0, tp.find(':')) + "/" + tp.substr(tp.find(':') + 1) + "/format";
    auto content = read_small_file(path, 1u << 16);
    in.tracepoint_formats += tp + '\0' + content.value_or("-") + '\0';
  }
  in.possible_cpus = count_cpu_list(read_small_file("/sys/devices/system/cpu/possible", 4096).value_or(""));
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "BCC_", 4) == 0) in.bcc_env.emplace_back(*e);
  std::sort(in.bcc_env.begin(), in.bcc_env.end());
  return in;
}

ArtifactCache::ArtifactCache(std::string dir) : dir_(std::move(dir)) {}

std::string ArtifactCache::path(const Digest& key) const { return dir_ + "/" + hex(key) + ".bpfa"; }

int ArtifactCache::open_dir(bool create, std::string* why) const {
  if (create && ::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    *why = "cannot create " + dir_ + ": " + std::strerror(errno);
    return -1;
  }
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT && !create) return -1;  // no cache yet: a plain miss
    *why =
        dir_ + (e == ELOOP || e == ENOTDIR ? ": not a directory (a symlink?)" : ": " + std::string(std::strerror(e)));
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_uid != 0 && st.st_uid != ::geteuid()) || (st.st_mode & 022) != 0) {
    ::close(fd);
    *why = dir_ + " is not a private directory (owner must be root or this user, not writable by group or other)";
    return -1;
  }
  return fd;
}

std::optional<Artifact> ArtifactCache::load(const Digest& key, std::string* why) const {
  why->clear();
  int dfd = open_dir(false, why);
  if (dfd < 0) return std::nullopt;
  std::string name = hex(key) + ".bpfa";
  int fd = ::openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  int e = errno;
  ::close(dfd);
  if (fd < 0) {
    if (e != ENOENT) *why = path(key) + (e == ELOOP ? ": is a symlink" : ": " + std::string(std::strerror(e)));
    return std::nullopt;
  }
  auto fail = [&](const std::string& what) -> std::optional<Artifact> {
    ::close(fd);
    *why = path(key) + ": " + what;
    return std::nullopt;
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) return fail("owned by uid " + std::to_string(st.st_uid));
  if ((st.st_mode & 022) != 0) return fail("writable by group or other");
  if (st.st_size < 0 || static_cast<size_t>(st.st_size) > kArtifactMaxBytes) return fail("too large");
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got != bytes.size()) {
    *why = path(key) + ": short read";
    return std::nullopt;
  }
  std::string problem;
  auto a = parse_artifact(bytes, key, &problem);
  if (!a) *why = path(key) + ": " + problem;
  return a;
}

std::string ArtifactCache::store(const Digest& key, const Artifact& a) const {
  std::string why;
  int dfd = open_dir(true, &why);
  if (dfd < 0) return why;
  const std::string name = hex(key) + ".bpfa";
  const std::string tmp = "." + name + "." + std::to_string(::getpid()) + ".tmp";
  const std::string bytes = serialize_artifact(a, key);
  const char* step = nullptr;  // the first step that failed, with its errno
  int err = 0;
  auto fail = [&](const char* what) {
    if (!step) {
      step = what;
      err = errno;
    }
  };
  int fd = ::openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    fail("create");
  } else {
    if (::fchmod(fd, 0600) != 0) fail("chmod");
    for (size_t done = 0; !step && done < bytes.size();) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        fail("write");
      else
        done += static_cast<size_t>(n);
    }
    if (!step && ::fsync(fd) != 0) fail("fsync");
    if (::close(fd) != 0) fail("close");
    if (!step && ::renameat(dfd, tmp.c_str(), dfd, name.c_str()) != 0) fail("rename");
    if (step) ::unlinkat(dfd, tmp.c_str(), 0);
  }
  if (!step) ::fsync(dfd);  // the rename itself
  ::close(dfd);
  if (!step) return {};
  return "cannot write " + path(key) + " (" + step + "): " + std::strerror(err);
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("TRACEKIT_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("CACHE_DIRECTORY"); d && *d) {
    std::string s = d;
    s = s.substr(0, s.find(':'));
    // With DynamicUser=, systemd makes /var/cache/NAME a symlink into /var/cache/private;
    // the cache opens its directory with O_NOFOLLOW, so take the real path systemd set up.
    if (char* real = ::realpath(s.c_str(), nullptr)) {
      s = real;
      std::free(real);
    }
    return s;
  }
  return "/var/cache/tracekit";
}

}  // namespace tracekit
