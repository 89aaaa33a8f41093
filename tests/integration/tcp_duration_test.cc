// tcp_duration end to end: the real binary on the host end of a veth pair, TCP
// connections with known lifetimes into a netns. Ground truth: the client's own
// clock around each connection, and tcpdump on the same interface (first SYN to the
// second FIN, bytes and packets each way). Also the PNG (size, not blank, bars drawn).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "harness.h"
#include "jsonl.h"
#include "netns.h"

using harness::ToolProcess;
using testnet::TestNet;

namespace {

// A scratch directory removed at the end of the test case.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/tracekit_tcp_duration_XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ---- PNG check: chunks, IHDR, IDAT through zlib, row filters undone -----------------

struct Png {
  bool ok = false;
  std::string error;
  uint32_t width = 0, height = 0;
  std::size_t idat_bytes = 0;
  uint64_t non_white = 0;   // pixels with any channel below 240
  uint64_t bar_colour = 0;  // pixels close to the bar fill (91, 141, 196)
};

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

int paeth(int a, int b, int c) {
  int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

Png decode_png(const std::string& bytes) {
  Png png;
  const auto* d = reinterpret_cast<const unsigned char*>(bytes.data());
  static const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() < 8 || std::memcmp(d, magic, 8) != 0) {
    png.error = "no PNG signature";
    return png;
  }
  std::size_t off = 8;
  int depth = 0, colour = -1, interlace = 0;
  std::string idat;
  bool seen_end = false;
  while (off + 12 <= bytes.size()) {
    const uint32_t len = be32(d + off);
    const std::string type(bytes.data() + off + 4, 4);
    if (off + 12 + len > bytes.size()) {
      png.error = "truncated chunk " + type;
      return png;
    }
    const unsigned char* body = d + off + 8;
    if (type == "IHDR") {
      png.width = be32(body);
      png.height = be32(body + 4);
      depth = body[8];
      colour = body[9];
      interlace = body[12];
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(body), len);
    } else if (type == "IEND") {
      seen_end = true;
      break;
    }
    off += 12 + len;
  }
  png.idat_bytes = idat.size();
  if (!seen_end || png.width == 0 || idat.empty()) {
    png.error = "missing IHDR/IDAT/IEND";
    return png;
  }
  if (depth != 8 || (colour != 2 && colour != 6) || interlace != 0) {
    png.error = "unexpected format: depth " + std::to_string(depth) + " colour type " + std::to_string(colour);
    return png;
  }
  const std::size_t bpp = colour == 6 ? 4 : 3;
  const std::size_t stride = png.width * bpp;
  std::vector<unsigned char> raw((stride + 1) * png.height);
  uLongf raw_len = static_cast<uLongf>(raw.size());
  if (::uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()),
                   static_cast<uLong>(idat.size())) != Z_OK ||
      raw_len != raw.size()) {
    png.error = "IDAT does not inflate to the image size";
    return png;
  }
  std::vector<unsigned char> prev(stride, 0), cur(stride);
  for (uint32_t y = 0; y < png.height; ++y) {
    const unsigned char* row = &raw[y * (stride + 1)];
    const int filter = row[0];
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= bpp ? cur[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0;
      int v = row[1 + x];
      switch (filter) {
        case 0:
          break;
        case 1:
          v += a;
          break;
        case 2:
          v += b;
          break;
        case 3:
          v += (a + b) / 2;
          break;
        case 4:
          v += paeth(a, b, c);
          break;
        default:
          png.error = "bad filter";
          return png;
      }
      cur[x] = static_cast<unsigned char>(v);
    }
    for (std::size_t x = 0; x < png.width; ++x) {
      const unsigned char* px = &cur[x * bpp];
      if (px[0] < 240 || px[1] < 240 || px[2] < 240) ++png.non_white;
      if (std::abs(px[0] - 91) < 12 && std::abs(px[1] - 141) < 12 && std::abs(px[2] - 196) < 12) ++png.bar_colour;
    }
    std::swap(prev, cur);
  }
  png.ok = true;
  return png;
}

void check_png(const std::string& path, uint32_t w, uint32_t h, bool expect_bars) {
  INFO("picture " << path);
  REQUIRE(std::filesystem::exists(path));
  Png png = decode_png(read_file(path));
  INFO(png.error);
  REQUIRE(png.ok);
  CHECK(png.width == w);
  CHECK(png.height == h);
  const double pixels = static_cast<double>(w) * h;
  INFO("non-white " << png.non_white << ", bar colour " << png.bar_colour << " of " << pixels);
  CHECK(png.non_white > pixels * 0.02);  // axes, labels, bars: far from blank
  if (expect_bars) CHECK(png.bar_colour > pixels * 0.005);
}

// ---- ground truth from the client side and from tcpdump -------------------------------

// A connection refused by the peer (SYN answered by RST): returns the client port.
uint16_t refused_connect(const std::string& local, const std::string& peer, uint16_t port) {
  const bool v6 = peer.find(':') != std::string::npos;
  sockaddr_storage ls{}, ps{};
  socklen_t len = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (v6) {
    auto* l6 = reinterpret_cast<sockaddr_in6*>(&ls);
    auto* p6 = reinterpret_cast<sockaddr_in6*>(&ps);
    l6->sin6_family = p6->sin6_family = AF_INET6;
    REQUIRE(::inet_pton(AF_INET6, local.c_str(), &l6->sin6_addr) == 1);
    REQUIRE(::inet_pton(AF_INET6, peer.c_str(), &p6->sin6_addr) == 1);
    p6->sin6_port = htons(port);
  } else {
    auto* l4 = reinterpret_cast<sockaddr_in*>(&ls);
    auto* p4 = reinterpret_cast<sockaddr_in*>(&ps);
    l4->sin_family = p4->sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, local.c_str(), &l4->sin_addr) == 1);
    REQUIRE(::inet_pton(AF_INET, peer.c_str(), &p4->sin_addr) == 1);
    p4->sin_port = htons(port);
  }
  int s = ::socket(ls.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&ls), len) == 0);
  socklen_t got = sizeof ls;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&ls), &got);
  const uint16_t local_port =
      ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ls)->sin6_port : reinterpret_cast<sockaddr_in*>(&ls)->sin_port);
  timeval tv{2, 0};
  ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc = ::connect(s, reinterpret_cast<sockaddr*>(&ps), len);
  int err = errno;
  ::close(s);
  CHECK(rc != 0);
  CHECK(err == ECONNREFUSED);
  return local_port;
}

// Fills the ARP/ND caches (a refused connection each way, before the tool runs), so
// that no measured connection waits for neighbour resolution.
void warm_neighbours(const TestNet& net, uint16_t closed_port) {
  refused_connect(net.host_ip4(), net.peer_ip4(), closed_port);
  refused_connect(net.host_ip6(), net.peer_ip6(), closed_port);
}

struct Truth {
  double first_syn = -1, end = -1;  // capture timestamps
  uint64_t bytes[2] = {0, 0}, packets[2] = {0, 0};
  bool rst = false, done = false;
  int fins = 0;  // bit 0 client, bit 1 server
};

// Per client port: what the capture says, following the same definition as the tool
// (first SYN .. second side's FIN or an RST; packets after that are not counted).
std::map<uint16_t, Truth> truth_from_capture(const std::vector<testnet::PcapPacket>& frames, uint16_t server_port) {
  std::map<uint16_t, Truth> t;
  for (const auto& p : frames) {
    auto f = testnet::parse_tcp_frame(p);
    if (!f) continue;
    const bool c2s = f->dport == server_port;
    const uint16_t cport = c2s ? f->sport : f->dport;
    Truth& tr = t[cport];
    if (tr.done) continue;
    if (tr.first_syn < 0) {
      if (!(c2s && (f->flags & 0x12) == 0x02)) continue;
      tr.first_syn = f->ts;
    }
    const int dir = c2s ? 0 : 1;
    tr.bytes[dir] += f->orig_len;
    tr.packets[dir] += 1;
    if (f->flags & 0x04) {
      tr.rst = tr.done = true;
      tr.end = f->ts;
    } else if (f->flags & 0x01) {
      tr.fins |= 1 << dir;
      if (tr.fins == 3) {
        tr.done = true;
        tr.end = f->ts;
      }
    }
  }
  return t;
}

struct Line {
  std::string client, server;
  uint16_t cport = 0, sport = 0;
  double seconds = 0;
  std::string end, by;
  uint64_t bytes_c2s = 0, pkts_c2s = 0, bytes_s2c = 0, pkts_s2c = 0;
  std::string syn_to_synack, synack_to_ack;  // microseconds, or "-"
};

std::optional<Line> parse_line(const std::string& s) {
  static const std::regex re(
      R"(^ *([0-9.]+):(\d+) *-> *([0-9.]+):(\d+) *\| Duration: (\d+\.\d{9}) +s \| (FIN|RST) by (client|server) *\| c->s +(\d+) B +(\d+) pkts \| s->c +(\d+) B +(\d+) pkts \| SYN->SYN/ACK +(-|\d+\.\d{3}) us \| SYN/ACK->ACK +(-|\d+\.\d{3}) us$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  Line l;
  l.client = m[1];
  l.cport = static_cast<uint16_t>(std::stoul(m[2]));
  l.server = m[3];
  l.sport = static_cast<uint16_t>(std::stoul(m[4]));
  l.seconds = std::stod(m[5]);
  l.end = m[6];
  l.by = m[7];
  l.bytes_c2s = std::stoull(m[8]);
  l.pkts_c2s = std::stoull(m[9]);
  l.bytes_s2c = std::stoull(m[10]);
  l.pkts_s2c = std::stoull(m[11]);
  l.syn_to_synack = m[12];
  l.synack_to_ack = m[13];
  return l;
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

TEST_CASE("tcp_duration: connections with known lifetimes, once each, to the millisecond", "[tcp_duration][root]") {
  TestNet net("td");
  const uint16_t port = 5201;
  testnet::TcpServer server(net.ns(), port);
  warm_neighbours(net, port + 1);
  TempDir dir;
  testnet::Capture cap(net.host_if(), "tcp port " + std::to_string(port) + " or tcp port " + std::to_string(port + 1),
                       96);

  ToolProcess tool({harness::tool_path("tcp_duration"), net.host_if(), "-o", dir / "stat.dat", "--plot",
                    dir / "hist.png", "--size", "640x480", "--bins", "12"});
  REQUIRE(tool.wait_for_stderr_line("Attached", 60));

  // Client-held lifetimes; each is measured by the client around the whole connection.
  const std::vector<int> holds_ms = {200, 500, 1000, 0, 300};
  std::map<uint16_t, double> client_s;  // client port -> client's measurement
  std::map<uint16_t, int> hold_of;
  for (int hold : holds_ms) {
    const double t0 = now_s();
    auto t = testnet::tcp_transfer(net.peer_ip4(), port, 1000, 20000, 10, hold);
    const double t1 = now_s();
    INFO(t.error);
    REQUIRE(t.ok);
    client_s[t.local_port] = t1 - t0;
    hold_of[t.local_port] = hold;
  }
  // Two refused connections: SYN answered by RST.
  std::vector<uint16_t> refused;
  for (int i = 0; i < 2; ++i) refused.push_back(refused_connect(net.host_ip4(), net.peer_ip4(), port + 1));

  // Every connection reported within a tick or two; then stop the tool.
  std::vector<Line> lines;
  for (int i = 0; i < 7; ++i) {
    auto l = tool.next_line(5);
    REQUIRE(l);
    auto parsed = parse_line(*l);
    INFO("line: " << *l);
    REQUIRE(parsed);
    lines.push_back(*parsed);
  }
  tool.signal(SIGINT);
  CHECK(tool.wait_exit(30) == 0);
  INFO("stderr: " << tool.err());
  auto frames = cap.stop();
  CHECK(cap.dropped_by_kernel() == 0);
  auto truth = truth_from_capture(frames, port);
  auto truth_refused = truth_from_capture(frames, static_cast<uint16_t>(port + 1));

  // Exactly one line per connection, nothing else before the summary.
  std::map<uint16_t, int> seen;
  for (const Line& l : lines) ++seen[l.cport];
  CHECK(seen.size() == 7);
  for (auto& [p, n] : seen) CHECK(n == 1);
  const std::string out = tool.out();
  const std::string summary = out.substr(out.find("\nSummary: "));
  CHECK(summary.rfind("\nSummary: 7 connections, durations in seconds\n", 0) == 0);
  CHECK(summary.find("     usecs               : count    distribution\n") != std::string::npos);
  CHECK(summary.find("Table: 7 opened (0 SYN retransmits), 5 closed by FIN, 2 by RST,\n"
                     "  0 still open at exit, 0 evicted,") != std::string::npos);
  CHECK(summary.find("events lost: 0\n") != std::string::npos);

  double worst_client = 0, worst_pcap = 0;
  for (const Line& l : lines) {
    INFO("port " << l.cport);
    CHECK(l.client == net.host_ip4());
    CHECK(l.server == net.peer_ip4());
    const Truth& tr = l.sport == port ? truth[l.cport] : truth_refused[l.cport];
    REQUIRE(tr.done);
    // Against tcpdump on the same interface: same packets, same moments.
    const double pcap_s = tr.end - tr.first_syn;
    CHECK(std::fabs(l.seconds - pcap_s) < 0.002);
    worst_pcap = std::max(worst_pcap, std::fabs(l.seconds - pcap_s));
    CHECK(l.bytes_c2s == tr.bytes[0]);
    CHECK(l.bytes_s2c == tr.bytes[1]);
    CHECK(l.pkts_c2s == tr.packets[0]);
    CHECK(l.pkts_s2c == tr.packets[1]);
    if (l.sport == port) {
      CHECK(l.end == "FIN");
      CHECK(l.by == "client");  // the client shuts down its side first
      // Against the client's own clock: the tool's interval lies inside it.
      REQUIRE(client_s.count(l.cport));
      const double c = client_s[l.cport];
      CHECK(l.seconds <= c + 0.001);
      CHECK(c - l.seconds < 0.005);
      worst_client = std::max(worst_client, std::fabs(c - l.seconds));
      CHECK(l.seconds >= hold_of[l.cport] / 1000.0);
      CHECK(l.bytes_c2s > 1008);   // payload + reply-size header + headers
      CHECK(l.bytes_s2c > 20000);  // the reply
      CHECK(l.syn_to_synack != "-");
      CHECK(l.synack_to_ack != "-");
    } else {
      CHECK(std::find(refused.begin(), refused.end(), l.cport) != refused.end());
      CHECK(l.end == "RST");
      CHECK(l.by == "server");
      CHECK(l.pkts_c2s == 1);
      CHECK(l.pkts_s2c == 1);
      CHECK(l.seconds < 0.05);
      CHECK(l.syn_to_synack == "-");  // refused: no SYN/ACK, so no ACK of it either
      CHECK(l.synack_to_ack == "-");
    }
  }
  WARN("largest difference: " << worst_client * 1e3 << " ms vs the client, " << worst_pcap * 1e3 << " ms vs tcpdump");

  // The statistics file holds the same lines, in the same order.
  std::string file = read_file(dir / "stat.dat");
  std::vector<std::string> file_lines = harness::lines(file);
  REQUIRE(file_lines.size() == 7);
  for (std::size_t i = 0; i < 7; ++i) {
    auto l = parse_line(file_lines[i]);
    REQUIRE(l);
    CHECK(l->cport == lines[i].cport);
    CHECK(l->seconds == lines[i].seconds);
  }
  check_png(dir / "hist.png", 640, 480, true);
  CHECK_FALSE(std::filesystem::exists(dir / "graph.png"));  // --plot given: no default picture

  // The picture re-drawn from the file alone, default size, log axis.
  auto redraw = harness::run({harness::tool_path("tcp_duration"), "--plot-only", dir / "stat.dat", "--log-x"}, 30);
  INFO(redraw.err);
  CHECK(redraw.exit_code == 0);
  CHECK(redraw.out.find("\nSummary: 7 connections, durations in seconds\n") != std::string::npos);
  CHECK(redraw.out.find("Table:") == std::string::npos);  // no kernel counters without tracing
  check_png(dir / "graph.png", 800, 600, true);
}

TEST_CASE("tcp_duration: JSON lines, perf buffer, clsact, IPv6, default picture next to the output",
          "[tcp_duration][root]") {
  TestNet net("tj");
  const uint16_t port = 5202;
  testnet::TcpServer server(net.ns(), port);
  warm_neighbours(net, port + 1);
  TempDir dir;
  ToolProcess tool({harness::tool_path("tcp_duration"), net.host_if(), "--json", "--buffer", "perf", "--attach",
                    "clsact", "-o", dir / "s.json", "-d", "30"});
  REQUIRE(tool.wait_for_stderr_line("Attached", 60));
  CHECK(tool.err().find("Attached to clsact ingress+egress on " + net.host_if() +
                        ": timing TCP connections, up to 65536 live (perf buffer)") != std::string::npos);

  auto t4 = testnet::tcp_transfer(net.peer_ip4(), port, 5000, 100, 10, 50);
  auto t6 = testnet::tcp_transfer(net.peer_ip6(), port, 70000, 10, 10, 100);
  REQUIRE(t4.ok);
  REQUIRE(t6.ok);
  std::vector<std::string> json;
  for (int i = 0; i < 2; ++i) {
    auto l = tool.next_line(5);
    REQUIRE(l);
    json.push_back(*l);
  }
  tool.signal(SIGTERM);
  CHECK(tool.wait_exit(30) == 0);
  // Nothing left on the interface: our filters and the clsact qdisc we created are gone.
  CHECK(testnet::tc_filter_count(net.host_if(), "ingress", false) == 0);
  CHECK(testnet::tc_filter_count(net.host_if(), "egress", false) == 0);
  CHECK_FALSE(testnet::has_clsact(net.host_if()));
  const std::regex v4(
      R"(^\{"tool":"tcp_duration","type":"connection","ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","family":4,"client_addr":")" +
      net.host_ip4() + R"(","client_port":)" + std::to_string(t4.local_port) + R"(,"server_addr":")" + net.peer_ip4() +
      R"(","server_port":5202,"duration_ns":(\d+),"duration_s":0\.\d{9},"end":"fin","ended_by":"client","bytes_c2s":(\d+),"bytes_s2c":(\d+),"packets_c2s":\d+,"packets_s2c":\d+,"syns":1,"syn_to_synack_us":\d+\.\d{3},"synack_to_ack_us":\d+\.\d{3},"local":"client","uid":0,"user":"root","cgroup_id":\d+,"cgroup":"[^"]*","unit":.*,"container_id":.*\}$)");
  std::smatch m;
  INFO(json[0]);
  REQUIRE(std::regex_match(json[0], m, v4));
  CHECK(std::stoull(m[1]) >= 50'000'000ULL);
  CHECK(std::stoull(m[2]) > 5008);
  INFO(json[1]);
  CHECK(json[1].find("\"family\":6,\"client_addr\":\"" + net.host_ip6() +
                     "\",\"client_port\":" + std::to_string(t6.local_port) + ",\"server_addr\":\"" + net.peer_ip6() +
                     "\"") != std::string::npos);
  // The last stdout line is the JSON summary; the file has the two connection lines.
  auto all = harness::json_lines(tool.out(), "tcp_duration");
  REQUIRE(all.size() == 3);
  CHECK(all[2]["type"] == "summary");
  CHECK(all[2]["events"] == 2);
  CHECK(all[2]["count"] == 2);
  CHECK(all[2]["table"]["opened"] == 2);
  auto file = harness::lines(read_file(dir / "s.json"));
  REQUIRE(file.size() == 2);
  CHECK(file[0] == json[0]);
  CHECK(file[1] == json[1]);
  check_png(dir / "graph.png", 800, 600, true);  // default: graph.png next to the output
}

TEST_CASE("tcp_duration: lines survive a SIGKILL; a vanished interface ends the run with code 1",
          "[tcp_duration][root]") {
  TempDir dir;
  {
    TestNet net("tk");
    testnet::TcpServer server(net.ns(), 5203);
    warm_neighbours(net, 5204);
    ToolProcess tool({harness::tool_path("tcp_duration"), net.host_if(), "-o", dir / "k.dat", "--no-plot"});
    REQUIRE(tool.wait_for_stderr_line("Attached", 60));
    for (int i = 0; i < 3; ++i) REQUIRE(testnet::tcp_transfer(net.peer_ip4(), 5203, 10, 10).ok);
    for (int i = 0; i < 3; ++i) REQUIRE(tool.next_line(5));
    tool.signal(SIGKILL);
    tool.wait_exit(10);
    CHECK(harness::lines(read_file(dir / "k.dat")).size() == 3);  // flushed per connection
    CHECK_FALSE(std::filesystem::exists(dir / "graph.png"));
  }
  {
    TestNet net("tg");
    ToolProcess tool({harness::tool_path("tcp_duration"), net.host_if(), "-o", dir / "g.dat", "--plot", dir / "g.png"});
    REQUIRE(tool.wait_for_stderr_line("Attached", 60));
    net.delete_link();
    CHECK(tool.wait_exit(10) == 1);
    CHECK(tool.err().find("tcp_duration: error: interface " + net.host_if() + " disappeared") != std::string::npos);
    CHECK(tool.out().find("Summary: no finished connections.") != std::string::npos);
    check_png(dir / "g.png", 800, 600, false);  // still drawn: empty axes
  }
}

TEST_CASE("tcp_duration: usage errors", "[tcp_duration]") {
  const std::string bin = harness::tool_path("tcp_duration");
  auto r = harness::run({bin}, 10);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("tcp_duration: error: missing interface (IFACE)") != std::string::npos);
  r = harness::run({bin, "lo", "--size", "80x60"}, 10);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("bad value for --size: '80x60'") != std::string::npos);
  r = harness::run({bin, "lo", "--bins", "0"}, 10);
  CHECK(r.exit_code == 2);
  r = harness::run({bin, "lo", "--buffer", "pipe"}, 10);
  CHECK(r.exit_code == 2);
  r = harness::run({bin, "nosuchif0"}, 10);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("no such interface: nosuchif0") != std::string::npos);
  r = harness::run({bin, "--plot-only", "/nonexistent/statistics.dat"}, 10);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("tcp_duration: error: cannot read /nonexistent/statistics.dat") != std::string::npos);
  r = harness::run({bin, "lo", "--plot-only", "x.dat"}, 10);
  CHECK(r.exit_code == 2);
  r = harness::run({bin, "--help"}, 10);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("EXAMPLES:") != std::string::npos);
  CHECK(r.out.find("--plot-only") != std::string::npos);
}
