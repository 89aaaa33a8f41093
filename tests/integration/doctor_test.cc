// tracekit-doctor against ground truth: what it says about kprobes, tcx, the headers and
// the cache is what the system shows by other means; with tracefs hidden or unreadable (a
// test mount namespace) it names the fix; and its verdict per tool is what the tool itself
// does when started with the same privileges.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "jsonl.h"

using harness::Json;

namespace {

constexpr uid_t kRunUid = 4519;  // an unprivileged uid of this test only

std::string doctor() { return harness::tool_path("tracekit-doctor"); }

// Run as kRunUid, the doctor (like a tool) may assemble its header tree in
// /tmp/tracekit-<uid>: removed at the end of each test that runs it so.
struct UserTreeCleanup {
  ~UserTreeCleanup() {
    std::error_code ec;
    std::filesystem::remove_all("/tmp/tracekit-" + std::to_string(kRunUid), ec);
  }
};

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string release() {
  struct utsname u {};
  ::uname(&u);
  return u.release;
}

Json run_json(const std::vector<std::string>& argv, int* rc) {
  auto r = harness::run(argv, 60);
  INFO(r.err);
  *rc = r.exit_code;
  return Json::parse(r.out);
}

const Json& check(const Json& report, const std::string& name) {
  for (const auto& c : report["checks"])
    if (c["check"] == name) return c;
  FAIL("no check " << name);
  static Json none;
  return none;
}

// argv running `cmd args` as kRunUid with exactly `caps` ("+bpf,+perfmon").
std::vector<std::string> as_user(const std::string& caps, const std::string& cmd, std::vector<std::string> args) {
  return harness::as_uid(kRunUid, caps, cmd, args);
}

// UTS_RELEASE of the header tree bcc would get, found without the doctor's code: the
// running kernel's build tree, else the newest Debian linux-headers-*-<arch> tree.
std::string expected_headers_release() {
  std::string build = "/lib/modules/" + release() + "/build/include/generated/utsrelease.h";
  std::string file;
  if (exists(build)) {
    file = build;
  } else {
    auto r = harness::run({"/bin/sh", "-c",
                           "ls -d /usr/src/linux-headers-*/include/generated/utsrelease.h 2>/dev/null | sort -V | "
                           "tail -1"},
                          10);
    file = r.out.substr(0, r.out.find('\n'));
  }
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.find("UTS_RELEASE") != std::string::npos) {
      auto q = line.find('"');
      return line.substr(q + 1, line.rfind('"') - q - 1);
    }
  return "";
}

}  // namespace

TEST_CASE("doctor: as root every tool can run, and each line matches the system", "[doctor][root]") {
  int rc = -1;
  Json j = run_json({doctor(), "--json"}, &rc);
  CHECK(rc == 0);
  CHECK(j["ok"] == true);
  CHECK(j["kernel"] == release());
  for (const char* tool : {"execve_dumb", "execve_enriched", "tcp_tracker", "tcp_duration"}) {
    INFO(tool);
    CHECK(j["tools"][tool]["can_run"] == true);
  }
  for (const auto& c : j["checks"]) {
    INFO(c.dump());
    CHECK(c["status"] != "fail");
  }

  // kprobes: present exactly when the kernel exposes them; absent names the config.
  const bool kprobes = exists("/sys/bus/event_source/devices/kprobe") || exists("/sys/kernel/tracing/kprobe_events");
  const Json& kp = check(j, "kprobes");
  if (kprobes) {
    CHECK(kp["summary"].get<std::string>().find("present") != std::string::npos);
  } else {
    CHECK(kp["status"] == "info");
    CHECK(kp["summary"].get<std::string>().find("absent") != std::string::npos);
    CHECK(kp["summary"].get<std::string>().find("configuration, not an inlined or notrace") != std::string::npos);
  }

  // tcx from kernel 6.6 on (the doctor probes the kernel; the release must agree).
  int major = 0, minor = 0;
  std::sscanf(release().c_str(), "%d.%d", &major, &minor);
  const bool tcx = major > 6 || (major == 6 && minor >= 6);
  std::string tc = check(j, "tc")["summary"];
  CHECK((tc.rfind("tcx links", 0) == 0) == tcx);

  // Headers: the version bcc gets, and "mismatched" exactly when it is not the kernel's.
  const Json& h = check(j, "kernel-headers");
  std::string hs = h["summary"];
  if (!exists("/lib/modules/" + release() + "/build") && exists("/sys/kernel/kheaders.tar.xz")) {
    CHECK(h["status"] == "ok");  // bcc unpacks the kernel's own headers
    CHECK(hs.find("kheaders.tar.xz") != std::string::npos);
  } else {
    std::string want = expected_headers_release();
    REQUIRE(!want.empty());
    CHECK(hs.rfind(want + " in ", 0) == 0);
    if (want == release()) {
      CHECK(h["status"] == "ok");
    } else {
      CHECK(h["status"] == "warn");
      CHECK(hs.find("mismatched") != std::string::npos);
      CHECK(hs.find(release()) != std::string::npos);
      std::string fix = h["fix"];
      CHECK(fix.find("UAPI") != std::string::npos);
      CHECK(fix.find("kernel-internal structs") != std::string::npos);
    }
  }

  // BTF: present exactly when /sys/kernel/btf/vmlinux is.
  CHECK((check(j, "btf")["status"] == "ok") == exists("/sys/kernel/btf/vmlinux"));

  // The text report says the same, one line per check, in the same order.
  auto text = harness::run({doctor()}, 60);
  CHECK(text.exit_code == 0);
  size_t pos = 0;
  for (const auto& c : j["checks"]) {
    std::string status = c["status"];
    std::string name = c["check"];
    auto at = text.out.find("\n" + status + std::string(6 - status.size(), ' ') + name, pos);
    INFO(text.out);
    INFO(name);
    CHECK(at != std::string::npos);
    if (at != std::string::npos) pos = at;
  }
}

TEST_CASE("doctor: the compile cache it reports is the directory's content", "[doctor][root]") {
  faults::TempDir dir("doctor");
  const std::string cache = dir.file("cache");
  int rc = -1;
  Json j = run_json({doctor(), "--json", "--cache-dir", cache}, &rc);
  CHECK(check(j, "compile-cache")["summary"].get<std::string>().find("none yet") != std::string::npos);

  ::mkdir(cache.c_str(), 0700);
  for (int i = 0; i < 3; ++i) std::ofstream(cache + "/" + std::to_string(i) + ".bpfa") << std::string(2048, 'x');
  std::ofstream(cache + "/not-an-entry.tmp") << "x";
  j = run_json({doctor(), "--json", "--cache-dir", cache}, &rc);
  std::string s = check(j, "compile-cache")["summary"];
  CHECK(s.find("3 entries, 6 KiB") != std::string::npos);
  CHECK(check(j, "compile-cache")["status"] == "ok");

  ::chmod(cache.c_str(), 0770);
  j = run_json({doctor(), "--json", "--cache-dir", cache}, &rc);
  CHECK(check(j, "compile-cache")["status"] == "warn");
  CHECK(check(j, "compile-cache")["fix"].get<std::string>().find("chmod 0700") != std::string::npos);
  CHECK(rc == 0);  // an untrusted cache slows a start, it blocks nothing
}

TEST_CASE("doctor: a missing compile helper blocks every tool", "[doctor][root]") {
  auto r = harness::run({"/usr/bin/env", "TRACEKIT_COMPILER=/nonexistent/tracekit-compile", doctor(), "--json"}, 60);
  CHECK(r.exit_code == 1);
  Json j = Json::parse(r.out);
  CHECK(check(j, "compile-helper")["status"] == "fail");
  for (const char* tool : {"execve_dumb", "execve_enriched", "tcp_tracker", "tcp_duration"}) {
    INFO(tool);
    CHECK(j["tools"][tool]["can_run"] == false);
    CHECK(j["tools"][tool]["blocked_by"] == Json::array({"compile-helper"}));
  }
}

TEST_CASE("doctor: tracefs hidden or unreadable in a mount namespace names the fix", "[doctor][root]") {
  UserTreeCleanup cleanup;
  const std::string d = doctor();
  SECTION("not mounted: the mount command") {
    auto r = harness::run({"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                           "mount --make-rprivate / && mount -t tmpfs none /sys/kernel/tracing && exec " + d},
                          60);
    INFO(r.out << r.err);
    CHECK(r.out.find("warn  tracefs         no tracefs mounted at /sys/kernel/tracing") != std::string::npos);
    CHECK(r.out.find("fix: the tools mount it themselves when they run as root; otherwise: mount -t tracefs "
                     "tracefs /sys/kernel/tracing") != std::string::npos);
  }
  SECTION("unreadable for a user with the BPF capabilities: CAP_DAC_READ_SEARCH") {
    // tracefs has one superblock (a remount would change the host's): a 0700 tmpfs over
    // its events/ makes it unreadable for the user whatever the host's mode is.
    std::string user = "/usr/bin/setpriv --reuid=" + std::to_string(kRunUid) + " --regid=" + std::to_string(kRunUid) +
                       " --clear-groups --inh-caps=-all,+bpf,+perfmon,+net_admin "
                       "--ambient-caps=-all,+bpf,+perfmon,+net_admin ";
    auto r = harness::run({"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                           "mount --make-rprivate / && mount -t tmpfs -o mode=0700 none /sys/kernel/tracing/events && "
                           "exec " +
                               user + d + " --json"},
                          60);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    Json j = Json::parse(r.out);
    CHECK(check(j, "tracefs")["status"] == "fail");
    CHECK(check(j, "tracefs")["fix"].get<std::string>().find("CAP_DAC_READ_SEARCH") != std::string::npos);
    CHECK(check(j, "privileges")["status"] == "ok");
    CHECK(j["tools"]["execve_dumb"]["can_run"] == false);
    CHECK(j["tools"]["tcp_tracker"]["can_run"] == true);
  }
  SECTION("with CAP_DAC_OVERRIDE instead of CAP_DAC_READ_SEARCH: the doctor agrees with the tool") {
    // The tools ask for CAP_DAC_READ_SEARCH by name when access() refuses tracefs (a
    // non-root access() ignores capabilities); a 0700 tracefs (this host) refuses.
    const std::string caps = "+bpf,+perfmon,+dac_override";
    int rc = -1;
    Json j = run_json(as_user(caps, doctor(), {"--json"}), &rc);
    auto r = harness::run(as_user(caps, harness::tool_path("execve_dumb"), {"-d", "1", "--no-cache"}), 60);
    INFO(r.err);
    CHECK(j["tools"]["execve_dumb"]["can_run"] == (r.exit_code == 0));
    struct stat st {};
    REQUIRE(::stat("/sys/kernel/tracing", &st) == 0);
    if ((st.st_mode & 005) != 005) {
      CHECK(r.exit_code == 1);
      CHECK(r.err.find("CAP_DAC_READ_SEARCH") != std::string::npos);
      CHECK(check(j, "tracefs")["status"] == "fail");
      CHECK(check(j, "tracefs")["fix"].get<std::string>().find("CAP_DAC_READ_SEARCH") != std::string::npos);
    }
  }
  // The host's tracefs is untouched.
  CHECK(exists("/sys/kernel/tracing/events"));
}

TEST_CASE("doctor: its verdict per tool is what the tool does with the same capabilities", "[doctor][root]") {
  UserTreeCleanup cleanup;
  faults::TempDir dir("doctor-caps");
  // Tracing capabilities only: the exec tools run, the TC tools do not (CAP_NET_ADMIN).
  const std::string caps = "+bpf,+perfmon,+dac_read_search";
  int rc = -1;
  Json j = run_json(as_user(caps, doctor(), {"--json", "--cache-dir", dir.file("c")}), &rc);
  CHECK(rc == 1);
  for (const char* tool : {"execve_dumb", "tcp_tracker"}) {
    INFO(tool);
    std::vector<std::string> args = {"-d", "1", "--no-cache"};
    if (std::string(tool) == "tcp_tracker") args.insert(args.begin(), "lo");
    auto r = harness::run(as_user(caps, harness::tool_path(tool), args), 90);
    INFO(r.err);
    const bool ran = r.exit_code == 0;
    CHECK(j["tools"][tool]["can_run"] == ran);
    if (!ran) {
      CHECK(r.exit_code == 1);
      CHECK(r.err.find("CAP_NET_ADMIN") != std::string::npos);
      CHECK(j["tools"][tool]["blocked_by"] == Json::array({"privileges"}));
    }
  }
  CHECK(j["tools"]["execve_dumb"]["can_run"] == true);
}

TEST_CASE("doctor: bad usage exits 2 with one line", "[doctor][usage]") {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--bogus"},
                                             {"extra"},
                                             {"--cache-dir", "relative"},
                                             {"--kernel-headers", "/no/such/dir"},
                                             {"--kernel-headers", "/tmp"}}) {
    std::vector<std::string> argv = {doctor()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = harness::run(argv, 30);
    INFO(args.front());
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(harness::lines(r.err).size() == 1);
    CHECK(r.err.rfind("tracekit-doctor: error: ", 0) == 0);
  }
  auto v = harness::run({doctor(), "--version"}, 30);
  CHECK(v.exit_code == 0);
  CHECK(v.out == std::string("tracekit-doctor ") + TRACEKIT_VERSION + "\n");
}
