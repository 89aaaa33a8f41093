// Integration tests need root and a kernel with BPF. Without them the suite is skipped
// (exit 77), except under CI (CI=true), where a skip is a failure.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "system_checks.h"

int main(int argc, char** argv) {
  const char* ci = std::getenv("CI");
  bool under_ci = ci && std::strcmp(ci, "true") == 0;
  if (geteuid() != 0 || access("/sys/fs/bpf", F_OK) != 0) {
    std::fprintf(stderr, "integration tests need root and a kernel with BPF\n");
    return under_ci ? 1 : 77;
  }
  tracekit::ensure_tracefs();
  return Catch::Session().run(argc, argv);
}
