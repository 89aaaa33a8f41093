#include <catch2/catch.hpp>

#include "util/diagnostics.h"

using namespace tracekit;

TEST_CASE("compile failures keep the first error with file and line", "[diagnostics]") {
  std::string captured =
      "sha1 socket not available\n"
      "In file included from <built-in>:2:\n"
      "programs/x/x.bpf.c:12:5: error: use of undeclared identifier 'foo'\n"
      "    foo = 1;\n    ^\n"
      "programs/x/x.bpf.c:13:5: error: another\n"
      "2 errors generated.\n";
  CHECK(summarize_compile_failure(captured, "Failed to compile BPF module <text>") ==
        "cannot compile the BPF program: programs/x/x.bpf.c:12:5: error: use of undeclared identifier 'foo'");
}

TEST_CASE("a missing header names the fix", "[diagnostics]") {
  std::string captured = "<built-in>:1:10: fatal error: './include/linux/kconfig.h' file not found\n";
  std::string s = summarize_compile_failure(captured, "x");
  CHECK(s.find("fatal error") != std::string::npos);
  CHECK(s.find("--kernel-headers") != std::string::npos);
}

TEST_CASE("without diagnostics the status is used", "[diagnostics]") {
  CHECK(summarize_compile_failure("", "bad thing\nmore") == "cannot compile the BPF program: bad thing");
}

TEST_CASE("load failures end with the verifier's last line", "[diagnostics]") {
  std::string log = "bpf: Failed to load program: Permission denied\n0: (b7) r0 = 0\ninvalid mem access 'scalar'\n";
  CHECK(summarize_load_failure(log, "Failed to load fn: -1") ==
        "Failed to load fn: -1 (verifier: invalid mem access 'scalar')");
  CHECK(first_line("cannot get prog tag\n\nreal\n") == "real");
}
