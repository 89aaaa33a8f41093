// Attaching SCHED_CLS (tc) BPF programs to a network interface.
//
// Two kernel mechanisms are supported:
//
//  * tcx (kernel >= 6.6): bpf_link_create(prog, ifindex, BPF_TCX_INGRESS/EGRESS).
//    The attachment is a BPF link owned by a file descriptor; detaching is closing
//    the fd, and the kernel removes the attachment by itself when the process dies
//    (even on SIGKILL). Nothing is ever left behind.
//
//  * clsact (any kernel with BPF): a cls_bpf direct-action filter on the clsact
//    qdisc, via libbpf's bpf_tc_hook_create / bpf_tc_attach. Such a filter is NOT
//    owned by the process: it stays when the process dies. So every filter we install
//    has priority kTcFilterPriority (shown by `tc filter show` as "pref 1985") and a
//    handle from our range kTcFilterHandle .. kTcFilterHandle + kTcFilterSlots - 1, one
//    slot per tracer instance, and its owner holds a lock for as long as it runs:
//
//        /run/tracekit/tc/<netns inode>-<ifindex>-<ingress|egress>-<handle>.lock
//
//    (flock, released by the kernel when the owner dies, even on SIGKILL). Attaching
//    takes the first slot whose lock it can get. Any number of tracers (the same tool
//    or others, tcx or clsact) thus share an interface, each with its own filter; our
//    programs return TC_ACT_UNSPEC, so every filter of the priority sees every packet.
//    A filter in one of our slots whose lock nobody holds was left by a run that was
//    killed: attaching removes it. A filter whose owner is alive is never touched, and
//    neither is any filter outside our priority and handles (foreign filters).
//    Detaching removes only this object's filters. The clsact qdisc is destroyed only
//    if this object created it (bpf_tc_hook_create did not report EEXIST) AND no filter
//    at all is left on either of its hooks; a qdisc that existed before us, or that
//    someone else (another tracer included) has a filter on, is left alone.
//    A legacy "ingress" qdisc (tc qdisc add dev X ingress) occupies the clsact slot:
//    ingress attaches to it fine, egress is refused with an Error (the kernel would
//    otherwise silently put the "egress" filter on the ingress hook).
//
// TcMode::Auto picks tcx when kernel_has_tcx() says so, else clsact.
//
// If the interface disappears while attached (veth deleted, container gone) the
// kernel drops the attachments with it; detach_all() then silently does nothing.
// interface_present() lets a tool poll for that situation.
//
// The object works in the network namespace of the calling thread at construction
// time and must be used/destroyed in that same namespace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/options.h"
#include "util/fd.h"

namespace tracekit {

// Fixed identity of the clsact filters we install (see above).
inline constexpr std::uint32_t kTcFilterHandle = 0x7c1;  // the first slot
inline constexpr std::uint32_t kTcFilterSlots = 64;
inline constexpr std::uint32_t kTcFilterPriority = 0x7c1;
// Where the owner locks live (TRACEKIT_TC_LOCK_DIR overrides it, for tests).
std::string tc_lock_dir();

// Whether the running kernel supports tcx attachment. Probed once (side-effect free:
// BPF_PROG_QUERY with BPF_TCX_INGRESS on the loopback device: EINVAL means the
// attach type is unknown to the kernel), cached for the life of the process. If the
// probe is inconclusive (e.g. EPERM) the kernel version (>= 6.6) decides.
bool kernel_has_tcx();

// Install a libbpf print callback that drops libbpf's messages, or (verbose=true)
// forwards them to stderr. libbpf never writes to stdout through it either way.
void quiet_libbpf(bool verbose = false);

class TcAttacher {
 public:
  // Throws UsageError("interface name too long: X") if X has >= IFNAMSIZ chars,
  // UsageError("no such interface: X") if it does not exist.
  explicit TcAttacher(std::string ifname);
  ~TcAttacher();  // detach_all()

  TcAttacher(const TcAttacher&) = delete;
  TcAttacher& operator=(const TcAttacher&) = delete;
  TcAttacher(TcAttacher&& other) noexcept;
  TcAttacher& operator=(TcAttacher&& other) noexcept;

  // Attach prog_fd (BPF_PROG_TYPE_SCHED_CLS, direct-action style: returns TC_ACT_OK
  // etc.) on one direction. Auto -> tcx if kernel_has_tcx() else clsact.
  // Throws Error("cannot attach to veth0 ingress via tcx: <strerror>") on failure,
  // and Error if this object already has a program on that direction.
  void attach(int prog_fd, TcDirection dir, TcMode mode);

  // Remove exactly what this object attached. Idempotent, never throws.
  void detach_all() noexcept;

  // The ifindex still exists (if_indextoname succeeds) in this namespace.
  bool interface_present() const;

  // e.g. "tcx ingress+egress on veth0", "clsact ingress on eth0",
  // "tcx ingress, clsact egress on eth0", "nothing attached on eth0".
  std::string describe() const;

  const std::string& ifname() const { return ifname_; }
  int ifindex() const { return ifindex_; }
  bool attached() const { return !attachments_.empty(); }
  // Some attachment is a clsact filter (removing it needs CAP_NET_ADMIN).
  bool uses_clsact() const {
    for (const auto& a : attachments_)
      if (a.mode == TcMode::Clsact) return true;
    return false;
  }

 private:
  struct Attachment {
    TcDirection dir;
    TcMode mode;               // Tcx or Clsact (never Auto)
    UniqueFd link;             // tcx: the link fd; clsact: the slot's owner lock
    std::uint32_t handle = 0;  // clsact: the filter's handle (slot)
    std::string lock_path;     // clsact: the lock file
  };

  void attach_tcx(int prog_fd, TcDirection dir);
  void attach_clsact(int prog_fd, TcDirection dir);
  void detach_clsact(Attachment& a) noexcept;
  std::string lock_path(TcDirection dir, std::uint32_t handle) const;
  void maybe_destroy_qdisc() noexcept;

  std::string ifname_;
  int ifindex_ = 0;
  unsigned long netns_ = 0;  // inode of the network namespace the interface is in
  std::vector<Attachment> attachments_;
  bool created_qdisc_ = false;  // we created the clsact qdisc (clsact mode)
};

}  // namespace tracekit
