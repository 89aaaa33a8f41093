#!/usr/bin/env bash
# Sets up if needed, builds (warnings as errors), runs every test, exits non-zero on any
# failure:   sudo ./scripts/test.sh
# Then builds the LLVM-free library and unit tests with ASan+UBSan and runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: the tests load BPF programs and create network namespaces: run it as root (sudo)" >&2
  exit 1
fi

CMAKE_ARGS="-DTRACEKIT_WERROR=ON" ./scripts/setup.sh
echo "== tests (build/)"
ctest --test-dir build --output-on-failure --timeout 900

echo "== Debian package (build-deb/): lintian, the unpacked tree, a trace from it"
# package.sh prints only the .deb's path on stdout; the test compares with build/'s tools.
deb=$(./scripts/package.sh)
tests/package/package_test.sh "$deb" build

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
BUILD_DIR=build-asan CMAKE_ARGS="-DTRACEKIT_WERROR=ON -DTRACEKIT_SANITIZE=ON -DTRACEKIT_CORE_ONLY=ON" ./scripts/setup.sh
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure
echo "== all tests passed"
