// See tc_attach.h.
#include "bpf/tc_attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

#include "util/error.h"
#include "util/log.h"
#include "util/system_checks.h"

// libbpf 1.1's uapi header predates tcx (kernel 6.6).
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif
#ifndef BPF_TCX_EGRESS
#define BPF_TCX_EGRESS 47
#endif

namespace tracekit {

namespace {

std::string errno_text(int err) {
  if (err < 0) err = -err;
  return std::strerror(err);
}

bpf_attach_type tcx_attach_type(TcDirection dir) {
  return static_cast<bpf_attach_type>(dir == TcDirection::Ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS);
}

bpf_tc_attach_point tc_attach_point(TcDirection dir) {
  return dir == TcDirection::Ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

bpf_tc_hook make_hook(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts make_filter_opts(std::uint32_t handle) {
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = handle;
  opts.priority = kTcFilterPriority;
  return opts;
}

// The owner lock of a slot: the file is created if needed and locked without waiting.
// An empty fd when another process holds it (a live owner). The file may have been
// unlinked by its previous owner between our open and our lock: then the lock we got
// is on a dead inode, and we try again on the path's current file.
UniqueFd take_lock(const std::string& path) {
  for (int tries = 0; tries < 8; ++tries) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw Error("cannot create the lock file " + path + ": " + std::strerror(errno));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return UniqueFd();
      throw Error("cannot lock " + path + ": " + std::strerror(errno));
    }
    struct stat by_fd {
    }, by_path{};
    if (::fstat(fd.get(), &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 && by_fd.st_ino == by_path.st_ino &&
        by_fd.st_dev == by_path.st_dev)
      return fd;
  }
  throw Error("cannot lock " + path + ": it keeps being replaced");
}

void make_lock_dir(const std::string& dir) {
  // /run/tracekit/tc: root-only directories (0700), parents first.
  std::string partial;
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST)
      throw Error("cannot create " + partial + ": " + std::strerror(errno),
                  "clsact mode keeps its filter locks there; tcx mode needs none");
  }
}

// Send one rtnetlink dump request for tc objects (`type` = RTM_GETTFILTER or
// RTM_GETQDISC) and call on_msg(nlmsghdr*) for every reply data message. Returns 0 or
// -errno. The receive is bounded by a 2 s socket timeout.
template <class F>
int tc_netlink_dump(std::uint16_t type, int ifindex, std::uint32_t parent, F&& on_msg) {
  struct MnlCloser {
    void operator()(mnl_socket* nl) const { mnl_socket_close(nl); }
  };
  std::unique_ptr<mnl_socket, MnlCloser> nl(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
  if (!nl) return -errno;

  timeval tv{};
  tv.tv_sec = 2;
  ::setsockopt(mnl_socket_get_fd(nl.get()), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  if (mnl_socket_bind(nl.get(), 0, MNL_SOCKET_AUTOPID) < 0) return -errno;

  // One buffer for the request and then the replies, on the heap: a static
  // thread_local of this size would be part of every thread's static TLS block, and
  // threads with small stacks (civetweb's, for --metrics) could not be created at all.
  constexpr std::size_t kBufSize = 64 * 1024;
  std::unique_ptr<std::uint64_t[]> storage(new std::uint64_t[kBufSize / sizeof(std::uint64_t)]);
  char* buf = reinterpret_cast<char*>(storage.get());
  const std::uint32_t seq = 1;
  nlmsghdr* nh = mnl_nlmsg_put_header(buf);
  nh->nlmsg_type = type;
  nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nh->nlmsg_seq = seq;
  auto* tc = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(nh, sizeof(tcmsg)));
  tc->tcm_family = AF_UNSPEC;
  tc->tcm_ifindex = ifindex;
  tc->tcm_parent = parent;
  if (mnl_socket_sendto(nl.get(), nh, nh->nlmsg_len) < 0) return -errno;

  // mnl_cb_run checks seq/portid, stops at NLMSG_DONE, turns NLMSG_ERROR into errno,
  // and hands only data messages (type >= NLMSG_MIN_TYPE) to this callback.
  const mnl_cb_t on_data = [](const nlmsghdr* msg, void* data) -> int {
    (*static_cast<std::remove_reference_t<F>*>(data))(msg);
    return MNL_CB_OK;
  };
  const unsigned portid = mnl_socket_get_portid(nl.get());
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl.get(), buf, kBufSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EPROTO;
    int ret = mnl_cb_run(buf, static_cast<std::size_t>(n), seq, portid, on_data, &on_msg);
    if (ret == MNL_CB_ERROR) return -errno;
    if (ret == MNL_CB_STOP) return 0;
  }
}

// Number of tc filters (any kind, any owner) on one clsact hook of ifindex (what
// `tc filter show dev X ingress` lists). bpf_tc_query can only look up one known
// (handle, priority), so it cannot answer "is anything else there". The kernel
// reports each classifier instance plus each of its filters, so any non-zero count
// means "not empty". Returns -errno on failure.
int count_tc_filters(int ifindex, std::uint32_t parent) {
  int count = 0;
  int err = tc_netlink_dump(RTM_GETTFILTER, ifindex, parent, [&](const nlmsghdr* nh) {
    if (nh->nlmsg_type == RTM_NEWTFILTER) ++count;
  });
  return err < 0 ? err : count;
}

// Kind ("clsact", "ingress", ...) of the qdisc sitting on the ingress slot
// (handle ffff:) of ifindex, or "" if there is none / it cannot be read.
std::string ingress_slot_qdisc_kind(int ifindex) {
  std::string kind;
  tc_netlink_dump(RTM_GETQDISC, ifindex, 0, [&](const nlmsghdr* nh) {
    if (nh->nlmsg_type != RTM_NEWQDISC) return;
    const auto* tc = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(nh));
    if (tc->tcm_ifindex != ifindex || tc->tcm_parent != TC_H_INGRESS) return;
    // (mnl_attr_for_each does not compile as C++: it assigns a void*.)
    mnl_attr_parse(
        nh, sizeof(tcmsg),
        [](const nlattr* a, void* data) -> int {
          if (mnl_attr_get_type(a) == TCA_KIND) {
            // Bounded by the payload: do not trust the string to be NUL-terminated.
            const char* s = mnl_attr_get_str(a);
            static_cast<std::string*>(data)->assign(s, ::strnlen(s, mnl_attr_get_payload_len(a)));
          }
          return MNL_CB_OK;
        },
        &kind);
  });
  return kind;
}

int libbpf_drop(enum libbpf_print_level, const char*, va_list) { return 0; }

int libbpf_to_stderr(enum libbpf_print_level, const char* fmt, va_list ap) { return std::vfprintf(stderr, fmt, ap); }

bool probe_tcx() {
  // BPF_PROG_QUERY dispatches BPF_TCX_* to tcx_prog_query(); a kernel without tcx
  // (older than 6.6, or CONFIG_NET_XGRESS off) rejects the attach type with EINVAL.
  // Nothing is attached by the probe. Loopback is ifindex 1 in every netns.
  __u32 attach_flags = 0;
  __u32 cnt = 0;
  int err = bpf_prog_query(1, tcx_attach_type(TcDirection::Ingress), 0, &attach_flags, nullptr, &cnt);
  if (err == 0) return true;
  int e = err < 0 ? -err : err;
  if (e == EINVAL) return false;
  if (e == ENODEV) return true;  // got as far as the device lookup: tcx is known
  // EPERM or anything else: inconclusive, decide on the version tcx appeared in.
  return kernel_version_at_least(6, 6);
}

}  // namespace

std::string tc_lock_dir() {
  const char* env = std::getenv("TRACEKIT_TC_LOCK_DIR");
  return env && *env ? env : "/run/tracekit/tc";
}

bool kernel_has_tcx() {
  static const bool has = probe_tcx();  // thread-safe one-time init
  return has;
}

void quiet_libbpf(bool verbose) { libbpf_set_print(verbose ? libbpf_to_stderr : libbpf_drop); }

// ---- TcAttacher --------------------------------------------------------------

TcAttacher::TcAttacher(std::string ifname) : ifname_(std::move(ifname)) {
  if (ifname_.empty()) throw UsageError("no such interface: (empty name)");
  if (ifname_.size() >= IFNAMSIZ) throw UsageError("interface name too long: " + ifname_);
  unsigned idx = ::if_nametoindex(ifname_.c_str());
  if (idx == 0) throw UsageError("no such interface: " + ifname_);
  ifindex_ = static_cast<int>(idx);
  struct stat ns {};
  if (::stat("/proc/thread-self/ns/net", &ns) == 0) netns_ = ns.st_ino;
}

std::string TcAttacher::lock_path(TcDirection dir, std::uint32_t handle) const {
  return tc_lock_dir() + fmt::format("/{}-{}-{}-{:x}.lock", netns_, ifindex_, to_string(dir), handle);
}

TcAttacher::~TcAttacher() { detach_all(); }

TcAttacher::TcAttacher(TcAttacher&& other) noexcept
    : ifname_(std::move(other.ifname_)),
      ifindex_(std::exchange(other.ifindex_, 0)),
      netns_(other.netns_),
      attachments_(std::move(other.attachments_)),
      created_qdisc_(std::exchange(other.created_qdisc_, false)) {
  other.attachments_.clear();
}

TcAttacher& TcAttacher::operator=(TcAttacher&& other) noexcept {
  if (this != &other) {
    detach_all();
    ifname_ = std::move(other.ifname_);
    ifindex_ = std::exchange(other.ifindex_, 0);
    netns_ = other.netns_;
    attachments_ = std::move(other.attachments_);
    other.attachments_.clear();
    created_qdisc_ = std::exchange(other.created_qdisc_, false);
  }
  return *this;
}

bool TcAttacher::interface_present() const {
  if (ifindex_ <= 0) return false;
  char name[IF_NAMESIZE] = {};
  return ::if_indextoname(static_cast<unsigned>(ifindex_), name) != nullptr;
}

void TcAttacher::attach(int prog_fd, TcDirection dir, TcMode mode) {
  for (const auto& a : attachments_) {
    if (a.dir == dir)
      throw Error("cannot attach to " + ifname_ + " " + to_string(dir) + ": already attached (" + to_string(a.mode) +
                  ")");
  }
  if (mode == TcMode::Auto) mode = kernel_has_tcx() ? TcMode::Tcx : TcMode::Clsact;
  if (mode == TcMode::Tcx)
    attach_tcx(prog_fd, dir);
  else
    attach_clsact(prog_fd, dir);
}

void TcAttacher::attach_tcx(int prog_fd, TcDirection dir) {
  bpf_link_create_opts opts{};
  opts.sz = sizeof(opts);
  int fd = bpf_link_create(prog_fd, ifindex_, tcx_attach_type(dir), &opts);
  if (fd < 0) {
    int err = -fd;  // libbpf >= 1.0 returns -errno
    std::string hint;
    if (err == EINVAL && !kernel_has_tcx()) hint = "this kernel has no tcx support; use clsact mode";
    throw Error("cannot attach to " + ifname_ + " " + to_string(dir) + " via tcx: " + errno_text(err), hint);
  }
  attachments_.push_back(Attachment{dir, TcMode::Tcx, UniqueFd(fd)});
}

void TcAttacher::attach_clsact(int prog_fd, TcDirection dir) {
  const std::string what = "cannot attach to " + ifname_ + " " + to_string(dir) + " via clsact: ";

  // The clsact qdisc serves both hooks; create it only if absent.
  bpf_tc_hook hook = make_hook(ifindex_, tc_attach_point(dir));
  int err = bpf_tc_hook_create(&hook);
  if (err == 0) {
    created_qdisc_ = true;
  } else if (err != -EEXIST) {
    throw Error(what + "cannot create clsact qdisc: " + errno_text(err));
  } else if (dir == TcDirection::Egress && ingress_slot_qdisc_kind(ifindex_) == "ingress") {
    // A legacy "ingress" qdisc occupies the clsact slot (so hook_create says EEXIST).
    // It has no egress hook: the kernel would silently put an "egress" filter on
    // its ingress block (replacing our ingress filter). Refuse instead.
    throw Error(what + "the interface has an 'ingress' qdisc, which has no egress hook",
                "use tcx mode, or remove it: tc qdisc del dev " + ifname_ + " ingress");
  }

  // Take the first free slot; on the way, remove the filters of slots whose owner is
  // gone (a killed run): their lock is free but their filter is still there.
  make_lock_dir(tc_lock_dir());
  Attachment mine{dir, TcMode::Clsact, UniqueFd(), 0, {}};
  for (std::uint32_t handle = kTcFilterHandle; handle < kTcFilterHandle + kTcFilterSlots; ++handle) {
    const std::string path = lock_path(dir, handle);
    UniqueFd lock = take_lock(path);
    if (!lock) continue;  // a live tracer owns this slot
    bpf_tc_opts probe = make_filter_opts(handle);
    if (bpf_tc_query(&hook, &probe) == 0) {
      bpf_tc_opts stale = make_filter_opts(handle);
      if (bpf_tc_detach(&hook, &stale) == 0)
        spdlog::info("{} {}: removed the filter (handle {:#x}) of a run that is gone", ifname_, to_string(dir), handle);
    }
    if (mine.lock_path.empty()) {
      mine.handle = handle;
      mine.lock_path = path;
      mine.link = std::move(lock);
    } else {
      ::unlink(path.c_str());  // not ours to keep: release it as we found it, but empty
    }
  }
  if (mine.lock_path.empty()) {
    if (created_qdisc_ && attachments_.empty()) maybe_destroy_qdisc();
    throw Error(what + "all " + std::to_string(kTcFilterSlots) + " filter slots are taken by running tracers",
                "use tcx mode");
  }

  bpf_tc_opts opts = make_filter_opts(mine.handle);
  opts.prog_fd = prog_fd;
  err = bpf_tc_attach(&hook, &opts);  // no BPF_TC_F_REPLACE: the slot is ours and empty
  if (err < 0) {
    std::string msg = what + errno_text(err);
    ::unlink(mine.lock_path.c_str());
    // Do not leave an empty qdisc we created ourselves behind.
    if (created_qdisc_ && attachments_.empty()) maybe_destroy_qdisc();
    throw Error(msg);
  }
  spdlog::debug("{} {}: clsact filter pref {} handle {:#x}", ifname_, to_string(dir), kTcFilterPriority, mine.handle);
  attachments_.push_back(std::move(mine));
}

void TcAttacher::detach_clsact(Attachment& a) noexcept {
  bpf_tc_hook hook = make_hook(ifindex_, tc_attach_point(a.dir));
  bpf_tc_opts opts = make_filter_opts(a.handle);  // prog_fd/prog_id/flags must be 0 for detach
  // ENOENT (someone removed it) / ENODEV (interface gone) / EINVAL (qdisc gone): fine.
  (void)bpf_tc_detach(&hook, &opts);
}

void TcAttacher::maybe_destroy_qdisc() noexcept {
  if (!created_qdisc_) return;
  created_qdisc_ = false;
  if (!interface_present()) return;
  int in = count_tc_filters(ifindex_, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
  int eg = count_tc_filters(ifindex_, TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
  if (in != 0 || eg != 0) return;  // foreign filters present (or cannot tell): keep it
  // BPF_TC_INGRESS|BPF_TC_EGRESS deletes the qdisc itself. (Destroying with only one
  // of the two bits would instead flush ALL filters on that hook: never do that.)
  bpf_tc_hook hook = make_hook(ifindex_, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  (void)bpf_tc_hook_destroy(&hook);
}

void TcAttacher::detach_all() noexcept {
  if (attachments_.empty() && !created_qdisc_) return;
  const bool present = interface_present();
  for (auto& a : attachments_) {
    if (a.mode == TcMode::Tcx) {
      a.link.reset();  // closing the link fd detaches (or is a no-op if the dev is gone)
    } else {
      if (present) detach_clsact(a);
      // Unlinked while still held, so that nobody can lock this inode afterwards.
      if (!a.lock_path.empty()) ::unlink(a.lock_path.c_str());
      a.link.reset();
    }
  }
  attachments_.clear();
  if (present)
    maybe_destroy_qdisc();
  else
    created_qdisc_ = false;  // the qdisc went away with the interface
}

std::string TcAttacher::describe() const {
  if (attachments_.empty()) return "nothing attached on " + ifname_;
  // Always list ingress before egress, whatever the attach order was.
  std::vector<const Attachment*> sorted;
  for (TcDirection d : {TcDirection::Ingress, TcDirection::Egress})
    for (const auto& a : attachments_)
      if (a.dir == d) sorted.push_back(&a);
  bool same_mode = true;
  for (const auto* a : sorted) same_mode = same_mode && a->mode == sorted[0]->mode;
  std::string out;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (same_mode) {
      if (i == 0) {
        out += to_string(sorted[0]->mode);
        out += ' ';
      } else {
        out += '+';
      }
    } else {
      if (i) out += ", ";
      out += to_string(sorted[i]->mode);
      out += ' ';
    }
    out += to_string(sorted[i]->dir);
  }
  return out + " on " + ifname_;
}

}  // namespace tracekit
