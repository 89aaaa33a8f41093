// The TC programs fed crafted frames through BPF_PROG_TEST_RUN, compiled from the
// tools' own embedded text (tcp_tracker_bpf_text, tcp_duration_bpf_text) as the tools
// compile it:
//   - a table-driven fuzz of random, truncated and corrupted frames (fixed seed,
//     bounded count): every run returns TC_ACT_UNSPEC (-1; TC_ACT_OK 0 would also be
//     harmless, nothing else is allowed: never TC_ACT_SHOT, never a redirect), hands the
//     frame back byte for byte, and leaves the counters of unrelated flows as they were;
//   - map pressure [slow]: 200,000 distinct flows against tables of 1,024 entries: new
//     flows keep being counted, the table stays at its size, evictions are accounted.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/pkt_cls.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bpf/bpf_program.h"
#include "bpf/event_reader.h"
#include "faults.h"
#include "tcp_duration.h"
#include "tcp_tracker.h"

extern const char tcp_tracker_bpf_text[];
extern const char tcp_duration_bpf_text[];

namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint8_t FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10;

void put16(Bytes& b, size_t at, unsigned v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

struct Ep {
  int family = 4;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
};

Ep v4(uint32_t host_order_addr, uint16_t port) {
  Ep e;
  uint32_t be = htonl(host_order_addr);
  std::memcpy(e.addr.data(), &be, 4);
  e.port = port;
  return e;
}

Ep ep(const std::string& ip, uint16_t port) {
  Ep e;
  e.family = ip.find(':') == std::string::npos ? 4 : 6;
  REQUIRE(inet_pton(e.family == 4 ? AF_INET : AF_INET6, ip.c_str(), e.addr.data()) == 1);
  e.port = port;
  return e;
}

struct Shape {
  bool vlan = false;
  int ip_opt_words = 0;  // IPv4 options (IHL = 5 + this)
  bool hop_by_hop = false;
  size_t payload = 0;
};

// Ethernet [+ 802.1Q] + IPv4 [options] / IPv6 [+ hop-by-hop] + TCP (20 bytes) + payload.
Bytes tcp_frame(const Ep& s, const Ep& d, uint8_t flags, Shape o = {}) {
  Bytes b(14, 0);
  b[0] = 0x02, b[5] = 0x01, b[6] = 0x02, b[11] = 0x02;
  size_t l3 = 14;
  const unsigned type = s.family == 4 ? 0x0800 : 0x86DD;
  if (o.vlan) {
    put16(b, 12, 0x8100);
    b.resize(18, 0);
    put16(b, 14, 7);
    put16(b, 16, type);
    l3 = 18;
  } else {
    put16(b, 12, type);
  }
  size_t l4;
  if (s.family == 4) {
    const size_t ihl = 20 + 4 * static_cast<size_t>(o.ip_opt_words);
    b.resize(l3 + ihl, 1);
    b[l3] = static_cast<uint8_t>(0x40 | (ihl / 4));
    b[l3 + 1] = 0;
    put16(b, l3 + 2, static_cast<unsigned>(ihl + 20 + o.payload));
    put16(b, l3 + 4, 0);
    put16(b, l3 + 6, 0x4000);
    b[l3 + 8] = 64;
    b[l3 + 9] = 6;
    put16(b, l3 + 10, 0);
    std::memcpy(&b[l3 + 12], s.addr.data(), 4);
    std::memcpy(&b[l3 + 16], d.addr.data(), 4);
    l4 = l3 + ihl;
  } else {
    const size_t ext = o.hop_by_hop ? 8 : 0;
    b.resize(l3 + 40 + ext, 0);
    b[l3] = 0x60;
    put16(b, l3 + 4, static_cast<unsigned>(ext + 20 + o.payload));
    b[l3 + 6] = o.hop_by_hop ? 0 : 6;
    b[l3 + 7] = 64;
    std::memcpy(&b[l3 + 8], s.addr.data(), 16);
    std::memcpy(&b[l3 + 24], d.addr.data(), 16);
    if (o.hop_by_hop) {
      b[l3 + 40] = 6;
      b[l3 + 42] = 1;
      b[l3 + 43] = 4;
    }
    l4 = l3 + 40 + ext;
  }
  b.resize(l4 + 20 + o.payload, 0x5a);
  put16(b, l4, s.port);
  put16(b, l4 + 2, d.port);
  for (size_t i = 4; i < 12; ++i) b[l4 + i] = 0;
  b[l4 + 12] = 5 << 4;
  b[l4 + 13] = flags;
  put16(b, l4 + 14, 512);
  put16(b, l4 + 16, 0);
  put16(b, l4 + 18, 0);
  return b;
}

// One BPF_PROG_TEST_RUN of a SCHED_CLS program.
struct RunResult {
  int err = 0;
  int retval = 0;
  bool unchanged = false;
};

RunResult test_run(int prog_fd, const Bytes& frame) {
  Bytes in = frame, out(frame.size() + 256, 0xEE);
  bpf_test_run_opts o{};
  o.sz = sizeof o;
  o.data_in = in.data();
  o.data_size_in = static_cast<__u32>(in.size());
  o.data_out = out.data();
  o.data_size_out = static_cast<__u32>(out.size());
  o.repeat = 1;
  RunResult r;
  r.err = bpf_prog_test_run_opts(prog_fd, &o);
  r.retval = static_cast<int>(o.retval);
  r.unchanged = o.data_size_out == frame.size() && std::memcmp(out.data(), frame.data(), frame.size()) == 0;
  return r;
}

// The fuzz table: each row makes `count` frames from the generator with the shared rng.
struct FuzzRow {
  const char* name;
  int count;
  std::function<Bytes(std::mt19937&)> make;
};

// Templates for mutation, in address ranges the reference flows never use.
std::vector<Bytes> templates() {
  const Ep a4 = ep("198.51.100.7", 50123), b4 = ep("198.51.100.9", 443);
  const Ep a6 = ep("2001:db8:ff::7", 50123), b6 = ep("2001:db8:ff::9", 443);
  return {
      tcp_frame(a4, b4, SYN),
      tcp_frame(a4, b4, ACK, {false, 0, false, 100}),
      tcp_frame(a4, b4, FIN | ACK, {false, 3, false, 0}),
      tcp_frame(a4, b4, RST, {true, 0, false, 10}),
      tcp_frame(a6, b6, SYN),
      tcp_frame(a6, b6, ACK, {false, 0, true, 64}),
      tcp_frame(a6, b6, FIN | ACK, {true, 0, false, 0}),
  };
}

std::vector<FuzzRow> fuzz_table() {
  auto rnd_bytes = [](std::mt19937& g, size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(g());
    return b;
  };
  auto pick = [](std::mt19937& g, size_t n) { return static_cast<size_t>(g() % n); };
  static const std::vector<Bytes> tpl = templates();
  return {
      {"random bytes, 14..200 long", 3000, [=](std::mt19937& g) { return rnd_bytes(g, 14 + pick(g, 187)); }},
      {"random after an IPv4 ethertype", 2000,
       [=](std::mt19937& g) {
         Bytes b = rnd_bytes(g, 14 + pick(g, 120));
         put16(b, 12, 0x0800);
         if (b.size() > 14 && (g() & 1)) b[14] = static_cast<uint8_t>(0x40 | (b[14] & 0x0f));
         if (b.size() > 23 && (g() & 1)) b[23] = 6;
         return b;
       }},
      {"random after an IPv6 ethertype", 2000,
       [=](std::mt19937& g) {
         Bytes b = rnd_bytes(g, 14 + pick(g, 160));
         put16(b, 12, 0x86DD);
         if (b.size() > 14 && (g() & 1)) b[14] = static_cast<uint8_t>(0x60 | (b[14] & 0x0f));
         if (b.size() > 20) {
           static const uint8_t nh[] = {0, 6, 43, 44, 51, 60, 17};
           b[20] = nh[pick(g, sizeof nh)];
         }
         return b;
       }},
      {"random after one or two VLAN tags", 1000,
       [=](std::mt19937& g) {
         Bytes b = rnd_bytes(g, 18 + pick(g, 120));
         put16(b, 12, (g() & 1) ? 0x8100 : 0x88a8);
         put16(b, 16, (g() % 3 == 0) ? 0x8100 : (g() & 1) ? 0x0800 : 0x86DD);
         return b;
       }},
      {"valid frames with 1..4 random bytes changed in the headers", 5000,
       [=](std::mt19937& g) {
         Bytes b = tpl[pick(g, tpl.size())];
         const size_t span = std::min<size_t>(b.size(), 90);
         for (int k = 1 + static_cast<int>(pick(g, 4)); k > 0; --k) b[pick(g, span)] = static_cast<uint8_t>(g());
         return b;
       }},
      {"valid frames cut at a random length", 2000,
       [=](std::mt19937& g) {
         Bytes b = tpl[pick(g, tpl.size())];
         b.resize(14 + pick(g, b.size() - 14));
         return b;
       }},
      {"IPv4 IHL x TCP data offset, every combination", 256,
       [=](std::mt19937& g) {
         static int n = 0;
         Bytes b = tpl[1];
         b[14] = static_cast<uint8_t>(0x40 | (n & 0x0f));
         b[14 + 20 + 12] = static_cast<uint8_t>((n >> 4) << 4);
         ++n;
         (void)g;
         return b;
       }},
      {"IPv6 with chains of extension headers", 1000,
       [=](std::mt19937& g) {
         Bytes b = tpl[4];
         Bytes ext;
         static const uint8_t kinds[] = {0, 43, 44, 51, 60};
         uint8_t first = kinds[pick(g, 5)];
         uint8_t cur = first;
         const int n = 1 + static_cast<int>(pick(g, 8));
         for (int i = 0; i < n; ++i) {
           uint8_t next = (i == n - 1) ? ((g() % 4) ? 6 : static_cast<uint8_t>(g())) : kinds[pick(g, 5)];
           uint8_t len = static_cast<uint8_t>(pick(g, 3));
           size_t bytes = cur == 44 ? 8 : cur == 51 ? (len + 2u) * 4 : (len + 1u) * 8;
           Bytes h(bytes, 0);
           h[0] = next;
           h[1] = len;
           if (cur == 44) put16(h, 2, (g() & 1) ? 0 : static_cast<unsigned>(g()));
           ext.insert(ext.end(), h.begin(), h.end());
           cur = next;
         }
         b[14 + 6] = first;
         b.insert(b.begin() + 54, ext.begin(), ext.end());
         if (g() % 5 == 0) b.resize(14 + pick(g, b.size() - 14));
         return b;
       }},
  };
}

constexpr uint32_t kSeed = 1985;

// Reference flows the fuzz must never touch: 192.0.2.0/24 and 2001:db8:1::/64.
std::vector<std::pair<Ep, Ep>> reference_flows() {
  std::vector<std::pair<Ep, Ep>> out;
  for (int i = 0; i < 6; ++i)
    out.push_back({ep("192.0.2." + std::to_string(10 + i), static_cast<uint16_t>(40001 + i)), ep("192.0.2.200", 8080)});
  for (int i = 0; i < 4; ++i)
    out.push_back(
        {ep("2001:db8:1::" + std::to_string(10 + i), static_cast<uint16_t>(40101 + i)), ep("2001:db8:1::200", 8080)});
  return out;
}

struct FuzzStats {
  long runs = 0, errors = 0, unspec = 0, ok = 0, other = 0, changed = 0;
  long refused = 0;  // IP frames shorter than an IP header: BPF_PROG_TEST_RUN refuses them
};

// BPF_PROG_TEST_RUN itself refuses (EINVAL) a frame whose ethertype says IPv4/IPv6
// but which is shorter than Ethernet + the fixed IP header (net/bpf/test_run.c checks
// skb_headlen against sizeof(struct iphdr) / sizeof(struct ipv6hdr)): such frames
// cannot be fed to the program this way. Other truncations still are.
bool refused_by_test_run(const Bytes& f, int err) {
  if (err != -EINVAL || f.size() < 14) return false;
  const unsigned type = static_cast<unsigned>(f[12]) << 8 | f[13];
  return (type == 0x0800 && f.size() < 14 + 20) || (type == 0x86DD && f.size() < 14 + 40);
}

// Runs the whole table through prog_fd; every frame must come back untouched with
// -1 (or 0). Returns the totals.
FuzzStats fuzz(int prog_fd, const std::string& label) {
  std::mt19937 rng(kSeed);
  FuzzStats s;
  for (auto& row : fuzz_table()) {
    long row_other = 0, row_changed = 0, row_err = 0;
    for (int i = 0; i < row.count; ++i) {
      Bytes f = row.make(rng);
      if (f.size() < 14) f.resize(14, 0);
      auto r = test_run(prog_fd, f);
      ++s.runs;
      if (r.err != 0) {
        if (refused_by_test_run(f, r.err))
          ++s.refused;
        else
          ++s.errors, ++row_err;
        continue;
      }
      if (r.retval == TC_ACT_UNSPEC)
        ++s.unspec;
      else if (r.retval == TC_ACT_OK)
        ++s.ok;
      else
        ++s.other, ++row_other;
      if (!r.unchanged) ++s.changed, ++row_changed;
    }
    INFO(label << ": row \"" << row.name << "\"");
    CHECK(row_err == 0);
    CHECK(row_other == 0);
    CHECK(row_changed == 0);
  }
  faults::note(label + ": " + std::to_string(s.runs) + " fuzz frames, " + std::to_string(s.unspec) +
               " returned TC_ACT_UNSPEC, " + std::to_string(s.ok) + " TC_ACT_OK, " + std::to_string(s.other) +
               " anything else, " + std::to_string(s.changed) + " changed, " + std::to_string(s.errors) +
               " test-run errors, " + std::to_string(s.refused) +
               " IP frames shorter than an IP header refused by BPF_PROG_TEST_RUN itself");
  return s;
}

template <typename K, typename V>
std::optional<V> lookup(int map_fd, const K& key) {
  V v{};
  if (bpf_map_lookup_elem(map_fd, &key, &v) != 0) return std::nullopt;
  return v;
}

flow_key tracker_key(const Ep& s, const Ep& d) {
  flow_key k{};
  std::memcpy(k.saddr, s.addr.data(), 16);
  std::memcpy(k.daddr, d.addr.data(), 16);
  k.sport = s.port;
  k.dport = d.port;
  k.family = static_cast<uint8_t>(s.family);
  return k;
}

// The table's key of a connection (the endpoints in the program's fixed order).
td_pair duration_key(const Ep& client, const Ep& server) {
  td_pair k{};
  td_pair_make(&k, client.addr.data(), client.port, server.addr.data(), server.port,
               static_cast<uint8_t>(client.family));
  return k;
}

uint64_t count_keys(int map_fd, size_t key_size, uint64_t limit) {
  std::vector<uint8_t> key(key_size), next(key_size);
  const void* prev = nullptr;
  uint64_t n = 0;
  while (n <= limit && bpf_map_get_next_key(map_fd, prev, next.data()) == 0) {
    ++n;
    key = next;
    prev = key.data();
  }
  return n;
}

// "memlock:" of a map's fdinfo: the kernel memory charged for it.
long map_memlock(int map_fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(map_fd));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("memlock:", 0) == 0) return std::stol(line.substr(8));
  return -1;
}

struct Tracker {
  tracekit::BpfProgram prog;
  int fd = -1;
  explicit Tracker(long max_flows) {
    tracekit::LoadOptions load{"", {"-DTCP_TRACKER_MAX_FLOWS=" + std::to_string(max_flows)}, true, false};
    prog.load(tcp_tracker_bpf_text, load);
    fd = prog.load_function("trace_tcp_tracker_ingress", BPF_PROG_TYPE_SCHED_CLS);  // writes "flows"
  }
  uint64_t outside(uint32_t reason) { return prog.sum_percpu_u64("outside", reason); }
};

struct Duration {
  tracekit::BpfProgram prog;
  int fd = -1;
  std::vector<td_event> events;
  std::unique_ptr<tracekit::EventReader> reader;
  explicit Duration(long max_connections) {
    tracekit::LoadOptions load{"",
                               {tracekit::buffer_cflag(tracekit::BufferKind::Ring),
                                "-DMAX_CONNECTIONS=" + std::to_string(max_connections), "-DL2_LEN=14"},
                               true,
                               false};
    prog.load(tcp_duration_bpf_text, load);
    tracekit::EventReaderOptions ro;
    ro.lost_map = "events_lost";
    reader = std::make_unique<tracekit::EventReader>(
        prog, "events", tracekit::BufferKind::Ring,
        [this](const void* data, size_t size) {
          td_event e{};
          std::memcpy(&e, data, std::min(size, sizeof e));
          events.push_back(e);
        },
        ro);
    fd = prog.load_function("tcp_duration_ingress", BPF_PROG_TYPE_SCHED_CLS);
  }
  void drain() {
    for (int i = 0; i < 1000 && reader->poll(0) > 0; ++i) {
    }
  }
  uint64_t stat(uint32_t i) { return prog.sum_percpu_u64("stats", i); }
};

bool same(const flow_value& a, const flow_value& b) {
  return a.bytes == b.bytes && a.packets == b.packets && a.segments == b.segments;
}

}  // namespace

TEST_CASE("fuzz: tcp_tracker's program passes every malformed frame untouched, unrelated flows unchanged",
          "[fuzz][tcp_tracker]") {
  Tracker t(TCP_TRACKER_DEFAULT_MAX_FLOWS);
  const int flows = t.prog.map_fd("flows");
  auto refs = reference_flows();
  std::vector<flow_value> before;
  for (size_t i = 0; i < refs.size(); ++i) {
    for (size_t k = 0; k <= i % 3; ++k) {
      auto r = test_run(t.fd, tcp_frame(refs[i].first, refs[i].second, ACK, {i % 2 == 1, 0, false, 10 * i}));
      REQUIRE(r.err == 0);
      REQUIRE(r.retval == TC_ACT_UNSPEC);
    }
    auto v = lookup<flow_key, flow_value>(flows, tracker_key(refs[i].first, refs[i].second));
    INFO("reference flow " << i << ", outside: " << t.outside(0) << " " << t.outside(1) << " " << t.outside(2) << " "
                           << t.outside(3) << " " << t.outside(4) << " " << t.outside(5));
    REQUIRE(v);
    CHECK(v->packets == i % 3 + 1);
    before.push_back(*v);
  }
  std::array<uint64_t, OUTSIDE_REASONS> outside_before{};
  for (uint32_t r = 0; r < OUTSIDE_REASONS; ++r) outside_before[r] = t.outside(r);

  FuzzStats s = fuzz(t.fd, "tcp_tracker");
  CHECK(s.errors == 0);
  CHECK(s.other == 0);
  CHECK(s.changed == 0);
  CHECK(s.ok == 0);  // the program documents -1 (TCX_NEXT) for every packet
  for (size_t i = 0; i < refs.size(); ++i) {
    auto v = lookup<flow_key, flow_value>(flows, tracker_key(refs[i].first, refs[i].second));
    INFO("reference flow " << i);
    REQUIRE(v);
    CHECK(same(*v, before[i]));
  }
  uint64_t outside_total = 0;
  std::string per_reason;
  for (uint32_t r = 0; r < OUTSIDE_REASONS; ++r) {
    outside_total += t.outside(r) - outside_before[r];
    per_reason += " " + std::to_string(t.outside(r) - outside_before[r]);
  }
  CHECK(t.outside(OUTSIDE_NO_ENTRY) == 0);
  const uint64_t in_table = count_keys(flows, sizeof(flow_key), 1u << 20);
  faults::note("tcp_tracker fuzz: " + std::to_string(outside_total) + " frames not counted (per reason:" + per_reason +
               "), " + std::to_string(in_table) + " flows in the table");
}

TEST_CASE("fuzz: tcp_duration's program passes every malformed frame untouched, unrelated connections unchanged",
          "[fuzz][tcp_duration]") {
  Duration d(TD_DEFAULT_MAX_CONNECTIONS);
  const int conns = d.prog.map_fd("connections");
  auto refs = reference_flows();
  std::vector<td_conn> before;
  for (size_t i = 0; i < refs.size(); ++i) {
    REQUIRE(test_run(d.fd, tcp_frame(refs[i].first, refs[i].second, SYN)).retval == TC_ACT_UNSPEC);
    REQUIRE(test_run(d.fd, tcp_frame(refs[i].second, refs[i].first, SYN | ACK)).retval == TC_ACT_UNSPEC);
    REQUIRE(test_run(d.fd, tcp_frame(refs[i].first, refs[i].second, ACK, {false, 0, false, 7 * i})).retval ==
            TC_ACT_UNSPEC);
    auto c = lookup<td_pair, td_conn>(conns, duration_key(refs[i].first, refs[i].second));
    REQUIRE(c);
    CHECK(c->packets[TD_C2S] == 2);
    CHECK(c->packets[TD_S2C] == 1);
    before.push_back(*c);
  }
  d.drain();
  const size_t events_before = d.events.size();

  FuzzStats s = fuzz(d.fd, "tcp_duration");
  CHECK(s.errors == 0);
  CHECK(s.other == 0);
  CHECK(s.changed == 0);
  CHECK(s.ok == 0);  // the program documents TC_ACT_UNSPEC for every packet
  d.drain();
  for (size_t i = 0; i < refs.size(); ++i) {
    auto c = lookup<td_pair, td_conn>(conns, duration_key(refs[i].first, refs[i].second));
    INFO("reference connection " << i);
    REQUIRE(c);
    CHECK(std::memcmp(&*c, &before[i], sizeof(td_conn)) == 0);
  }
  size_t ref_events = 0;
  for (size_t e = events_before; e < d.events.size(); ++e)
    for (const auto& r : refs)
      if (d.events[e].key.client_port == r.first.port && d.events[e].key.server_port == r.second.port &&
          std::memcmp(d.events[e].key.client_addr, r.first.addr.data(), 16) == 0)
        ++ref_events;
  CHECK(ref_events == 0);
  faults::note("tcp_duration fuzz: " + std::to_string(d.events.size() - events_before) + " events from fuzz frames, " +
               std::to_string(d.stat(TD_STAT_UNPARSED)) + " unparsed, " + std::to_string(d.stat(TD_STAT_OPENED)) +
               " opened");
}

TEST_CASE("map pressure: 200,000 flows through tcp_tracker's program with a 1,024-entry table", "[pressure][slow]") {
  constexpr long kMax = 1024;
  constexpr uint32_t kFlows = 200000;
  Tracker t(kMax);
  const int flows = t.prog.map_fd("flows");
  const long memlock_before = map_memlock(flows);
  const Ep server = ep("203.0.113.1", 443);
  auto client = [](uint32_t i) {
    // 10.<i>: every flow a distinct source address and port.
    return v4(0x0A000000u | (i & 0x00ffffffu), static_cast<uint16_t>(1024 + i % 60000));
  };
  auto start = std::chrono::steady_clock::now();
  uint64_t max_seen = 0;
  for (uint32_t i = 0; i < kFlows; ++i) {
    auto r = test_run(t.fd, tcp_frame(client(i), server, ACK, {false, 0, false, 40}));
    REQUIRE(r.err == 0);
    REQUIRE(r.retval == TC_ACT_UNSPEC);
    if ((i + 1) % 20000 == 0) {
      // The newest flows are there, each counted once: the full table still takes new ones.
      for (uint32_t j = i - 49; j <= i; ++j) {
        auto v = lookup<flow_key, flow_value>(flows, tracker_key(client(j), server));
        INFO("flow " << j << " after " << i + 1);
        REQUIRE(v);
        CHECK(v->packets == 1);
        CHECK(v->bytes == 14 + 20 + 20 + 40);
      }
      uint64_t n = count_keys(flows, sizeof(flow_key), 1u << 20);
      max_seen = std::max(max_seen, n);
      CHECK(n <= static_cast<uint64_t>(kMax));
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const uint64_t left = count_keys(flows, sizeof(flow_key), 1u << 20);
  CHECK(t.outside(OUTSIDE_NO_ENTRY) == 0);  // never refused
  uint64_t outside = 0;
  for (uint32_t r = 0; r < OUTSIDE_REASONS; ++r) outside += t.outside(r);
  CHECK(outside == 0);  // every frame went into the table
  CHECK(left >= static_cast<uint64_t>(kMax) * 3 / 4);
  CHECK(map_memlock(flows) == memlock_before);  // preallocated: flat
  faults::note("tcp_tracker pressure (BPF_PROG_TEST_RUN): " + std::to_string(kFlows) + " flows in " +
               std::to_string(secs).substr(0, 5) + " s, all counted on arrival; " + std::to_string(left) +
               " in the table at the end (max " + std::to_string(max_seen) + " of " + std::to_string(kMax) + "), " +
               std::to_string(kFlows - left) + " evicted; map memlock " + std::to_string(memlock_before) +
               " bytes before and after");
}

TEST_CASE("map pressure: 200,000 connections through tcp_duration's program with a 1,024-entry table",
          "[pressure][slow]") {
  constexpr long kMax = 1024;
  constexpr uint32_t kConns = 200000;
  Duration d(kMax);
  const int conns = d.prog.map_fd("connections");
  const long memlock_before = map_memlock(conns);
  const Ep server = ep("203.0.113.1", 443);
  auto client = [](uint32_t i) { return v4(0x0A000000u | (i & 0x00ffffffu), static_cast<uint16_t>(1024 + i % 60000)); };
  for (uint32_t i = 0; i < kConns; ++i) {
    auto r = test_run(d.fd, tcp_frame(client(i), server, SYN));
    REQUIRE(r.err == 0);
    REQUIRE(r.retval == TC_ACT_UNSPEC);
  }
  // The newest 100 are still tracked: close them, one event each with exact counts.
  for (uint32_t i = kConns - 100; i < kConns; ++i) {
    test_run(d.fd, tcp_frame(server, client(i), SYN | ACK));
    test_run(d.fd, tcp_frame(client(i), server, FIN | ACK));
    test_run(d.fd, tcp_frame(server, client(i), FIN | ACK));
  }
  d.drain();
  const uint64_t left = count_keys(conns, sizeof(td_pair), 1u << 20);
  const uint64_t opened = d.stat(TD_STAT_OPENED), closed = d.stat(TD_STAT_CLOSED_FIN);
  const uint64_t failed = d.stat(TD_STAT_INSERT_FAILED);
  CHECK(opened == kConns);
  CHECK(failed == 0);
  CHECK(closed == 100);
  CHECK(d.events.size() == 100);
  for (const auto& e : d.events) {
    CHECK(e.packets[TD_C2S] == 2);
    CHECK(e.packets[TD_S2C] == 2);
  }
  CHECK(left <= static_cast<uint64_t>(kMax));
  const uint64_t evicted = opened - closed - left;  // tcp_duration's own arithmetic
  CHECK(map_memlock(conns) == memlock_before);
  faults::note("tcp_duration pressure (BPF_PROG_TEST_RUN): " + std::to_string(opened) + " opened, " +
               std::to_string(closed) + " closed with exact counts after the pressure, " + std::to_string(left) +
               " left, " + std::to_string(evicted) + " evicted; map memlock flat at " + std::to_string(memlock_before));
}
