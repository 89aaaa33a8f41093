// The main of the root test suites (integration_tests, fault_tests). They need root and
// a kernel with BPF. Without them the suite is skipped (exit 77), except under CI
// (CI=true), where a skip is a failure.
//
//   build/fault_tests "~[slow]"   the fast fault cases (what ctest and scripts/test.sh run)
//   build/fault_tests             everything, soak and map pressure included
//                                 (scripts/faults.sh; SOAK_SECONDS=60 shortens the soak)
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "util/system_checks.h"

int main(int argc, char** argv) {
  const char* ci = std::getenv("CI");
  bool under_ci = ci && std::strcmp(ci, "true") == 0;
  if (geteuid() != 0 || access("/sys/fs/bpf", F_OK) != 0) {
    std::fprintf(stderr, "these tests need root and a kernel with BPF\n");
    return under_ci ? 1 : 77;
  }
  signal(SIGPIPE, SIG_IGN);  // a tool that exits early must not kill the suite
  tracekit::ensure_tracefs();
  // Every tool the suites start, and every in-process load, uses one private compile
  // cache (docs/DESIGN.md, "Compile cache"), removed at the end: nothing lands in
  // /var/cache/tracekit. Tests of the cache itself pass their own --cache-dir.
  char cache[] = "/tmp/tracekit-test-cache-XXXXXX";
  if (!mkdtemp(cache)) {
    std::perror("mkdtemp");
    return 1;
  }
  setenv("TRACEKIT_CACHE_DIR", cache, 1);
  int rc = Catch::Session().run(argc, argv);
  std::error_code ec;
  std::filesystem::remove_all(cache, ec);
  return rc;
}
