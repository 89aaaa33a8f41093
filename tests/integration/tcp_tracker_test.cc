// tcp_tracker end to end: the real binary attached to the host end of a veth pair, TCP
// transfers to a server in the netns, tcpdump on the same interface as ground truth
// (its pcap file parsed here: frame length = orig_len). Plus attach/detach safety
// (foreign filters, SIGKILL, interface deleted), usage errors and the flow-table read
// benchmark.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <sys/wait.h>

#include "bpf/map_reader.h"
#include "bpf/tc_attach.h"
#include "cgroups.h"
#include "faults.h"
#include "harness.h"
#include "jsonl.h"
#include "netns.h"
#include "prometheus.h"
#include "tcp_tracker.h"
#include "util/cgroup.h"

using harness::ToolProcess;
using testcg::TestCgroup;
using testnet::TestNet;

namespace {

constexpr uint32_t kClientUid = 4243;  // a uid with no passwd entry: "user" is null

using FlowKey = std::tuple<std::string, unsigned, std::string, unsigned>;  // src, sport, dst, dport

struct Tot {
  uint64_t bytes = 0, packets = 0, segments = 0;
  uint32_t header_len = 0;  // capture: header bytes of the flow's largest frame
  uint32_t largest = 0;
};

std::string show(const FlowKey& k) {
  return std::get<0>(k) + ":" + std::to_string(std::get<1>(k)) + " -> " + std::get<2>(k) + ":" +
         std::to_string(std::get<3>(k));
}

// Per-flow totals of the TCP frames of a capture. Every frame must parse.
std::map<FlowKey, Tot> capture_flows(const std::vector<testnet::PcapPacket>& frames) {
  std::map<FlowKey, Tot> out;
  for (const auto& p : frames) {
    auto f = testnet::parse_tcp_frame(p);
    REQUIRE(f);
    auto& t = out[{f->src, f->sport, f->dst, f->dport}];
    t.bytes += f->orig_len;
    t.packets += 1;
    if (f->orig_len > t.largest) {
      t.largest = f->orig_len;
      t.header_len = f->header_len;
    }
  }
  return out;
}

// Per-flow counters from the tool's JSON lines: those with "final":true only
// (final_only), or the sum of every line (--reset).
std::map<FlowKey, Tot> json_flows(const std::string& out, bool final_only) {
  std::map<FlowKey, Tot> m;
  for (const auto& j : harness::of_type(harness::json_lines(out, "tcp_tracker"), "flow")) {
    if (final_only && !j["final"].get<bool>()) continue;
    auto& t = m[{j["src_addr"].get<std::string>(), j["src_port"].get<unsigned long>(), j["dst_addr"].get<std::string>(),
                 j["dst_port"].get<unsigned long>()}];
    t.bytes += j["bytes"].get<uint64_t>();
    t.packets += j["packets"].get<uint64_t>();
    t.segments += j["segments"].get<uint64_t>();
  }
  return m;
}

// 29 connections of known sizes, IPv4 and IPv6 (every third), some large enough for
// GSO/TSO. Returns the client ports used.
std::vector<uint16_t> make_transfers(const TestNet& net, uint16_t port, int n = 29) {
  std::vector<uint16_t> ports;
  for (int i = 0; i < n; ++i) {
    const std::string& addr = i % 3 == 0 ? net.peer_ip6() : net.peer_ip4();
    uint64_t send = 1000ULL * static_cast<uint64_t>(i * i) + 17ULL * static_cast<uint64_t>(i);
    uint64_t reply = 512ULL * static_cast<uint64_t>(i) + 3;
    auto t = testnet::tcp_transfer(addr, port, send, reply, 10);
    INFO("transfer " << i << ": " << t.error);
    REQUIRE(t.ok);
    ports.push_back(t.local_port);
  }
  return ports;
}

// Starts tcp_tracker and waits for its "Attached" line.
std::unique_ptr<ToolProcess> start_tool(std::vector<std::string> args) {
  args.insert(args.begin(), harness::tool_path("tcp_tracker"));
  auto p = std::make_unique<ToolProcess>(args);
  bool attached = p->wait_for_stderr_line("Attached", 60);
  INFO(p->err());
  REQUIRE(attached);
  return p;
}

// What the tool counted against the capture, flow by flow, exactly.
//  - tcpdump_sees_skbs: the frames tcpdump captured are the skbs the hook saw (the
//    device took GSO packets whole, or none were built): bytes and packets equal.
//  - otherwise (egress with the device's TSO/GSO off): TCP still builds GSO packets
//    (the kernel turns GSO on for every TCP socket) and they are cut into segments
//    after the TC egress hook and before tcpdump's tap. Then the capture has one frame
//    per wire segment, each with its own copy of the headers: segments equal the
//    capture's frames, and bytes + (segments - packets) x header length equal its bytes.
void compare(const std::map<FlowKey, Tot>& tool, const std::map<FlowKey, Tot>& truth, bool tcpdump_sees_skbs) {
  CHECK(tool.size() == truth.size());
  for (const auto& [k, t] : truth) {
    INFO(show(k));
    auto it = tool.find(k);
    REQUIRE(it != tool.end());
    const Tot& c = it->second;
    CHECK(c.segments >= c.packets);
    if (tcpdump_sees_skbs) {
      CHECK(c.bytes == t.bytes);
      CHECK(c.packets == t.packets);
    } else {
      CHECK(c.segments == t.packets);
      CHECK(c.bytes + (c.segments - c.packets) * t.header_len == t.bytes);
    }
  }
  for (const auto& [k, t] : tool) {
    INFO("only in the tool: " << show(k));
    CHECK(truth.count(k) == 1);
  }
}

uint64_t total_packets(const std::map<FlowKey, Tot>& m) {
  uint64_t n = 0;
  for (const auto& [k, t] : m) n += t.packets;
  return n;
}

const std::string kForeign = "bpf bytecode '1,6 0 0 0,'";  // classic BPF, returns 0: harmless

}  // namespace

TEST_CASE("netns helper: transfers, capture and frame parsing", "[netns]") {
  TestNet net("nh");
  testnet::TcpServer server(net.ns(), 5001);
  testnet::Capture cap(net.host_if(), "tcp port 5001");
  auto t4 = testnet::tcp_transfer(net.peer_ip4(), 5001, 1000, 3000);
  INFO(t4.error);
  REQUIRE(t4.ok);
  auto t6 = testnet::tcp_transfer(net.peer_ip6(), 5001, 70000, 10);
  INFO(t6.error);
  REQUIRE(t6.ok);
  auto frames = cap.stop();
  INFO(cap.tcpdump_stderr());
  CHECK(cap.dropped_by_kernel() == 0);
  int v4 = 0, v6 = 0, syn = 0;
  for (const auto& p : frames) {
    auto f = testnet::parse_tcp_frame(p);
    REQUIRE(f);
    if (f->family == 4) {
      ++v4;
      CHECK((f->src == net.host_ip4() || f->src == net.peer_ip4()));
      CHECK((f->sport == t4.local_port || f->dport == t4.local_port));
    } else {
      ++v6;
      CHECK((f->src == net.host_ip6() || f->src == net.peer_ip6()));
      CHECK((f->sport == t6.local_port || f->dport == t6.local_port));
    }
    if (f->flags & 0x02) ++syn;
  }
  CHECK(v4 >= 6);
  CHECK(v6 >= 6);
  CHECK(syn == 4);  // SYN and SYN-ACK per connection
  CHECK(net.host_ifindex() > 0);
  CHECK(testnet::run_in_netns(net.ns(), [] { return 7; }) == 7);
}

TEST_CASE("tcp_tracker: per-flow bytes and packets equal tcpdump's, exactly", "[tcp_tracker][exact]") {
  const std::string mode = GENERATE(as<std::string>{}, "tcx", "clsact");
  const bool offloads = GENERATE(true, false);
  INFO("--attach " << mode << ", offloads " << (offloads ? "on" : "off"));
  TestNet net("tt");
  if (!offloads) REQUIRE(net.set_offloads(false));
  testnet::TcpServer server(net.ns(), 5001);
  auto tool = start_tool({net.host_if(), "--json", "-i", "1", "--attach", mode});
  testnet::Capture cap(net.host_if(), "tcp");
  make_transfers(net, 5001);
  auto frames = cap.stop();
  CHECK(cap.dropped_by_kernel() == 0);
  tool->signal(SIGINT);
  REQUIRE(tool->wait_exit(20) == 0);
  INFO(tool->err());
  auto truth = capture_flows(frames);
  REQUIRE(truth.size() == 58);  // 29 connections, two directions each
  auto counted = json_flows(tool->out(), true);
  uint64_t segs = 0;
  for (const auto& [k, t] : counted) segs += t.segments;
  if (offloads) {
    compare(counted, truth, true);
    // The large transfers went through as GSO packets: more segments than packets.
    CHECK(segs > total_packets(counted));
  } else {
    // Ingress (server -> client): the peer segmented before the veth, so packets,
    // segments and frames are one and the same. Egress: see compare().
    std::map<FlowKey, Tot> in_tool, in_truth, out_tool, out_truth;
    for (const auto& [k, t] : counted) (std::get<1>(k) == 5001 ? in_tool : out_tool)[k] = t;
    for (const auto& [k, t] : truth) (std::get<1>(k) == 5001 ? in_truth : out_truth)[k] = t;
    compare(in_tool, in_truth, true);
    for (const auto& [k, t] : in_tool) CHECK(t.segments == t.packets);
    compare(out_tool, out_truth, false);
    CHECK(segs == total_packets(truth));
  }
  WARN("--attach " << mode << ", offloads " << (offloads ? "on" : "off") << ": " << truth.size() << " flows, "
                   << total_packets(truth) << " frames in the capture; tool: " << total_packets(counted) << " packets, "
                   << segs << " segments");
}

TEST_CASE("tcp_tracker --reset: the intervals add up to the capture", "[tcp_tracker][exact]") {
  TestNet net("tr");
  testnet::TcpServer server(net.ns(), 5002);
  // Short intervals so that table switches happen while packets flow.
  auto tool = start_tool({net.host_if(), "--json", "--reset", "-i", "0.1", "-v"});
  testnet::Capture cap(net.host_if(), "tcp");
  for (int round = 0; round < 4; ++round) {
    make_transfers(net, 5002, 7);
    // 30 MiB, then 250 ms before the FIN: the flow spans at least two intervals.
    auto big = testnet::tcp_transfer(net.peer_ip4(), 5002, 30u << 20, 1u << 20, 20, 250);
    INFO(big.error);
    REQUIRE(big.ok);
  }
  auto frames = cap.stop();
  CHECK(cap.dropped_by_kernel() == 0);
  tool->signal(SIGINT);
  REQUIRE(tool->wait_exit(20) == 0);
  auto truth = capture_flows(frames);
  REQUIRE(truth.size() == 64);
  auto summed = json_flows(tool->out(), false);
  compare(summed, truth, true);
  // Many intervals reported something, and the big flows were split across several.
  std::set<std::string> intervals;
  for (const auto& j : harness::of_type(harness::json_lines(tool->out(), "tcp_tracker"), "flow"))
    intervals.insert(std::to_string(j["interval"].get<long>()));
  CHECK(intervals.size() >= 5);
  // The flows with a pause before their FIN were reported in more than one interval.
  std::map<std::string, int> reports_per_flow;
  for (const auto& j : harness::of_type(harness::json_lines(tool->out(), "tcp_tracker"), "flow"))
    ++reports_per_flow[j["src_addr"].get<std::string>() + ":" + std::to_string(j["src_port"].get<unsigned>())];
  int split = 0;
  for (const auto& [flow, n] : reports_per_flow) split += n >= 2;
  CHECK(split >= 4);
  size_t switches = 0;
  for (size_t pos = 0; (pos = tool->err().find("switched flow tables", pos)) != std::string::npos; ++pos) ++switches;
  WARN("--reset: " << total_packets(truth) << " frames, " << intervals.size() << " intervals with flows, " << switches
                   << " table switches, all equal");
}

TEST_CASE("tcp_tracker --direction ingress / egress count one side only", "[tcp_tracker][exact]") {
  const std::string dir = GENERATE(as<std::string>{}, "ingress", "egress");
  TestNet net("td");
  testnet::TcpServer server(net.ns(), 5003);
  auto tool = start_tool({net.host_if(), "--json", "--direction", dir});
  // Counting on ingress only still hooks egress, only to learn the owners there.
  CHECK(tool->err().find(dir == "ingress" ? " ingress+egress on " + net.host_if() + " (egress: owners only)"
                                          : " egress on " + net.host_if() + ":") != std::string::npos);
  testnet::Capture cap(net.host_if(), "tcp", 96, dir == "ingress" ? "in" : "out");
  make_transfers(net, 5003, 5);
  auto frames = cap.stop();
  tool->signal(SIGTERM);
  REQUIRE(tool->wait_exit(20) == 0);
  auto truth = capture_flows(frames);
  CHECK(truth.size() == 5);
  for (const auto& [k, t] : truth) {
    // ingress: packets from the server (port 5003) to us; egress: ours to it.
    CHECK((dir == "ingress" ? std::get<1>(k) : std::get<3>(k)) == 5003);
  }
  compare(json_flows(tool->out(), true), truth, true);
}

namespace {

// An Ethernet frame with one 802.1Q tag (VLAN 42) carrying IPv4/TCP (ACK|PSH), to the
// broadcast MAC (so it is never "for another host").
std::vector<uint8_t> tagged_tcp_frame(const std::string& src, uint16_t sport, const std::string& dst, uint16_t dport,
                                      size_t payload) {
  std::vector<uint8_t> b(18 + 20 + 20 + payload, 0);
  for (int i = 0; i < 6; ++i) b[static_cast<size_t>(i)] = 0xff;
  b[6] = 0x02, b[11] = 0x07;
  b[12] = 0x81, b[13] = 0x00, b[15] = 42;  // 802.1Q, VLAN 42
  b[16] = 0x08, b[17] = 0x00;              // IPv4
  uint8_t* ip = &b[18];
  ip[0] = 0x45;
  const size_t tot = 40 + payload;
  ip[2] = static_cast<uint8_t>(tot >> 8), ip[3] = static_cast<uint8_t>(tot);
  ip[6] = 0x40, ip[8] = 64, ip[9] = 6;
  REQUIRE(inet_pton(AF_INET, src.c_str(), ip + 12) == 1);
  REQUIRE(inet_pton(AF_INET, dst.c_str(), ip + 16) == 1);
  uint8_t* tcp = ip + 20;
  tcp[0] = static_cast<uint8_t>(sport >> 8), tcp[1] = static_cast<uint8_t>(sport);
  tcp[2] = static_cast<uint8_t>(dport >> 8), tcp[3] = static_cast<uint8_t>(dport);
  tcp[12] = 5 << 4, tcp[13] = 0x18, tcp[14] = 0x01;
  return b;
}

}  // namespace

// This kernel has no 802.1Q devices (no CONFIG_VLAN_8021Q), so tagged frames are sent
// raw. Arriving on the host end, the core strips the tag into skb->vlan_tci before the
// TC hook (offloaded tag: +4 bytes to match tcpdump, which puts it back); sent on the
// host end, the tag stays in the frame on the egress hook (parsed in the frame).
TEST_CASE("tcp_tracker: VLAN tag offloaded (ingress) or in the frame (egress), bytes as tcpdump shows",
          "[tcp_tracker][vlan]") {
  TestNet net("tv");
  auto tool = start_tool({net.host_if(), "--json"});
  testnet::Capture cap(net.host_if(), "vlan and tcp");
  std::vector<std::vector<uint8_t>> in, out;
  for (size_t i = 0; i < 7; ++i) in.push_back(tagged_tcp_frame(net.peer_ip4(), 7000, net.host_ip4(), 7001, 100 * i));
  for (size_t i = 0; i < 5; ++i)
    out.push_back(tagged_tcp_frame(net.host_ip4(), 7002, net.peer_ip4(), 7003, 37 * i + 1));
  REQUIRE(testnet::send_raw_frames(net.peer_if(), net.ns(), in));
  REQUIRE(testnet::send_raw_frames(net.host_if(), "", out));
  auto frames = cap.stop();
  tool->signal(SIGINT);
  REQUIRE(tool->wait_exit(20) == 0);
  auto truth = capture_flows(frames);
  REQUIRE(truth.size() == 2);
  for (const auto& p : frames) CHECK(testnet::parse_tcp_frame(p)->vlan);
  CHECK(truth[{net.peer_ip4(), 7000, net.host_ip4(), 7001}].packets == 7);
  CHECK(truth[{net.host_ip4(), 7002, net.peer_ip4(), 7003}].packets == 5);
  compare(json_flows(tool->out(), true), truth, true);
}

TEST_CASE("tcp_tracker: text report as the original, with rates", "[tcp_tracker][text]") {
  TestNet net("tx");
  testnet::TcpServer server(net.ns(), 5005);
  // IFACE [interval [count]]: three reports, the last one the final report, then it stops.
  auto tool = start_tool({net.host_if(), "1", "3", "--sort", "packets"});
  auto t4 = testnet::tcp_transfer(net.peer_ip4(), 5005, 200000, 3000);
  auto t6 = testnet::tcp_transfer(net.peer_ip6(), 5005, 1000, 100);
  REQUIRE(t4.ok);
  REQUIRE(t6.ok);
  REQUIRE(tool->wait_exit(20) == 0);
  auto lines = harness::lines(tool->out());
  INFO(tool->out());
  int traces = 0, finals = 0;
  std::set<std::string> flows;
  static const std::regex row(
      R"(^ *(\S+):(\d+) +-> +(\S+):(\d+) +\| +\d+\.\d\d (KB| B|MB) +(\d+) packets \| +\d+\.\d\d (KB| B|MB)/s$)");
  for (const auto& l : lines) {
    std::smatch m;
    if (l.rfind("Trace at: ", 0) == 0) {
      ++traces;
      CHECK(std::regex_match(l, std::regex(R"(Trace at: \d\d:\d\d:\d\d)")));
    } else if (l.rfind("Final at: ", 0) == 0) {
      ++finals;
    } else if (std::regex_match(l, m, row)) {
      flows.insert(m[1].str() + ":" + m[2].str() + ">" + m[3].str() + ":" + m[4].str());
    } else if (l.rfind("Not counted: ", 0) == 0 || l == "No TCP flows yet." || l.rfind("Traced ", 0) == 0) {
    } else {
      FAIL("unexpected line: " << l);
    }
  }
  CHECK(traces == 2);
  CHECK(finals == 1);
  const std::string p4 = std::to_string(t4.local_port), p6 = std::to_string(t6.local_port);
  CHECK(flows.count(net.host_ip4() + ":" + p4 + ">" + net.peer_ip4() + ":5005") == 1);
  CHECK(flows.count(net.peer_ip4() + ":5005>" + net.host_ip4() + ":" + p4) == 1);
  CHECK(flows.count("[" + net.host_ip6() + "]:" + p6 + ">[" + net.peer_ip6() + "]:5005") == 1);
  CHECK(flows.count("[" + net.peer_ip6() + "]:5005>[" + net.host_ip6() + "]:" + p6) == 1);
  REQUIRE(lines.size() >= 2);
  CHECK(lines[lines.size() - 2].rfind("Not counted: ", 0) == 0);
  CHECK(lines.back().rfind("Traced ", 0) == 0);
  auto summary = harness::text_summary(tool->out());
  REQUIRE(summary);
  CHECK(summary->events_name == "packets");
  uint64_t final_packets = 0;  // the final report's running totals: every packet counted
  bool final_rows = false;
  for (const auto& l : lines) {
    std::smatch m;
    if (l.rfind("Final at: ", 0) == 0) final_rows = true;
    if (final_rows && std::regex_match(l, m, row)) final_packets += std::stoull(m[6]);
  }
  CHECK(summary->events == final_packets);
  CHECK(summary->evicted == 0);
  // The final report's rate column is the average over the whole trace: not zero for
  // the flows, although nothing moved since the last report.
  bool in_final_report = false;
  for (const auto& l : lines) {
    if (l.rfind("Final at: ", 0) == 0) in_final_report = true;
    if (in_final_report && std::regex_match(l, row)) CHECK(l.find(" 0.00  B/s") == std::string::npos);
  }
  // Every row of one report has the same width: aligned columns.
  std::set<size_t> widths;
  bool in_final = false;
  for (const auto& l : lines) {
    if (l.rfind("Final at: ", 0) == 0)
      in_final = true;
    else if (in_final && std::regex_match(l, row))
      widths.insert(l.size());
  }
  CHECK(widths.size() == 1);
  CHECK(tool->out().find("sha1") == std::string::npos);
}

TEST_CASE("tcp_tracker: --top keeps the biggest flows", "[tcp_tracker][text]") {
  TestNet net("tp");
  testnet::TcpServer server(net.ns(), 5006);
  auto tool = start_tool({net.host_if(), "--json", "--top", "2", "-i", "30"});
  auto big = testnet::tcp_transfer(net.peer_ip4(), 5006, 500000, 400000);
  auto small = testnet::tcp_transfer(net.peer_ip4(), 5006, 10, 10);
  REQUIRE(big.ok);
  REQUIRE(small.ok);
  tool->signal(SIGINT);
  REQUIRE(tool->wait_exit(20) == 0);
  auto m = json_flows(tool->out(), true);
  REQUIRE(m.size() == 2);
  for (const auto& [k, t] : m) CHECK((std::get<1>(k) == big.local_port || std::get<3>(k) == big.local_port));
}

TEST_CASE("tcp_tracker: a foreign clsact qdisc and its filters survive a run untouched", "[tcp_tracker][attach]") {
  const std::string mode = GENERATE(as<std::string>{}, "clsact", "tcx", "auto");
  INFO("--attach " << mode);
  TestNet net("tf");
  const std::string dev = net.host_if();
  REQUIRE(testnet::sh("tc qdisc add dev " + dev + " clsact && tc filter add dev " + dev + " ingress prio 5 handle 1 " +
                      kForeign + " && tc filter add dev " + dev + " egress prio 7 handle 1 " + kForeign)
              .rc == 0);
  const std::string before = testnet::sh("tc qdisc show dev " + dev + "; tc filter show dev " + dev +
                                         " ingress; tc filter show dev " + dev + " egress")
                                 .out;
  {
    auto tool = start_tool({dev, "--attach", mode, "-i", "1"});
    if (mode == "clsact") {
      for (const char* d : {"ingress", "egress"}) {
        CHECK(testnet::tc_filter_count(dev, d, true) == 1);
        CHECK(testnet::tc_filter_count(dev, d, false) == 2);
      }
    }
    testnet::TcpServer server(net.ns(), 5007);
    REQUIRE(testnet::tcp_transfer(net.peer_ip4(), 5007, 5000, 5000).ok);
    tool->signal(SIGINT);
    CHECK(tool->wait_exit(20) == 0);
    // Our program ran before the foreign filter (pref 1985 > 5 and 7 in clsact mode; tcx
    // runs before clsact) and returned TC_ACT_UNSPEC, so the transfer still went through:
    // the tool counted it.
    CHECK(tool->out().find(":5007") != std::string::npos);
  }
  const std::string after = testnet::sh("tc qdisc show dev " + dev + "; tc filter show dev " + dev +
                                        " ingress; tc filter show dev " + dev + " egress")
                                .out;
  CHECK(after == before);
}

TEST_CASE("tcp_tracker --attach clsact: after SIGKILL the next run leaves one filter, a clean exit none",
          "[tcp_tracker][attach]") {
  TestNet net("tk");
  const std::string dev = net.host_if();
  auto ours = [&](const char* d) { return testnet::tc_filter_count(dev, d, true); };
  auto all = [&](const char* d) { return testnet::tc_filter_count(dev, d, false); };
  {
    auto first = start_tool({dev, "--attach", "clsact"});
    CHECK(ours("ingress") == 1);
    CHECK(ours("egress") == 1);
    first->signal(SIGKILL);
    CHECK(first->wait_exit(10) == 128 + SIGKILL);
  }
  // A killed clsact run leaves its filters (they are not owned by a process).
  CHECK(ours("ingress") == 1);
  CHECK(ours("egress") == 1);
  {
    auto second = start_tool({dev, "--attach", "clsact"});
    for (const char* d : {"ingress", "egress"}) {
      CHECK(ours(d) == 1);  // replaced, not duplicated
      CHECK(all(d) == 1);
    }
    // And the replacement counts traffic.
    testnet::TcpServer server(net.ns(), 5008);
    REQUIRE(testnet::tcp_transfer(net.peer_ip4(), 5008, 100, 100).ok);
    second->signal(SIGINT);
    CHECK(second->wait_exit(20) == 0);
    CHECK(second->out().find(":5008") != std::string::npos);
  }
  for (const char* d : {"ingress", "egress"}) CHECK(all(d) == 0);
  // The qdisc was created by the killed run, not by the second: by the ownership rule it
  // stays (empty).
  CHECK(testnet::has_clsact(dev));
  REQUIRE(testnet::sh("tc qdisc del dev " + dev + " clsact").rc == 0);
  {
    auto fresh = start_tool({dev, "--attach", "clsact", "-d", "1"});
    CHECK(fresh->wait_exit(20) == 0);
  }
  for (const char* d : {"ingress", "egress"}) CHECK(all(d) == 0);
  CHECK_FALSE(testnet::has_clsact(dev));  // created by that run, removed by it
}

TEST_CASE("tcp_tracker --attach tcx: a SIGKILL leaves nothing attached", "[tcp_tracker][attach]") {
  if (!tracekit::kernel_has_tcx()) {
    WARN("kernel without tcx: skipped");
    return;
  }
  TestNet net("tx");
  const int ifx = net.host_ifindex();
  {
    auto tool = start_tool({net.host_if(), "--attach", "tcx"});
    CHECK(tool->err().find("Attached to tcx ingress+egress on " + net.host_if()) != std::string::npos);
    CHECK(testnet::tcx_prog_count(ifx, "ingress") == 1);
    CHECK(testnet::tcx_prog_count(ifx, "egress") == 1);
    tool->signal(SIGKILL);
    CHECK(tool->wait_exit(10) == 128 + SIGKILL);
  }
  for (const char* d : {"ingress", "egress"})
    CHECK(testnet::eventually([&] { return testnet::tcx_prog_count(ifx, d) == 0; }));
  CHECK_FALSE(testnet::has_clsact(net.host_if()));
  for (const char* d : {"ingress", "egress"}) CHECK(testnet::tc_filter_count(net.host_if(), d, false) == 0);
}

TEST_CASE("tcp_tracker: interface deleted while running -> message, final report, exit 1", "[tcp_tracker][attach]") {
  const std::string mode = GENERATE(as<std::string>{}, "tcx", "clsact");
  TestNet net("tg");
  testnet::TcpServer server(net.ns(), 5009);
  auto tool = start_tool({net.host_if(), "--attach", mode, "-i", "5"});
  auto t = testnet::tcp_transfer(net.peer_ip4(), 5009, 4000, 4000);
  REQUIRE(t.ok);
  net.delete_link();
  auto start = std::chrono::steady_clock::now();
  int rc = tool->wait_exit(10);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(tool->err());
  CHECK(rc == 1);
  CHECK(took < 2.0);
  CHECK(tool->err().find("tcp_tracker: error: interface " + net.host_if() + " disappeared\n") != std::string::npos);
  CHECK(tool->out().find("Final at: ") != std::string::npos);
  CHECK(tool->out().find(":" + std::to_string(t.local_port)) != std::string::npos);  // the flow is reported
  CHECK(tool->err().find("Segmentation") == std::string::npos);
}

TEST_CASE("tcp_tracker usage errors exit 2 with one line", "[tcp_tracker][usage]") {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"nope0"}, "tcp_tracker: error: no such interface: nope0"},
      {{"abcdefghijklmnopq"}, "tcp_tracker: error: interface name too long: abcdefghijklmnopq"},
      {{}, "tcp_tracker: error: missing interface (IFACE); e.g. veth0; see --help"},
      {{"lo", "--attach", "xdp"}, "tcp_tracker: error: bad value for --attach: 'xdp' (expected auto, tcx or clsact)"},
      {{"lo", "--direction", "up"},
       "tcp_tracker: error: bad value for --direction: 'up' (expected ingress, egress or both)"},
      {{"lo", "--sort", "size"}, "tcp_tracker: error: bad value for --sort: 'size' (expected bytes, packets or rate)"},
      {{"lo", "--top", "-1"}, ""},
      {{"lo", "--max-flows", "0"}, ""},
      {{"lo", "--max-flows", "99999999"}, ""},
      {{"lo", "-i", "0"}, ""},
      {{"lo", "eth0"}, "tcp_tracker: error: bad value for --interval: 'eth0' (expected seconds, more than 0)"},
      {{"lo", "--by", "pid"}, "tcp_tracker: error: bad value for --by: 'pid' (expected flow, uid, cgroup or unit)"},
      {{"lo", "-O", "--by", "unit"}, "tcp_tracker: error: -O/--owner shows owners per flow: not with --by unit"},
      {{"lo", "-u", "no-such-user-tk"},
       "tcp_tracker: error: bad value for --uid: 'no-such-user-tk' is neither a number nor a user name"},
      {{"lo", "--cgroup", "/no/such/cgroup"}, ""},
  };
  for (auto c : cases) {
    c.args.insert(c.args.begin(), harness::tool_path("tcp_tracker"));
    auto r = harness::run(c.args, 30);
    INFO((c.args.size() > 1 ? c.args[1] : std::string("(none)")));
    INFO(r.err);
    CHECK(r.exit_code == 2);
    REQUIRE(harness::lines(r.err).size() == 1);
    CHECK(r.err.rfind("tcp_tracker: error: ", 0) == 0);
    if (!c.message.empty()) CHECK(harness::lines(r.err)[0] == c.message);
    CHECK(r.out.empty());
  }
  auto help = harness::run({harness::tool_path("tcp_tracker"), "--help"}, 10);
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("IFACE") != std::string::npos);
  CHECK(help.out.find("--attach") != std::string::npos);
  CHECK(help.out.find("EXAMPLES:") != std::string::npos);
}

// ---- flow-table read benchmark ------------------------------------------------------

namespace {

// An LRU hash shaped like tcp_tracker's, filled with n distinct flows.
int make_filled_map(uint32_t max_entries, uint32_t n) {
  bpf_map_create_opts o{};
  o.sz = sizeof(o);
  int fd =
      bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "tk_bench_flows", sizeof(flow_key), sizeof(flow_value), max_entries, &o);
  REQUIRE(fd >= 0);
  std::vector<flow_key> keys(n);
  std::vector<flow_value> values(n);
  for (uint32_t i = 0; i < n; ++i) {
    flow_key& k = keys[i];
    k = flow_key{};
    k.family = 4;
    k.saddr[0] = 198, k.saddr[1] = 18, k.saddr[2] = static_cast<__u8>(i >> 16), k.saddr[3] = 1;
    k.daddr[0] = 198, k.daddr[1] = 19, k.daddr[3] = 2;
    k.sport = static_cast<__u16>(1024 + (i & 0xffff) % 60000);
    k.dport = static_cast<__u16>(443 + (i & 0xffff) / 60000);
    values[i] = flow_value{1000ULL + i, 1ULL + i % 7, 1ULL + i % 7};
  }
  bpf_map_batch_opts bo{};
  bo.sz = sizeof(bo);
  for (uint32_t at = 0; at < n;) {
    __u32 count = std::min<uint32_t>(10000, n - at);
    REQUIRE(bpf_map_update_batch(fd, &keys[at], &values[at], &count, &bo) == 0);
    at += count;
  }
  return fd;
}

}  // namespace

TEST_CASE("tcp_tracker: reading 100,000 flows, batched and iterated", "[tcp_tracker][bench]") {
  constexpr uint32_t kFlows = 100000;
  constexpr uint32_t kMax = 131072;  // room: a common-LRU map evicts a little before it is full
  int fd = make_filled_map(kMax, kFlows);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  auto best_of = [&](tracekit::MapReadMode mode, size_t* syscalls) {
    double best = 1e9;
    for (int run = 0; run < 3; ++run) {
      tracekit::HashMapReader reader(fd, sizeof(flow_key), sizeof(flow_value), kMax, mode);
      size_t n = reader.read(false);
      CHECK(n == kFlows);
      CHECK(reader.batched() == (mode == tracekit::MapReadMode::Batch));
      best = std::min(best, std::chrono::duration<double, std::milli>(reader.took()).count());
      *syscalls = reader.syscalls();
    }
    return best;
  };
  size_t batch_calls = 0, iter_calls = 0;
  double batch_ms = best_of(tracekit::MapReadMode::Batch, &batch_calls);
  double iter_ms = best_of(tracekit::MapReadMode::Iterate, &iter_calls);
  CHECK(batch_ms < 250);  // "well under a second"
  CHECK(iter_ms < 1000);

  // Draining (--reset) reads everything once and leaves the map empty.
  tracekit::HashMapReader drain(fd, sizeof(flow_key), sizeof(flow_value), kMax);
  CHECK(drain.read(true) == kFlows);
  double drain_ms = std::chrono::duration<double, std::milli>(drain.took()).count();
  CHECK(drain.read(false) == 0);
  char line[256];
  std::snprintf(line, sizeof line,
                "100000 flows: batched %.1f ms (%zu bpf calls), iterated %.1f ms (%zu calls), "
                "batched lookup+delete %.1f ms",
                batch_ms, batch_calls, iter_ms, iter_calls, drain_ms);
  WARN(line);
}

TEST_CASE("tcp_tracker: one report over 100,000 flows in the running tool", "[tcp_tracker][bench]") {
  TestNet net("tb");
  constexpr long kMaxFlows = 120011;  // unusual size: identifies the tool's map below
  auto tool = start_tool({net.host_if(), "-v", "-i", "1", "--top", "5", "--max-flows", std::to_string(kMaxFlows)});
  // Find the tool's flow map and fill it from here.
  int fd = -1;
  for (__u32 id = 0; bpf_map_get_next_id(id, &id) == 0;) {
    int f = bpf_map_get_fd_by_id(id);
    if (f < 0) continue;
    bpf_map_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(f, &info, &len) == 0 && info.max_entries == kMaxFlows &&
        info.key_size == sizeof(flow_key) && std::string(info.name) == "flows") {
      fd = f;
      break;
    }
    ::close(f);
  }
  REQUIRE(fd >= 0);
  std::vector<flow_key> keys(100000);
  std::vector<flow_value> values(keys.size());
  for (uint32_t i = 0; i < keys.size(); ++i) {
    keys[i] = flow_key{};
    keys[i].family = 4;
    keys[i].saddr[0] = 198, keys[i].saddr[1] = 18, keys[i].saddr[2] = static_cast<__u8>(i >> 8);
    keys[i].saddr[3] = static_cast<__u8>(i);
    keys[i].daddr[0] = 198, keys[i].daddr[1] = 19;
    keys[i].sport = static_cast<__u16>(i % 50000 + 1024);
    keys[i].dport = 443;
    values[i] = flow_value{1000ULL + i, 10, 10};
  }
  bpf_map_batch_opts bo{};
  bo.sz = sizeof(bo);
  __u32 count = static_cast<__u32>(keys.size());
  REQUIRE(bpf_map_update_batch(fd, keys.data(), values.data(), &count, &bo) == 0);
  ::close(fd);
  // Wait for a report that read them (the tool logs each read at debug level).
  static const std::regex read_line(R"(read (\d+) flows in ([0-9.]+) ms with (\d+) bpf\(\) calls \((\w+)\))");
  static const std::regex report_line(R"(report of (\d+) flows \((\d+) printed\) took ([0-9.]+) ms)");
  double ms = -1, report_ms = -1;
  long calls = 0;
  std::string how;
  for (int i = 0; i < 100 && report_ms < 0; ++i) {
    tool->next_line(0.1);
    std::string err = tool->err();
    for (auto it = std::sregex_iterator(err.begin(), err.end(), read_line); it != std::sregex_iterator(); ++it) {
      if (std::stoul((*it)[1]) >= 99000) {
        ms = std::stod((*it)[2]);
        calls = std::stol((*it)[3]);
        how = (*it)[4];
      }
    }
    for (auto it = std::sregex_iterator(err.begin(), err.end(), report_line); it != std::sregex_iterator(); ++it)
      if (std::stoul((*it)[1]) >= 99000) report_ms = std::stod((*it)[3]);
  }
  tool->signal(SIGINT);
  CHECK(tool->wait_exit(20) == 0);
  REQUIRE(ms >= 0);
  REQUIRE(report_ms >= 0);
  CHECK(how == "batched");
  CHECK(ms < 250);
  CHECK(report_ms < 500);  // read + rates + sort + print
  CHECK(tool->out().find("(5 of ") != std::string::npos);
  WARN("running tool: read " << ms << " ms for 100000 flows with " << calls << " bpf() calls (" << how
                             << "), whole report " << report_ms << " ms");
}

// ---- sharing an interface, and loopback --------------------------------------------

namespace {

// 7 transfers of known sizes (IPv4 and IPv6) to the server at port; client ports.
std::vector<uint16_t> phase(const TestNet& net, uint16_t port, int n, int seed) {
  std::vector<uint16_t> ports;
  for (int i = 0; i < n; ++i) {
    auto t = testnet::tcp_transfer(i % 2 ? net.peer_ip6() : net.peer_ip4(), port, 1000 + 331 * (i + seed), 77 + i);
    INFO(t.error);
    REQUIRE(t.ok);
    ports.push_back(t.local_port);
  }
  return ports;
}

std::unique_ptr<ToolProcess> start_duration(const TestNet& net, const std::string& out) {
  auto p = std::make_unique<ToolProcess>(std::vector<std::string>{
      harness::tool_path("tcp_duration"), net.host_if(), "--attach", "clsact", "--json", "-o", out, "--no-plot"});
  bool attached = p->wait_for_stderr_line("Attached", 60);
  INFO(p->err());
  REQUIRE(attached);
  return p;
}

}  // namespace

TEST_CASE("tcp_tracker: tracers share an interface, clsact and tcx, each counting every packet",
          "[tcp_tracker][attach][share]") {
  TestNet net("sh");
  const uint16_t port = 5401;
  testnet::TcpServer server(net.ns(), port);
  const std::string dev = net.host_if();
  auto ours = [&](const char* d) { return testnet::tc_filter_count(dev, d, true); };
  faults::TempDir dir("share");
  // Two tcp_trackers and a tcp_duration in clsact mode, a tcp_tracker in tcx mode.
  auto a = start_tool({dev, "--attach", "clsact", "--json", "-i", "60"});
  auto b = start_tool({dev, "--attach", "clsact", "--json", "-i", "60"});
  auto d = start_duration(net, dir.file("d.json"));
  auto x = start_tool({dev, "--attach", "tcx", "--json", "-i", "60"});
  for (const char* dr : {"ingress", "egress"}) CHECK(ours(dr) == 3);  // one slot each

  testnet::Capture cap1(dev, "tcp port 5401");
  phase(net, port, 7, 0);
  auto truth1 = capture_flows(cap1.stop());
  // b stops: the others keep counting, and only b's filters went away.
  b->signal(SIGINT);
  REQUIRE(b->wait_exit(20) == 0);
  for (const char* dr : {"ingress", "egress"}) CHECK(ours(dr) == 2);
  CHECK(testnet::has_clsact(dev));
  compare(json_flows(b->out(), true), truth1, true);

  testnet::Capture cap2(dev, "tcp port 5401");
  phase(net, port, 5, 100);
  auto truth2 = capture_flows(cap2.stop());
  // a dies by SIGKILL: its filters stay; the next start removes exactly those.
  a->signal(SIGKILL);
  CHECK(a->wait_exit(10) == 128 + SIGKILL);
  for (const char* dr : {"ingress", "egress"}) CHECK(ours(dr) == 2);
  auto c = start_tool({dev, "--attach", "clsact", "--json", "-i", "60"});
  CHECK(c->err().find("removed the filter") != std::string::npos);
  for (const char* dr : {"ingress", "egress"}) CHECK(ours(dr) == 2);  // d's and c's

  testnet::Capture cap3(dev, "tcp port 5401");
  phase(net, port, 3, 200);
  auto truth3 = capture_flows(cap3.stop());
  for (auto* p : {c.get(), x.get(), d.get()}) p->signal(SIGINT);
  REQUIRE(c->wait_exit(20) == 0);
  REQUIRE(x->wait_exit(20) == 0);
  REQUIRE(d->wait_exit(20) == 0);
  compare(json_flows(c->out(), true), truth3, true);
  auto all = truth1;
  for (const auto* t : {&truth2, &truth3})
    for (const auto& [k, v] : *t) all[k] = v;
  compare(json_flows(x->out(), true), all, true);  // tcx, there all along
  auto conns = harness::of_type(harness::json_lines(d->out(), "tcp_duration"), "connection");
  CHECK(conns.size() == 7 + 5 + 3);
  for (const char* dr : {"ingress", "egress"}) CHECK(ours(dr) == 0);
  // The qdisc stays: a, which created it, was killed, and the others found it there.
  CHECK(testnet::has_clsact(dev));
}

TEST_CASE("tcp_tracker lo: each packet once, both directions, equal to tcpdump", "[tcp_tracker][loopback]") {
  TestNet net("lo");
  const uint16_t port = 5402;
  testnet::TcpServer server(net.ns(), port);
  REQUIRE(net.ns_sh("ip link set lo up").rc == 0);
  ToolProcess tool({"/bin/sh", "-c",
                    "exec ip netns exec " + net.ns() + " " + harness::tool_path("tcp_tracker") + " lo --json -i 60"});
  REQUIRE(tool.wait_for_stderr_line("Attached", 60));
  CHECK(tool.err().find("lo is a loopback device: counting on ingress only") != std::string::npos);
  testnet::Capture cap("lo", "tcp port 5402", 96, "", net.ns());
  for (int i = 0; i < 5; ++i) {
    const std::string addr = i % 2 ? "::1" : "127.0.0.1";
    const uint64_t send = 100000 + 7919 * i;
    // The client runs as kClientUid; the server (TcpServer) as root.
    CHECK(testnet::run_in_netns(net.ns(), [&] {
            if (setgid(kClientUid) != 0 || setuid(kClientUid) != 0) return 2;
            return testnet::tcp_transfer(addr, port, send, 29 + i).ok ? 0 : 1;
          }) == 0);
  }
  auto truth = capture_flows(cap.stop());
  CHECK(cap.dropped_by_kernel() == 0);
  tool.signal(SIGINT);
  REQUIRE(tool.wait_exit(20) == 0);
  REQUIRE(truth.size() == 10);  // both directions of 5 connections
  compare(json_flows(tool.out(), true), truth, true);
  // Owners on lo: egress is hooked only to learn them. A flow's owner is its receiver
  // (every flow here was counted on ingress): the server for client -> server.
  size_t owned = 0;
  for (const auto& j : harness::of_type(harness::json_lines(tool.out(), "tcp_tracker"), "flow")) {
    if (!j["final"].get<bool>()) continue;
    INFO(j.dump());
    REQUIRE(j["uid"].is_number());
    CHECK(j["uid"].get<uint32_t>() == (j["dst_port"].get<unsigned>() == port ? 0u : kClientUid));
    ++owned;
  }
  CHECK(owned == 10);
}

// The owner's uid and cgroup, flow by flow and summed per owner, against tcpdump.
TEST_CASE("tcp_tracker: each flow's local owner (uid, cgroup), both directions; --by and -u/--cgroup add up",
          "[tcp_tracker][owner][exact]") {
  const std::string tag = "/tracekit-owner-" + std::to_string(getpid());
  TestCgroup top(tag), cg(tag + "/client");  // top removes the parent create_directories made
  if (!cg.ok()) {
    WARN("no cgroup2 mount: skipped");
    return;
  }
  const std::string own = testcg::own_cgroup();
  TestNet net("to");
  const uint16_t port = 5011, closed_port = 5013;
  testnet::TcpServer server(net.ns(), port);
  faults::TempDir prom("owner");
  auto flows = start_tool({net.host_if(), "--json", "-i", "60", "--metrics-textfile", prom.path()});
  auto by_uid = start_tool({net.host_if(), "--json", "-i", "60", "--by", "uid"});
  auto by_cgroup = start_tool({net.host_if(), "--json", "-i", "60", "--by", "cgroup"});
  auto chosen =
      start_tool({net.host_if(), "--json", "-i", "60", "-u", std::to_string(kClientUid), "--cgroup", cg.rel()});
  testnet::Capture cap(net.host_if(), "tcp");

  // 17 connections from a child running as kClientUid in the test's cgroup, then 12 from
  // this process (root, its own cgroup), then one the host refuses: a SYN from the netns
  // to a closed port, answered by the kernel's RST (no local socket: no owner).
  int ports_pipe[2];
  REQUIRE(::pipe(ports_pipe) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(60);
    ::close(ports_pipe[0]);
    if (!testcg::join_cgroup(cg.path())) _exit(120);
    if (setgid(kClientUid) != 0 || setuid(kClientUid) != 0) _exit(121);
    for (int i = 0; i < 17; ++i) {
      auto t = testnet::tcp_transfer(i % 3 ? net.peer_ip4() : net.peer_ip6(), port, 3000ULL * i + 11, 701ULL * i + 5);
      if (!t.ok) _exit(122);
      if (::write(ports_pipe[1], &t.local_port, sizeof t.local_port) != sizeof t.local_port) _exit(123);
    }
    _exit(0);
  }
  ::close(ports_pipe[1]);
  std::set<unsigned> client_ports;
  uint16_t p = 0;
  while (::read(ports_pipe[0], &p, sizeof p) == static_cast<ssize_t>(sizeof p)) client_ports.insert(p);
  ::close(ports_pipe[0]);
  int st = 0;
  REQUIRE(waitpid(pid, &st, 0) == pid);
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
  REQUIRE(client_ports.size() == 17);
  std::set<unsigned> root_ports;
  for (int i = 0; i < 12; ++i) {
    auto t = testnet::tcp_transfer(i % 2 ? net.peer_ip4() : net.peer_ip6(), port, 5000ULL * i + 3, 97);
    INFO(t.error);
    REQUIRE(t.ok);
    root_ports.insert(t.local_port);
  }
  const std::string refused =
      "import socket\ns=socket.socket()\ns.settimeout(3)\n"
      "try: s.connect(('" +
      net.host_ip4() + "', " + std::to_string(closed_port) + "))\nexcept OSError: pass\n";
  CHECK(net.ns_sh("python3 -c \"" + refused + "\"").rc == 0);
  auto frames = cap.stop();
  CHECK(cap.dropped_by_kernel() == 0);
  for (auto* t : {&flows, &by_uid, &by_cgroup, &chosen}) {
    (*t)->signal(SIGINT);
    REQUIRE((*t)->wait_exit(20) == 0);
  }
  auto truth = capture_flows(frames);
  REQUIRE(truth.size() == 2 * 29 + 2);

  // Flow by flow: the bytes are tcpdump's, and the owner is the client's, both ways.
  compare(json_flows(flows->out(), true), truth, true);
  std::map<std::pair<uint32_t, bool>, Tot> per_uid;  // (uid, egress) -> sums of the flows
  std::map<std::pair<std::string, bool>, Tot> per_cgroup;
  size_t of_client = 0, of_root = 0, unowned = 0;
  for (const auto& j : harness::of_type(harness::json_lines(flows->out(), "tcp_tracker"), "flow")) {
    if (!j["final"].get<bool>()) continue;
    INFO(j.dump());
    const bool egress = j["direction"] == "egress";
    const unsigned local_port = egress ? j["src_port"].get<unsigned>() : j["dst_port"].get<unsigned>();
    const unsigned remote_port = egress ? j["dst_port"].get<unsigned>() : j["src_port"].get<unsigned>();
    if (remote_port == closed_port || local_port == closed_port) {
      CHECK(j["uid"].is_null());  // the refused SYN, and the kernel's RST
      CHECK(j["cgroup"].is_null());
      ++unowned;
      continue;
    }
    REQUIRE(j["uid"].is_number());
    const bool client = client_ports.count(local_port) > 0;
    CHECK((client || root_ports.count(local_port) == 1));
    CHECK(j["uid"].get<uint32_t>() == (client ? kClientUid : 0u));
    CHECK(j["cgroup"].get<std::string>() == (client ? cg.rel() : own));
    CHECK(j["cgroup_id"].get<uint64_t>() ==
          *tracekit::cgroup_id_of(tracekit::cgroup2_mount() + j["cgroup"].get<std::string>()));
    (client ? of_client : of_root) += 1;
    for (auto* t :
         {&per_uid[{j["uid"].get<uint32_t>(), egress}], &per_cgroup[{j["cgroup"].get<std::string>(), egress}]}) {
      t->bytes += j["bytes"].get<uint64_t>();
      t->packets += j["packets"].get<uint64_t>();
      t->segments += j["segments"].get<uint64_t>();
    }
  }
  CHECK(of_client == 2 * 17);
  CHECK(of_root == 2 * 12);
  CHECK(unowned == 2);
  // The owner metrics (final textfile): per uid and direction, the same sums; with the
  // unowned flows (uid "") they add up to the interface totals.
  const auto samples =
      promtest::parse_exposition(faults::read_file(prom.file("tcp_tracker-" + net.host_if() + ".prom")));
  uint64_t owned_bytes[2] = {0, 0};
  for (const auto& [k, t] : per_uid) {
    const std::map<std::string, std::string> match = {{"uid", std::to_string(k.first)},
                                                      {"direction", k.second ? "egress" : "ingress"}};
    CHECK(promtest::sum(samples, "tracekit_tcp_owner_bytes_total", match) == static_cast<double>(t.bytes));
    CHECK(promtest::sum(samples, "tracekit_tcp_owner_packets_total", match) == static_cast<double>(t.packets));
    owned_bytes[k.second] += t.bytes;
  }
  for (const char* dir : {"ingress", "egress"}) {
    INFO(dir);
    const double all = promtest::sum(samples, "tracekit_tcp_bytes_total", {{"direction", dir}});
    CHECK(promtest::sum(samples, "tracekit_tcp_owner_bytes_total", {{"direction", dir}}) == all);
    CHECK(promtest::sum(samples, "tracekit_tcp_owner_bytes_total", {{"direction", dir}, {"uid", ""}}) ==
          all - static_cast<double>(owned_bytes[std::string(dir) == "egress"]));
  }

  // --by uid and --by cgroup: one row per owner and direction, equal to the flows' sums.
  auto check_rows = [&](ToolProcess& t, const char* by, auto key_of, const auto& expect) {
    size_t rows = 0, no_owner = 0;
    for (const auto& j : harness::of_type(harness::json_lines(t.out(), "tcp_tracker"), "owner")) {
      if (!j["final"].get<bool>()) continue;
      INFO(j.dump());
      CHECK(j["by"] == by);
      if (!j["owned"].get<bool>()) {
        ++no_owner;
        CHECK(j["flows"].get<uint64_t>() == 1);
        continue;
      }
      auto it = expect.find({key_of(j), j["direction"] == "egress"});
      REQUIRE(it != expect.end());
      CHECK(j["bytes"].get<uint64_t>() == it->second.bytes);
      CHECK(j["packets"].get<uint64_t>() == it->second.packets);
      CHECK(j["segments"].get<uint64_t>() == it->second.segments);
      ++rows;
    }
    CHECK(rows == expect.size());
    CHECK(no_owner == 2);  // the refused connection, each direction
  };
  REQUIRE(per_uid.size() == 4);
  check_rows(
      *by_uid, "uid", [](const harness::Json& j) { return j["uid"].get<uint32_t>(); }, per_uid);
  check_rows(
      *by_cgroup, "cgroup", [](const harness::Json& j) { return j["cgroup"].get<std::string>(); }, per_cgroup);

  // -u and --cgroup: exactly the child's 17 connections, both directions.
  auto mine = json_flows(chosen->out(), true);
  CHECK(mine.size() == 2 * 17);
  for (const auto& [k, t] : mine) {
    INFO(show(k));
    CHECK((client_ports.count(std::get<1>(k)) + client_ports.count(std::get<3>(k))) == 1);
    REQUIRE(truth.count(k) == 1);
    CHECK(t.bytes == truth[k].bytes);
  }
}

// The server side: the tracer runs in the server's netns, on the interface the clients
// come in by. Every flow's local end is an accepted socket of a server running as
// kClientUid in a test cgroup; its owner is that server's, on both directions, and with
// --direction ingress (no egress program to learn it from) too.
TEST_CASE("tcp_tracker: a local server's flows are owned by the server, also with --direction ingress",
          "[tcp_tracker][owner]") {
  const std::string tag = "/tracekit-srvowner-" + std::to_string(getpid());
  TestCgroup top(tag), cg(tag + "/server");
  if (!cg.ok()) {
    WARN("no cgroup2 mount: skipped");
    return;
  }
  TestNet net("so");
  const uint16_t port = 5021;
  const int kConnections = 13;
  auto in_netns = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {"/usr/bin/nsenter", "--net=/run/netns/" + net.ns(), harness::tool_path("tcp_tracker"), net.peer_if()});
    auto p = std::make_unique<ToolProcess>(args);
    bool attached = p->wait_for_stderr_line("Attached", 60);
    INFO(p->err());
    REQUIRE(attached);
    return p;
  };
  auto both = in_netns({"--json", "-i", "60"});
  auto ingress = in_netns({"--json", "-i", "60", "--direction", "ingress"});

  // The server: a child that enters the netns and the cgroup, becomes kClientUid, and
  // runs a TcpServer there until the test closes `stop`.
  int ready[2], stop[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(stop) == 0);
  pid_t srv = fork();
  REQUIRE(srv >= 0);
  if (srv == 0) {
    alarm(60);
    ::close(ready[0]);
    ::close(stop[1]);
    int fd = ::open(("/run/netns/" + net.ns()).c_str(), O_RDONLY);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) _exit(120);
    if (!testcg::join_cgroup(cg.path())) _exit(121);
    if (setgid(kClientUid) != 0 || setuid(kClientUid) != 0) _exit(122);
    {
      testnet::TcpServer server("", port);
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1) _exit(123);
      ::read(stop[0], &c, 1);  // EOF when the test is done
    }
    _exit(0);
  }
  ::close(ready[1]);
  ::close(stop[0]);
  char c = 0;
  const bool up = ::read(ready[0], &c, 1) == 1;
  ::close(ready[0]);
  // (IPv6, the client's port): the kernel may give an IPv4 and an IPv6 connection the
  // same port number.
  std::set<std::pair<bool, unsigned>> client_ports;
  if (up) {
    for (int i = 0; i < kConnections; ++i) {
      const bool v6 = i % 2 == 0;
      auto t = testnet::tcp_transfer(v6 ? net.peer_ip6() : net.peer_ip4(), port, 1000ULL * i + 7, 333ULL * i + 1);
      INFO(t.error);
      CHECK(t.ok);
      client_ports.insert({v6, t.local_port});
    }
  }
  ::close(stop[1]);
  int st = 0;
  REQUIRE(waitpid(srv, &st, 0) == srv);
  REQUIRE(up);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  REQUIRE(client_ports.size() == static_cast<size_t>(kConnections));
  for (auto* t : {&both, &ingress}) {
    (*t)->signal(SIGINT);
    REQUIRE((*t)->wait_exit(20) == 0);
  }

  auto owned = [&](ToolProcess& t, size_t want_ingress, size_t want_egress) {
    size_t n[2] = {0, 0};
    for (const auto& j : harness::of_type(harness::json_lines(t.out(), "tcp_tracker"), "flow")) {
      if (!j["final"].get<bool>()) continue;
      INFO(j.dump());
      const bool egress = j["direction"] == "egress";
      CHECK((egress ? j["src_port"] : j["dst_port"]).get<unsigned>() == port);
      const std::string client = (egress ? j["dst_addr"] : j["src_addr"]).get<std::string>();
      CHECK(client_ports.count({client.find(':') != std::string::npos,
                                (egress ? j["dst_port"] : j["src_port"]).get<unsigned>()}) == 1);
      REQUIRE(j["uid"].is_number());
      CHECK(j["uid"].get<uint32_t>() == kClientUid);
      CHECK(j["cgroup"] == cg.rel());
      ++n[egress];
    }
    CHECK(n[0] == want_ingress);
    CHECK(n[1] == want_egress);
  };
  owned(*both, kConnections, kConnections);
  owned(*ingress, kConnections, 0);
}
