// The cgroup (v2) behind a task, from the id BPF gives (bpf_get_current_cgroup_id()):
// its path under the cgroup2 mount, and what the path tells about its owner (the
// systemd unit, the container id). docs/execve_enriched.md ("Cgroups") says what each
// field means and when it is empty.
//
// The id of a cgroup2 directory is its inode number (kernfs node id; 64-bit kernels), so
// the path is found by walking the mount and reading st_ino: no kernel structs read.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace tracekit {

// The first cgroup2 mount point in a /proc/mounts text ("" when there is none: a
// cgroup v1-only host). Octal escapes (\040 for a space) are decoded.
std::string cgroup2_mount_in(const std::string& mounts_text);
std::string cgroup2_mount();  // of /proc/mounts

// The id of the cgroup at DIR (its inode number), nullopt if it cannot be read.
std::optional<uint64_t> cgroup_id_of(const std::string& dir);

// A --cgroup argument: a path under the mount, or relative to it ("/system.slice",
// "system.slice") -> the full path; and a full path under the mount -> the path
// relative to it ("/" for the mount itself), as CgroupResolver gives them.
std::string cgroup_arg_full_path(const std::string& mount, const std::string& arg);
std::string cgroup_relative_path(const std::string& mount, const std::string& full);
// A --cgroup argument as a tool takes it: cgroup_arg_full_path, then "..", "." and symlinks
// resolved; "" unless that is an existing directory at or under the mount.
std::string resolve_cgroup_arg(const std::string& mount, const std::string& arg);
// Whether cgroup PATH is TOP or below it (both relative to the mount).
bool cgroup_path_under(const std::string& path, const std::string& top);

// What a cgroup path (relative to the mount: "/system.slice/nginx.service") says about
// its owner. unit: the innermost systemd unit (a .service, .scope, .socket, .mount, .swap
// or .timer component, not a .slice); container_id: a 64-hex-digit id of docker
// (docker-ID.scope, /docker/ID), containerd/CRI (cri-containerd-ID.scope), CRI-O
// (crio-ID.scope), podman (libpod-ID.scope) or a kubepods cgroupfs path (/kubepods/.../ID).
// Empty when the path shows none.
struct CgroupOwner {
  std::string unit;
  std::string container_id;
};
CgroupOwner cgroup_owner(const std::string& path);

// Id -> path, cached. An unknown id makes the cache walk the mount again, at most
// `rescans_per_second` times a second (a cgroup made and removed between two walks
// stays unknown). An id that a walk did not find is not walked for again before `retry`
// has passed (a storm of events from a cgroup that is gone costs no walks); an id asked
// for while the walks were rate-limited is not held back.
class CgroupResolver {
 public:
  explicit CgroupResolver(std::string mount, int rescans_per_second = 10,
                          std::chrono::milliseconds retry = std::chrono::seconds(10));
  // "/" for the root cgroup, "/user.slice/..." below it; nullopt when unknown.
  std::optional<std::string> path(uint64_t id);
  const std::string& mount() const { return mount_; }
  size_t known() const { return paths_.size(); }
  size_t scans() const { return scans_; }  // walks of the mount so far

 private:
  void rescan();
  std::string mount_;
  std::chrono::steady_clock::duration min_gap_;
  std::chrono::steady_clock::duration retry_;
  std::chrono::steady_clock::time_point last_scan_{};
  bool scanned_ = false;
  size_t scans_ = 0;
  std::unordered_map<uint64_t, std::string> paths_;
  std::unordered_map<uint64_t, std::chrono::steady_clock::time_point> missed_;  // id -> walk that missed it
};

}  // namespace tracekit
