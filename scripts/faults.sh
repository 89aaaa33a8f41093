#!/usr/bin/env bash
# Runs the whole fault suite (tests/faults): bad input, signals under load, SIGKILL
# recovery, interface removal, malformed-packet fuzz, map pressure (200,000 flows via
# BPF_PROG_TEST_RUN, 5,000 real connections) and a soak of all four tools.
#   sudo ./scripts/faults.sh                    # everything (soak: 5 minutes)
#   sudo SOAK_SECONDS=60 ./scripts/faults.sh    # a 1-minute soak
#   sudo ./scripts/faults.sh "[pressure]"       # only some cases (a Catch2 test spec)
# The fast cases also run from scripts/test.sh (ctest, label "faults").
# Numbers (RSS growth, flows, evictions) are the "[faults] ..." lines of the output;
# the log and the soak's per-second RSS samples are kept in build/faults/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "faults.sh: the fault suite loads BPF programs and creates network namespaces: run it as root (sudo)" >&2
  exit 1
fi

CMAKE_ARGS="-DTRACEKIT_WERROR=ON" ./scripts/setup.sh
out=build/faults
mkdir -p "$out"
export FAULTS_OUT_DIR=$PWD/$out
export SOAK_SECONDS=${SOAK_SECONDS:-300}
echo "== fault suite (soak: ${SOAK_SECONDS} s); log: $out/faults.log"
set +e
build/fault_tests "$@" 2>&1 | tee "$out/faults.log"
rc=${PIPESTATUS[0]}
set -e
echo "== numbers"
grep '^\[faults\]' "$out/faults.log" || true
if [ "$rc" -ne 0 ]; then
  echo "== fault suite FAILED (exit $rc)" >&2
  exit "$rc"
fi
echo "== fault suite passed"
