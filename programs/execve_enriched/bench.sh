#!/usr/bin/env bash
# Benchmark of execve_enriched under an exec storm, per transport and wakeup mode.
#   sudo programs/execve_enriched/bench.sh [BUILD_DIR] [EXECS] [PROCS]
# For each of: no tracer, ring/batch, ring/each, perf/batch, perf/each, it makes EXECS
# fork+execve(/bin/true) calls from PROCS processes as a dedicated uid while the tracer
# runs with -u UID, and prints: execs made, events received, lost, wall time, system
# CPU time of the exec'ing processes per exec (includes the BPF programs and wakeups),
# (noisy: +-5 us between runs),
# tracer CPU during the storm (utime+stime from /proc/PID/stat) per event, mean and max exec-to-read latency.
set -euo pipefail
build=${1:-build}
execs=${2:-20000}
procs=${3:-2}
uid=$((54000 + $$ % 1000))
tool="$build/execve_enriched"
storm="$build/exec_storm"
[ -x "$tool" ] && [ -x "$storm" ] || { echo "bench.sh: build $tool and $storm first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/execve_bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
tick=$(getconf CLK_TCK)

printf "%-12s %7s %8s %6s %7s %12s %14s %13s\n" MODE MADE RECEIVED LOST WALL_S SYS_US/EXEC TRACER_US/EVT AVG/MAX_MS
run_case() {
  local name=$1; shift
  local pid="" ticks0=0
  if [ $# -gt 0 ]; then
    "$tool" -u "$uid" -v "$@" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    for _ in $(seq 600); do grep -q '^Attached' "$tmp/err" && break; sleep 0.1; done
    grep -q '^Attached' "$tmp/err" || { cat "$tmp/err" >&2; return 1; }
    sleep 0.5
    ticks0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  fi
  local res
  res=$("$storm" --uid "$uid" --count "$execs" --procs "$procs" --timeout 300)
  local made wall sys
  made=$(sed -n 's/.*made=\([0-9]*\).*/\1/p' <<<"$res")
  wall=$(sed -n 's/.*wall_s=\([0-9.]*\).*/\1/p' <<<"$res")
  sys=$(sed -n 's/.*sys_s=\([0-9.]*\).*/\1/p' <<<"$res")
  local received=- lost=- cpu=- lat=-
  if [ -n "$pid" ]; then
    sleep 0.5
    local ticks
    ticks=$(awk -v t0="$ticks0" '{print $14 + $15 - t0}' "/proc/$pid/stat")
    kill -INT "$pid"
    wait "$pid" || true
    received=$(grep -c . "$tmp/out" || true)
    received=$((received - 1))  # header line
    lost=$(sed -n 's/.* \([0-9]*\) lost (.*/\1/p' "$tmp/err" | tail -n1)
    lat=$(sed -n 's/.*latency: avg \([0-9.]*\) ms, max \([0-9.]*\) ms.*/\1\/\2/p' "$tmp/err" | tail -n1)
    cpu=$(awk -v t="$ticks" -v hz="$tick" -v n="$received" 'BEGIN{ if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
  fi
  local per_exec
  per_exec=$(awk -v s="$sys" -v n="$made" 'BEGIN{ printf "%.1f", s * 1e6 / n }')
  printf "%-12s %7s %8s %6s %7s %12s %14s %13s\n" "$name" "$made" "$received" "$lost" "$wall" "$per_exec" "$cpu" "$lat"
}

run_case none
run_case ring/batch --buffer ring --wakeup batch
run_case ring/each --buffer ring --wakeup each
run_case perf/batch --buffer perf --wakeup batch
run_case perf/each --buffer perf --wakeup each
