// See cgroup.h.
#include "util/cgroup.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace tracekit {

namespace {

std::string unescape_mount_field(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 2])) && std::isdigit(static_cast<unsigned char>(s[i + 3]))) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  return true;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '/'))
    if (!part.empty()) out.push_back(part);
  return out;
}

}  // namespace

std::string cgroup2_mount_in(const std::string& mounts_text) {
  std::istringstream in(mounts_text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string dev, dir, type;
    if (!(f >> dev >> dir >> type)) continue;
    if (type == "cgroup2") return unescape_mount_field(dir);
  }
  return {};
}

std::string cgroup2_mount() {
  std::ifstream in("/proc/mounts");
  std::stringstream ss;
  ss << in.rdbuf();
  return cgroup2_mount_in(ss.str());
}

std::optional<uint64_t> cgroup_id_of(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return static_cast<uint64_t>(st.st_ino);
}

std::string cgroup_arg_full_path(const std::string& mount, const std::string& arg) {
  if (arg == mount || arg.rfind(mount + "/", 0) == 0) return arg;
  return mount + (!arg.empty() && arg.front() == '/' ? "" : "/") + arg;
}

std::string resolve_cgroup_arg(const std::string& mount, const std::string& arg) {
  if (mount.empty() || arg.empty()) return {};
  std::error_code ec;
  const std::string top = std::filesystem::weakly_canonical(mount, ec).string();
  if (ec) return {};
  const std::string full = std::filesystem::weakly_canonical(cgroup_arg_full_path(mount, arg), ec).string();
  if (ec || (full != top && full.rfind(top + "/", 0) != 0)) return {};
  struct stat st {};
  if (::stat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};
  return mount + full.substr(top.size());
}

std::string cgroup_relative_path(const std::string& mount, const std::string& full) {
  std::string rel = full.substr(std::min(full.size(), mount.size()));
  while (rel.size() > 1 && rel.back() == '/') rel.pop_back();
  return rel.empty() ? "/" : rel;
}

bool cgroup_path_under(const std::string& path, const std::string& top) {
  if (top == "/" || path == top) return true;
  return path.size() > top.size() && path.compare(0, top.size(), top) == 0 && path[top.size()] == '/';
}

CgroupOwner cgroup_owner(const std::string& path) {
  CgroupOwner o;
  static const char* const unit_suffixes[] = {".service", ".scope", ".socket", ".mount", ".swap", ".timer"};
  static const char* const container_prefixes[] = {"docker-", "cri-containerd-", "crio-", "libpod-"};
  const auto parts = components(path);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    const std::string& c = *it;
    if (o.unit.empty())
      for (const char* s : unit_suffixes)
        if (ends_with(c, s) && c.size() > std::string(s).size()) {
          o.unit = c;
          break;
        }
    if (o.container_id.empty()) {
      std::string id = c;
      if (ends_with(id, ".scope")) id.resize(id.size() - 6);
      for (const char* p : container_prefixes) {
        const std::string prefix = p;
        if (id.rfind(prefix, 0) == 0) {
          id = id.substr(prefix.size());
          break;
        }
      }
      if (is_hex64(id)) o.container_id = id;
    }
  }
  return o;
}

CgroupResolver::CgroupResolver(std::string mount, int rescans_per_second, std::chrono::milliseconds retry)
    : mount_(std::move(mount)),
      min_gap_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(1.0 / std::max(1, rescans_per_second)))),
      retry_(retry) {}

void CgroupResolver::rescan() {
  last_scan_ = std::chrono::steady_clock::now();
  scanned_ = true;
  ++scans_;
  if (mount_.empty()) return;
  std::unordered_map<uint64_t, std::string> found;
  if (auto root = cgroup_id_of(mount_)) found[*root] = "/";
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::recursive_directory_iterator it(mount_, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (!it->is_directory(e2) || it->is_symlink(e2)) {
      continue;
    }
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    found[static_cast<uint64_t>(st.st_ino)] = it->path().string().substr(mount_.size());
  }
  // A cgroup removed since the last walk keeps its path (an event of it may still be
  // waiting to be printed), up to a bound.
  if (paths_.size() > 200000) paths_.clear();
  for (auto& [id, p] : found) paths_[id] = std::move(p);
}

std::optional<std::string> CgroupResolver::path(uint64_t id) {
  if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  const auto now = std::chrono::steady_clock::now();
  if (auto m = missed_.find(id); m != missed_.end() && now - m->second < retry_) return std::nullopt;
  if (scanned_ && now - last_scan_ < min_gap_) return std::nullopt;  // not a miss of this id
  rescan();
  if (auto it = paths_.find(id); it != paths_.end()) {
    missed_.erase(id);
    return it->second;
  }
  if (missed_.size() > 100000) missed_.clear();
  missed_[id] = last_scan_;
  return std::nullopt;
}

}  // namespace tracekit
