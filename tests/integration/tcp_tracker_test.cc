// tcp_tracker end to end: the real binary on the host end of a veth pair, TCP
// transfers into a netns, tcpdump on the same interface as ground truth.
#include <catch2/catch.hpp>

#include <map>
#include <tuple>

#include "harness.h"
#include "netns.h"

using testnet::TestNet;

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
  CHECK(frames.size() > 0);
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
