// bench_bpf: benchmarks that load BPF text in-process with tracekit::BpfProgram (the
// way the tools do: bcc compile, kernel headers from use_kernel_headers).
//
//   bench_bpf headers
//       Prints the kernel-header tree the tools use (BCC_KERNEL_SOURCE), assembling
//       it if needed, so Python bcc can compile against the same headers.
//   bench_bpf testrun (--text FILE | --tool NAME) --fn FUNCTION [--frame tcp4|tcp6]
//                     [--repeat 1000000] [--runs 5] [-DNAME=VALUE ...]
//       Loads FUNCTION as a SCHED_CLS program and runs it with BPF_PROG_TEST_RUN on a
//       crafted Ethernet/IP/TCP frame, --repeat times per run: prints ns_per_packet
//       (median of --runs, as the kernel measures it) and every run.
//   bench_bpf compile (--text FILE | --tool NAME) [--runs 3] [-DNAME=VALUE ...]
//       Times BpfProgram::load (privilege checks + bcc compile, nothing loaded into the
//       kernel): prints compile_s, the median.
//   bench_bpf flowread --flows 100000 [--runs 5]
//       Fills tcp_tracker's flow map with --flows flows and times full reads of it.
//   bench_bpf fillflows --flows 100000
//       Fills the flow map of the tcp_tracker that runs now (the newest map named
//       "flows" with tcp_tracker's key size) with --flows flows, for the scrape
//       benchmark (bench/run.sh times GET /metrics against it).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench_embedded.h"
#include "bpf/bpf_program.h"
#include "bpf/map_reader.h"
#include "util/error.h"
#include "util/log.h"
#ifdef BENCH_HAVE_TCP_TRACKER
#include "tcp_tracker.h"
#endif

namespace {

using tracekit::BpfProgram;
using tracekit::LoadOptions;

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(
      stderr,
      "bench_bpf: %s\nusage: bench_bpf headers | testrun (--text FILE | --tool NAME) --fn FN [--frame tcp4|tcp6] "
      "[--repeat N] [--runs N] [-DX=Y...] | flowread [--flows N] [--runs N] | fillflows [--flows N]\n",
      msg.c_str());
  std::exit(2);
}

void set_logger() { tracekit::init_logging("bench_bpf", false); }  // spdlog on stderr

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) usage("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

uint16_t checksum(const void* data, size_t len) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (len & 1) sum += p[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

// An Ethernet frame carrying a TCP ACK|PSH segment with 64 bytes of payload,
// 198.18.0.1:40000 -> 198.18.0.2:5201 (or 2001:db8::1 -> 2001:db8::2).
std::vector<uint8_t> craft_frame(const std::string& kind) {
  const size_t payload = 64;
  bool v6 = kind == "tcp6";
  if (!v6 && kind != "tcp4") usage("unknown --frame " + kind);
  size_t ip_len = v6 ? sizeof(ipv6hdr) : sizeof(iphdr);
  std::vector<uint8_t> f(sizeof(ethhdr) + ip_len + sizeof(tcphdr) + payload, 0);
  auto* eth = reinterpret_cast<ethhdr*>(f.data());
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::memcpy(eth->h_dest, dst, 6);
  std::memcpy(eth->h_source, src, 6);
  eth->h_proto = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
  uint8_t* l3 = f.data() + sizeof(ethhdr);
  if (v6) {
    auto* ip6 = reinterpret_cast<ipv6hdr*>(l3);
    ip6->version = 6;
    ip6->payload_len = htons(sizeof(tcphdr) + payload);
    ip6->nexthdr = IPPROTO_TCP;
    ip6->hop_limit = 64;
    inet_pton(AF_INET6, "2001:db8::1", &ip6->saddr);
    inet_pton(AF_INET6, "2001:db8::2", &ip6->daddr);
  } else {
    iphdr ip{};
    ip.version = 4;
    ip.ihl = 5;
    ip.tot_len = htons(sizeof(iphdr) + sizeof(tcphdr) + payload);
    ip.id = htons(1);
    ip.frag_off = htons(0x4000);  // DF
    ip.ttl = 64;
    ip.protocol = IPPROTO_TCP;
    inet_pton(AF_INET, "198.18.0.1", &ip.saddr);
    inet_pton(AF_INET, "198.18.0.2", &ip.daddr);
    ip.check = checksum(&ip, sizeof ip);
    std::memcpy(l3, &ip, sizeof ip);
  }
  auto* tcp = reinterpret_cast<tcphdr*>(l3 + ip_len);
  tcp->source = htons(40000);
  tcp->dest = htons(5201);
  tcp->seq = htonl(1000);
  tcp->ack_seq = htonl(2000);
  tcp->doff = 5;
  tcp->ack = 1;
  tcp->psh = 1;
  tcp->window = htons(502);
  for (size_t i = 0; i < payload; ++i) f[f.size() - payload + i] = static_cast<uint8_t>('a' + i % 26);
  return f;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int cmd_headers() {
  tracekit::use_kernel_headers("");
  const char* dir = std::getenv("BCC_KERNEL_SOURCE");
  std::printf("%s\n", dir ? dir : "");
  return 0;
}

int cmd_testrun(int argc, char** argv) {
  std::string text_file, tool, fn, frame = "tcp4";
  long repeat = 1000000;
  int runs = 5;
  std::vector<std::string> cflags;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--text")
      text_file = value();
    else if (a == "--tool")
      tool = value();
    else if (a == "--fn")
      fn = value();
    else if (a == "--frame")
      frame = value();
    else if (a == "--repeat")
      repeat = std::stol(value());
    else if (a == "--runs")
      runs = std::stoi(value());
    else if (a.rfind("-D", 0) == 0)
      cflags.push_back(a);
    else
      usage("unknown option " + a);
  }
  if (fn.empty() || text_file.empty() == tool.empty()) usage("testrun needs --fn and one of --text / --tool");
  std::string text;
  if (!tool.empty()) {
    const char* t = bench::embedded_text(tool);
    if (!t) usage("tool " + tool + " was not built (no " + tool + "_bpf_text library)");
    text = t;
  } else {
    text = read_text(text_file);
  }

  BpfProgram prog;
  LoadOptions load{"", cflags, true, false};
  prog.load(text.c_str(), load);
  int fd = prog.load_function(fn, BPF_PROG_TYPE_SCHED_CLS);
  prog.free_compiler_memory();

  std::vector<uint8_t> pkt = craft_frame(frame);
  std::vector<double> ns;
  unsigned retval = 0;
  // One warm-up run (first packet of a flow inserts map entries, caches warm up).
  for (int r = -1; r < runs; ++r) {
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = pkt.data();
    opts.data_size_in = static_cast<__u32>(pkt.size());
    opts.repeat = r < 0 ? 1000 : static_cast<int>(repeat);
    if (bpf_prog_test_run_opts(fd, &opts) != 0)
      throw tracekit::Error("BPF_PROG_TEST_RUN failed: " + std::string(std::strerror(errno)));
    if (r >= 0) ns.push_back(opts.duration);
    retval = opts.retval;
  }
  std::printf("ns_per_packet=%.1f\nretval=%u\nframe_bytes=%zu\nrepeat=%ld\nruns=", median(ns), retval, pkt.size(),
              repeat);
  for (size_t i = 0; i < ns.size(); ++i) std::printf("%s%.0f", i ? "," : "", ns[i]);
  std::printf("\n");
  return 0;
}

#ifdef BENCH_HAVE_TCP_TRACKER
// `flows` distinct IPv4 flows into a flow map, received (ingress) from one remote address
// each (198.18.0.1 and up, at most 131,000 in the benchmarking range) to 198.19.255.254,
// so that the metrics' flow series (local port, remote address) are as many as the flows.
void fill_flows(int fd, long flows) {
  std::vector<flow_key> keys(flows);
  std::vector<flow_value> values(flows);
  for (long f = 0; f < flows; ++f) {
    flow_key& k = keys[f];
    std::memset(&k, 0, sizeof k);
    uint32_t src = htonl(0xC6120001u + static_cast<uint32_t>(f % 131000));  // 198.18.0.1 and up
    uint32_t dst = htonl(0xC613FFFEu);                                      // 198.19.255.254
    std::memcpy(k.saddr, &src, 4);
    std::memcpy(k.daddr, &dst, 4);
    k.sport = static_cast<__u16>(1024 + (f & 0xffff) % 60000);
    k.dport = static_cast<__u16>(443 + (f & 0xffff) / 60000);
    k.family = 4;
    k.direction = TCP_TRACKER_INGRESS;
    values[f] = {static_cast<__u64>(1000 + f), static_cast<__u64>(1 + f % 7), static_cast<__u64>(1 + f % 7)};
  }
  bpf_map_batch_opts opts{};
  opts.sz = sizeof(opts);
  for (long start = 0; start < flows; start += 10000) {
    __u32 n = static_cast<__u32>(std::min(10000L, flows - start));
    if (bpf_map_update_batch(fd, &keys[start], &values[start], &n, &opts) != 0)
      throw tracekit::Error("BPF_MAP_UPDATE_BATCH: " + std::string(std::strerror(errno)));
  }
}

// Fills tcp_tracker's flow table (the tool's own BPF text, its size raised with the
// tool's -DTCP_TRACKER_MAX_FLOWS) with `flows` distinct IPv4 flows, then times full
// reads with the tool's HashMapReader (BPF_MAP_LOOKUP_BATCH: a few system calls for
// the whole table), and with its one-entry-at-a-time fallback for reference.
int flowread(long flows, int runs) {
  long size = 1;
  while (size < flows * 2) size *= 2;
  BpfProgram prog;
  LoadOptions load{"", {"-DTCP_TRACKER_MAX_FLOWS=" + std::to_string(size)}, true, false};
  prog.load(bench::embedded_text("tcp_tracker"), load);
  prog.load_function("trace_tcp_tracker_ingress", BPF_PROG_TYPE_SCHED_CLS);
  prog.free_compiler_memory();
  int fd = prog.map_fd("flows");

  fill_flows(fd, flows);

  // The tool's reader (src/map_reader.h), batched as the tool runs it, and the
  // one-entry-at-a-time fallback for reference.
  auto time_reads = [&](tracekit::MapReadMode mode, long& read, size_t& syscalls) {
    tracekit::HashMapReader reader(fd, sizeof(flow_key), sizeof(flow_value), static_cast<uint32_t>(size), mode);
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      read = static_cast<long>(reader.read(false));
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      syscalls = reader.syscalls();
    }
    return ms;
  };
  long read = 0, read_iter = 0;
  size_t calls = 0, calls_iter = 0;
  std::vector<double> ms = time_reads(tracekit::MapReadMode::Batch, read, calls);
  std::vector<double> ms_iter = time_reads(tracekit::MapReadMode::Iterate, read_iter, calls_iter);
  std::printf("iter_flows_read=%ld\niter_read_ms=%.2f\niter_syscalls=%zu\nsyscalls=%zu\n", read_iter, median(ms_iter),
              calls_iter, calls);
  std::printf("flows_read=%ld\nread_ms=%.2f\nmap_size=%ld\nruns_ms=", read, median(ms), size);
  for (size_t i = 0; i < ms.size(); ++i) std::printf("%s%.2f", i ? "," : "", ms[i]);
  std::printf("\n");
  return read == flows ? 0 : 1;
}
#endif

// Time of BpfProgram::compile (bcc's two clang passes, no load) of one text, median of
// --runs: the part of a tool's start-up that the size of its BPF text decides.
int cmd_compile(int argc, char** argv) {
  std::string text_file, tool;
  int runs = 3;
  std::vector<std::string> cflags;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--text")
      text_file = value();
    else if (a == "--tool")
      tool = value();
    else if (a == "--runs")
      runs = std::stoi(value());
    else if (a.rfind("-D", 0) == 0)
      cflags.push_back(a);
    else
      usage("unknown option " + a);
  }
  if (text_file.empty() == tool.empty()) usage("compile needs one of --text / --tool");
  std::string text;
  if (!tool.empty()) {
    const char* t = bench::embedded_text(tool);
    if (!t) usage("tool " + tool + " was not built");
    text = t;
  } else {
    text = read_text(text_file);
  }
  std::vector<double> s;
  for (int r = 0; r < runs; ++r) {
    BpfProgram prog;
    LoadOptions load{"", cflags, false, false, /*cache=*/false};  // the compile itself, every run
    auto t0 = std::chrono::steady_clock::now();
    prog.load(text.c_str(), load);
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("compile_s=%.4f\n", median(s));
  return 0;
}

int cmd_flowread(int argc, char** argv) {
  long flows = 100000;
  int runs = 5;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    if (a == "--flows")
      flows = std::stol(value());
    else if (a == "--runs")
      runs = std::stoi(value());
    else
      usage("unknown option " + a);
  }
#ifdef BENCH_HAVE_TCP_TRACKER
  return flowread(flows, runs);
#else
  (void)flows;
  (void)runs;
  std::fprintf(stderr, "bench_bpf: tcp_tracker was not built: no flow-read benchmark\n");
  return 3;
#endif
}

int cmd_fillflows(int argc, char** argv) {
  long flows = 100000;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--flows" && i + 1 < argc)
      flows = std::stol(argv[++i]);
    else
      usage("unknown option " + a);
  }
#ifdef BENCH_HAVE_TCP_TRACKER
  int found = -1;
  for (__u32 id = 0; bpf_map_get_next_id(id, &id) == 0;) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info info{};
    __u32 len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::string(info.name) == "flows" &&
        info.key_size == sizeof(flow_key) && info.max_entries >= static_cast<__u32>(flows)) {
      if (found >= 0) close(found);
      found = fd;  // ids grow: the last one is the newest
    } else {
      close(fd);
    }
  }
  if (found < 0)
    throw tracekit::Error("no running tcp_tracker with a flow map of " + std::to_string(flows) + " entries");
  fill_flows(found, flows);
  std::printf("filled=%ld\n", flows);
  return 0;
#else
  (void)flows;
  std::fprintf(stderr, "bench_bpf: tcp_tracker was not built\n");
  return 3;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("no command");
  set_logger();
  std::string cmd = argv[1];
  try {
    if (cmd == "headers") return cmd_headers();
    if (cmd == "testrun") return cmd_testrun(argc, argv);
    if (cmd == "flowread") return cmd_flowread(argc, argv);
    if (cmd == "fillflows") return cmd_fillflows(argc, argv);
    if (cmd == "compile") return cmd_compile(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bpf: error: %s\n", e.what());
    return 1;
  }
  usage("unknown command " + cmd);
}
