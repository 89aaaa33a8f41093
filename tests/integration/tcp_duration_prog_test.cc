// tcp_duration's BPF program fed crafted packets with BPF_PROG_TEST_RUN: no network,
// no attachment; each case checks the events, the counters and the table left behind.
//
// The program is the tool's embedded text (tcp_duration_bpf_text), compiled by bcc as
// the tool does, read through tracekit::EventReader.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/pkt_cls.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bpf/bpf_program.h"
#include "bpf/event_reader.h"
#include "tcp_duration.h"
#include "util/error.h"

extern const char tcp_duration_bpf_text[];

namespace {

constexpr std::uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

struct Endpoint {
  int family = 4;
  std::array<std::uint8_t, 16> addr{};
  std::uint16_t port = 0;
};

Endpoint ep(const std::string& ip, std::uint16_t port) {
  Endpoint e;
  e.family = ip.find(':') == std::string::npos ? 4 : 6;
  REQUIRE(::inet_pton(e.family == 4 ? AF_INET : AF_INET6, ip.c_str(), e.addr.data()) == 1);
  e.port = port;
  return e;
}

struct FrameOptions {
  int ip_option_words = 0;  // IPv4: IHL = 5 + this
  bool vlan = false;        // one 802.1Q tag
  bool hop_by_hop = false;  // IPv6: an 8-byte hop-by-hop options header before TCP
  std::size_t cut = 0;      // drop this many bytes from the end (truncated capture)
};

void put16(std::vector<std::uint8_t>& b, std::size_t at, unsigned v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// Ethernet [+ VLAN] + IPv4/IPv6 [+ options] + 20-byte TCP header + payload.
std::vector<std::uint8_t> frame(const Endpoint& src, const Endpoint& dst, std::uint8_t flags, std::size_t payload = 0,
                                FrameOptions o = {}) {
  std::vector<std::uint8_t> b(14, 0);
  b[0] = 0x02, b[5] = 0x01;   // dst mac
  b[6] = 0x02, b[11] = 0x02;  // src mac
  std::size_t l3 = 14;
  const unsigned ethertype = src.family == 4 ? 0x0800 : 0x86DD;
  if (o.vlan) {
    put16(b, 12, 0x8100);
    b.resize(18, 0);
    put16(b, 14, 42);  // VLAN id
    put16(b, 16, ethertype);
    l3 = 18;
  } else {
    put16(b, 12, ethertype);
  }
  std::size_t l4;
  if (src.family == 4) {
    const std::size_t ihl = 20 + 4 * static_cast<std::size_t>(o.ip_option_words);
    b.resize(l3 + ihl, 0);
    b[l3] = static_cast<std::uint8_t>(0x40 | (ihl / 4));
    put16(b, l3 + 2, static_cast<unsigned>(ihl + 20 + payload));
    put16(b, l3 + 6, 0x4000);  // DF
    b[l3 + 8] = 64;
    b[l3 + 9] = 6;  // TCP
    std::memcpy(&b[l3 + 12], src.addr.data(), 4);
    std::memcpy(&b[l3 + 16], dst.addr.data(), 4);
    for (std::size_t i = 20; i < ihl; ++i) b[l3 + i] = 1;  // NOP options
    l4 = l3 + ihl;
  } else {
    const std::size_t ext = o.hop_by_hop ? 8 : 0;
    b.resize(l3 + 40 + ext, 0);
    b[l3] = 0x60;
    put16(b, l3 + 4, static_cast<unsigned>(ext + 20 + payload));
    b[l3 + 6] = o.hop_by_hop ? 0 : 6;
    b[l3 + 7] = 64;
    std::memcpy(&b[l3 + 8], src.addr.data(), 16);
    std::memcpy(&b[l3 + 24], dst.addr.data(), 16);
    if (o.hop_by_hop) {
      b[l3 + 40] = 6;  // next header: TCP
      b[l3 + 41] = 0;  // (0 + 1) * 8 bytes
      b[l3 + 42] = 1;  // PadN option filling the rest
      b[l3 + 43] = 4;
    }
    l4 = l3 + 40 + ext;
  }
  b.resize(l4 + 20 + payload, 0xAB);
  put16(b, l4, src.port);
  put16(b, l4 + 2, dst.port);
  b[l4 + 12] = 5 << 4;  // data offset
  b[l4 + 13] = flags;
  put16(b, l4 + 14, 65535);
  for (std::size_t i = l4 + 15; i < l4 + 20; ++i) b[i] = 0;
  if (o.cut) b.resize(b.size() - o.cut);
  return b;
}

// A compiled and loaded copy of the program with its event reader.
struct Prog {
  tracekit::BpfProgram prog;
  int fd = -1;
  std::vector<td_event> events;
  std::unique_ptr<tracekit::EventReader> reader;

  explicit Prog(tracekit::BufferKind kind = tracekit::BufferKind::Ring, long max_connections = 0) {
    std::vector<std::string> cflags = tracekit::buffer_cflags(kind);
    if (max_connections) cflags.push_back("-DMAX_CONNECTIONS=" + std::to_string(max_connections));
    tracekit::LoadOptions load{"", cflags, true, false};
    prog.load(tcp_duration_bpf_text, load);
    tracekit::EventReaderOptions ro;
    if (kind == tracekit::BufferKind::Ring) ro.lost_map = "events_lost";
    reader = std::make_unique<tracekit::EventReader>(
        prog, "events", kind,
        [this](const void* data, size_t size) {
          REQUIRE(size >= sizeof(td_event));
          td_event e;
          std::memcpy(&e, data, sizeof e);
          events.push_back(e);
        },
        ro);
    fd = prog.load_function("tcp_duration_ingress", BPF_PROG_TYPE_SCHED_CLS);
    egress_fd = prog.load_function("tcp_duration_egress", BPF_PROG_TYPE_SCHED_CLS);
    owner_fd = prog.load_function("tcp_duration_owner", BPF_PROG_TYPE_SCHED_CLS);
  }
  int egress_fd = -1, owner_fd = -1;

  // Runs one packet through the program (the ingress entry point, or `prog_fd`);
  // checks it is passed on untouched.
  void run(const std::vector<std::uint8_t>& pkt, int prog_fd = -1) {
    std::vector<std::uint8_t> in = pkt, out(pkt.size() + 64, 0);
    bpf_test_run_opts o{};
    o.sz = sizeof o;
    o.data_in = in.data();
    o.data_size_in = static_cast<__u32>(in.size());
    o.data_out = out.data();
    o.data_size_out = static_cast<__u32>(out.size());
    o.repeat = 1;
    int err = bpf_prog_test_run_opts(prog_fd >= 0 ? prog_fd : fd, &o);
    REQUIRE(err == 0);
    CHECK(static_cast<int>(o.retval) == TC_ACT_UNSPEC);
    REQUIRE(o.data_size_out == pkt.size());
    CHECK(std::memcmp(out.data(), pkt.data(), pkt.size()) == 0);
  }

  // Collects every event sent so far.
  void drain() {
    for (int i = 0; i < 50 && reader->poll(0) > 0; ++i) {
    }
    if (reader->kind() == tracekit::BufferKind::Perf) {  // perf samples may need a moment
      for (int i = 0; i < 10; ++i) reader->poll(10);
    }
  }

  std::uint64_t stat(int i) { return prog.sum_percpu_u64("stats", static_cast<std::uint32_t>(i)); }

  std::uint64_t table_size() {
    int mfd = prog.map_fd("connections");
    td_pair key{}, next{};
    const void* prev = nullptr;
    std::uint64_t n = 0;
    while (n < 1000000 && bpf_map_get_next_key(mfd, prev, &next) == 0) {
      ++n;
      key = next;
      prev = &key;
    }
    return n;
  }
};

Prog& ring_prog() {
  static Prog p;
  return p;
}

// Counter deltas over one test case.
struct Stats {
  Prog& p;
  std::array<std::uint64_t, TD_STAT_MAX> before{};
  explicit Stats(Prog& prog) : p(prog) {
    for (int i = 0; i < TD_STAT_MAX; ++i) before[static_cast<std::size_t>(i)] = p.stat(i);
  }
  std::uint64_t delta(int i) { return p.stat(i) - before[static_cast<std::size_t>(i)]; }
};

std::size_t frame_len(const std::vector<std::uint8_t>& f) { return f.size(); }

void check_key(const td_event& e, const Endpoint& client, const Endpoint& server) {
  CHECK(e.key.family == client.family);
  const std::size_t n = client.family == 4 ? 4 : 16;
  CHECK(std::memcmp(e.key.client_addr, client.addr.data(), n) == 0);
  CHECK(std::memcmp(e.key.server_addr, server.addr.data(), n) == 0);
  if (client.family == 4) {
    for (std::size_t i = 4; i < 16; ++i) {
      CHECK(e.key.client_addr[i] == 0);
      CHECK(e.key.server_addr[i] == 0);
    }
  }
  CHECK(e.key.client_port == client.port);
  CHECK(e.key.server_port == server.port);
}

void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

TEST_CASE("tcp_duration prog: full IPv4 lifecycle gives one FIN event with exact bytes", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  Stats st(p);
  const Endpoint c = ep("10.1.0.2", 43052), s = ep("10.1.0.1", 80);

  auto syn = frame(c, s, SYN), synack = frame(s, c, SYN | ACK), ack = frame(c, s, ACK);
  auto req = frame(c, s, PSH | ACK, 100), resp = frame(s, c, PSH | ACK, 1400);
  auto fin_c = frame(c, s, FIN | ACK), fin_s = frame(s, c, FIN | ACK), last = frame(c, s, ACK);

  p.run(syn);
  p.run(synack);
  p.run(ack);
  p.run(req);
  pause_ms(30);
  p.run(resp);
  p.run(fin_c);
  p.drain();
  CHECK(p.events.empty());  // one FIN is not the end
  CHECK(p.table_size() == 1);
  p.run(ack);    // the server acknowledges the client's FIN
  p.run(fin_s);  // the second FIN: the end
  p.drain();
  REQUIRE(p.events.size() == 1);
  p.run(last);  // the final ACK belongs to no connection any more
  p.drain();
  REQUIRE(p.events.size() == 1);

  const td_event& e = p.events[0];
  check_key(e, c, s);
  CHECK(e.end == TD_END_FIN);
  CHECK(e.end_by == TD_C2S);  // the client sent the first FIN
  CHECK(e.duration_ns >= 30'000'000ULL);
  CHECK(e.duration_ns < 5'000'000'000ULL);
  CHECK(e.start_ns > 0);
  CHECK(e.syns == 1);
  // client: syn, ack, req, fin_c, ack;  server: synack, resp, fin_s
  CHECK(e.packets[TD_C2S] == 5);
  CHECK(e.packets[TD_S2C] == 3);
  CHECK(e.bytes[TD_C2S] == frame_len(syn) + 2 * frame_len(ack) + frame_len(req) + frame_len(fin_c));
  CHECK(e.bytes[TD_S2C] == frame_len(synack) + frame_len(resp) + frame_len(fin_s));
  CHECK(p.table_size() == 0);
  CHECK(st.delta(TD_STAT_OPENED) == 1);
  CHECK(st.delta(TD_STAT_CLOSED_FIN) == 1);
  CHECK(st.delta(TD_STAT_CLOSED_RST) == 0);
  CHECK(st.delta(TD_STAT_ORPHAN_FIN) == 0);
  CHECK(st.delta(TD_STAT_SYN_RETRANS) == 0);
  CHECK(p.reader->lost() == 0);
}

TEST_CASE("tcp_duration prog: the server may close first", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  const Endpoint c = ep("10.1.1.2", 50000), s = ep("10.1.1.1", 443);
  p.run(frame(c, s, SYN));
  p.run(frame(s, c, SYN | ACK));
  p.run(frame(s, c, FIN | ACK));
  p.run(frame(s, c, FIN | ACK));  // retransmitted FIN: still one side
  p.drain();
  CHECK(p.events.empty());
  p.run(frame(c, s, FIN | ACK));
  p.drain();
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].end == TD_END_FIN);
  CHECK(p.events[0].end_by == TD_S2C);
  CHECK(p.events[0].packets[TD_S2C] == 3);
  CHECK(p.events[0].packets[TD_C2S] == 2);
  CHECK(p.table_size() == 0);
}

TEST_CASE("tcp_duration prog: RST from either side ends the connection and frees the entry", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  Stats st(p);
  const Endpoint c1 = ep("10.1.2.2", 40001), c2 = ep("10.1.2.2", 40002), s = ep("10.1.2.1", 8080);

  // Refused: SYN answered by RST|ACK from the server.
  p.run(frame(c1, s, SYN));
  p.run(frame(s, c1, RST | ACK));
  // Aborted by the client mid-way.
  p.run(frame(c2, s, SYN));
  p.run(frame(s, c2, SYN | ACK));
  p.run(frame(c2, s, ACK, 10));
  p.run(frame(c2, s, RST));
  p.drain();
  REQUIRE(p.events.size() == 2);
  check_key(p.events[0], c1, s);
  CHECK(p.events[0].end == TD_END_RST);
  CHECK(p.events[0].end_by == TD_S2C);
  CHECK(p.events[0].packets[TD_C2S] == 1);
  CHECK(p.events[0].packets[TD_S2C] == 1);
  check_key(p.events[1], c2, s);
  CHECK(p.events[1].end == TD_END_RST);
  CHECK(p.events[1].end_by == TD_C2S);
  CHECK(p.events[1].packets[TD_C2S] == 3);
  CHECK(p.table_size() == 0);  // the original leaked RST-closed entries
  CHECK(st.delta(TD_STAT_CLOSED_RST) == 2);
  CHECK(st.delta(TD_STAT_OPENED) == 2);
  // A second RST (the peer's answer) finds nothing.
  p.run(frame(s, c2, RST));
  p.drain();
  CHECK(p.events.size() == 2);
  CHECK(st.delta(TD_STAT_ORPHAN_RST) == 1);
}

TEST_CASE("tcp_duration prog: a retransmitted SYN keeps the first SYN's start", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  Stats st(p);
  const Endpoint c = ep("10.1.3.2", 41000), s = ep("10.1.3.1", 22);
  p.run(frame(c, s, SYN));
  pause_ms(60);
  p.run(frame(c, s, SYN));  // retransmission (the first was "lost")
  p.run(frame(s, c, SYN | ACK));
  p.run(frame(c, s, FIN | ACK));
  p.run(frame(s, c, FIN | ACK));
  p.drain();
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].syns == 2);
  CHECK(p.events[0].duration_ns >= 60'000'000ULL);  // measured from the first SYN
  CHECK(p.events[0].packets[TD_C2S] == 3);
  CHECK(st.delta(TD_STAT_SYN_RETRANS) == 1);
  CHECK(st.delta(TD_STAT_OPENED) == 1);
  CHECK(p.table_size() == 0);
}

TEST_CASE("tcp_duration prog: the handshake times, from the SYN the SYN/ACK answers", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  const Endpoint c = ep("10.1.11.2", 41500), s = ep("10.1.11.1", 80);

  SECTION("SYN, SYN/ACK, ACK") {
    p.run(frame(c, s, SYN));
    pause_ms(20);
    p.run(frame(s, c, SYN | ACK));
    p.run(frame(s, c, SYN | ACK));  // a retransmitted SYN/ACK: the first one counts
    pause_ms(30);
    p.run(frame(c, s, ACK));
    pause_ms(10);
    p.run(frame(c, s, ACK, 10));  // later ACKs do not move it
    p.run(frame(c, s, FIN | ACK));
    p.run(frame(s, c, FIN | ACK));
    p.drain();
    REQUIRE(p.events.size() == 1);
    const td_event& e = p.events[0];
    CHECK(e.seen == (TD_SEEN_SYNACK | TD_SEEN_ACK));
    CHECK(e.syn_to_synack_ns >= 20'000'000ULL);
    CHECK(e.syn_to_synack_ns < 30'000'000ULL);
    CHECK(e.synack_to_ack_ns >= 30'000'000ULL);
    CHECK(e.synack_to_ack_ns < 40'000'000ULL);
    CHECK(e.duration_ns >= e.syn_to_synack_ns + e.synack_to_ack_ns);
    CHECK(e.owner == TD_OWNER_NONE);  // ingress: no socket
    CHECK(e.owner_uid == 0);
    CHECK(e.owner_cgroup_id == 0);
  }
  SECTION("a retransmitted SYN: from the last SYN before the SYN/ACK; the start stays the first") {
    p.run(frame(c, s, SYN));
    pause_ms(60);
    p.run(frame(c, s, SYN));
    pause_ms(10);
    p.run(frame(s, c, SYN | ACK));
    p.run(frame(c, s, SYN));  // after the SYN/ACK: not the one it answered
    p.run(frame(c, s, ACK));
    p.run(frame(c, s, RST));
    p.drain();
    REQUIRE(p.events.size() == 1);
    const td_event& e = p.events[0];
    CHECK(e.syns == 3);
    CHECK(e.seen == (TD_SEEN_SYNACK | TD_SEEN_ACK));
    CHECK(e.syn_to_synack_ns >= 10'000'000ULL);
    CHECK(e.syn_to_synack_ns < 60'000'000ULL);
    CHECK(e.duration_ns >= 70'000'000ULL);
  }
  SECTION("refused (RST), or no ACK before the end: the missing steps are not seen") {
    p.run(frame(c, s, SYN));
    p.run(frame(s, c, RST | ACK));
    Endpoint c2 = c;
    c2.port = static_cast<std::uint16_t>(c.port + 1);
    p.run(frame(c2, s, SYN));
    p.run(frame(c2, s, ACK));  // an ACK before any SYN/ACK is no handshake ACK
    p.run(frame(s, c2, SYN | ACK));
    p.run(frame(s, c2, RST));
    // A SYN/ACK sent by the client (simultaneous open) is not the server's.
    Endpoint c3 = c;
    c3.port = static_cast<std::uint16_t>(c.port + 2);
    p.run(frame(c3, s, SYN));
    p.run(frame(c3, s, SYN | ACK));
    p.run(frame(c3, s, RST));
    p.drain();
    REQUIRE(p.events.size() == 3);
    CHECK(p.events[0].seen == 0);
    CHECK(p.events[0].syn_to_synack_ns == 0);
    CHECK(p.events[0].synack_to_ack_ns == 0);
    CHECK(p.events[1].seen == TD_SEEN_SYNACK);
    CHECK(p.events[1].synack_to_ack_ns == 0);
    CHECK(p.events[2].seen == 0);
  }
  SECTION("egress and the owner-only entry point: no socket behind a test packet, no owner") {
    p.run(frame(c, s, SYN), p.egress_fd);
    p.run(frame(s, c, SYN | ACK));
    p.run(frame(c, s, ACK), p.owner_fd);  // observes only: not counted
    p.run(frame(c, s, ACK), p.egress_fd);
    p.run(frame(c, s, RST), p.egress_fd);
    p.drain();
    REQUIRE(p.events.size() == 1);
    CHECK(p.events[0].owner == TD_OWNER_NONE);
    CHECK(p.events[0].seen == (TD_SEEN_SYNACK | TD_SEEN_ACK));
    CHECK(p.events[0].packets[TD_C2S] == 3);
  }
  CHECK(p.table_size() == 0);
}

TEST_CASE("tcp_duration prog: FIN or RST without a SYN is counted, not reported", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  Stats st(p);
  const Endpoint c = ep("10.1.4.2", 42000), s = ep("10.1.4.1", 80);
  p.run(frame(c, s, ACK, 100));  // mid-connection traffic of a connection seen late
  p.run(frame(c, s, FIN | ACK));
  p.run(frame(s, c, FIN | ACK));
  p.run(frame(s, c, RST));
  p.run(frame(s, c, SYN | ACK));  // a SYN-ACK does not open a connection either
  p.drain();
  CHECK(p.events.empty());
  CHECK(p.table_size() == 0);
  CHECK(st.delta(TD_STAT_ORPHAN_FIN) == 2);
  CHECK(st.delta(TD_STAT_ORPHAN_RST) == 1);
  CHECK(st.delta(TD_STAT_OPENED) == 0);
}

TEST_CASE("tcp_duration prog: IPv6 (with a hop-by-hop header), IPv4 options and VLAN tags", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();

  SECTION("IPv6") {
    const Endpoint c = ep("fd7c:1:2::2", 33000), s = ep("fd7c:1:2::1", 5001);
    FrameOptions hbh;
    hbh.hop_by_hop = true;
    auto syn = frame(c, s, SYN, 0, hbh);
    p.run(syn);
    p.run(frame(s, c, SYN | ACK));
    p.run(frame(c, s, FIN | ACK, 0, hbh));
    p.run(frame(s, c, FIN | ACK));
    p.drain();
    REQUIRE(p.events.size() == 1);
    check_key(p.events[0], c, s);
    CHECK(p.events[0].key.family == 6);
    CHECK(p.events[0].bytes[TD_C2S] == 2 * syn.size());
  }
  SECTION("IPv4 with IHL > 5") {
    const Endpoint c = ep("10.1.5.2", 34000), s = ep("10.1.5.1", 80);
    FrameOptions opt;
    opt.ip_option_words = 3;  // IHL 8: the TCP header starts 12 bytes later
    p.run(frame(c, s, SYN, 0, opt));
    p.run(frame(s, c, SYN | ACK, 0, opt));
    p.run(frame(c, s, FIN | ACK, 0, opt));
    p.run(frame(s, c, FIN | ACK));
    p.drain();
    REQUIRE(p.events.size() == 1);
    check_key(p.events[0], c, s);  // ports read at the right offset
  }
  SECTION("802.1Q tag in the frame") {
    const Endpoint c = ep("10.1.6.2", 35000), s = ep("10.1.6.1", 80);
    FrameOptions v;
    v.vlan = true;
    p.run(frame(c, s, SYN, 0, v));
    p.run(frame(s, c, RST | ACK, 0, v));
    p.drain();
    REQUIRE(p.events.size() == 1);
    check_key(p.events[0], c, s);
    CHECK(p.events[0].end == TD_END_RST);
  }
  CHECK(p.table_size() == 0);
}

TEST_CASE("tcp_duration prog: non-TCP and truncated packets pass untouched", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  Stats st(p);
  const Endpoint c = ep("10.1.7.2", 36000), s = ep("10.1.7.1", 80);
  auto udp = frame(c, s, SYN);
  udp[14 + 9] = 17;  // protocol UDP
  p.run(udp);
  std::vector<std::uint8_t> arp(60, 0);
  arp[12] = 0x08, arp[13] = 0x06;
  p.run(arp);
  auto frag = frame(c, s, SYN);
  frag[14 + 6] = 0x00, frag[14 + 7] = 0x10;  // fragment offset 16 * 8: no TCP header here
  p.run(frag);
  FrameOptions cut;
  cut.cut = 10;  // TCP header incomplete
  p.run(frame(c, s, SYN, 0, cut));
  p.drain();
  CHECK(p.events.empty());
  CHECK(p.table_size() == 0);
  CHECK(st.delta(TD_STAT_OPENED) == 0);
  CHECK(st.delta(TD_STAT_UNPARSED) == 1);
}

TEST_CASE("tcp_duration prog: a SYN on a tuple whose old connection half-closed restarts it", "[tcp_duration][prog]") {
  Prog& p = ring_prog();
  p.events.clear();
  Stats st(p);
  const Endpoint c = ep("10.1.8.2", 37000), s = ep("10.1.8.1", 80);
  p.run(frame(c, s, SYN));
  p.run(frame(c, s, FIN | ACK));  // the server's FIN never passes here
  pause_ms(40);
  p.run(frame(c, s, SYN));  // port reused: a new connection
  p.run(frame(c, s, FIN | ACK));
  p.run(frame(s, c, FIN | ACK));
  p.drain();
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].syns == 1);
  CHECK(p.events[0].duration_ns < 40'000'000ULL);  // from the second SYN
  CHECK(st.delta(TD_STAT_REPLACED) == 1);
  CHECK(st.delta(TD_STAT_OPENED) == 2);
  CHECK(p.table_size() == 0);
}

TEST_CASE("tcp_duration prog: a full LRU table evicts, and the counters account for it", "[tcp_duration][prog]") {
  Prog p(tracekit::BufferKind::Ring, 64);
  const Endpoint s = ep("10.1.9.1", 80);
  constexpr int kConnections = 211;  // prime, well above the table size
  for (int i = 0; i < kConnections; ++i) p.run(frame(ep("10.1.9.2", static_cast<std::uint16_t>(20000 + i)), s, SYN));
  const std::uint64_t left = p.table_size();
  CHECK(left <= 64);
  CHECK(left > 0);
  CHECK(p.stat(TD_STAT_OPENED) == kConnections);
  CHECK(p.stat(TD_STAT_INSERT_FAILED) == 0);
  // The newest connection is still there and completes normally.
  const Endpoint last = ep("10.1.9.2", static_cast<std::uint16_t>(20000 + kConnections - 1));
  p.run(frame(last, s, FIN | ACK));
  p.run(frame(s, last, FIN | ACK));
  // The oldest was evicted: its end is an orphan.
  const Endpoint first = ep("10.1.9.2", 20000);
  p.run(frame(first, s, RST));
  p.drain();
  REQUIRE(p.events.size() == 1);
  check_key(p.events[0], last, s);
  CHECK(p.stat(TD_STAT_ORPHAN_RST) == 1);
  // opened = closed + still open + evicted, so evicted is what is missing.
  const std::uint64_t still = p.table_size();
  const std::uint64_t evicted = kConnections - 1 - still;
  CHECK(still == left - 1);
  CHECK(evicted >= static_cast<std::uint64_t>(kConnections - 64));
}

TEST_CASE("tcp_duration prog: perf buffer transport", "[tcp_duration][prog]") {
  Prog p(tracekit::BufferKind::Perf);
  const Endpoint c = ep("10.1.10.2", 38000), s = ep("10.1.10.1", 80);
  for (int i = 0; i < 3; ++i) {
    Endpoint ci = c;
    ci.port = static_cast<std::uint16_t>(c.port + i);
    p.run(frame(ci, s, SYN));
    p.run(frame(s, ci, SYN | ACK));
    p.run(frame(ci, s, FIN | ACK));
    p.run(frame(s, ci, FIN | ACK));
  }
  p.drain();
  REQUIRE(p.events.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(p.events[static_cast<std::size_t>(i)].key.client_port == c.port + i);
    CHECK(p.events[static_cast<std::size_t>(i)].end == TD_END_FIN);
  }
  CHECK(p.reader->lost() == 0);
  CHECK(p.table_size() == 0);
}
