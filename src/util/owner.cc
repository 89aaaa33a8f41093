// See owner.h.
#include "util/owner.h"

#include "output/strings.h"
#include "util/user.h"

namespace tracekit {

std::string OwnerInfo::text() const {
  std::string out = "uid " + std::to_string(uid);
  if (user) out += " (" + *user + ")";
  out += " ";
  out += cgroup ? shell_quote(*cgroup) : (cgroup_id ? "cgroup " + std::to_string(cgroup_id) : std::string("-"));
  return out;
}

void owner_json(const OwnerInfo* o, JsonLine& j) {
  if (o) {
    j.field("uid", o->uid);
    if (o->user)
      j.field("user", *o->user);
    else
      j.null("user");
  } else {
    j.null("uid").null("user");
  }
  owner_cgroup_json(o, j);
}

void owner_cgroup_json(const OwnerInfo* o, JsonLine& j) {
  if (!o) {
    j.null("cgroup_id").null("cgroup").null("unit").null("container_id");
    return;
  }
  j.field("cgroup_id", static_cast<unsigned long long>(o->cgroup_id));
  if (o->cgroup)
    j.field("cgroup", *o->cgroup);
  else
    j.null("cgroup");
  if (o->names.unit.empty())
    j.null("unit");
  else
    j.field("unit", o->names.unit);
  if (o->names.container_id.empty())
    j.null("container_id");
  else
    j.field("container_id", o->names.container_id);
}

OwnerBook::OwnerBook(std::string mount) {
  if (!mount.empty()) cgroups_ = std::make_unique<CgroupResolver>(std::move(mount));
}

const OwnerInfo& OwnerBook::get(uint32_t uid, uint64_t cgroup_id) {
  auto key = std::make_pair(uid, cgroup_id);
  if (auto it = owners_.find(key); it != owners_.end()) {
    if (it->second.cgroup || !cgroups_ || !cgroup_id) return it->second;
    // Unknown so far: asked again. The resolver walks the mount for a cgroup made since,
    // and holds back an id its last walk missed (CgroupResolver's retry).
    if (auto path = cgroups_->path(cgroup_id)) {
      it->second.cgroup = *path;
      it->second.names = cgroup_owner(*path);
    }
    return it->second;
  }
  OwnerInfo o;
  o.uid = uid;
  o.cgroup_id = cgroup_id;
  o.user = user_name(uid);
  if (cgroups_ && cgroup_id) {
    o.cgroup = cgroups_->path(cgroup_id);
    if (o.cgroup) o.names = cgroup_owner(*o.cgroup);
  }
  return owners_.emplace(key, std::move(o)).first->second;
}

}  // namespace tracekit
