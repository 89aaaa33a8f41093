// Least privilege (libcap): the capabilities a tool needs, checked before anything is
// loaded with a line that names the missing one, and dropped once everything is
// attached.
//
// Needed to start (docs/<tool>.md, "Running without root"):
//   tracepoint tools  CAP_BPF, CAP_PERFMON, and CAP_DAC_READ_SEARCH when tracefs is not
//                     readable by the user (it is mode 0700 on most systems)
//   TC tools          CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON (the verifier asks for it to
//                     let a classifier do arithmetic on packet pointers)
// (root has them all; CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON.)
//
// Kept after attaching: nothing, except CAP_NET_ADMIN when a clsact filter must be
// removed at the end. no_new_privs is set. With --user NAME (started as root) the
// process becomes that user, keeping only what it still needs (as tcpdump -Z does).
#pragma once

#include <linux/capability.h>

#include <string>
#include <vector>

namespace tracekit {

struct CapNeed {
  int cap;          // CAP_BPF, ...
  std::string why;  // "to load BPF programs"
};

// "CAP_DAC_READ_SEARCH"
std::string cap_name(int cap);
// Whether the process holds `cap` in its effective set.
bool has_capability(int cap);
// Throws Error "needs CAP_X <why>" (exit 1) for the first need not held. CAP_SYS_ADMIN
// counts for CAP_BPF and CAP_PERFMON.
void require_capabilities(const std::vector<CapNeed>& needs);

// The user --user names: uid and gid; UsageError when unknown.
struct RunAs {
  std::string name;
  unsigned uid = 0, gid = 0;
};
RunAs parse_run_as(const std::string& name);

// Drops every capability but `keep` (effective and permitted; ambient cleared; the
// bounding set too when CAP_SETPCAP allows), sets no_new_privs, and with `user`
// switches to that user first. Throws Error when it cannot.
void drop_privileges(const std::vector<int>& keep, const RunAs* user);

}  // namespace tracekit
