// tcp_tracker's flow table rendering, sorting and rates (src/flow_format.h).
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include "flow_format.h"
#include "render.h"
#include "util/error.h"

using namespace tracekit;

namespace {

FlowId v4(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  FlowId id;
  id.family = 4;
  REQUIRE(inet_pton(AF_INET, src, id.src.data()) == 1);
  REQUIRE(inet_pton(AF_INET, dst, id.dst.data()) == 1);
  id.sport = sport;
  id.dport = dport;
  return id;
}

FlowId v6(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  FlowId id;
  id.family = 6;
  REQUIRE(inet_pton(AF_INET6, src, id.src.data()) == 1);
  REQUIRE(inet_pton(AF_INET6, dst, id.dst.data()) == 1);
  id.sport = sport;
  id.dport = dport;
  return id;
}

FlowRow row(FlowId id, uint64_t bytes, uint64_t packets, double rate = 0) {
  FlowRow r;
  r.id = id;
  r.bytes = bytes;
  r.packets = packets;
  r.segments = packets;
  r.bytes_per_sec = rate;
  return r;
}

}  // namespace

TEST_CASE("endpoints: IPv4 plain, IPv6 in brackets", "[flow]") {
  auto a = v4("192.168.143.246", 45812, "142.250.184.83", 443);
  CHECK(format_address(a, true) == "192.168.143.246");
  CHECK(format_endpoint(a, true) == "192.168.143.246:45812");
  CHECK(format_endpoint(a, false) == "142.250.184.83:443");
  auto b = v6("fd7c::2", 5001, "2001:db8::1", 40000);
  CHECK(format_address(b, true) == "fd7c::2");
  CHECK(format_endpoint(b, true) == "[fd7c::2]:5001");
  CHECK(format_endpoint(b, false) == "[2001:db8::1]:40000");
}

TEST_CASE("rows keep the original's columns", "[flow]") {
  std::vector<FlowRow> rows = {
      row(v4("192.168.143.246", 45812, "142.250.184.83", 443), 3523, 23, 1761.5),
      row(v4("13.89.179.8", 443, "192.168.143.246", 38906), 913, 5, 0),
  };
  CHECK(format_flow_rows(rows) ==
        "192.168.143.246:45812 ->  142.250.184.83:443   |    3.44 KB     23 packets |    1.72 KB/s\n"
        "    13.89.179.8:443   -> 192.168.143.246:38906 |  913.00  B      5 packets |    0.00  B/s\n");
  CHECK(format_flow_rows({}).empty());
}

TEST_CASE("an IPv6 row widens the address columns of every row", "[flow]") {
  std::vector<FlowRow> rows = {
      row(v6("2001:db8::1", 443, "2001:db8:1234::abcd", 51000), 2048, 1234567, 100),
      row(v4("10.0.0.1", 22, "10.0.0.2", 50000), 1048576, 3, 0),
  };
  CHECK(format_flow_rows(rows) ==
        "        [2001:db8::1]:443   -> [2001:db8:1234::abcd]:51000 |    2.00 KB 1234567 packets |  100.00  B/s\n"
        "             10.0.0.1:22    ->              10.0.0.2:50000 |    1.00 MB       3 packets |    0.00  B/s\n");
}

TEST_CASE("sorting by bytes, packets and rate, ties stable, top N", "[flow]") {
  auto a = row(v4("10.0.0.1", 1000, "10.0.0.9", 80), 500, 50, 10);
  auto b = row(v4("10.0.0.2", 1000, "10.0.0.9", 80), 900, 5, 30);
  auto c = row(v4("10.0.0.3", 1000, "10.0.0.9", 80), 100, 70, 20);
  auto d = row(v4("10.0.0.0", 1000, "10.0.0.9", 80), 500, 50, 10);  // ties with a
  auto order = [](std::vector<FlowRow> v) {
    std::string s;
    for (auto& r : v) s += format_address(r.id, true).substr(7) + " ";
    return s;
  };
  std::vector<FlowRow> rows = {a, b, c, d};
  sort_flows(rows, FlowSort::Bytes, 0);
  CHECK(order(rows) == "2 0 1 3 ");
  sort_flows(rows, FlowSort::Packets, 0);
  CHECK(order(rows) == "3 0 1 2 ");
  sort_flows(rows, FlowSort::Rate, 0);
  CHECK(order(rows) == "2 3 0 1 ");
  rows = {a, b, c, d};
  sort_flows(rows, FlowSort::Bytes, 2);
  CHECK(order(rows) == "2 0 ");
  rows = {a, b};
  sort_flows(rows, FlowSort::Bytes, 5);
  CHECK(rows.size() == 2);
}

TEST_CASE("--sort values", "[flow]") {
  CHECK(parse_flow_sort("bytes") == FlowSort::Bytes);
  CHECK(parse_flow_sort("packets") == FlowSort::Packets);
  CHECK(parse_flow_sort("rate") == FlowSort::Rate);
  try {
    parse_flow_sort("Bytes");
    FAIL("no throw");
  } catch (const UsageError& e) {
    CHECK(e.exit_code() == 2);
    CHECK(std::string(e.what()) == "bad value for --sort: 'Bytes' (expected bytes, packets or rate)");
  }
}

TEST_CASE("JSON object per flow", "[flow]") {
  auto r = row(v6("fd7c::2", 5001, "fd7c::1", 40000), 3523, 23, 1761.5);
  r.segments = 40;
  r.id.egress = true;
  CHECK(json_of([&](JsonLine& j) { flow_json(r, 3, false, j); }) ==
        R"({"interval":3,"final":false,"direction":"egress","src_addr":"fd7c::2","src_port":5001,)"
        R"("dst_addr":"fd7c::1","dst_port":40000,"bytes":3523,"packets":23,"segments":40,"bytes_per_sec":1761.5,)"
        R"("uid":null,"user":null,"cgroup_id":null,"cgroup":null,"unit":null,"container_id":null})");
  auto q = row(v4("10.0.0.1", 1, "10.0.0.2", 65535), 0, 0, 0);
  CHECK(json_of([&](JsonLine& j) { flow_json(q, 0, true, j); }) ==
        R"({"interval":0,"final":true,"direction":"ingress","src_addr":"10.0.0.1","src_port":1,)"
        R"("dst_addr":"10.0.0.2","dst_port":65535,"bytes":0,"packets":0,"segments":0,"bytes_per_sec":0,)"
        R"("uid":null,"user":null,"cgroup_id":null,"cgroup":null,"unit":null,"container_id":null})");
}

TEST_CASE("rates from the previous interval's counters", "[flow]") {
  auto id1 = v4("10.0.0.1", 1000, "10.0.0.2", 80);
  auto id2 = v4("10.0.0.2", 80, "10.0.0.1", 1000);
  SECTION("cumulative") {
    FlowRates rates(true);
    std::vector<FlowRow> rows = {row(id1, 1000, 10), row(id2, 400, 4)};
    rates.update(rows, 2.0);  // first sight: everything is new
    CHECK(rows[0].bytes_per_sec == 500);
    CHECK(rows[0].packets_per_sec == 5);
    CHECK(rows[1].bytes_per_sec == 200);
    rows = {row(id1, 1600, 16), row(id2, 400, 4)};
    rates.update(rows, 2.0);
    CHECK(rows[0].bytes_per_sec == 300);
    CHECK(rows[0].packets_per_sec == 3);
    CHECK(rows[1].bytes_per_sec == 0);
    CHECK(rates.remembered() == 2);
    // id1 was evicted and came back smaller: counted from zero.
    rows = {row(id1, 100, 1)};
    rates.update(rows, 1.0);
    CHECK(rows[0].bytes_per_sec == 100);
    CHECK(rates.remembered() == 1);  // id2 left the table: forgotten
    rows = {row(id2, 450, 5)};
    rates.update(rows, 1.0);
    CHECK(rows[0].bytes_per_sec == 450);
    rows = {row(id1, 100, 1)};
    rates.update(rows, 0);
    CHECK(rows[0].bytes_per_sec == 0);
  }
  SECTION("reset: counters are the interval's") {
    FlowRates rates(false);
    std::vector<FlowRow> rows = {row(id1, 1000, 10)};
    rates.update(rows, 4.0);
    CHECK(rows[0].bytes_per_sec == 250);
    rows = {row(id1, 1000, 10)};
    rates.update(rows, 4.0);
    CHECK(rows[0].bytes_per_sec == 250);
    CHECK(rates.remembered() == 0);
  }
}

TEST_CASE("flow identity hashing separates directions and families", "[flow]") {
  FlowIdHash h;
  auto a = v4("10.0.0.1", 1000, "10.0.0.2", 80);
  auto b = v4("10.0.0.2", 80, "10.0.0.1", 1000);
  auto c = a;
  c.family = 6;
  CHECK_FALSE(a == b);
  CHECK_FALSE(a == c);
  CHECK(a == v4("10.0.0.1", 1000, "10.0.0.2", 80));
  CHECK(h(a) == h(v4("10.0.0.1", 1000, "10.0.0.2", 80)));
  CHECK(h(a) != h(b));
}

TEST_CASE("summary of what fell outside the table", "[flow]") {
  OutsideCounts c;
  CHECK(format_outside(c) == "Not counted: nothing");
  c.n[0] = 4;
  c.n[1] = 2;
  c.n[3] = 1;
  CHECK(c.total() == 7);
  CHECK(format_outside(c) == "Not counted: 4 non-IP, 2 non-TCP, 1 truncated");
  c = {};
  c.n[2] = 1;
  c.n[4] = 2;
  c.n[5] = 3;
  CHECK(format_outside(c) == "Not counted: 1 fragments, 2 malformed, 3 refused by the full table");
  CHECK(std::string(outside_reason_name(99)) == "?");
}

TEST_CASE("owners: the -O column, JSON fields, --by sums per owner and direction", "[flow][owner]") {
  OwnerInfo alice;
  alice.uid = 1000;
  alice.cgroup_id = 77;
  alice.user = "alice";
  alice.cgroup = "/system.slice/web.service";
  alice.names.unit = "web.service";
  OwnerInfo bob = alice;  // same unit, another uid and cgroup
  bob.uid = 1001;
  bob.user.reset();
  bob.cgroup_id = 78;
  bob.cgroup = "/system.slice/web.service/worker";
  OwnerInfo carol;  // no unit, cgroup unknown
  carol.uid = 1002;
  carol.cgroup_id = 79;

  FlowId out1 = v4("10.0.0.1", 40000, "10.0.0.2", 80);
  out1.egress = true;
  FlowId in1 = v4("10.0.0.2", 80, "10.0.0.1", 40000);
  FlowId out2 = v4("10.0.0.1", 40001, "10.0.0.2", 80);
  out2.egress = true;
  FlowId out3 = v4("10.0.0.1", 40002, "10.0.0.2", 80);
  out3.egress = true;
  FlowId fwd = v4("10.0.0.9", 1, "10.0.0.2", 80);
  fwd.egress = true;
  std::vector<FlowRow> rows = {row(out1, 1000, 10, 5), row(in1, 300, 3, 1), row(out2, 2000, 20, 7), row(out3, 50, 1),
                               row(fwd, 7, 7)};
  rows[0].owner = &alice;
  rows[1].owner = &alice;
  rows[2].owner = &bob;
  rows[3].owner = &carol;

  SECTION("text and JSON of one flow") {
    const std::string text = format_flow_rows({rows[0], rows[4]}, true);
    CHECK(text.find("/s | uid 1000 (alice) /system.slice/web.service\n") != std::string::npos);
    CHECK(text.find("/s | -\n") != std::string::npos);
    CHECK(format_flow_rows({rows[3]}, true).find("| uid 1002 cgroup 79\n") != std::string::npos);
    std::string j = json_of([&](JsonLine& l) { owner_json(&bob, l); });
    CHECK(j == R"({"uid":1001,"user":null,"cgroup_id":78,"cgroup":"/system.slice/web.service/worker",)"
               R"("unit":"web.service","container_id":null})");
  }
  SECTION("--by uid: one row per uid and direction; unowned flows in their own row") {
    auto g = aggregate_flows(rows, FlowBy::Uid, FlowSort::Bytes, 0);
    REQUIRE(g.size() == 5);
    CHECK(g[0].owner == &bob);
    CHECK(g[0].bytes == 2000);
    CHECK(g[1].owner == &alice);
    CHECK(g[1].egress);
    CHECK(g[1].bytes == 1000);
    CHECK(g[2].owner == &alice);
    CHECK(!g[2].egress);
    CHECK(g[2].bytes == 300);
    CHECK(g[4].owner == nullptr);
    CHECK(owner_row_label(g[4], FlowBy::Uid) == "(no owner)");
    CHECK(owner_row_label(g[1], FlowBy::Uid) == "uid 1000 (alice)");
    CHECK(owner_row_label(g[0], FlowBy::Uid) == "uid 1001");
    uint64_t sum = 0;
    for (const auto& r : g) sum += r.bytes;
    CHECK(sum == 1000 + 300 + 2000 + 50 + 7);
    const std::string text = format_owner_rows(g, FlowBy::Uid);
    CHECK(text.find("uid 1001          egress  |    1.95 KB     20 packets |    7.00  B/s | 1 flow\n") !=
          std::string::npos);
    std::string j = json_of([&](JsonLine& l) { owner_row_json(g[1], FlowBy::Uid, 2, false, l); });
    CHECK(j == R"({"interval":2,"final":false,"by":"uid","direction":"egress","owned":true,"uid":1000,)"
               R"("user":"alice","flows":1,"bytes":1000,"packets":10,"segments":10,"bytes_per_sec":5,)"
               R"("packets_per_sec":0})");
  }
  SECTION("--by unit: cgroups of one unit add up; no unit and no owner apart") {
    auto g = aggregate_flows(rows, FlowBy::Unit, FlowSort::Bytes, 0);
    REQUIRE(g.size() == 4);  // web.service egress, web.service ingress, (no unit), (no owner)
    CHECK(g[0].unit == "web.service");
    CHECK(g[0].bytes == 3000);
    CHECK(g[0].flows == 2);
    CHECK(g[0].bytes_per_sec == 12);
    CHECK(owner_row_label(g[1], FlowBy::Unit) == "web.service");
    CHECK(owner_row_label(g[2], FlowBy::Unit) == "(no unit)");
    CHECK(owner_row_label(g[3], FlowBy::Unit) == "(no owner)");
  }
  SECTION("--by cgroup, sorted by packets, top 2") {
    auto g = aggregate_flows(rows, FlowBy::Cgroup, FlowSort::Packets, 2);
    REQUIRE(g.size() == 2);
    CHECK(g[0].owner == &bob);
    CHECK(g[1].owner == &alice);
    CHECK(owner_row_label(g[1], FlowBy::Cgroup) == "/system.slice/web.service");
    CHECK(owner_row_label({false, &carol, "", 0, 0, 0, 0, 0, 0}, FlowBy::Cgroup) == "cgroup 79");
  }
  SECTION("--by values") {
    CHECK(parse_flow_by("flow") == FlowBy::Flow);
    CHECK(parse_flow_by("unit") == FlowBy::Unit);
    CHECK_THROWS_AS(parse_flow_by("pid"), UsageError);
  }
}
