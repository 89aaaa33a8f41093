#include "util/system_checks.h"

#include <fmt/format.h>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "util/error.h"
#include "util/log.h"
#include "util/privileges.h"

namespace tracekit {
namespace {

bool path_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

void require_privileges(bool net_admin, bool tracing) {
  std::vector<CapNeed> needs = {{CAP_BPF, "to load BPF programs and create maps"}};
  if (tracing) needs.push_back({CAP_PERFMON, "to attach to tracepoints"});
  if (net_admin) {
    needs.push_back({CAP_NET_ADMIN, "to attach to an interface's TC hooks"});
    needs.push_back({CAP_PERFMON, "for the verifier to accept a classifier's packet pointer arithmetic"});
  }
  require_capabilities(needs);
  if (tracing && tracefs_refused()) {
    struct stat st {};
    ::stat(kTracefs, &st);
    throw Error(fmt::format("needs CAP_DAC_READ_SEARCH to read tracefs ({} is {:04o})", kTracefs, st.st_mode & 07777),
                "run it as root, or grant the capabilities listed in its doc (\"Running without root\")");
  }
}

bool tracefs_refused() {
  return ::access(kTracefs, R_OK | X_OK) != 0 && errno == EACCES && !has_capability(CAP_DAC_READ_SEARCH);
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

bool kernel_version_at_least(int want_major, int want_minor) {
  utsname u{};
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > want_major || (major == want_major && minor >= want_minor);
}

}  // namespace tracekit
