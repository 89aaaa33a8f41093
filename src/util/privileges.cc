#include "util/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "util/error.h"
#include "util/log.h"

namespace tracekit {
namespace {

struct CapFree {
  void operator()(cap_t c) const { cap_free(c); }
};
using Caps = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string cap_name(int cap) {
  char* n = cap_to_name(static_cast<cap_value_t>(cap));
  std::string s = n ? n : "cap_" + std::to_string(cap);
  cap_free(n);
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool has_capability(int cap) {
  Caps caps(cap_get_proc());
  if (!caps) return false;
  cap_flag_value_t v = CAP_CLEAR;
  if (cap_get_flag(caps.get(), static_cast<cap_value_t>(cap), CAP_EFFECTIVE, &v) != 0) return false;
  return v == CAP_SET;
}

void require_capabilities(const std::vector<CapNeed>& needs) {
  const bool sys_admin = has_capability(CAP_SYS_ADMIN);
  for (const auto& n : needs) {
    if (has_capability(n.cap)) continue;
    if (sys_admin && (n.cap == CAP_BPF || n.cap == CAP_PERFMON)) continue;
    throw Error("needs " + cap_name(n.cap) + " " + n.why,
                "run it as root, or grant the capabilities listed in its doc (\"Running without root\")");
  }
}

RunAs parse_run_as(const std::string& name) {
  struct passwd pw {};
  struct passwd* res = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &res) != 0 || !res)
    throw UsageError("bad value for --user: no such user: " + name);
  return {name, res->pw_uid, res->pw_gid};
}

void drop_privileges(const std::vector<int>& keep, const RunAs* user) {
  if (user) {
    if (::geteuid() != 0) throw Error("--user " + user->name + " needs the tool to be started as root");
    // Keep the permitted set across setuid, then cut it down to `keep` below.
    if (::prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) throw Error("cannot keep capabilities: " + errno_text());
    gid_t gid = user->gid;
    if (::setgroups(1, &gid) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(user->uid, user->uid, user->uid) != 0)
      throw Error("cannot switch to user " + user->name + ": " + errno_text());
    ::prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
  }
  // Bounding set first (needs CAP_SETPCAP, which the next step drops).
  if (has_capability(CAP_SETPCAP)) {
    for (int c = 0; c <= CAP_LAST_CAP; ++c) {
      bool kept = false;
      for (int k : keep) kept |= k == c;
      if (!kept && CAP_IS_SUPPORTED(c)) (void)cap_drop_bound(static_cast<cap_value_t>(c));
    }
  }
  Caps caps(cap_init());  // all clear
  std::vector<cap_value_t> values(keep.begin(), keep.end());
  if (!values.empty()) {
    cap_set_flag(caps.get(), CAP_PERMITTED, static_cast<int>(values.size()), values.data(), CAP_SET);
    cap_set_flag(caps.get(), CAP_EFFECTIVE, static_cast<int>(values.size()), values.data(), CAP_SET);
  }
  if (cap_set_proc(caps.get()) != 0) throw Error("cannot drop capabilities: " + errno_text());
  (void)cap_reset_ambient();
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) throw Error("cannot set no_new_privs: " + errno_text());
  std::string kept;
  for (int k : keep) kept += (kept.empty() ? "" : ", ") + cap_name(k);
  spdlog::debug("dropped capabilities{}{}", kept.empty() ? "" : "; kept ", kept);
}

}  // namespace tracekit
