// Throwaway test networks for the TC tools' integration tests (root only).
//
//   testnet::TestNet net("tt");          // netns + veth pair with IPv4 and IPv6 addresses
//   testnet::TcpServer server(net.ns(), 5001);            // bounded server inside the netns
//   testnet::Capture cap(net.host_if());                  // tcpdump -w on the host end
//   auto r = testnet::tcp_transfer(net.peer_ip4(), 5001, 1000, 2000);  // from the root netns
//   auto frames = cap.stop();                             // pcap records, parsed in C++
//   auto info = testnet::parse_tcp_frame(frames[0]);      // addresses, ports, flags
//
// Everything is bounded in time (socket timeouts, alarm() in children, timeout(1) on
// commands) and removed by destructors even when an assertion fails. Names carry the
// pid, so concurrent test processes do not collide:
//   netns   "tk<tag><pid>[_k]"
//   host    "<tag><pid>[_k]h"  (caller's netns)  10.<x>.<y>.1/24  fd7c:<x>:<y>::1/64
//   peer    "<tag><pid>[_k]p"  (inside netns)    10.<x>.<y>.2/24  fd7c:<x>:<y>::2/64
// where k counts TestNets made by this process and x, y derive from (pid, k).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace testnet {

struct CmdResult {
  int rc;           // exit status; -1 if it could not run or was killed
  std::string out;  // stdout and stderr together
};
// Runs `cmd` with sh -c under timeout(1), capturing its output.
CmdResult sh(const std::string& cmd, int timeout_s = 20);

class TestNet {
 public:
  // `tag`: 1 to 4 lowercase letters naming the test (keeps interface names < 16 chars).
  // Throws std::runtime_error (after cleaning up) if the network cannot be built.
  explicit TestNet(const std::string& tag = "tn");
  ~TestNet();  // deletes the veth pair and the netns
  TestNet(const TestNet&) = delete;
  TestNet& operator=(const TestNet&) = delete;

  const std::string& ns() const { return ns_; }
  const std::string& host_if() const { return host_; }
  const std::string& peer_if() const { return peer_; }
  int host_ifindex() const;  // 0 once the interface is gone

  const std::string& host_ip4() const { return host4_; }
  const std::string& peer_ip4() const { return peer4_; }
  const std::string& host_ip6() const { return host6_; }
  const std::string& peer_ip6() const { return peer6_; }

  // `ethtool -K <dev> tso X gso X gro X` on both ends (X = on/off). Returns success.
  bool set_offloads(bool on);
  // Runs a shell command inside the netns (ip netns exec).
  CmdResult ns_sh(const std::string& cmd, int timeout_s = 20) const;
  // Deletes the host end now (the peer goes with it): "interface disappeared" tests.
  void delete_link();

 private:
  void cleanup() noexcept;
  std::string ns_, host_, peer_, host4_, peer4_, host6_, peer6_;
};

// Forks a child that joins netns `ns` ("" = stay) and returns fn()'s value as its exit
// status (0..255), or -1 if it could not run or exceeded timeout_s (then it is killed).
int run_in_netns(const std::string& ns, const std::function<int()>& fn, double timeout_s = 20);

// A TCP server in a child process (inside netns `ns`, "" = caller's netns) listening on
// `port` on every IPv4 and IPv6 address. Protocol per connection: the client sends an
// 8-byte big-endian reply size R, then its payload, then shuts down writing (FIN); the
// server reads to EOF, writes R bytes and closes. Connections are served one after the
// other. The child exits after max_seconds whatever happens.
class TcpServer {
 public:
  TcpServer(const std::string& ns, uint16_t port, int max_seconds = 60);
  ~TcpServer();  // SIGKILLs and reaps the child
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_;
};

struct Transfer {
  bool ok = false;
  uint16_t local_port = 0;  // the client's ephemeral port (host order)
  uint64_t sent = 0;        // payload bytes, excluding the 8-byte reply-size header
  uint64_t received = 0;
  std::string error;
};

// One bounded client connection (from the caller's netns) to a TcpServer at addr:port
// (IPv4 or IPv6 literal): sends `send_bytes` bytes of payload, asks for `reply_bytes`,
// waits `hold_ms` before finishing its own side, then reads the reply to EOF and closes.
Transfer tcp_transfer(const std::string& addr, uint16_t port, uint64_t send_bytes, uint64_t reply_bytes,
                      double timeout_s = 10, int hold_ms = 0);

// Sends raw Ethernet frames out of `dev` with an AF_PACKET socket, from inside netns
// `ns` ("" = caller's netns). Frames sent from the peer arrive on the host end's
// ingress; frames sent on the host end pass its egress. Returns success.
bool send_raw_frames(const std::string& dev, const std::string& ns, const std::vector<std::vector<uint8_t>>& frames);

// ---- packet capture ----------------------------------------------------------

struct PcapPacket {
  double ts = 0;          // seconds since the epoch
  uint32_t caplen = 0;    // bytes stored (<= snaplen)
  uint32_t orig_len = 0;  // frame length on the interface
  std::vector<uint8_t> data;
};

// Reads a classic pcap file (microsecond or nanosecond magic, either byte order).
// Throws std::runtime_error on a malformed file.
std::vector<PcapPacket> read_pcap(const std::string& path);

// tcpdump -w on an interface while in scope. The constructor returns once tcpdump says
// "listening on"; throws std::runtime_error if it does not within 10 s.
class Capture {
 public:
  // direction: "" (both), "in" or "out" (tcpdump -Q); filter: a pcap filter ("" = all).
  Capture(const std::string& iface, const std::string& filter = "", int snaplen = 96, const std::string& direction = "",
          const std::string& ns = "");
  ~Capture();  // stops tcpdump if still running and deletes the file
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  // Waits settle_ms for frames in flight, stops tcpdump (SIGINT, flush) and returns the
  // packets it wrote.
  std::vector<PcapPacket> stop(int settle_ms = 200);
  // From tcpdump's closing statistics; -1 if unknown.
  long dropped_by_kernel() const { return dropped_; }
  const std::string& path() const { return path_; }
  const std::string& tcpdump_stderr() const { return err_; }

 private:
  void finish();
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string path_, err_;
  long dropped_ = -1;
};

// The TCP/IP facts of one Ethernet frame (one 802.1Q/802.1ad tag allowed; IPv4 with any
// IHL; IPv6 without extension headers). nullopt for anything else or too short a capture.
struct TcpFrame {
  int family = 0;        // 4 or 6
  std::string src, dst;  // inet_ntop text
  uint16_t sport = 0, dport = 0;
  uint8_t flags = 0;  // TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10)
  bool vlan = false;
  double ts = 0;
  uint32_t orig_len = 0;
  uint32_t header_len = 0;  // bytes up to the end of the TCP header (with options)
};
std::optional<TcpFrame> parse_tcp_frame(const PcapPacket& p);

// ---- tc state ------------------------------------------------------------------

// Concrete filters (lines with a handle) of `tc filter show dev DEV ingress|egress`;
// ours_only: only tracekit's (pref 1985, handle 0x7c1). `ns` "" = caller's netns.
int tc_filter_count(const std::string& dev, const std::string& direction, bool ours_only, const std::string& ns = "");
bool has_clsact(const std::string& dev, const std::string& ns = "");
// Programs attached through tcx on ifindex ("ingress"/"egress"); -errno on failure.
int tcx_prog_count(int ifindex, const std::string& direction);

// Polls pred every 20 ms for up to ms milliseconds.
bool eventually(const std::function<bool()>& pred, int ms = 3000);

}  // namespace testnet
