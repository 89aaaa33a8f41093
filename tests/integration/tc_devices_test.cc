// Devices without an Ethernet header: a TUN device in a test netns, where packets start
// at the IP header. The test is the far end of the tun: it writes IP packets into it
// (ingress) and reads what the kernel sends out (egress), including a real TCP exchange
// with a socket inside the netns. The tool's counts must equal what was written and read.
// And a device type the programs cannot parse is refused with one line.
#include <catch2/catch.hpp>

// glibc's <net/if.h> before the kernel's headers, so that they defer to it.
#include <net/if.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "jsonl.h"
#include "netns.h"

using harness::ToolProcess;
using testnet::TestNet;

namespace {

constexpr const char* kTun = "tktun0";
constexpr const char* kLocal = "10.201.0.1";  // the netns's address on the tun
constexpr const char* kFar = "10.201.0.2";    // the test, at the far end

uint16_t checksum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An IPv4 TCP packet with correct IP and TCP checksums.
std::vector<uint8_t> tcp_packet(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags,
                                uint32_t seq, uint32_t ack, size_t payload) {
  std::vector<uint8_t> p(40 + payload, 0);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = 6;
  inet_pton(AF_INET, src, &p[12]);
  inet_pton(AF_INET, dst, &p[16]);
  uint16_t ic = checksum(p.data(), 20);
  p[10] = static_cast<uint8_t>(ic >> 8);
  p[11] = static_cast<uint8_t>(ic);
  uint8_t* t = &p[20];
  t[0] = static_cast<uint8_t>(sport >> 8), t[1] = static_cast<uint8_t>(sport);
  t[2] = static_cast<uint8_t>(dport >> 8), t[3] = static_cast<uint8_t>(dport);
  for (int i = 0; i < 4; ++i) t[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) t[8 + i] = static_cast<uint8_t>(ack >> (24 - 8 * i));
  t[12] = 5 << 4;
  t[13] = flags;
  t[14] = 0xff;
  for (size_t i = 0; i < payload; ++i) t[20 + i] = static_cast<uint8_t>('a' + i % 26);
  // Pseudo-header: addresses, protocol, TCP length.
  uint32_t sum = 0;
  for (int i = 12; i < 20; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  sum += 6 + static_cast<uint32_t>(p.size() - 20);
  uint16_t tc = checksum(t, p.size() - 20, sum);
  t[16] = static_cast<uint8_t>(tc >> 8);
  t[17] = static_cast<uint8_t>(tc);
  return p;
}

int open_tun(const char* name) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

TEST_CASE("TC tools on a TUN device: packets from the IP header, counts equal what was written and read",
          "[tc][tun][tcp_tracker]") {
  TestNet net("tu");
  auto setup = net.ns_sh(std::string("ip tuntap add dev ") + kTun + " mode tun && ip addr add " + kLocal + "/24 dev " +
                         kTun + " && ip link set " + kTun + " up");
  INFO(setup.out);
  REQUIRE(setup.rc == 0);
  faults::TempDir dir("tun");
  const std::string result = dir.file("result");
  // The far end, inside the netns: holds the tun open for the whole run.
  int go[2];
  REQUIRE(::pipe(go) == 0);
  pid_t far = fork();
  REQUIRE(far >= 0);
  if (far == 0) {
    ::close(go[1]);
    int rc = testnet::run_in_netns(
        net.ns(),
        [&] {
          int tun = open_tun(kTun);
          if (tun < 0) return 10;
          char c;
          if (::read(go[0], &c, 1) != 1) return 11;  // the tool is attached
          // 1. Three packets written in (ingress), a flow nobody listens to; the TCP layer
          //    answers them with RSTs (egress), which are read back below.
          size_t in_bytes = 0;
          for (size_t payload : {0, 100, 1000}) {
            auto p = tcp_packet(kFar, kLocal, 7000, 7001, 0x18 /* PSH|ACK */, 1, 1, payload);
            if (::write(tun, p.data(), p.size()) != static_cast<ssize_t>(p.size())) return 12;
            in_bytes += p.size();
          }
          // 2. A real connect from a socket in the netns: its SYN goes out of the tun, the
          //    test answers with RST|ACK, the connect is refused.
          int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
          sockaddr_in to{};
          to.sin_family = AF_INET;
          to.sin_port = htons(80);
          inet_pton(AF_INET, kFar, &to.sin_addr);
          ::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to);
          size_t out_bytes = 0, out_packets = 0, syn_len = 0, rsts = 0;
          uint16_t lport = 0;
          uint8_t buf[2048];
          for (int i = 0; i < 200 && (syn_len == 0 || rsts < 3); ++i) {
            pollfd pfd{tun, POLLIN, 0};
            if (::poll(&pfd, 1, 50) <= 0) continue;
            ssize_t n = ::read(tun, buf, sizeof buf);
            if (n < 40 || (buf[0] >> 4) != 4 || buf[9] != 6) continue;  // not IPv4 TCP (e.g. IPv6 RS)
            ++out_packets;
            out_bytes += static_cast<size_t>(n);
            const uint8_t* t = buf + (buf[0] & 0xf) * 4;
            if ((t[13] & 0x02) && !syn_len) {
              syn_len = static_cast<size_t>(n);
              lport = static_cast<uint16_t>(t[0] << 8 | t[1]);
              uint32_t seq = static_cast<uint32_t>(t[4] << 24 | t[5] << 16 | t[6] << 8 | t[7]);
              auto rst = tcp_packet(kFar, kLocal, 80, lport, 0x14 /* RST|ACK */, 0, seq + 1, 0);
              if (::write(tun, rst.data(), rst.size()) != static_cast<ssize_t>(rst.size())) return 13;
              in_bytes += rst.size();
            } else if (t[13] & 0x04) {
              ++rsts;
            }
          }
          pollfd pfd{s, POLLOUT, 0};
          ::poll(&pfd, 1, 1000);
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
          std::ofstream(result) << lport << " " << syn_len << " " << rsts << " " << out_packets << " " << out_bytes
                                << " " << in_bytes << " " << err << "\n";
          ::usleep(300 * 1000);
          return 0;
        },
        30);
    _exit(rc < 0 ? 99 : rc);
  }
  ::close(go[0]);
  ToolProcess tool(
      {"/bin/sh", "-c",
       "exec ip netns exec " + net.ns() + " " + harness::tool_path("tcp_tracker") + " " + kTun + " --json -i 60"});
  ToolProcess duration({"/bin/sh", "-c",
                        "exec ip netns exec " + net.ns() + " " + harness::tool_path("tcp_duration") + " " + kTun +
                            " --json --no-plot -o " + dir.file("d.json")});
  bool attached = tool.wait_for_stderr_line("Attached", 60) && duration.wait_for_stderr_line("Attached", 60);
  INFO(tool.err());
  INFO(duration.err());
  CHECK(::write(go[1], "x", 1) == 1);
  ::close(go[1]);
  int status = 0;
  ::waitpid(far, &status, 0);
  REQUIRE(attached);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  tool.signal(SIGINT);
  duration.signal(SIGINT);
  REQUIRE(tool.wait_exit(20) == 0);
  REQUIRE(duration.wait_exit(20) == 0);
  CHECK(tool.err().find(std::string(kTun) + ": device type none (tun, wireguard): packets start at the IP header") !=
        std::string::npos);

  unsigned lport = 0, syn_len = 0, rsts = 0, out_packets = 0, out_bytes = 0, in_bytes = 0;
  int err = 0;
  std::ifstream(result) >> lport >> syn_len >> rsts >> out_packets >> out_bytes >> in_bytes >> err;
  CHECK(err == ECONNREFUSED);  // the exchange really happened
  REQUIRE(syn_len > 0);
  CHECK(rsts == 3);

  uint64_t got_in = 0, got_out = 0, packets_in = 0, packets_out = 0;
  auto flows = harness::of_type(harness::json_lines(tool.out(), "tcp_tracker"), "flow");
  for (const auto& f : flows) {
    if (f["final"] != true) continue;
    INFO(f.dump());
    if (f["src_addr"] == kFar) {
      got_in += f["bytes"].get<uint64_t>();
      packets_in += f["packets"].get<uint64_t>();
    } else {
      CHECK(f["src_addr"] == kLocal);
      got_out += f["bytes"].get<uint64_t>();
      packets_out += f["packets"].get<uint64_t>();
    }
  }
  CHECK(got_in == in_bytes);  // 40 + 140 + 1040 + the 40-byte RST|ACK
  CHECK(packets_in == 4);
  CHECK(got_out == out_bytes);  // the SYN and three RSTs, as read from the tun
  CHECK(packets_out == out_packets);

  // tcp_duration saw the exchange as one connection: the SYN, then the RST|ACK.
  auto conns = harness::of_type(harness::json_lines(duration.out(), "tcp_duration"), "connection");
  REQUIRE(conns.size() == 1);
  INFO(conns[0].dump());
  CHECK(conns[0]["client_addr"] == kLocal);
  CHECK(conns[0]["client_port"] == lport);
  CHECK(conns[0]["server_port"] == 80);
  CHECK(conns[0]["end"] == "rst");
  CHECK(conns[0]["bytes_c2s"] == syn_len);
  CHECK(conns[0]["bytes_s2c"] == 40);
}

TEST_CASE("TC tools refuse a device type they cannot parse", "[tc][tun]") {
  TestNet net("tv");
  // A tun device whose link type is PPP (TUNSETLINK): neither Ethernet nor bare IP.
  const std::string name = "tkppp0";
  REQUIRE(testnet::run_in_netns(net.ns(), [&] {
            int fd = open_tun(name.c_str());
            if (fd < 0) return 1;
            if (::ioctl(fd, TUNSETPERSIST, 1) != 0) return 2;
            if (::ioctl(fd, TUNSETLINK, ARPHRD_PPP) != 0) return 3;
            return 0;
          }) == 0);
  for (std::string tool : {"tcp_tracker", "tcp_duration"}) {
    const std::string extra = tool == "tcp_duration" ? " -o /dev/null --no-plot" : "";
    auto r = harness::run({"/bin/sh", "-c",
                           "exec ip netns exec " + net.ns() + " " + harness::tool_path(tool) + " " + name + " -d 1" +
                               extra + " 2>&1 >/dev/null | grep -v 'sha1\\|prog tag'"},
                          60);
    INFO(r.out);
    CHECK(harness::lines(r.out).size() == 1);
    CHECK(r.out.find(tool + ": error: cannot parse the packets of " + name + ": device type 512") != std::string::npos);
  }
  auto rc = harness::run({"/bin/sh", "-c",
                          "ip netns exec " + net.ns() + " " + harness::tool_path("tcp_tracker") + " " + name +
                              " -d 1 >/dev/null 2>&1; echo $?"},
                         60);
  CHECK(rc.out == "1\n");
}
