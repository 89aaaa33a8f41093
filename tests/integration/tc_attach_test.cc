// Integration tests for tracekit::TcAttacher (src/tc_attach.h).
//
// Needs root, a kernel with BPF + clsact (+ tcx for the tcx cases), iproute2 and
// bcc (kernel headers found as the tools find them).
// Every test case builds its own netns "tktest<pid>" + veth pair "tkt<pid>a" (root
// netns, the one we attach to) / "tkt<pid>b" (inside the netns), and tears it all
// down in a guard's destructor even when an assertion fails.
#include <catch2/catch.hpp>

#include <bcc/BPF.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "bpf/bpf_program.h"
#include "bpf/tc_attach.h"
#include "netns.h"
#include "util/error.h"

#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif
#ifndef BPF_TCX_EGRESS
#define BPF_TCX_EGRESS 47
#endif

using tracekit::TcAttacher;
using tracekit::TcDirection;
using tracekit::TcMode;

namespace {

using testnet::sh;  // tests/support: bounded by timeout(1), stdout and stderr together

bool is_root() { return ::geteuid() == 0; }

// netns + veth pair, removed on destruction whatever happens.
struct NetGuard {
  std::string ns, a, b;
  NetGuard() {
    const std::string pid = std::to_string(::getpid());
    ns = "tktest" + pid;
    a = "tkt" + pid + "a";
    b = "tkt" + pid + "b";
    cleanup();  // leftovers of an earlier aborted case in this process
    // The destructor does not run if the constructor throws: clean up by hand.
    auto step = [this](const std::string& cmd) {
      auto r = sh(cmd);
      if (r.rc != 0) {
        cleanup();
        FAIL(cmd << " failed: " << r.out);
      }
    };
    step("ip netns add " + ns);
    step("ip link add " + a + " type veth peer name " + b + " netns " + ns);
    step("ip link set " + a + " up && ip -n " + ns + " link set " + b + " up");
  }
  ~NetGuard() { cleanup(); }
  void cleanup() { sh("ip link del " + a + " >/dev/null 2>&1; ip netns del " + ns + " >/dev/null 2>&1; true"); }
  int ifindex_a() const { return static_cast<int>(::if_nametoindex(a.c_str())); }
};

// Trivial counting SCHED_CLS programs, compiled once per process with bcc.
struct Progs {
  ebpf::BPF bpf;
  int in_fd = -1;
  int out_fd = -1;
  Progs() {
    tracekit::use_kernel_headers("");
    auto st = bpf.init(R"(
      BPF_ARRAY(hits, u64, 2);
      static inline void bump(int k) { u64 *v = hits.lookup(&k); if (v) __sync_fetch_and_add(v, 1); }
      int cls_in(struct __sk_buff *skb)  { bump(0); return 0; }
      int cls_out(struct __sk_buff *skb) { bump(1); return 0; }
    )");
    if (!st.ok()) FAIL("bcc init: " << st.msg());
    st = bpf.load_func("cls_in", BPF_PROG_TYPE_SCHED_CLS, in_fd);
    if (!st.ok()) FAIL("bcc load cls_in: " << st.msg());
    st = bpf.load_func("cls_out", BPF_PROG_TYPE_SCHED_CLS, out_fd);
    if (!st.ok()) FAIL("bcc load cls_out: " << st.msg());
  }
  int fd(TcDirection d) const { return d == TcDirection::Ingress ? in_fd : out_fd; }
  uint64_t hits(TcDirection d) {
    uint64_t v = 0;
    auto t = bpf.get_array_table<uint64_t>("hits");
    t.get_value(d == TcDirection::Ingress ? 0 : 1, v);
    return v;
  }
};

Progs& progs() {
  static Progs p;
  return p;
}

const char* dir_word(TcDirection d) { return d == TcDirection::Ingress ? "ingress" : "egress"; }

// Filters on one hook (those carrying a handle); `ours`: only our slots (tests/support).
int tc_filter_count(const std::string& dev, TcDirection d, bool ours) {
  return testnet::tc_filter_count(dev, dir_word(d), ours);
}

bool has_clsact(const std::string& dev) { return testnet::has_clsact(dev); }

int tcx_count(int ifindex, TcDirection d) {
  __u32 flags = 0, cnt = 0;
  int err = bpf_prog_query(ifindex,
                           static_cast<bpf_attach_type>(d == TcDirection::Ingress ? BPF_TCX_INGRESS : BPF_TCX_EGRESS),
                           0, &flags, nullptr, &cnt);
  return err < 0 ? err : static_cast<int>(cnt);
}

// Send `n` broadcast Ethernet frames out of `dev` with an AF_PACKET socket; when
// `netns` is non-empty, from inside that namespace (a forked child joins it).
// Frames sent out of b (in the netns) arrive on a's ingress; frames sent out of a
// pass a's egress hook.
bool send_frames(const std::string& dev, const std::string& netns, int n) {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::alarm(5);
    if (!netns.empty()) {
      int nsfd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) ::_exit(10);
    }
    int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0) ::_exit(11);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(::if_nametoindex(dev.c_str()));
    sll.sll_halen = ETH_ALEN;
    if (sll.sll_ifindex == 0) ::_exit(12);
    unsigned char frame[60] = {};
    for (int i = 0; i < 6; ++i) frame[i] = 0xff;  // dst broadcast
    frame[6] = 0x02;
    frame[11] = 0x01;  // src locally administered
    frame[12] = 0x88;
    frame[13] = 0xb5;  // local experimental ethertype
    for (int i = 0; i < n; ++i)
      if (::sendto(s, frame, sizeof(frame), 0, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) < 0) ::_exit(13);
    ::_exit(0);
  }
  int st = 0;
  for (int i = 0; i < 100; ++i) {  // <= 5 s
    pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) return WIFEXITED(st) && WEXITSTATUS(st) == 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &st, 0);
  return false;
}

// Traffic through both hooks of a: 3 frames in, 3 frames out.
void make_traffic(const NetGuard& g) {
  REQUIRE(send_frames(g.b, g.ns, 3));  // -> a ingress
  REQUIRE(send_frames(g.a, "", 3));    // a egress
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// Fork a child that attaches on both directions of `dev` with `mode`, reports
// readiness through a pipe and then waits to be SIGKILLed. Returns its pid (>0)
// once it is attached, or -1.
pid_t spawn_attached_child(const std::string& dev, TcMode mode) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  int in_fd = progs().in_fd, out_fd = progs().out_fd;
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::close(p[0]);
    ::alarm(30);  // never outlive the test by much, even if the parent dies
    try {
      auto* t = new TcAttacher(dev);  // leaked on purpose: the child dies by SIGKILL
      t->attach(in_fd, TcDirection::Ingress, mode);
      t->attach(out_fd, TcDirection::Egress, mode);
    } catch (...) {
      ::_exit(3);
    }
    char c = 'r';
    if (::write(p[1], &c, 1) != 1) ::_exit(4);
    for (;;) ::pause();
  }
  ::close(p[1]);
  pollfd pfd{p[0], POLLIN, 0};
  char c = 0;
  bool ready = ::poll(&pfd, 1, 15000) == 1 && ::read(p[0], &c, 1) == 1 && c == 'r';
  ::close(p[0]);
  if (!ready) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
}

// Poll `pred` for up to `ms` milliseconds.
template <class F>
bool eventually(F pred, int ms = 3000) {
  for (int waited = 0; waited <= ms; waited += 20) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// A foreign filter installed by tc(8) itself: classic-BPF cls_bpf returning 0
// ("no match"), so it is harmless. (This kernel has no matchall/u32/flower.)
const std::string kForeignBpf = "bpf bytecode '1,6 0 0 0,'";

constexpr TcDirection kBoth[] = {TcDirection::Ingress, TcDirection::Egress};

}  // namespace

TEST_CASE("tc: parse helpers and constants", "[tc_attach]") {
  CHECK(tracekit::parse_tc_mode("auto") == TcMode::Auto);
  CHECK(tracekit::parse_tc_mode("tcx") == TcMode::Tcx);
  CHECK(tracekit::parse_tc_mode("clsact") == TcMode::Clsact);
  CHECK_THROWS_AS(tracekit::parse_tc_mode("TCX"), tracekit::UsageError);
  CHECK_THROWS_AS(tracekit::parse_tc_mode(""), tracekit::UsageError);
  CHECK(tracekit::parse_tc_directions("ingress") == std::vector<TcDirection>{TcDirection::Ingress});
  CHECK(tracekit::parse_tc_directions("egress") == std::vector<TcDirection>{TcDirection::Egress});
  CHECK(tracekit::parse_tc_directions("both") == std::vector<TcDirection>{TcDirection::Ingress, TcDirection::Egress});
  try {
    tracekit::parse_tc_directions("sideways");
    FAIL("no throw");
  } catch (const tracekit::UsageError& e) {
    CHECK(e.exit_code() == 2);
    CHECK(std::string(e.what()).find("sideways") != std::string::npos);
  }
  CHECK(tracekit::kTcFilterHandle == 0x7c1);
  CHECK(tracekit::kTcFilterPriority == 1985);
}

TEST_CASE("tc: unknown or too long interface name is a usage error", "[tc_attach]") {
  try {
    TcAttacher t("nope0");
    FAIL("no throw");
  } catch (const tracekit::UsageError& e) {
    CHECK(e.exit_code() == 2);
    CHECK(std::string(e.what()) == "no such interface: nope0");
  }
  const std::string longname = "abcdefghijklmnop";  // 16 chars == IFNAMSIZ
  try {
    TcAttacher t(longname);
    FAIL("no throw");
  } catch (const tracekit::UsageError& e) {
    CHECK(e.exit_code() == 2);
    CHECK(std::string(e.what()) == "interface name too long: " + longname);
  }
  CHECK_THROWS_AS(TcAttacher(std::string(100, 'x')), tracekit::UsageError);
}

TEST_CASE("tc: clsact mode on both directions, qdisc created and removed", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  NetGuard g;
  Progs& P = progs();
  REQUIRE_FALSE(has_clsact(g.a));
  {
    TcAttacher t(g.a);
    CHECK(t.ifname() == g.a);
    CHECK(t.ifindex() == g.ifindex_a());
    CHECK(t.interface_present());
    for (auto d : kBoth) t.attach(P.fd(d), d, TcMode::Clsact);
    CHECK(t.describe() == "clsact ingress+egress on " + g.a);
    CHECK(has_clsact(g.a));
    for (auto d : kBoth) {
      CHECK(tc_filter_count(g.a, d, true) == 1);
      CHECK(tc_filter_count(g.a, d, false) == 1);
      CHECK(tcx_count(g.ifindex_a(), d) == 0);  // really clsact, not tcx
    }
    // Double attach on one direction is refused (one program per direction per object).
    CHECK_THROWS_AS(t.attach(P.in_fd, TcDirection::Ingress, TcMode::Clsact), tracekit::Error);

    // The programs run.
    uint64_t in0 = P.hits(TcDirection::Ingress), out0 = P.hits(TcDirection::Egress);
    make_traffic(g);
    CHECK(P.hits(TcDirection::Ingress) >= in0 + 3);
    CHECK(P.hits(TcDirection::Egress) >= out0 + 3);

    t.detach_all();
    for (auto d : kBoth) CHECK(tc_filter_count(g.a, d, false) == 0);
    CHECK_FALSE(has_clsact(g.a));  // we created it, nothing else on it: removed
    CHECK(t.describe() == "nothing attached on " + g.a);

    uint64_t in1 = P.hits(TcDirection::Ingress), out1 = P.hits(TcDirection::Egress);
    make_traffic(g);
    CHECK(P.hits(TcDirection::Ingress) == in1);
    CHECK(P.hits(TcDirection::Egress) == out1);

    t.detach_all();  // idempotent
  }
  CHECK_FALSE(has_clsact(g.a));
}

TEST_CASE("tc: destructor detaches", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  NetGuard g;
  {
    TcAttacher t(g.a);
    t.attach(progs().in_fd, TcDirection::Ingress, TcMode::Clsact);
    CHECK(t.describe() == "clsact ingress on " + g.a);
    TcAttacher moved(std::move(t));  // ownership moves; t's destructor must not detach
    CHECK(moved.describe() == "clsact ingress on " + g.a);
    CHECK(tc_filter_count(g.a, TcDirection::Ingress, true) == 1);
  }
  CHECK(tc_filter_count(g.a, TcDirection::Ingress, false) == 0);
  CHECK_FALSE(has_clsact(g.a));
}

TEST_CASE("tc: pre-existing clsact qdisc with a foreign filter survives", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  NetGuard g;
  Progs& P = progs();
  auto r = sh("tc qdisc add dev " + g.a + " clsact && " + "tc filter add dev " + g.a + " ingress prio 5 handle 1 " +
              kForeignBpf + " && " + "tc filter add dev " + g.a + " egress prio 5 handle 1 " + kForeignBpf);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  const std::string before_in = sh("tc filter show dev " + g.a + " ingress").out;
  const std::string before_out = sh("tc filter show dev " + g.a + " egress").out;
  {
    TcAttacher t(g.a);
    for (auto d : kBoth) t.attach(P.fd(d), d, TcMode::Clsact);
    for (auto d : kBoth) {
      CHECK(tc_filter_count(g.a, d, true) == 1);
      CHECK(tc_filter_count(g.a, d, false) == 2);  // ours + the foreign one
    }
    t.detach_all();
    for (auto d : kBoth) CHECK(tc_filter_count(g.a, d, true) == 0);
  }
  CHECK(has_clsact(g.a));
  CHECK(sh("tc filter show dev " + g.a + " ingress").out == before_in);
  CHECK(sh("tc filter show dev " + g.a + " egress").out == before_out);
  for (auto d : kBoth) CHECK(tc_filter_count(g.a, d, false) == 1);
}

TEST_CASE("tc: qdisc we created but someone else filtered on survives", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  NetGuard g;
  {
    TcAttacher t(g.a);
    t.attach(progs().in_fd, TcDirection::Ingress, TcMode::Clsact);
    REQUIRE(has_clsact(g.a));
    // Foreign filter added on the *other* hook while we are attached.
    REQUIRE(sh("tc filter add dev " + g.a + " egress prio 7 handle 1 " + kForeignBpf).rc == 0);
    t.detach_all();
  }
  CHECK(has_clsact(g.a));
  CHECK(tc_filter_count(g.a, TcDirection::Ingress, false) == 0);
  CHECK(tc_filter_count(g.a, TcDirection::Egress, false) == 1);
}

TEST_CASE("tc: legacy ingress qdisc: ingress works, egress refused, qdisc kept", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  NetGuard g;
  REQUIRE(sh("tc qdisc add dev " + g.a + " ingress").rc == 0);
  {
    TcAttacher t(g.a);
    t.attach(progs().in_fd, TcDirection::Ingress, TcMode::Clsact);
    CHECK(tc_filter_count(g.a, TcDirection::Ingress, true) == 1);
    try {
      t.attach(progs().out_fd, TcDirection::Egress, TcMode::Clsact);
      FAIL("no throw");
    } catch (const tracekit::Error& e) {
      INFO(e.what());
      CHECK(e.exit_code() == 1);
      CHECK(std::string(e.what()).rfind("cannot attach to " + g.a + " egress via clsact: ", 0) == 0);
      CHECK_FALSE(e.hint().empty());
    }
    // The refused egress attach must not have clobbered the ingress filter.
    CHECK(tc_filter_count(g.a, TcDirection::Ingress, true) == 1);
    CHECK(t.describe() == "clsact ingress on " + g.a);
  }
  CHECK(tc_filter_count(g.a, TcDirection::Ingress, false) == 0);
  CHECK(sh("tc qdisc show dev " + g.a).out.find("qdisc ingress ffff:") != std::string::npos);
}

TEST_CASE("tc: clsact filter left by a SIGKILLed run is replaced, not duplicated", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  NetGuard g;
  Progs& P = progs();
  pid_t child = spawn_attached_child(g.a, TcMode::Clsact);
  REQUIRE(child > 0);
  for (auto d : kBoth) CHECK(tc_filter_count(g.a, d, true) == 1);
  kill_and_reap(child);
  // The leftover is still there (clsact filters are not owned by a process).
  for (auto d : kBoth) CHECK(tc_filter_count(g.a, d, true) == 1);
  {
    TcAttacher t(g.a);
    for (auto d : kBoth) t.attach(P.fd(d), d, TcMode::Clsact);
    for (auto d : kBoth) {
      CHECK(tc_filter_count(g.a, d, true) == 1);
      CHECK(tc_filter_count(g.a, d, false) == 1);
    }
    uint64_t in0 = P.hits(TcDirection::Ingress), out0 = P.hits(TcDirection::Egress);
    make_traffic(g);
    CHECK(P.hits(TcDirection::Ingress) >= in0 + 3);
    CHECK(P.hits(TcDirection::Egress) >= out0 + 3);
    t.detach_all();
    for (auto d : kBoth) CHECK(tc_filter_count(g.a, d, false) == 0);
  }
  // The qdisc was created by the killed run, not by t: by the ownership rule it stays.
  CHECK(has_clsact(g.a));
}

TEST_CASE("tc: tcx mode", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  if (!tracekit::kernel_has_tcx()) {
    WARN("kernel without tcx: skipped");
    return;
  }
  NetGuard g;
  Progs& P = progs();
  const int ifx = g.ifindex_a();

  SECTION("attach, traffic, detach") {
    TcAttacher t(g.a);
    for (auto d : kBoth) t.attach(P.fd(d), d, TcMode::Tcx);
    CHECK(t.describe() == "tcx ingress+egress on " + g.a);
    for (auto d : kBoth) CHECK(tcx_count(ifx, d) == 1);
    CHECK_FALSE(has_clsact(g.a));
    for (auto d : kBoth) CHECK(tc_filter_count(g.a, d, false) == 0);

    uint64_t in0 = P.hits(TcDirection::Ingress), out0 = P.hits(TcDirection::Egress);
    make_traffic(g);
    CHECK(P.hits(TcDirection::Ingress) >= in0 + 3);
    CHECK(P.hits(TcDirection::Egress) >= out0 + 3);

    t.detach_all();
    for (auto d : kBoth) CHECK(tcx_count(ifx, d) == 0);
    uint64_t in1 = P.hits(TcDirection::Ingress), out1 = P.hits(TcDirection::Egress);
    make_traffic(g);
    CHECK(P.hits(TcDirection::Ingress) == in1);
    CHECK(P.hits(TcDirection::Egress) == out1);
    t.detach_all();
  }
  SECTION("auto picks tcx on this kernel") {
    TcAttacher t(g.a);
    t.attach(P.out_fd, TcDirection::Egress, TcMode::Auto);
    t.attach(P.in_fd, TcDirection::Ingress, TcMode::Auto);
    CHECK(t.describe() == "tcx ingress+egress on " + g.a);  // ingress listed first
    for (auto d : kBoth) CHECK(tcx_count(ifx, d) == 1);
  }
  SECTION("mixed modes") {
    TcAttacher t(g.a);
    t.attach(P.in_fd, TcDirection::Ingress, TcMode::Tcx);
    t.attach(P.out_fd, TcDirection::Egress, TcMode::Clsact);
    CHECK(t.describe() == "tcx ingress, clsact egress on " + g.a);
    CHECK(tcx_count(ifx, TcDirection::Ingress) == 1);
    CHECK(tc_filter_count(g.a, TcDirection::Egress, true) == 1);
    t.detach_all();
    CHECK(tcx_count(ifx, TcDirection::Ingress) == 0);
    CHECK(tc_filter_count(g.a, TcDirection::Egress, false) == 0);
    CHECK_FALSE(has_clsact(g.a));
  }
  SECTION("a SIGKILLed tcx user leaves nothing attached") {
    pid_t child = spawn_attached_child(g.a, TcMode::Tcx);
    REQUIRE(child > 0);
    for (auto d : kBoth) CHECK(tcx_count(ifx, d) == 1);
    kill_and_reap(child);
    for (auto d : kBoth) CHECK(eventually([&] { return tcx_count(ifx, d) == 0; }));
    CHECK_FALSE(has_clsact(g.a));
  }
  SECTION("error message for a bad program fd") {
    TcAttacher t(g.a);
    try {
      t.attach(-1, TcDirection::Ingress, TcMode::Tcx);
      FAIL("no throw");
    } catch (const tracekit::Error& e) {
      CHECK(e.exit_code() == 1);
      CHECK(std::string(e.what()).rfind("cannot attach to " + g.a + " ingress via tcx: ", 0) == 0);
    }
    CHECK(t.describe() == "nothing attached on " + g.a);
  }
  for (auto d : kBoth) CHECK(tcx_count(ifx, d) == 0);
}

TEST_CASE("tc: interface deleted while attached", "[tc_attach][root]") {
  if (!is_root()) {
    WARN("needs root: skipped");
    return;
  }
  tracekit::quiet_libbpf();
  NetGuard g;
  Progs& P = progs();
  std::optional<TcAttacher> cls, tcx;
  cls.emplace(g.a);
  for (auto d : kBoth) cls->attach(P.fd(d), d, TcMode::Clsact);
  if (tracekit::kernel_has_tcx()) {
    tcx.emplace(g.a);
    for (auto d : kBoth) tcx->attach(P.fd(d), d, TcMode::Tcx);
  }
  REQUIRE(cls->interface_present());
  REQUIRE(sh("ip link del " + g.a).rc == 0);
  CHECK(eventually([&] { return !cls->interface_present(); }));
  CHECK_NOTHROW(cls->detach_all());
  CHECK_NOTHROW(cls->detach_all());
  if (tcx) {
    CHECK_FALSE(tcx->interface_present());
    CHECK_NOTHROW(tcx->detach_all());
  }
  CHECK(cls->describe() == "nothing attached on " + g.a);
  // Attaching to the vanished interface is a clean runtime error (exit code 1).
  for (TcMode m : {TcMode::Clsact, TcMode::Tcx}) {
    try {
      cls->attach(P.in_fd, TcDirection::Ingress, m);
      FAIL("no throw");
    } catch (const tracekit::UsageError&) {
      FAIL("vanished interface at attach time is not a usage error");
    } catch (const tracekit::Error& e) {
      INFO(e.what());
      CHECK(e.exit_code() == 1);
      CHECK(std::string(e.what()).rfind("cannot attach to " + g.a + " ingress via ", 0) == 0);
    }
  }
  CHECK_NOTHROW(cls.reset());
  CHECK_NOTHROW(tcx.reset());
  CHECK_THROWS_AS(TcAttacher(g.a), tracekit::UsageError);
}
