// See netns.h.
#include "netns.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif
#ifndef BPF_TCX_EGRESS
#define BPF_TCX_EGRESS 47
#endif

namespace testnet {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool join_netns(const std::string& ns) {
  if (ns.empty()) return true;
  int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

// waitpid with a deadline; SIGKILLs the child when it passes. Returns the raw status
// or -1 on timeout.
int wait_child(pid_t pid, double timeout_s) {
  auto start = Clock::now();
  int st = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return st;
    if (r < 0 && errno != EINTR) return -1;
    if (since(start) >= timeout_s) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void set_timeouts(int fd, double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - static_cast<double>(tv.tv_sec)) * 1e6);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Sends n bytes of filler.
bool send_filler(int fd, uint64_t n) {
  static const std::array<char, 65536> buf = [] {
    std::array<char, 65536> b{};
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>('a' + i % 26);
    return b;
  }();
  while (n > 0) {
    size_t chunk = n < buf.size() ? static_cast<size_t>(n) : buf.size();
    if (!write_all(fd, buf.data(), chunk)) return false;
    n -= chunk;
  }
  return true;
}

// Reads to EOF; returns the byte count or -1 on error/timeout.
long long read_to_eof(int fd) {
  char buf[65536];
  long long total = 0;
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return total;
    total += r;
  }
}

bool read_exact(int fd, unsigned char* p, size_t n) {
  while (n > 0) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t rd32(const uint8_t* p, bool swap) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swap ? __builtin_bswap32(v) : v;
}

}  // namespace

CmdResult sh(const std::string& cmd, int timeout_s) {
  std::string full = "timeout " + std::to_string(timeout_s) + " sh -c " + shell_quote(cmd) + " 2>&1";
  CmdResult r{-1, {}};
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// ---- TestNet ---------------------------------------------------------------------

TestNet::TestNet(const std::string& tag) {
  static int made = 0;
  const int k = made++;
  if (tag.empty() || tag.size() > 4) throw std::runtime_error("TestNet tag must have 1 to 4 chars");
  const std::string base = tag + std::to_string(::getpid()) + (k ? "_" + std::to_string(k) : "");
  ns_ = "tk" + base;
  host_ = base + "h";
  peer_ = base + "p";
  const int id = static_cast<int>((static_cast<long>(::getpid()) * 4 + k) % (150 * 256));
  const std::string x = std::to_string(100 + id / 256), y = std::to_string(id % 256);
  host4_ = "10." + x + "." + y + ".1";
  peer4_ = "10." + x + "." + y + ".2";
  // In the canonical form inet_ntop prints (a zero group, as in fd7c:158:0::1, is folded
  // into "::"), so the strings compare equal to addresses read back from frames and tools.
  auto canonical6 = [](const std::string& a) {
    in6_addr bin{};
    char text[INET6_ADDRSTRLEN];
    if (::inet_pton(AF_INET6, a.c_str(), &bin) != 1) throw std::runtime_error("bad IPv6 address " + a);
    return std::string(::inet_ntop(AF_INET6, &bin, text, sizeof text));
  };
  host6_ = canonical6("fd7c:" + x + ":" + y + "::1");
  peer6_ = canonical6("fd7c:" + x + ":" + y + "::2");

  cleanup();  // leftovers of a crashed earlier process with the same pid
  const std::string steps[] = {
      "ip netns add " + ns_,
      "ip link add " + host_ + " type veth peer name " + peer_ + " netns " + ns_,
      "ip addr add " + host4_ + "/24 dev " + host_,
      "ip addr add " + host6_ + "/64 dev " + host_ + " nodad",
      "ip link set " + host_ + " up",
      "ip -n " + ns_ + " addr add " + peer4_ + "/24 dev " + peer_,
      "ip -n " + ns_ + " addr add " + peer6_ + "/64 dev " + peer_ + " nodad",
      "ip -n " + ns_ + " link set " + peer_ + " up",
      "ip -n " + ns_ + " link set lo up",
  };
  for (const auto& cmd : steps) {
    auto r = sh(cmd);
    if (r.rc != 0) {
      cleanup();
      throw std::runtime_error(cmd + " failed: " + r.out);
    }
  }
  bool up = eventually(
      [&] {
        return sh("ip link show " + host_).out.find("LOWER_UP") != std::string::npos &&
               ns_sh("ip link show " + peer_).out.find("LOWER_UP") != std::string::npos;
      },
      5000);
  if (!up) {
    cleanup();
    throw std::runtime_error("veth pair " + host_ + "/" + peer_ + " did not come up");
  }
}

TestNet::~TestNet() { cleanup(); }

void TestNet::cleanup() noexcept {
  sh("ip link del " + host_ + " >/dev/null 2>&1; ip netns del " + ns_ + " >/dev/null 2>&1; true");
}

int TestNet::host_ifindex() const { return static_cast<int>(::if_nametoindex(host_.c_str())); }

bool TestNet::set_offloads(bool on) {
  const std::string v = on ? "on" : "off";
  const std::string args = " tso " + v + " gso " + v + " gro " + v;
  return sh("ethtool -K " + host_ + args).rc == 0 && ns_sh("ethtool -K " + peer_ + args).rc == 0;
}

CmdResult TestNet::ns_sh(const std::string& cmd, int timeout_s) const {
  return sh("ip netns exec " + ns_ + " sh -c " + shell_quote(cmd), timeout_s);
}

void TestNet::delete_link() { sh("ip link del " + host_ + " >/dev/null 2>&1; true"); }

int run_in_netns(const std::string& ns, const std::function<int()>& fn, double timeout_s) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::alarm(static_cast<unsigned>(timeout_s) + 1);
    if (!join_netns(ns)) ::_exit(125);
    int rc = 1;
    try {
      rc = fn();
    } catch (...) {
      rc = 124;
    }
    ::_exit(rc & 255);
  }
  int st = wait_child(pid, timeout_s);
  if (st < 0 || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

// ---- TCP ---------------------------------------------------------------------------

TcpServer::TcpServer(const std::string& ns, uint16_t port, int max_seconds) : port_(port) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::close(ready[0]);
    ::alarm(static_cast<unsigned>(max_seconds));
    if (!join_netns(ns)) ::_exit(10);
    int s = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) ::_exit(11);
    int zero = 0, one = 1;
    ::setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 too
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(port);
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 64) != 0) ::_exit(12);
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1) ::_exit(13);
    ::close(ready[1]);
    for (;;) {
      int conn = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        ::_exit(14);
      }
      set_timeouts(conn, 10);
      unsigned char hdr[8];
      if (read_exact(conn, hdr, sizeof hdr)) {
        uint64_t reply = 0;
        for (unsigned char b : hdr) reply = reply << 8 | b;
        if (read_to_eof(conn) >= 0) send_filler(conn, reply);
      }
      ::close(conn);
    }
  }
  ::close(ready[1]);
  pollfd pfd{ready[0], POLLIN, 0};
  char c = 0;
  bool ok = ::poll(&pfd, 1, 10000) == 1 && ::read(ready[0], &c, 1) == 1 && c == 'r';
  ::close(ready[0]);
  if (!ok) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("TCP server on port " + std::to_string(port) + " did not start");
  }
}

TcpServer::~TcpServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

Transfer tcp_transfer(const std::string& addr, uint16_t port, uint64_t send_bytes, uint64_t reply_bytes,
                      double timeout_s, int hold_ms) {
  Transfer t;
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, addr.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    len = sizeof *a4;
  } else if (::inet_pton(AF_INET6, addr.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    len = sizeof *a6;
  } else {
    t.error = "bad address " + addr;
    return t;
  }
  int s = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    t.error = std::string("socket: ") + std::strerror(errno);
    return t;
  }
  set_timeouts(s, timeout_s);
  auto fail = [&](const char* what) {
    t.error = std::string(what) + ": " + std::strerror(errno);
    ::close(s);
    return t;
  };
  if (::connect(s, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail("connect");
  sockaddr_storage local{};
  socklen_t llen = sizeof local;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&local), &llen);
  t.local_port = ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                                  : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  char hdr[8];
  for (int i = 0; i < 8; ++i) hdr[i] = static_cast<char>(reply_bytes >> (56 - 8 * i));
  if (!write_all(s, hdr, sizeof hdr)) return fail("send");
  if (!send_filler(s, send_bytes)) return fail("send");
  t.sent = send_bytes;
  if (hold_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
  if (::shutdown(s, SHUT_WR) != 0) return fail("shutdown");
  long long got = read_to_eof(s);
  if (got < 0) return fail("recv");
  t.received = static_cast<uint64_t>(got);
  ::close(s);
  t.ok = t.received == reply_bytes;
  if (!t.ok) t.error = "short reply: " + std::to_string(got) + " of " + std::to_string(reply_bytes);
  return t;
}

bool send_raw_frames(const std::string& dev, const std::string& ns, const std::vector<std::vector<uint8_t>>& frames) {
  return run_in_netns(ns, [&] {
           int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
           if (s < 0) return 11;
           sockaddr_ll sll{};
           sll.sll_family = AF_PACKET;
           sll.sll_ifindex = static_cast<int>(::if_nametoindex(dev.c_str()));
           sll.sll_halen = ETH_ALEN;
           if (sll.sll_ifindex == 0) return 12;
           for (const auto& f : frames)
             if (::sendto(s, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) return 13;
           ::close(s);
           return 0;
         }) == 0;
}

// ---- capture -------------------------------------------------------------------------

std::vector<PcapPacket> read_pcap(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 24) throw std::runtime_error(path + ": no pcap header");
  uint32_t magic;
  std::memcpy(&magic, bytes.data(), 4);
  bool swap = false, nsec = false;
  switch (magic) {
    case 0xa1b2c3d4:
      break;
    case 0xd4c3b2a1:
      swap = true;
      break;
    case 0xa1b23c4d:
      nsec = true;
      break;
    case 0x4d3cb2a1:
      swap = nsec = true;
      break;
    default:
      throw std::runtime_error(path + ": not a classic pcap file");
  }
  std::vector<PcapPacket> out;
  size_t off = 24;
  while (off + 16 <= bytes.size()) {
    PcapPacket p;
    uint32_t sec = rd32(&bytes[off], swap), frac = rd32(&bytes[off + 4], swap);
    p.caplen = rd32(&bytes[off + 8], swap);
    p.orig_len = rd32(&bytes[off + 12], swap);
    p.ts = sec + frac / (nsec ? 1e9 : 1e6);
    off += 16;
    if (off + p.caplen > bytes.size()) throw std::runtime_error(path + ": truncated record");
    p.data.assign(bytes.begin() + static_cast<long>(off), bytes.begin() + static_cast<long>(off + p.caplen));
    off += p.caplen;
    out.push_back(std::move(p));
  }
  return out;
}

Capture::Capture(const std::string& iface, const std::string& filter, int snaplen, const std::string& direction,
                 const std::string& ns) {
  static int made = 0;
  path_ = "/tmp/tk-capture-" + std::to_string(::getpid()) + "-" + std::to_string(made++) + ".pcap";
  ::unlink(path_.c_str());
  std::vector<std::string> argv;
  if (!ns.empty()) argv = {"/usr/sbin/ip", "netns", "exec", ns};
  for (const char* a : {"tcpdump", "-i"}) argv.push_back(a);
  argv.push_back(iface);
  for (const char* a : {"-nn", "-U", "--immediate-mode", "-B", "8192", "-Z", "root", "-s"}) argv.push_back(a);
  argv.push_back(std::to_string(snaplen));
  argv.push_back("-w");
  argv.push_back(path_);
  if (!direction.empty()) {
    argv.push_back("-Q");
    argv.push_back(direction);
  }
  if (!filter.empty()) argv.push_back(filter);

  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);  // a Ctrl-C of the test run does not hit tcpdump first
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(err[1], 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(err[1]);
  err_fd_ = err[0];
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  auto start = Clock::now();
  while (err_.find("listening on") == std::string::npos) {
    if (since(start) > 10) {
      finish();
      throw std::runtime_error("tcpdump did not start: " + err_);
    }
    pollfd pfd{err_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 50) == 1) {
      char buf[4096];
      ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n > 0) err_.append(buf, static_cast<size_t>(n));
      if (n == 0) {
        finish();
        throw std::runtime_error("tcpdump exited: " + err_);
      }
    }
  }
}

void Capture::finish() {
  if (pid_ > 0) {
    ::kill(pid_, SIGINT);
    if (wait_child(pid_, 10) < 0) err_ += "\n(tcpdump killed)";
    pid_ = -1;
  }
  if (err_fd_ >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_fd_, buf, sizeof buf)) > 0) err_.append(buf, static_cast<size_t>(n));
    ::close(err_fd_);
    err_fd_ = -1;
  }
  auto pos = err_.find(" packets dropped by kernel");
  if (pos != std::string::npos) {
    auto begin = err_.rfind('\n', pos);
    begin = begin == std::string::npos ? 0 : begin + 1;
    dropped_ = std::strtol(err_.c_str() + begin, nullptr, 10);
  }
}

std::vector<PcapPacket> Capture::stop(int settle_ms) {
  if (settle_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
  finish();
  return read_pcap(path_);
}

Capture::~Capture() {
  finish();
  ::unlink(path_.c_str());
}

std::optional<TcpFrame> parse_tcp_frame(const PcapPacket& p) {
  const auto& d = p.data;
  TcpFrame f;
  f.ts = p.ts;
  f.orig_len = p.orig_len;
  size_t off = 14;
  if (d.size() < off) return std::nullopt;
  uint16_t proto = rd16(&d[12]);
  if (proto == 0x8100 || proto == 0x88a8) {
    if (d.size() < 18) return std::nullopt;
    f.vlan = true;
    proto = rd16(&d[16]);
    off = 18;
  }
  size_t l4 = 0;
  char text[INET6_ADDRSTRLEN];
  if (proto == 0x0800) {
    if (d.size() < off + 20 || (d[off] >> 4) != 4) return std::nullopt;
    size_t ihl = (d[off] & 0x0f) * 4u;
    if (ihl < 20 || d[off + 9] != 6 || (rd16(&d[off + 6]) & 0x1fff) != 0) return std::nullopt;
    f.family = 4;
    f.src = ::inet_ntop(AF_INET, &d[off + 12], text, sizeof text);
    f.dst = ::inet_ntop(AF_INET, &d[off + 16], text, sizeof text);
    l4 = off + ihl;
  } else if (proto == 0x86dd) {
    if (d.size() < off + 40 || d[off + 6] != 6) return std::nullopt;
    f.family = 6;
    f.src = ::inet_ntop(AF_INET6, &d[off + 8], text, sizeof text);
    f.dst = ::inet_ntop(AF_INET6, &d[off + 24], text, sizeof text);
    l4 = off + 40;
  } else {
    return std::nullopt;
  }
  if (d.size() < l4 + 14) return std::nullopt;
  f.sport = rd16(&d[l4]);
  f.dport = rd16(&d[l4 + 2]);
  f.flags = d[l4 + 13];
  f.header_len = static_cast<uint32_t>(l4 + (d[l4 + 12] >> 4) * 4u);
  return f;
}

// ---- tc state ----------------------------------------------------------------------------

// A `tc filter show` line of one of our filters: pref 1985 and a handle among our slots.
static bool is_our_filter_line(const std::string& line) {
  if (line.find(" pref 1985 ") == std::string::npos) return false;
  auto pos = line.find(" handle 0x");
  if (pos == std::string::npos) return false;
  unsigned long h = std::strtoul(line.c_str() + pos + 10, nullptr, 16);
  return h >= 0x7c1 && h < 0x7c1 + 64;
}

int tc_filter_count(const std::string& dev, const std::string& direction, bool ours_only, const std::string& ns) {
  std::string cmd = "tc filter show dev " + dev + " " + direction;
  if (!ns.empty()) cmd = "ip netns exec " + ns + " " + cmd;
  auto r = sh(cmd);
  std::istringstream in(r.out);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.rfind("filter ", 0) != 0 || line.find(" handle ") == std::string::npos) continue;
    if (ours_only && !is_our_filter_line(line)) continue;
    ++n;
  }
  return n;
}

bool has_clsact(const std::string& dev, const std::string& ns) {
  std::string cmd = "tc qdisc show dev " + dev;
  if (!ns.empty()) cmd = "ip netns exec " + ns + " " + cmd;
  return sh(cmd).out.find("qdisc clsact") != std::string::npos;
}

int tcx_prog_count(int ifindex, const std::string& direction) {
  __u32 flags = 0, cnt = 0;
  auto type = static_cast<bpf_attach_type>(direction == "ingress" ? BPF_TCX_INGRESS : BPF_TCX_EGRESS);
  int err = bpf_prog_query(ifindex, type, 0, &flags, nullptr, &cnt);
  return err < 0 ? err : static_cast<int>(cnt);
}

bool eventually(const std::function<bool()>& pred, int ms) {
  auto start = Clock::now();
  while (since(start) * 1000 < ms) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace testnet
