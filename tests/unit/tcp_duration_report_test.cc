// tcp_duration's output lines, reading them back, and the exit summary
// (programs/tcp_duration/report.cc, in tcp_duration_lib: it is LLVM-free).
#include <arpa/inet.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "render.h"
#include "report.h"
#include "util/error.h"

using namespace tcp_duration;

namespace {

std::array<std::uint8_t, 16> addr(const std::string& ip) {
  std::array<std::uint8_t, 16> a{};
  int af = ip.find(':') == std::string::npos ? AF_INET : AF_INET6;
  REQUIRE(::inet_pton(af, ip.c_str(), a.data()) == 1);
  return a;
}

Connection sample() {
  Connection c;
  c.family = 4;
  c.client_addr = addr("192.168.143.246");
  c.server_addr = addr("137.226.34.46");
  c.client_port = 43052;
  c.server_port = 80;
  c.start = std::chrono::system_clock::time_point(std::chrono::seconds(1764075544));  // 2025-11-25T12:59:04Z
  c.duration_ns = 244123127;
  c.end = End::Fin;
  c.ended_by = Side::Client;
  c.bytes_c2s = 1234;
  c.bytes_s2c = 567890;
  c.packets_c2s = 10;
  c.packets_s2c = 402;
  c.syns = 1;
  return c;
}

}  // namespace

TEST_CASE("endpoints are aligned like the original statistics.dat", "[tcp_duration]") {
  CHECK(endpoint_text(4, addr("192.168.143.246"), 43052) == "192.168.143.246:43052");
  CHECK(endpoint_text(4, addr("137.226.34.46"), 80) == "  137.226.34.46:80   ");
  CHECK(endpoint_text(4, addr("10.0.0.1"), 443) == "       10.0.0.1:443  ");
  CHECK(endpoint_text(6, addr("fd7c:1:2::1"), 5001) == "  [fd7c:1:2::1]:5001 ");
  CHECK(endpoint_text(6, addr("2001:db8:1234:5678:9abc:def0:1234:5678"), 443) ==
        "[2001:db8:1234:5678:9abc:def0:1234:5678]:443  ");
  CHECK(address_text(6, addr("fe80::1")) == "fe80::1");
}

TEST_CASE("durations print in seconds with 9 decimals", "[tcp_duration]") {
  CHECK(seconds_text(244123127) == "0.244123127");
  CHECK(seconds_text(10108454423ULL) == "10.108454423");
  CHECK(seconds_text(5) == "0.000000005");
  CHECK(seconds_text(0) == "0.000000000");
}

TEST_CASE("text line: the original's columns, then how it ended and the bytes", "[tcp_duration]") {
  Connection c = sample();
  CHECK(text_line(c) ==
        "192.168.143.246:43052 ->   137.226.34.46:80    | Duration: 0.244123127  s | FIN by client | "
        "c->s       1234 B      10 pkts | s->c     567890 B     402 pkts | "
        "SYN->SYN/ACK          - us | SYN/ACK->ACK          - us");
  c.end = End::Rst;
  c.ended_by = Side::Server;
  c.duration_ns = 16002086138ULL;
  CHECK(text_line(c).rfind(
            "192.168.143.246:43052 ->   137.226.34.46:80    | Duration: 16.002086138 s | RST by server | c->s ", 0) ==
        0);
}

TEST_CASE("JSON line", "[tcp_duration]") {
  CHECK(json_of([](tracekit::JsonLine& j) { connection_json(sample(), j); }) ==
        "{\"family\":4,"
        "\"client_addr\":\"192.168.143.246\",\"client_port\":43052,\"server_addr\":\"137.226.34.46\","
        "\"server_port\":80,\"duration_ns\":244123127,\"duration_s\":0.244123127,\"end\":\"fin\","
        "\"ended_by\":\"client\",\"bytes_c2s\":1234,\"bytes_s2c\":567890,\"packets_c2s\":10,"
        "\"packets_s2c\":402,\"syns\":1,\"syn_to_synack_us\":null,\"synack_to_ack_us\":null,\"local\":null,"
        "\"uid\":null,\"user\":null,\"cgroup_id\":null,\"cgroup\":null,\"unit\":null,\"container_id\":null}");
}

TEST_CASE("handshake times: microseconds exact to the ns, '-' or null when not seen", "[tcp_duration]") {
  CHECK(micros_text(45123) == "45.123");
  CHECK(micros_text(7) == "0.007");
  CHECK(micros_text(1'000'000) == "1000.000");
  CHECK(micros_text(std::nullopt) == "-");
  Connection c = sample();
  c.syn_to_synack_ns = 45123;
  c.synack_to_ack_ns = 12'000'456;
  CHECK(text_line(c) ==
        "192.168.143.246:43052 ->   137.226.34.46:80    | Duration: 0.244123127  s | FIN by client | "
        "c->s       1234 B      10 pkts | s->c     567890 B     402 pkts | "
        "SYN->SYN/ACK     45.123 us | SYN/ACK->ACK  12000.456 us");
  const std::string j = json_of([&](tracekit::JsonLine& jl) { connection_json(c, jl); });
  CHECK(j.find(",\"syns\":1,\"syn_to_synack_us\":45.123,\"synack_to_ack_us\":12000.456,\"local\":null,") !=
        std::string::npos);
  c.synack_to_ack_ns.reset();  // SYN/ACK seen, no ACK
  CHECK(text_line(c).find("| SYN->SYN/ACK     45.123 us | SYN/ACK->ACK          - us") != std::string::npos);
}

TEST_CASE("the local owner: text with -O, JSON fields", "[tcp_duration]") {
  Connection c = sample();
  CHECK(text_line(c, true).find("SYN/ACK->ACK          - us | local -") != std::string::npos);
  c.owner_side = Side::Server;
  c.owner_uid = 4242;
  c.owner_cgroup_id = 77;
  // Not named (no OwnerBook): the numbers.
  CHECK(text_line(c, true).substr(text_line(c).size()) == " | local server uid 4242 cgroup 77");
  CHECK(json_of([&](tracekit::JsonLine& j) { connection_json(c, j); })
            .find(",\"local\":\"server\",\"uid\":4242,\"user\":null,\"cgroup_id\":77,\"cgroup\":null,"
                  "\"unit\":null,\"container_id\":null}") != std::string::npos);
  tracekit::OwnerInfo o;
  o.uid = 4242;
  o.user = "alice";
  o.cgroup_id = 77;
  o.cgroup = "/tracekit-test/c";
  c.owner_side = Side::Client;
  c.owner = &o;
  CHECK(text_line(c, true).substr(text_line(c).size()) == " | local client uid 4242 (alice) /tracekit-test/c");
  CHECK(json_of([&](tracekit::JsonLine& j) { connection_json(c, j); })
            .find(",\"local\":\"client\",\"uid\":4242,\"user\":\"alice\",\"cgroup_id\":77,"
                  "\"cgroup\":\"/tracekit-test/c\",") != std::string::npos);
  CHECK(text_line(c).find("local") == std::string::npos);  // only with -O
}

TEST_CASE("from_event decodes the kernel event", "[tcp_duration]") {
  td_event e{};
  e.key.family = 6;
  auto a = addr("fd00::2"), b = addr("fd00::1");
  std::memcpy(e.key.client_addr, a.data(), 16);
  std::memcpy(e.key.server_addr, b.data(), 16);
  e.key.client_port = 40000;
  e.key.server_port = 5001;
  e.start_ns = 5'000'000'000ULL;
  e.duration_ns = 1'500'000'000ULL;
  e.bytes[TD_C2S] = 1, e.bytes[TD_S2C] = 2, e.packets[TD_C2S] = 3, e.packets[TD_S2C] = 4;
  e.syns = 2;
  e.end = TD_END_RST;
  e.end_by = TD_S2C;
  e.seen = TD_SEEN_SYNACK;
  e.syn_to_synack_ns = 51'000;
  e.synack_to_ack_ns = 99;  // not seen: ignored
  e.owner = TD_OWNER_CLIENT;
  e.owner_uid = 4242;
  e.owner_cgroup_id = 12345;
  Connection c = from_event(e, 1'000'000'000'000'000'000LL);  // wall = mono + 1e18 ns
  CHECK(c.family == 6);
  CHECK(address_text(6, c.client_addr) == "fd00::2");
  CHECK(address_text(6, c.server_addr) == "fd00::1");
  CHECK(c.client_port == 40000);
  CHECK(c.server_port == 5001);
  CHECK(std::chrono::duration_cast<std::chrono::nanoseconds>(c.start.time_since_epoch()).count() ==
        1'000'000'005'000'000'000LL);
  CHECK(c.duration_ns == 1'500'000'000ULL);
  CHECK(c.end == End::Rst);
  CHECK(c.ended_by == Side::Server);
  CHECK(c.bytes_c2s == 1);
  CHECK(c.bytes_s2c == 2);
  CHECK(c.packets_c2s == 3);
  CHECK(c.packets_s2c == 4);
  CHECK(c.syns == 2);
  CHECK(c.syn_to_synack_ns == std::optional<std::uint64_t>(51'000));
  CHECK_FALSE(c.synack_to_ack_ns);
  REQUIRE(c.owner_side);
  CHECK(*c.owner_side == Side::Client);
  CHECK(c.owner_uid == 4242);
  CHECK(c.owner_cgroup_id == 12345);
  CHECK(c.owner == nullptr);
  e.seen = TD_SEEN_SYNACK | TD_SEEN_ACK;
  e.owner = TD_OWNER_NONE;
  c = from_event(e, 0);
  CHECK(c.synack_to_ack_ns == std::optional<std::uint64_t>(99));
  CHECK_FALSE(c.owner_side);
}

TEST_CASE("parse_handshake reads our text and JSON lines; old lines have none", "[tcp_duration]") {
  Connection c = sample();
  c.syn_to_synack_ns = 45123;
  c.synack_to_ack_ns = 12'000'456;
  LineHandshake h = parse_handshake(text_line(c, true));
  CHECK(h.syn_to_synack_ns == std::optional<std::uint64_t>(45123));
  CHECK(h.synack_to_ack_ns == std::optional<std::uint64_t>(12'000'456));
  h = parse_handshake(json_of([&](tracekit::JsonLine& j) { connection_json(c, j); }));
  CHECK(h.syn_to_synack_ns == std::optional<std::uint64_t>(45123));
  CHECK(h.synack_to_ack_ns == std::optional<std::uint64_t>(12'000'456));
  c.syn_to_synack_ns.reset();
  c.synack_to_ack_ns.reset();
  h = parse_handshake(text_line(c));
  CHECK_FALSE(h.syn_to_synack_ns);
  CHECK_FALSE(h.synack_to_ack_ns);
  h = parse_handshake(json_of([&](tracekit::JsonLine& j) { connection_json(c, j); }));
  CHECK_FALSE(h.syn_to_synack_ns);
  CHECK_FALSE(h.synack_to_ack_ns);
  // The original's line, and ours from before the columns.
  CHECK_FALSE(
      parse_handshake("192.168.143.246:44740 ->   130.192.95.68:443   | Duration: 10.108454423 s").syn_to_synack_ns);
  CHECK_FALSE(parse_handshake("   10.0.0.2:1    ->        10.0.0.1:2     | Duration: 1.000000000  s | FIN by client | "
                              "c->s       1234 B      10 pkts | s->c     567890 B     402 pkts")
                  .synack_to_ack_ns);
  CHECK_FALSE(parse_handshake("{\"duration_ns\":5}").syn_to_synack_ns);
  // Garbage is not a time.
  CHECK_FALSE(parse_handshake("x | SYN->SYN/ACK  12.5 ms | y").syn_to_synack_ns);
  CHECK_FALSE(parse_handshake("x | SYN->SYN/ACK  abc us").syn_to_synack_ns);
  CHECK(parse_handshake("x | SYN->SYN/ACK 12.5 us").syn_to_synack_ns == std::optional<std::uint64_t>(12500));
}

TEST_CASE("parse_duration_seconds reads our lines, JSON lines and the original's", "[tcp_duration]") {
  Connection c = sample();
  CHECK(parse_duration_seconds(text_line(c)) == Approx(0.244123127));
  CHECK(parse_duration_seconds(json_of([&](tracekit::JsonLine& j) { connection_json(c, j); })) == Approx(0.244123127));
  CHECK(parse_duration_seconds("192.168.143.246:44740 ->   130.192.95.68:443   | Duration: 10.108454423 s") ==
        Approx(10.108454423));
  CHECK(parse_duration_seconds("{\"duration_ns\": 7}") == Approx(7e-9));
  CHECK_FALSE(parse_duration_seconds(""));
  CHECK_FALSE(parse_duration_seconds("Summary: 3 connections, durations in seconds"));
  CHECK_FALSE(parse_duration_seconds("  min 0.1  p50 0.2"));
  CHECK_FALSE(parse_duration_seconds("| Duration: abc s"));
  CHECK_FALSE(parse_duration_seconds("| Duration: -1.0 s"));
  CHECK_FALSE(parse_duration_seconds("| Duration: 1.0 ms"));
  CHECK_FALSE(parse_duration_seconds("{\"duration_ns\":\"x\"}"));
  CHECK_FALSE(parse_duration_seconds("{\"type\":\"summary\",\"count\":3}"));
}

TEST_CASE("read_durations skips blank and foreign lines, and names an unreadable file", "[tcp_duration]") {
  const std::string path = "/tmp/tracekit_td_unit_" + std::to_string(::getpid()) + ".dat";
  {
    std::ofstream f(path);
    Connection c = sample();
    c.syn_to_synack_ns = 40'000;
    c.synack_to_ack_ns = 20'001;
    f << text_line(sample()) << "\n\n"
      << "garbage\n"
      << "{\"type\":\"connection\",\"duration_ns\":500000000}\n"
      << "   10.0.0.2:1    ->        10.0.0.1:2     | Duration: 1.000000000  s\n"
      << text_line(c, true) << "\n"
      << "{\"duration_ns\":7,\"syn_to_synack_us\":12.000,\"synack_to_ack_us\":null}\n";
  }
  DurationFile d = read_durations(path);
  std::remove(path.c_str());
  REQUIRE(d.seconds.size() == 5);
  CHECK(d.seconds[0] == Approx(0.244123127));
  CHECK(d.seconds[1] == Approx(0.5));
  CHECK(d.seconds[2] == Approx(1.0));
  CHECK(d.seconds[3] == Approx(0.244123127));
  CHECK(d.lines == 6);
  CHECK(d.unparsed == 1);
  CHECK(d.handshakes.syn_to_synack_ns == std::vector<std::uint64_t>{40'000, 12'000});
  CHECK(d.handshakes.synack_to_ack_ns == std::vector<std::uint64_t>{20'001});
  try {
    read_durations("/nonexistent/statistics.dat");
    FAIL("no throw");
  } catch (const tracekit::Error& e) {
    CHECK(std::string(e.what()) == "cannot read /nonexistent/statistics.dat: No such file or directory");
    CHECK(e.exit_code() == 1);
  }
}

TEST_CASE("evictions are what the table lost without a reason", "[tcp_duration]") {
  TableCounters t;
  t.opened = 100;
  t.closed_fin = 50;
  t.closed_rst = 10;
  t.replaced = 2;
  t.still_open = 8;
  CHECK(t.evicted() == 30);
  t.still_open = 60;  // cannot go negative
  CHECK(t.evicted() == 0);
}

TEST_CASE("summary text and JSON", "[tcp_duration]") {
  std::vector<std::uint64_t> ns = {200'000'000, 500'000'000, 1'000'000'000};
  TableCounters t;
  t.opened = 4;
  t.closed_fin = 2;
  t.closed_rst = 1;
  t.still_open = 1;
  t.orphan_fin = 3;
  std::string text = summary_text(ns, true, &t);
  CHECK(text.rfind("\nSummary: 3 connections, durations in seconds\n"
                   "  min 0.200000  p50 0.500000  p90 1.000000  p99 1.000000  max 1.000000  mean 0.566667\n\n"
                   "     msecs               : count    distribution\n",
                   0) == 0);
  CHECK(text.find("       128 -> 255        : 1        |****************************************|\n") !=
        std::string::npos);
  CHECK(text.find("       512 -> 1023       : 2        |****************************************|\n") ==
        std::string::npos);
  CHECK(text.find("       512 -> 1023       : 1        |") != std::string::npos);
  CHECK(text.find("Table: 4 opened (0 SYN retransmits), 2 closed by FIN, 1 by RST,\n"
                  "  1 still open at exit, 0 evicted, 0 replaced by a new SYN, 0 not inserted;\n"
                  "  FIN/RST of unknown connections: 3/0; unparsed packets: 0; events lost: 0\n") != std::string::npos);
  CHECK(summary_text({}, false, nullptr) == "\nSummary: no finished connections.\n");

  std::string json = json_of([&](tracekit::JsonLine& j) { summary_json(ns, false, &t, j); });
  CHECK(json.rfind("{\"count\":3,\"min_s\":0.2,\"p50_s\":0.5,\"p90_s\":1,\"p99_s\":1,"
                   "\"max_s\":1,\"mean_s\":0.5666666666666667,\"hist_unit\":\"usecs\",\"hist\":[",
                   0) == 0);
  CHECK(json.find("{\"low\":131072,\"high\":262143,\"count\":1}") != std::string::npos);
  CHECK(json.find("\"table\":{\"opened\":4,\"syn_retransmits\":0,\"closed_fin\":2,\"closed_rst\":1,"
                  "\"still_open\":1,\"evicted\":0,\"replaced\":0,\"insert_failed\":0,\"orphan_fin\":3,"
                  "\"orphan_rst\":0,\"unparsed\":0,\"lost_events\":0}}") != std::string::npos);
  CHECK(json_of([](tracekit::JsonLine& j) { summary_json({}, false, nullptr, j); }) ==
        "{\"count\":0,\"hist_unit\":\"usecs\",\"hist\":[]}");
}

TEST_CASE("summary: handshake percentiles over the connections where each step was seen", "[tcp_duration]") {
  std::vector<std::uint64_t> ns = {200'000'000, 500'000'000, 1'000'000'000};
  Handshakes hs;
  for (std::uint64_t us = 1; us <= 100; ++us) hs.syn_to_synack_ns.push_back(us * 1000 + 5);  // 1.005 .. 100.005
  TableCounters t;
  std::string text = summary_text(ns, false, &t, &hs);
  CHECK(text.find("\nHandshake at the hook, microseconds (of the connections where it was seen):\n"
                  "  SYN -> SYN/ACK     100 seen  min 1.005  p50 50.005  p90 90.005  p99 99.005  max 100.005\n"
                  "  SYN/ACK -> ACK  not seen\n\nTable: ") != std::string::npos);
  CHECK(summary_text(ns, false, &t).find("Handshake") == std::string::npos);
  CHECK(summary_text({}, false, nullptr, &hs) == "\nSummary: no finished connections.\n");
  std::string json = json_of([&](tracekit::JsonLine& j) { summary_json(ns, false, &t, j, &hs); });
  CHECK(json.find("],\"handshake\":{\"syn_to_synack\":{\"count\":100,\"min_us\":1.005,\"p50_us\":50.005,"
                  "\"p90_us\":90.005,\"p99_us\":99.005,\"max_us\":100.005,\"mean_us\":50.505},"
                  "\"synack_to_ack\":{\"count\":0}},\"table\":{") != std::string::npos);
  CHECK(json_of([&](tracekit::JsonLine& j) {
          summary_json({}, false, nullptr, j, &hs);
        }).find("\"handshake\":{\"syn_to_synack\":{\"count\":100,") != std::string::npos);
}

TEST_CASE("to_ns rounds seconds to nanoseconds", "[tcp_duration]") {
  CHECK(to_ns({0.244123127, 0.0, -1.0, 10.108454423}) == std::vector<std::uint64_t>{244123127, 0, 0, 10108454423ULL});
}
