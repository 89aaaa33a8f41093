// tcp_tracker's BPF program fed crafted frames with BPF_PROG_TEST_RUN (root, no network,
// nothing attached): each case checks the exact contents of the flow table and of the
// per-CPU "outside" counters, and that the verdict is always TC_ACT_UNSPEC (-1).
//
// The program is the tool's embedded text (tcp_tracker_bpf_text) compiled by bcc as
// the tool compiles it; the table is read with tracekit::HashMapReader like the tool.
// Not reachable from here: frames shorter than an Ethernet header (the kernel refuses
// to run a SCHED_CLS test on less than 14 bytes) and skb->vlan_tci (cannot be set in
// the test context): tcp_tracker_test.cc covers the offloaded VLAN tag on a real veth.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bpf/bpf_program.h"
#include "bpf/map_reader.h"
#include "bpf/tc_attach.h"
#include "tcp_tracker.h"

extern const char tcp_tracker_bpf_text[];

namespace {

constexpr unsigned kVerdict = static_cast<unsigned>(-1);  // TC_ACT_UNSPEC == TCX_NEXT

struct FrameSpec {
  int family = 4;
  std::string src = "198.18.0.1", dst = "198.18.0.2";
  uint16_t sport = 40000, dport = 5201;
  int ip_option_words = 0;           // IPv4: IHL = 5 + this
  std::vector<uint16_t> vlan_tpids;  // one entry per tag in the frame (0x8100 / 0x88a8)
  std::vector<uint8_t> ipv6_ext;     // IPv6 extension header types before TCP (0, 43, 60, 51, 44)
  uint16_t ipv6_frag_offset = 0;     // for a fragment header (units of 8 bytes)
  uint16_t ipv4_frag = 0x4000;       // flags + fragment offset field (DF by default)
  uint8_t protocol = 6;              // IPv4 protocol / last IPv6 next header
  int ip_version = -1;               // override the version nibble
  int ihl_override = -1;             // override the IHL nibble
  int tcp_doff = 5;                  // TCP data offset (words)
  size_t payload = 100;
};

void put16(std::vector<uint8_t>& b, size_t at, unsigned v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

struct Frame {
  std::vector<uint8_t> bytes;
  size_t l3 = 0, l4 = 0;  // offsets of the IP and TCP headers
  size_t headers = 0;     // bytes up to the end of the TCP header
};

Frame make_frame(const FrameSpec& s) {
  Frame f;
  auto& b = f.bytes;
  b.assign(12, 0);
  b[0] = 0x02, b[5] = 0x01, b[6] = 0x02, b[11] = 0x02;  // MACs
  const unsigned ethertype = s.family == 4 ? 0x0800 : 0x86dd;
  for (uint16_t tpid : s.vlan_tpids) {
    b.resize(b.size() + 4, 0);
    put16(b, b.size() - 4, tpid);
    put16(b, b.size() - 2, 42);  // VLAN id 42
  }
  b.resize(b.size() + 2, 0);
  put16(b, b.size() - 2, ethertype);
  f.l3 = b.size();
  if (s.family == 4) {
    const size_t ihl = 20 + 4 * static_cast<size_t>(s.ip_option_words);
    b.resize(f.l3 + ihl, 0);
    int ihl_nibble = s.ihl_override >= 0 ? s.ihl_override : static_cast<int>(ihl / 4);
    int version = s.ip_version >= 0 ? s.ip_version : 4;
    b[f.l3] = static_cast<uint8_t>(version << 4 | ihl_nibble);
    put16(b, f.l3 + 2, static_cast<unsigned>(ihl + 4 * s.tcp_doff + s.payload));
    put16(b, f.l3 + 6, s.ipv4_frag);
    b[f.l3 + 8] = 64;
    b[f.l3 + 9] = s.protocol;
    REQUIRE(inet_pton(AF_INET, s.src.c_str(), &b[f.l3 + 12]) == 1);
    REQUIRE(inet_pton(AF_INET, s.dst.c_str(), &b[f.l3 + 16]) == 1);
    // Options: NOPs, except that the first 4 bytes look like "ports" 0xdead/0xbeef, so a
    // parser assuming a 20-byte header reads wrong ports.
    for (size_t i = 20; i < ihl; ++i) b[f.l3 + i] = 1;
    if (ihl >= 24) b[f.l3 + 20] = 0xde, b[f.l3 + 21] = 0xad, b[f.l3 + 22] = 0xbe, b[f.l3 + 23] = 0xef;
    f.l4 = f.l3 + ihl;
  } else {
    b.resize(f.l3 + 40, 0);
    int version = s.ip_version >= 0 ? s.ip_version : 6;
    b[f.l3] = static_cast<uint8_t>(version << 4);
    b[f.l3 + 6] = s.ipv6_ext.empty() ? s.protocol : s.ipv6_ext[0];
    b[f.l3 + 7] = 64;
    REQUIRE(inet_pton(AF_INET6, s.src.c_str(), &b[f.l3 + 8]) == 1);
    REQUIRE(inet_pton(AF_INET6, s.dst.c_str(), &b[f.l3 + 24]) == 1);
    size_t off = f.l3 + 40;
    for (size_t i = 0; i < s.ipv6_ext.size(); ++i) {
      uint8_t type = s.ipv6_ext[i];
      uint8_t next = i + 1 < s.ipv6_ext.size() ? s.ipv6_ext[i + 1] : s.protocol;
      size_t len = type == 44 ? 8 : 16;  // options headers: 16 bytes (hdr_ext_len 1)
      b.resize(off + len, 0);
      b[off] = next;
      if (type == 44) {
        put16(b, off + 2, static_cast<unsigned>(s.ipv6_frag_offset << 3) | 1u);  // M flag
      } else if (type == 51) {
        b[off + 1] = static_cast<uint8_t>(len / 4 - 2);  // AH: (len + 2) * 4
      } else {
        b[off + 1] = static_cast<uint8_t>(len / 8 - 1);
        b[off + 2] = 1;  // PadN
        b[off + 3] = static_cast<uint8_t>(len - 4);
      }
      off += len;
    }
    put16(b, f.l3 + 4, static_cast<unsigned>(off - f.l3 - 40 + 4 * s.tcp_doff + s.payload));
    f.l4 = off;
  }
  const size_t tcp_len = 4 * static_cast<size_t>(s.tcp_doff < 5 ? 5 : s.tcp_doff);
  b.resize(f.l4 + tcp_len, 0);
  put16(b, f.l4, s.sport);
  put16(b, f.l4 + 2, s.dport);
  b[f.l4 + 12] = static_cast<uint8_t>(s.tcp_doff << 4);
  b[f.l4 + 13] = 0x18;  // PSH|ACK
  put16(b, f.l4 + 14, 502);
  for (size_t i = 20; i < tcp_len; ++i) b[f.l4 + i] = 1;  // NOP options
  f.headers = b.size();
  b.resize(b.size() + s.payload, 0xab);
  return f;
}

flow_key key_of(const FrameSpec& s) {
  flow_key k{};
  k.family = static_cast<__u8>(s.family);
  int af = s.family == 4 ? AF_INET : AF_INET6;
  REQUIRE(inet_pton(af, s.src.c_str(), k.saddr) == 1);
  REQUIRE(inet_pton(af, s.dst.c_str(), k.daddr) == 1);
  k.sport = s.sport;
  k.dport = s.dport;
  return k;
}

std::string key_bytes(const flow_key& k) { return std::string(reinterpret_cast<const char*>(&k), sizeof k); }

struct Counts {
  uint64_t bytes = 0, packets = 0, segments = 0;
  bool operator==(const Counts& o) const { return bytes == o.bytes && packets == o.packets && segments == o.segments; }
};

std::ostream& operator<<(std::ostream& os, const Counts& c) {
  return os << "{bytes " << c.bytes << ", packets " << c.packets << ", segments " << c.segments << "}";
}

// The compiled program with its two maps.
class Prog {
 public:
  // spare: compile as for --reset (a second table, "flows_spare").
  explicit Prog(long max_flows = TCP_TRACKER_DEFAULT_MAX_FLOWS, bool spare = false) : max_flows_(max_flows) {
    tracekit::quiet_libbpf();
    tracekit::LoadOptions load;
    load.cflags = {"-DTCP_TRACKER_MAX_FLOWS=" + std::to_string(max_flows)};
    if (spare) load.cflags.push_back("-DTCP_TRACKER_SPARE");
    load.net_admin = true;
    load.tracing = false;
    prog_.load(tcp_tracker_bpf_text, load);
    fd_ = prog_.load_function("trace_tcp_tracker_ingress", BPF_PROG_TYPE_SCHED_CLS);
    flows_fd_ = prog_.map_fd("flows");
    outside_fd_ = prog_.map_fd("outside");
    cpus_ = static_cast<size_t>(libbpf_num_possible_cpus());
    flows_fd_now_ = flows_fd_;
    if (spare) {
      spare_fd_ = prog_.map_fd("flows_spare");
      tables_fd_ = prog_.map_fd("flow_tables");
      point_at(flows_fd_);
    }
  }

  // --reset: points slot 0 of flow_tables at a table (as the tool does); -1 empties it.
  void point_at(int table_fd) {
    const uint32_t slot = 0;
    if (table_fd < 0)
      REQUIRE(bpf_map_delete_elem(tables_fd_, &slot) == 0);
    else
      REQUIRE(bpf_map_update_elem(tables_fd_, &slot, &table_fd, BPF_ANY) == 0);
    flows_fd_now_ = table_fd;
  }
  int flows_fd() const { return flows_fd_; }
  int spare_fd() const { return spare_fd_; }

  // Runs the program once on `frame`; returns the verdict. gso_segs is put in the
  // test context (0 = none).
  unsigned run(const std::vector<uint8_t>& frame, uint32_t gso_segs = 0) {
    unsigned verdict = 0;
    int err = try_run(frame, gso_segs, &verdict);
    INFO("frame of " << frame.size() << " bytes");
    REQUIRE(err == 0);
    return verdict;
  }

  // Like run(), returning bpf_prog_test_run_opts' error (0 or -errno).
  int try_run(const std::vector<uint8_t>& frame, uint32_t gso_segs, unsigned* verdict) {
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<__u32>(frame.size());
    __sk_buff ctx{};
    if (gso_segs) {
      ctx.gso_segs = gso_segs;
      opts.ctx_in = &ctx;
      opts.ctx_size_in = sizeof(ctx);
    }
    int err = bpf_prog_test_run_opts(fd_, &opts);
    *verdict = opts.retval;
    return err;
  }

  // Contents of the table slot 0 points at (or of table_fd).
  std::map<std::string, Counts> flows(int table_fd = -1) {
    tracekit::HashMapReader reader(table_fd >= 0 ? table_fd : flows_fd_now_, sizeof(flow_key), sizeof(flow_value),
                                   static_cast<uint32_t>(max_flows_));
    reader.read(false);
    std::map<std::string, Counts> out;
    for (size_t i = 0; i < reader.size(); ++i) {
      auto v = reader.value_as<flow_value>(i);
      out[std::string(reinterpret_cast<const char*>(reader.key(i)), sizeof(flow_key))] =
          Counts{v.bytes, v.packets, v.segments};
    }
    return out;
  }

  std::array<uint64_t, OUTSIDE_REASONS> outside() {
    std::array<uint64_t, OUTSIDE_REASONS> out{};
    std::vector<uint64_t> percpu(cpus_);
    for (uint32_t r = 0; r < OUTSIDE_REASONS; ++r) {
      REQUIRE(bpf_map_lookup_elem(outside_fd_, &r, percpu.data()) == 0);
      for (uint64_t v : percpu) out[r] += v;
    }
    return out;
  }

  void clear() {
    tracekit::HashMapReader reader(flows_fd_, sizeof(flow_key), sizeof(flow_value), static_cast<uint32_t>(max_flows_));
    reader.read(true);
    std::vector<uint64_t> zero(cpus_, 0);
    for (uint32_t r = 0; r < OUTSIDE_REASONS; ++r)
      REQUIRE(bpf_map_update_elem(outside_fd_, &r, zero.data(), BPF_ANY) == 0);
  }

 private:
  tracekit::BpfProgram prog_;
  long max_flows_;
  int fd_ = -1, flows_fd_ = -1, spare_fd_ = -1, tables_fd_ = -1, outside_fd_ = -1, flows_fd_now_ = -1;
  size_t cpus_ = 1;
};

// One program for the whole file (bcc compiles take seconds); cleared per test.
Prog& prog() {
  static std::unique_ptr<Prog> p = std::make_unique<Prog>();
  p->clear();
  return *p;
}

std::array<uint64_t, OUTSIDE_REASONS> only(int reason, uint64_t n) {
  std::array<uint64_t, OUTSIDE_REASONS> a{};
  a[static_cast<size_t>(reason)] = n;
  return a;
}

// Runs `spec` n times and checks that exactly that flow holds n packets of the frame.
void expect_counted(Prog& p, const FrameSpec& spec, int n = 1) {
  Frame f = make_frame(spec);
  for (int i = 0; i < n; ++i) CHECK(p.run(f.bytes) == kVerdict);
  auto flows = p.flows();
  REQUIRE(flows.size() == 1);
  auto it = flows.find(key_bytes(key_of(spec)));
  REQUIRE(it != flows.end());
  uint64_t un = static_cast<uint64_t>(n);
  CHECK(it->second == Counts{un * f.bytes.size(), un, un});
  CHECK(p.outside() == std::array<uint64_t, OUTSIDE_REASONS>{});
}

void expect_outside(Prog& p, const std::vector<uint8_t>& frame, int reason) {
  CHECK(p.run(frame) == kVerdict);
  CHECK(p.flows().empty());
  CHECK(p.outside() == only(reason, 1));
}

}  // namespace

TEST_CASE("tcp_tracker prog: IPv4 TCP, exact bytes and packets per direction", "[tcp_tracker][prog]") {
  Prog& p = prog();
  FrameSpec fwd;
  FrameSpec rev = fwd;
  std::swap(rev.src, rev.dst);
  std::swap(rev.sport, rev.dport);
  rev.payload = 0;
  Frame a = make_frame(fwd), b = make_frame(rev);
  for (int i = 0; i < 23; ++i) CHECK(p.run(a.bytes) == kVerdict);
  for (int i = 0; i < 11; ++i) CHECK(p.run(b.bytes) == kVerdict);
  auto flows = p.flows();
  REQUIRE(flows.size() == 2);
  CHECK(flows[key_bytes(key_of(fwd))] == Counts{23 * a.bytes.size(), 23, 23});
  CHECK(flows[key_bytes(key_of(rev))] == Counts{11 * b.bytes.size(), 11, 11});
  CHECK(a.bytes.size() == 14 + 20 + 20 + 100);
  // Key layout: IPv4 in the first 4 bytes, zeros after; ports in host order; no pad bytes set.
  flow_key k = key_of(fwd);
  CHECK(k.saddr[0] == 198);
  CHECK(k.saddr[4] == 0);
  CHECK(k.pad[0] == 0);
  CHECK(p.outside() == std::array<uint64_t, OUTSIDE_REASONS>{});
}

TEST_CASE("tcp_tracker prog: IPv4 header length is honoured (IP options)", "[tcp_tracker][prog]") {
  for (int words : {1, 2, 5, 10}) {
    Prog& p = prog();
    FrameSpec s;
    s.ip_option_words = words;
    INFO("IHL " << 5 + words);
    expect_counted(p, s, 3);
  }
}

TEST_CASE("tcp_tracker prog: IPv6, with and without extension headers", "[tcp_tracker][prog]") {
  FrameSpec s;
  s.family = 6;
  s.src = "2001:db8::1";
  s.dst = "2001:db8:ffff::2";
  SECTION("plain") { expect_counted(prog(), s, 5); }
  SECTION("hop-by-hop + destination options") {
    s.ipv6_ext = {0, 60};
    expect_counted(prog(), s, 2);
  }
  SECTION("routing + AH") {
    s.ipv6_ext = {43, 51};
    expect_counted(prog(), s, 1);
  }
  SECTION("first fragment (offset 0) holds the TCP header") {
    s.ipv6_ext = {44};
    expect_counted(prog(), s, 1);
  }
  SECTION("later fragment") {
    s.ipv6_ext = {44};
    s.ipv6_frag_offset = 100;
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_FRAGMENT);
  }
  SECTION("seven extension headers: more than the parser walks") {
    s.ipv6_ext = {0, 60, 60, 60, 60, 60, 60};
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_NON_TCP);
  }
  SECTION("UDP / ICMPv6") {
    for (uint8_t proto : {17, 58}) {
      s.protocol = proto;
      expect_outside(prog(), make_frame(s).bytes, OUTSIDE_NON_TCP);
    }
  }
  SECTION("no next header (59)") {
    s.protocol = 59;
    s.ipv6_ext = {60};
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_NON_TCP);
  }
}

TEST_CASE("tcp_tracker prog: VLAN tags in the frame", "[tcp_tracker][prog]") {
  FrameSpec s;
  SECTION("802.1Q, IPv4") {
    s.vlan_tpids = {0x8100};
    expect_counted(prog(), s, 2);
  }
  SECTION("802.1ad, IPv6") {
    s.vlan_tpids = {0x88a8};
    s.family = 6;
    s.src = "fd00::1";
    s.dst = "fd00::2";
    expect_counted(prog(), s, 2);
  }
  SECTION("two tags (QinQ) are not parsed") {
    s.vlan_tpids = {0x88a8, 0x8100};
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_NON_IP);
  }
}

TEST_CASE("tcp_tracker prog: non-TCP and non-IP frames", "[tcp_tracker][prog]") {
  Prog& p = prog();
  FrameSpec s;
  s.protocol = 17;  // UDP
  CHECK(p.run(make_frame(s).bytes) == kVerdict);
  s.protocol = 1;  // ICMP
  CHECK(p.run(make_frame(s).bytes) == kVerdict);
  // ARP request: ethertype 0x0806, 28-byte body, padded to 60 bytes.
  std::vector<uint8_t> arp(60, 0);
  for (int i = 0; i < 6; ++i) arp[static_cast<size_t>(i)] = 0xff;
  put16(arp, 12, 0x0806);
  put16(arp, 14, 1);
  put16(arp, 16, 0x0800);
  arp[18] = 6, arp[19] = 4;
  put16(arp, 20, 1);
  CHECK(p.run(arp) == kVerdict);
  // Ethernet header alone, unknown ethertype.
  std::vector<uint8_t> bare(14, 0);
  put16(bare, 12, 0x88b5);
  CHECK(p.run(bare) == kVerdict);
  CHECK(p.flows().empty());
  auto out = p.outside();
  CHECK(out[OUTSIDE_NON_TCP] == 2);
  CHECK(out[OUTSIDE_NON_IP] == 2);
  CHECK(out[OUTSIDE_TRUNCATED] == 0);
}

TEST_CASE("tcp_tracker prog: IPv4 fragments and malformed headers", "[tcp_tracker][prog]") {
  FrameSpec s;
  SECTION("first fragment with MF counts") {
    s.ipv4_frag = 0x2000;
    expect_counted(prog(), s, 1);
  }
  SECTION("later fragment") {
    s.ipv4_frag = 0x2000 | 185;
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_FRAGMENT);
  }
  SECTION("IHL below 5") {
    s.ihl_override = 4;
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_MALFORMED);
  }
  SECTION("IPv4 ethertype, version 6") {
    s.ip_version = 6;
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_MALFORMED);
  }
  SECTION("TCP data offset below 5") {
    s.tcp_doff = 4;
    expect_outside(prog(), make_frame(s).bytes, OUTSIDE_MALFORMED);
  }
  SECTION("TCP options (data offset 8) count") {
    s.tcp_doff = 8;
    expect_counted(prog(), s, 2);
  }
}

TEST_CASE("tcp_tracker prog: truncated at every byte up to the end of the TCP header", "[tcp_tracker][prog]") {
  // The kernel refuses a test run of an untagged IPv4/IPv6 frame shorter than its fixed
  // IP header (EINVAL, from skb->protocol); with a VLAN tag skb->protocol is 802.1Q and
  // every cut runs, so the tagged cases cover the inside of the fixed IP headers.
  struct Case {
    std::string name;
    FrameSpec spec;
  };
  std::vector<Case> cases;
  FrameSpec v4;
  v4.ip_option_words = 3;
  v4.tcp_doff = 8;
  cases.push_back({"IPv4 IHL 8, TCP options", v4});
  FrameSpec tagged4 = v4;
  tagged4.vlan_tpids = {0x8100};
  cases.push_back({"802.1Q IPv4 IHL 8, TCP options", tagged4});
  FrameSpec v6;
  v6.family = 6;
  v6.src = "2001:db8::1";
  v6.dst = "2001:db8::2";
  v6.ipv6_ext = {0, 44};
  cases.push_back({"IPv6 + hop-by-hop + fragment", v6});
  FrameSpec tagged6 = v6;
  tagged6.vlan_tpids = {0x88a8};
  cases.push_back({"802.1ad IPv6 + hop-by-hop + fragment", tagged6});
  for (auto& c : cases) {
    c.spec.payload = 0;
    Frame f = make_frame(c.spec);
    const size_t fixed_ip_end = f.l3 + (c.spec.family == 4 ? 20 : 40);
    Prog& p = prog();
    uint64_t runs = 0;
    for (size_t len = 14; len < f.headers; ++len) {
      INFO(c.name << " cut to " << len << " of " << f.headers << " bytes");
      std::vector<uint8_t> cut(f.bytes.begin(), f.bytes.begin() + static_cast<long>(len));
      unsigned verdict = 0;
      int err = p.try_run(cut, 0, &verdict);
      if (c.spec.vlan_tpids.empty() && len < fixed_ip_end) {
        CHECK(err == -EINVAL);  // refused by BPF_PROG_TEST_RUN itself
        continue;
      }
      REQUIRE(err == 0);
      CHECK(verdict == kVerdict);
      ++runs;
      CHECK(p.outside() == only(OUTSIDE_TRUNCATED, runs));
    }
    CHECK(runs == f.headers - (c.spec.vlan_tpids.empty() ? fixed_ip_end : 14));
    CHECK(p.flows().empty());
    INFO(c.name << " uncut");
    expect_counted(prog(), c.spec, 1);
  }
}

TEST_CASE("tcp_tracker prog: segments come from gso_segs", "[tcp_tracker][prog]") {
  Prog& p = prog();
  FrameSpec s;
  s.payload = 1000;
  Frame f = make_frame(s);
  CHECK(p.run(f.bytes, 7) == kVerdict);
  CHECK(p.run(f.bytes, 0) == kVerdict);
  CHECK(p.run(f.bytes, 1) == kVerdict);
  CHECK(p.run(f.bytes, 44) == kVerdict);
  auto flows = p.flows();
  REQUIRE(flows.size() == 1);
  CHECK(flows.begin()->second == Counts{4 * f.bytes.size(), 4, 7 + 1 + 1 + 44});
}

TEST_CASE("tcp_tracker prog: a full LRU table keeps counting new flows", "[tcp_tracker][prog]") {
  constexpr long kMax = 128;
  Prog p(kMax);
  FrameSpec s;
  const int flows = 2000;
  for (int i = 0; i < flows; ++i) {
    s.sport = static_cast<uint16_t>(10000 + i);
    CHECK(p.run(make_frame(s).bytes) == kVerdict);
  }
  auto table = p.flows();
  CHECK(table.size() <= static_cast<size_t>(kMax));
  CHECK(table.size() >= static_cast<size_t>(kMax) / 2);
  // The newest flow is in, and counted exactly; nothing was refused.
  s.sport = static_cast<uint16_t>(10000 + flows - 1);
  auto it = table.find(key_bytes(key_of(s)));
  REQUIRE(it != table.end());
  CHECK(it->second.packets == 1);
  CHECK(p.outside() == std::array<uint64_t, OUTSIDE_REASONS>{});
}

TEST_CASE("tcp_tracker prog: --reset tables: packets go to the table slot 0 points at", "[tcp_tracker][prog]") {
  Prog p(TCP_TRACKER_DEFAULT_MAX_FLOWS, true);
  FrameSpec s;
  Frame f = make_frame(s);
  const std::string k = key_bytes(key_of(s));
  for (int i = 0; i < 3; ++i) CHECK(p.run(f.bytes) == kVerdict);
  p.point_at(p.spare_fd());  // what a --reset report does first
  for (int i = 0; i < 5; ++i) CHECK(p.run(f.bytes) == kVerdict);
  CHECK(p.flows(p.flows_fd())[k] == Counts{3 * f.bytes.size(), 3, 3});
  CHECK(p.flows(p.spare_fd())[k] == Counts{5 * f.bytes.size(), 5, 5});
  p.point_at(p.flows_fd());
  CHECK(p.run(f.bytes) == kVerdict);
  CHECK(p.flows(p.flows_fd())[k] == Counts{4 * f.bytes.size(), 4, 4});
  CHECK(p.flows(p.spare_fd())[k].packets == 5);
  // No table at all (user space has not set one up): counted as refused, still passed on.
  p.point_at(-1);
  CHECK(p.run(f.bytes) == kVerdict);
  CHECK(p.outside() == only(OUTSIDE_NO_ENTRY, 1));
}
