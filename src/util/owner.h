// The local owner of a socket, as the SCHED_CLS programs find it
// (programs/include/tracekit/owner.bpf.h): a uid and a cgroup v2 id, with the names
// user space gives them (the user, the cgroup path, the systemd unit, the container id).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "output/json.h"
#include "util/cgroup.h"

namespace tracekit {

struct OwnerInfo {
  uint32_t uid = 0;
  uint64_t cgroup_id = 0;
  std::optional<std::string> user;    // nullopt: the uid has no passwd entry
  std::optional<std::string> cgroup;  // path under the cgroup2 mount; nullopt: unknown id
  CgroupOwner names;                  // unit and container id read off the path

  // "uid 1000 (alice) /user.slice/user-1000.slice/session-2.scope"
  std::string text() const;
};

// The JSON fields of an owner: "uid", "user", "cgroup_id", "cgroup", "unit",
// "container_id"; each null when unknown (all of them for no owner).
void owner_json(const OwnerInfo* owner, JsonLine& j);
// Only the cgroup's: "cgroup_id", "cgroup", "unit", "container_id".
void owner_cgroup_json(const OwnerInfo* owner, JsonLine& j);

// uid + cgroup id -> OwnerInfo, named once and kept: the references it returns stay
// valid for its lifetime.
class OwnerBook {
 public:
  // mount: the cgroup2 mount ("" on a cgroup v1-only host: no path is ever known).
  explicit OwnerBook(std::string mount);
  const OwnerInfo& get(uint32_t uid, uint64_t cgroup_id);
  size_t size() const { return owners_.size(); }

 private:
  std::unique_ptr<CgroupResolver> cgroups_;
  std::map<std::pair<uint32_t, uint64_t>, OwnerInfo> owners_;
};

}  // namespace tracekit
