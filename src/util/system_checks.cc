#include "util/system_checks.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "util/error.h"
#include "util/log.h"

namespace tracekit {
namespace {

constexpr int kCapNetAdmin = 12;
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

bool path_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

bool has(uint64_t caps, int cap) { return (caps >> cap) & 1U; }

}  // namespace

uint64_t effective_capabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

void require_privileges(bool net_admin) {
  uint64_t caps = effective_capabilities();
  bool bpf_ok = has(caps, kCapSysAdmin) || (has(caps, kCapBpf) && has(caps, kCapPerfmon));
  bool net_ok = !net_admin || has(caps, kCapNetAdmin);
  if (bpf_ok && net_ok) return;
  std::string need = net_admin ? "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN" : "CAP_BPF and CAP_PERFMON";
  throw Error("this tool needs root (" + need + "); run it with sudo");
}

void ensure_tracefs() {
  if (path_exists(std::string(kTracefs) + "/events")) return;
  spdlog::debug("tracefs is not mounted at {}: mounting it", kTracefs);
  if (::mount("tracefs", kTracefs, "tracefs", 0, nullptr) != 0) {
    int err = errno;
    throw Error(std::string("tracefs is not mounted and mounting it at ") + kTracefs +
                " failed: " + std::strerror(err) + "; mount it with: mount -t tracefs tracefs " + kTracefs);
  }
  spdlog::debug("mounted tracefs at {}", kTracefs);
}

bool tracepoint_exists(const std::string& category, const std::string& name) {
  return path_exists(std::string(kTracefs) + "/events/" + category + "/" + name + "/id");
}

bool kernel_has_kprobes() {
  return path_exists("/sys/bus/event_source/devices/kprobe") || path_exists(std::string(kTracefs) + "/kprobe_events");
}

}  // namespace tracekit
