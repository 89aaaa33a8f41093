#include "util/kernel_headers.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <system_error>
#include <vector>

#include "util/error.h"

namespace fs = std::filesystem;

namespace tracekit {
namespace {

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

bool has_generated(const fs::path& dir) { return path_exists(dir / "include/generated/autoconf.h"); }
bool has_sources(const fs::path& dir) { return path_exists(dir / "include/linux/kconfig.h"); }

struct Pair {
  std::string version;  // "6.1.0-56-amd64"
  fs::path arch;        // generated files (or the whole tree)
  fs::path common;      // sources; empty when arch is complete
};

// For an arch-only tree "linux-headers-6.1.0-56-amd64", find its sources tree:
// Debian "linux-headers-6.1.0-56-common", Ubuntu "linux-headers-5.15.0-91".
std::optional<fs::path> find_common(const fs::path& arch) {
  std::string name = arch.filename().string();
  auto dash = name.rfind('-');
  if (dash == std::string::npos) return std::nullopt;
  std::string stem = name.substr(0, dash);
  for (const std::string& candidate : {stem + "-common", stem}) {
    fs::path p = arch.parent_path() / candidate;
    if (has_sources(p)) return p;
  }
  // Debian's arch Makefile names its common tree: "include /usr/src/...-common/Makefile".
  std::ifstream mk(arch / "Makefile");
  std::string line;
  while (std::getline(mk, line)) {
    auto pos = line.find("/usr/src/");
    if (line.rfind("include ", 0) == 0 && pos != std::string::npos) {
      fs::path p = fs::path(line.substr(pos)).parent_path();
      if (has_sources(p)) return p;
    }
  }
  return std::nullopt;
}

std::optional<Pair> pair_for(const fs::path& dir) {
  std::string name = dir.filename().string();
  std::string version = name.rfind("linux-headers-", 0) == 0 ? name.substr(14) : name;
  if (has_sources(dir) && has_generated(dir)) return Pair{version, dir, {}};
  if (has_generated(dir)) {
    if (auto common = find_common(dir)) return Pair{version, dir, *common};
  }
  return std::nullopt;
}

// Merges several trees into dst: directories present in more than one source are
// recreated, everything else is a symlink to its first source.
void merge_tree(const fs::path& dst, const std::vector<fs::path>& srcs, int depth) {
  fs::create_directories(dst);
  std::map<std::string, std::vector<fs::path>> entries;
  for (const auto& src : srcs) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(src, ec)) entries[e.path().filename()].push_back(e.path());
  }
  for (const auto& [name, paths] : entries) {
    std::vector<fs::path> dirs;
    for (const auto& p : paths) {
      std::error_code ec;
      if (fs::is_directory(p, ec)) dirs.push_back(p);
    }
    if (dirs.size() > 1 && depth < 8) {
      merge_tree(dst / name, dirs, depth + 1);
    } else {
      fs::create_symlink(fs::absolute(dirs.empty() ? paths.front() : dirs.front()), dst / name);
    }
  }
}

// Where a process that is not root assembles its tree: the service's runtime directory
// (systemd's RuntimeDirectory=), $XDG_RUNTIME_DIR, or /tmp/tracekit-<uid>, made 0700
// and checked to be the user's own (not a directory or link someone else planted).
fs::path user_cache_root() {
  for (const char* var : {"RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"})
    if (const char* d = std::getenv(var); d && *d) return fs::path(d) / "tracekit-kernel-headers";
  fs::path dir = "/tmp/tracekit-" + std::to_string(::geteuid());
  ::mkdir(dir.c_str(), 0700);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077))
    throw Error("cannot use " + dir.string() + " for kernel headers: not a private directory of this user");
  return dir / "kernel-headers";
}

fs::path assemble(const Pair& pair, fs::path cache_root) {
  const std::string stamp = pair.arch.string() + "\n" + pair.common.string() + "\n";
  auto ready = [&](const fs::path& dest) {
    std::ifstream in(dest / ".tracekit-sources");
    std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return have == stamp && is_complete_header_tree(dest.string());
  };
  if (ready(cache_root / pair.version)) return cache_root / pair.version;  // made by root earlier: use it
  if (::geteuid() != 0) {
    cache_root = user_cache_root();
    if (ready(cache_root / pair.version)) return cache_root / pair.version;
  }
  fs::path dest = cache_root / pair.version;
  std::error_code ec;
  fs::create_directories(cache_root, ec);
  if (ec) throw Error("cannot create " + cache_root.string() + ": " + ec.message());
  fs::path tmp = cache_root / (pair.version + ".tmp." + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  try {
    merge_tree(tmp, {pair.arch, pair.common}, 0);
    std::ofstream(tmp / ".tracekit-sources") << stamp;
    fs::remove_all(dest, ec);
    fs::rename(tmp, dest);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    // Another process may have won the race with an identical tree.
    if (is_complete_header_tree(dest.string())) return dest;
    throw Error(std::string("cannot assemble kernel headers in ") + dest.string() + ": " + e.what());
  }
  return dest;
}

// Version-aware comparison of directory names ("6.1.0-9" < "6.1.0-56").
bool version_less(const std::string& a, const std::string& b) { return strverscmp(a.c_str(), b.c_str()) < 0; }

std::string install_hint() {
  return "install kernel headers: apt-get install linux-headers-$(uname -r), or linux-headers-amd64 "
         "when no package matches the running kernel";
}

}  // namespace

bool is_complete_header_tree(const std::string& dir) { return has_sources(dir) && has_generated(dir); }

HeaderChoice resolve_kernel_headers(const HeaderSearch& s) {
  if (!s.override_dir.empty()) {
    fs::path dir = s.override_dir;
    if (!fs::is_directory(dir)) throw UsageError("--kernel-headers " + s.override_dir + ": no such directory");
    auto pair = pair_for(dir);
    if (!pair)
      throw UsageError("--kernel-headers " + s.override_dir +
                       ": not a kernel header tree (needs include/linux/kconfig.h and "
                       "include/generated/autoconf.h)");
    if (pair->common.empty()) return {HeaderChoice::Kind::Override, fs::absolute(dir).string(), pair->version};
    return {HeaderChoice::Kind::Override, assemble(*pair, s.cache_root).string(), pair->version};
  }
  if (!s.env_dir.empty()) return {HeaderChoice::Kind::Environment, s.env_dir, {}};

  fs::path modules = fs::path(s.modules_root) / s.release;
  if (is_complete_header_tree((modules / "build").string()) ||
      path_exists(modules / "source/include/linux/kconfig.h") || path_exists(s.kheaders))
    return {HeaderChoice::Kind::BccDefault, {}, {}};

  std::vector<Pair> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(s.src_root, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("linux-headers-", 0) != 0 || !e.is_directory()) continue;
    if (auto pair = pair_for(e.path())) found.push_back(*pair);
  }
  if (found.empty())
    throw Error("no kernel headers found for " + s.release + " (looked in " + modules.string() + "/build, " +
                    s.kheaders + " and " + s.src_root + ")",
                install_hint());
  std::sort(found.begin(), found.end(),
            [](const Pair& a, const Pair& b) { return version_less(a.version, b.version); });
  const Pair& newest = found.back();
  fs::path path = newest.common.empty() ? newest.arch : assemble(newest, s.cache_root);
  return {HeaderChoice::Kind::Distribution, path.string(), newest.version};
}

HeaderChoice resolve_kernel_headers(const std::string& override_dir) {
  HeaderSearch s;
  struct utsname u {};
  uname(&u);
  s.release = u.release;
  s.override_dir = override_dir;
  if (const char* env = std::getenv("BCC_KERNEL_SOURCE")) s.env_dir = env;
  return resolve_kernel_headers(s);
}

}  // namespace tracekit
