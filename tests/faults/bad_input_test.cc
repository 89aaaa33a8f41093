// Bad input: each case is a real run of a real binary that must end with ONE line
// "<tool>: error: ..." on stderr, nothing on stdout, and the documented exit code
// (2 for usage errors, 1 for runtime failures), within a bounded time.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "faults.h"
#include "harness.h"
#include "netns.h"

namespace {

const std::vector<std::string> kTools = {"execve_dumb", "execve_enriched", "tcp_tracker", "tcp_duration"};

bool is_tc_tool(const std::string& tool) { return tool == "tcp_tracker" || tool == "tcp_duration"; }

// One veth pair into a throwaway netns for the whole file: the TC tools need an
// interface (every failure tested here happens before anything is attached; a veth
// rather than lo, where tcp_duration logs an extra info line about loopback).
const std::string& test_iface() {
  static testnet::TestNet net("bi");
  return net.host_if();
}

// Arguments that make `tool` valid up to the point under test: an interface for the
// TC tools, and for tcp_duration an output file that does not clobber anything.
std::vector<std::string> base_args(const std::string& tool, const faults::TempDir& dir) {
  std::vector<std::string> a = {harness::tool_path(tool)};
  if (is_tc_tool(tool)) a.push_back(test_iface());
  if (tool == "tcp_duration") {
    a.insert(a.end(), {"-o", dir.file("s.dat"), "--no-plot"});
  }
  return a;
}

struct Expect {
  int exit_code;
  std::string contains;  // in the error line
};

// Runs argv and checks the one-line failure.
harness::RunResult expect_one_line_failure(const std::string& tool, const std::vector<std::string>& argv,
                                           const Expect& e, double timeout_s = 60) {
  auto r = harness::run(argv, timeout_s);
  std::string cmd;
  for (const auto& a : argv) cmd += a + " ";
  INFO("command: " << cmd);
  INFO("stderr: " << r.err);
  INFO("stdout: " << r.out);
  CHECK(r.exit_code == e.exit_code);
  auto errs = harness::lines(r.err);
  CHECK(errs.size() == 1);
  CHECK(r.err.rfind(tool + ": error: ", 0) == 0);
  CHECK(r.err.find(e.contains) != std::string::npos);
  CHECK(r.out.empty());
  // No bcc/libbpf/LLVM chatter anywhere.
  for (const char* noise : {"sha1", "prog tag", "libbpf", "bpf: ", "warning:", "In file included"})
    CHECK(r.err.find(noise) == std::string::npos);
  return r;
}

}  // namespace

TEST_CASE("bad input: unknown flag -> exit 2, one line", "[bad_input]") {
  faults::TempDir dir("flag");
  for (const auto& tool : kTools) {
    SECTION(tool) {
      auto a = base_args(tool, dir);
      a.push_back("--no-such-flag");
      expect_one_line_failure(tool, a, {2, "no-such-flag"});
    }
  }
}

TEST_CASE("bad input: bad numbers -> exit 2, one line naming the flag", "[bad_input]") {
  faults::TempDir dir("num");
  struct Case {
    std::string tool;
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {"execve_dumb", {"-i", "abc"}, "interval"},
      {"execve_dumb", {"-c", "-3"}, "count"},
      {"execve_dumb", {"-d", "1e999"}, "duration"},
      {"execve_enriched", {"-p", "abc"}, "pid"},
      {"execve_enriched", {"-d", "-1"}, "duration"},
      {"tcp_tracker", {"-i", "0"}, "interval"},
      {"tcp_tracker", {"--max-flows", "0"}, "max-flows"},
      {"tcp_tracker", {"--max-flows", "12x"}, "max-flows"},
      {"tcp_tracker", {"--top", "99999999999999999999999"}, "top"},
      {"tcp_duration", {"--max-connections", "abc"}, "max-connections"},
      {"tcp_duration", {"--bins", "0"}, "bins"},
  };
  for (const auto& c : cases) {
    auto a = base_args(c.tool, dir);
    a.insert(a.end(), c.args.begin(), c.args.end());
    expect_one_line_failure(c.tool, a, {2, c.flag});
  }
}

TEST_CASE("bad input: unknown interface and too long a name -> exit 2", "[bad_input]") {
  faults::TempDir dir("ifn");
  const std::string missing = "nosuch" + std::to_string(::getpid() % 100000);
  const std::string too_long = "abcdefghijklmnopq";  // 17 characters; IFNAMSIZ is 16 with the NUL
  for (const std::string tool : {"tcp_tracker", "tcp_duration"}) {
    SECTION(tool) {
      auto a = base_args(tool, dir);
      a[1] = missing;
      expect_one_line_failure(tool, a, {2, "no such interface: " + missing});
      a[1] = too_long;
      expect_one_line_failure(tool, a, {2, "interface name too long: " + too_long});
      a[1] = "abcdefghijklmnop";  // 16: still too long
      expect_one_line_failure(tool, a, {2, "too long"});
    }
  }
}

TEST_CASE("bad input: --kernel-headers pointing at junk -> one line naming the path", "[bad_input]") {
  faults::TempDir dir("hdr");
  // A directory that looks vaguely like a tree but is not one, a file, and nothing.
  const std::string junk_dir = dir.file("junk");
  REQUIRE(::mkdir(junk_dir.c_str(), 0755) == 0);
  REQUIRE(::mkdir((junk_dir + "/include").c_str(), 0755) == 0);
  std::ofstream(junk_dir + "/include/kconfig.h") << "this is not a header\n";
  const std::string junk_file = dir.file("junk.txt");
  std::ofstream(junk_file) << "\x7f"
                           << "ELF junk\n";
  const std::string missing = dir.file("does-not-exist");
  for (const auto& tool : kTools) {
    SECTION(tool) {
      for (const auto& path : {junk_dir, junk_file, missing}) {
        auto a = base_args(tool, dir);
        a.insert(a.end(), {"--kernel-headers", path});
        expect_one_line_failure(tool, a, {2, path});
      }
    }
  }
}

TEST_CASE("bad input: non-root (uid 65534) -> exit 1, one line naming the capability it needs", "[bad_input]") {
  // A directory nobody may write to, as the working directory: tcp_duration's default
  // output (statistics.dat) must not be what fails first.
  faults::TempDir dir("nonroot");
  REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
  for (const auto& tool : kTools) {
    SECTION(tool) {
      std::vector<std::string> a = {
          "/usr/bin/env", "-C",      dir.path(), "/usr/bin/setpriv", "--reuid",
          "65534",        "--regid", "65534",    "--clear-groups",   harness::tool_path(tool)};
      if (is_tc_tool(tool)) a.push_back(test_iface());
      a.insert(a.end(), {"-d", "1"});
      expect_one_line_failure(tool, a, {1, "needs CAP_BPF to load BPF programs"});
    }
  }
  SECTION("tcp_duration with an explicit --output nobody may write either: still \"needs CAP_BPF\"") {
    std::vector<std::string> a = {"/usr/bin/setpriv",
                                  "--reuid",
                                  "65534",
                                  "--regid",
                                  "65534",
                                  "--clear-groups",
                                  harness::tool_path("tcp_duration"),
                                  test_iface(),
                                  "-o",
                                  dir.file("s.dat"),
                                  "-d",
                                  "1"};
    expect_one_line_failure("tcp_duration", a, {1, "needs CAP_BPF to load BPF programs"});
  }
}

TEST_CASE("bad input: tcp_duration --output not writable -> exit 1, one line", "[bad_input]") {
  faults::TempDir dir("out");
  for (const auto& path : {dir.file("missing-dir/s.dat"), dir.path()}) {
    std::vector<std::string> a = {harness::tool_path("tcp_duration"), test_iface(), "-o", path, "--no-plot", "-d", "1"};
    expect_one_line_failure("tcp_duration", a, {1, path});
  }
  // A read-only file system (private mount namespace, nothing changes outside).
  const std::string ro = dir.file("ro");
  REQUIRE(::mkdir(ro.c_str(), 0755) == 0);
  std::vector<std::string> a = {"/usr/bin/unshare",
                                "-m",
                                "--propagation",
                                "private",
                                "sh",
                                "-c",
                                "mount -t tmpfs -o ro tmpfs " + ro + " && exec " + harness::tool_path("tcp_duration") +
                                    " " + test_iface() + " -o " + ro + "/s.dat --no-plot -d 1"};
  expect_one_line_failure("tcp_duration", a, {1, "Read-only file system"});
}

TEST_CASE("bad input: a start that fails does not clobber an existing --output file", "[bad_input]") {
  faults::TempDir dir("keep");
  const std::string out = dir.file("s.dat");
  const std::string before = "previous run's line\n";
  std::ofstream(out) << before;
  expect_one_line_failure("tcp_duration",
                          {harness::tool_path("tcp_duration"), test_iface(), "-o", out, "--no-plot", "--kernel-headers",
                           dir.file("nothing-here")},
                          {2, "nothing-here"});
  CHECK(faults::read_file(out) == before);
  // Nor does it leave behind a file that was not there.
  const std::string fresh = dir.file("fresh.dat");
  expect_one_line_failure("tcp_duration",
                          {harness::tool_path("tcp_duration"), test_iface(), "-o", fresh, "--no-plot",
                           "--kernel-headers", dir.file("nothing-here")},
                          {2, "nothing-here"});
  CHECK_FALSE(std::filesystem::exists(fresh));
}

// "Missing tracefs": the tools mount tracefs themselves when /sys/kernel/tracing is
// empty. Each run happens in a private mount namespace, so the host's tracefs is never
// touched (checked at the end).
TEST_CASE("missing tracefs: unmounted -> the tool mounts it and works", "[bad_input][tracefs]") {
  for (const std::string tool : {"execve_dumb", "execve_enriched"}) {
    SECTION(tool) {
      std::string cmd = "umount /sys/kernel/tracing && ! test -e /sys/kernel/tracing/events && exec " +
                        harness::tool_path(tool) + " -d 2";
      auto r = harness::run({"/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c", cmd}, 90);
      INFO("stderr: " << r.err);
      CHECK(r.exit_code == 0);
      CHECK(r.err.find("Attached") != std::string::npos);
      CHECK(r.err.find("error") == std::string::npos);
      if (tool == "execve_dumb") CHECK(r.out.find("Final at: ") != std::string::npos);
      CHECK(::access("/sys/kernel/tracing/events", F_OK) == 0);  // the host's mount is still there
    }
  }
}

// Mounting impossible, made reliable two ways (both in a private mount namespace):
//  - without CAP_SYS_ADMIN (dropped from the bounding set) but with CAP_BPF and
//    CAP_PERFMON: the privilege check passes and mount(2) fails with EPERM;
//  - with /sys/kernel hidden under a read-only tmpfs: the mount point itself is gone
//    (ENOENT).
// (A read-only tmpfs over /sys/kernel/tracing itself is not enough: mounting on a
// directory of a read-only file system is allowed, so the tool would succeed.)
TEST_CASE("missing tracefs: mounting impossible -> one line, exit 1", "[bad_input][tracefs]") {
  for (const std::string tool : {"execve_dumb", "execve_enriched"}) {
    SECTION(tool + " without CAP_SYS_ADMIN") {
      std::string cmd =
          "umount /sys/kernel/tracing && exec setpriv --bounding-set -sys_admin " + harness::tool_path(tool) + " -d 2";
      auto r = expect_one_line_failure(tool, {"/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c", cmd},
                                       {1, "tracefs"});
      CHECK(r.err.find("Operation not permitted") != std::string::npos);
      CHECK(r.err.find("mount -t tracefs tracefs /sys/kernel/tracing") != std::string::npos);
    }
    SECTION(tool + " with no mount point") {
      std::string cmd = "umount /sys/kernel/tracing && mount -t tmpfs -o ro tmpfs /sys/kernel && exec " +
                        harness::tool_path(tool) + " -d 2";
      auto r = expect_one_line_failure(tool, {"/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c", cmd},
                                       {1, "tracefs"});
      CHECK(r.err.find("No such file or directory") != std::string::npos);
    }
  }
  CHECK(::access("/sys/kernel/tracing/events", F_OK) == 0);
}
