#!/usr/bin/env bash
# Benchmarks tracekit's four tools side by side with Python-bcc versions of the
# original experiments (bench/baseline/), and the classifiers against an empty one.
#
#   sudo bench/run.sh            # everything (about 10 minutes), then docs/PERFORMANCE.md
#   sudo bench/run.sh --quick    # fewer and shorter runs; writes only build-bench/results/
#   sudo bench/run.sh --only startup,storm,testrun,flowread,scrape,iperf   # some sections; writes
#                                # only build-bench/results/ (bench/report.py merges runs)
#   sudo bench/run.sh --before REV   # also run REV's execve_enriched in the exec storm
#
# Builds the main project into build-bench/tracekit and the helpers (bench/CMakeLists.txt)
# into build-bench/helpers, installs what only the bench needs (python3-bpfcc,
# python3-pyroute2, iperf3, curl, bpftrace) with apt-get, and keeps raw output in
# build-bench/results/<time>/. Every process is bounded by a timeout; the network
# namespaces, kernel.bpf_stats_enabled and any tracer still running are cleaned up on
# exit, whatever happens. --before REV (a commit, e.g. the last one before a change)
# builds that revision's execve_enriched from `git archive REV` into
# build-bench/before-<commit>/ and adds it to the exec storm (text and JSON, ring and
# perf), so that a change is judged against the old binary on the same machine in the
# same run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench=$root/bench

quick=0
write_doc=1
only="startup,storm,testrun,flowread,scrape,iperf"
before_rev=${BENCH_BEFORE:-}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; write_doc=0 ;;
    --no-doc) write_doc=0 ;;
    --only) only=$2; write_doc=0; shift ;;
    --before) before_rev=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
want() { [[ ",$only," == *",$1,"* ]]; }

if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: loads BPF programs and creates network namespaces: run it as root" >&2
  exit 1
fi

if [ $quick -eq 1 ]; then
  STARTUP_RUNS=2 EXECS=4000 STORM_REPS=1 TESTRUN_RUNS=2 FLOW_RUNS=2 IPERF_SECS=2 IPERF_REPS=1
else
  STARTUP_RUNS=${STARTUP_RUNS:-5} EXECS=${EXECS:-20000} STORM_REPS=${STORM_REPS:-3}
  TESTRUN_RUNS=${TESTRUN_RUNS:-5} FLOW_RUNS=${FLOW_RUNS:-5} IPERF_SECS=${IPERF_SECS:-5} IPERF_REPS=${IPERF_REPS:-3}
fi
TESTRUN_REPEAT=1000000
FLOWS=100000
PY=/usr/bin/python3

log() { echo "bench: $*" >&2; }

# ---- dependencies ---------------------------------------------------------------------
"$root/scripts/setup.sh" --deps-only
missing=()
for p in python3-bpfcc python3-pyroute2 iperf3 curl bpftrace; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >/tmp/tracekit-bench-apt.log 2>&1 || { tail -n 20 /tmp/tracekit-bench-apt.log; exit 1; }
fi

# ---- build ----------------------------------------------------------------------------
stamp=$(date +%Y%m%d-%H%M%S)
res=$root/build-bench/results/$stamp
mkdir -p "$res"
R=$res/results.txt
: >"$R"
put() { echo "$*" >>"$R"; }  # key value...

tk=$root/build-bench/tracekit
hb=$root/build-bench/helpers
log "building tracekit into $tk (RelWithDebInfo, as scripts/setup.sh builds it)"
cmake -S "$root" -B "$tk" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$res/build.log" 2>&1
cmake --build "$tk" -j "$(nproc)" --target tracekit_bpf >>"$res/build.log" 2>&1
tools=()
for dir in "$root"/programs/*/; do
  [ -f "$dir/CMakeLists.txt" ] || continue  # programs/include: the BPF headers, no tool
  t=$(basename "$dir")
  if cmake --build "$tk" -j "$(nproc)" --target "$t" >>"$res/build.log" 2>&1; then
    tools+=("$t")
  else
    log "tool $t does not build; its rows are left out (see $res/build.log)"
    put "missing $t does-not-build"
  fi
done
have() { [[ " ${tools[*]} " == *" $1 "* ]]; }
for t in execve_dumb execve_enriched tcp_tracker tcp_duration; do
  [ -d "$root/programs/$t" ] || put "missing $t not-in-repo"
done
cmake --build "$tk" -j "$(nproc)" --target tracekit-compile >>"$res/build.log" 2>&1
# The tools find tracekit-compile next to themselves; bench_bpf (in $hb) is told. Every
# run of the bench uses its own compile cache, never /var/cache/tracekit.
export TRACEKIT_COMPILER=$tk/tracekit-compile
export TRACEKIT_CACHE_DIR=$res/cache
cmake -S "$bench" -B "$hb" -DTRACEKIT_BUILD_DIR="$tk" >>"$res/build.log" 2>&1
cmake --build "$hb" -j "$(nproc)" >>"$res/build.log" 2>&1
log "tools built: ${tools[*]:-none}"

# The older execve_enriched of --before, built from its own tree (its source as
# committed: never the work tree).
before_commit=""
before_tk=""
if [ -n "$before_rev" ]; then
  if before_commit=$(git -C "$root" rev-parse --short "$before_rev^{commit}" 2>/dev/null); then
    bd=$root/build-bench/before-$before_commit
    log "building execve_enriched of $before_commit (--before $before_rev) into $bd"
    if [ ! -f "$bd/src/CMakeLists.txt" ]; then
      rm -rf "$bd/src"
      mkdir -p "$bd/src"
      git -C "$root" archive "$before_commit" | tar -x -C "$bd/src"
    fi
    if { cmake -S "$bd/src" -B "$bd/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
         cmake --build "$bd/build" -j "$(nproc)" --target execve_enriched; } >"$res/build-before.log" 2>&1; then
      before_tk=$bd/build
    else
      log "execve_enriched of $before_commit does not build; no before rows (see $res/build-before.log)"
      put "missing before-$before_commit does-not-build"
      before_commit=""
    fi
  else
    log "--before $before_rev: no such commit"
    exit 2
  fi
fi

# Python bcc compiles against the same header tree as our tools.
BCC_KERNEL_SOURCE=$("$hb/bench_bpf" headers 2>/dev/null)
export BCC_KERNEL_SOURCE

# ---- machine --------------------------------------------------------------------------
{
  echo "kernel $(uname -r)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "cores $(nproc)"
  echo "memory_gib $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
  echo "os $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "bcc $(dpkg-query -W -f='${Version}' libbpfcc 2>/dev/null)"
  echo "libbpf $(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null)"
  echo "python $($PY -c 'import platform; print(platform.python_version())')"
  echo "loadavg_start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "date $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null)"
  # The work tree's state: measured as built, uncommitted changes included (those of
  # bench/ and docs/ do not change the tools).
  echo "dirty $(git -C "$root" status --porcelain --untracked-files=no -- . ':!bench' ':!docs' 2>/dev/null | wc -l)"
  [ -n "$before_commit" ] && echo "before_commit $before_commit"
  echo "quick $quick"
} >"$res/machine.txt"

# ---- cleanup --------------------------------------------------------------------------
ns_a=tkbench$$a
ns_b=tkbench$$b
veth_a=tkb$$a
veth_b=tkb$$b
addr_a=198.18.0.1  # RFC 2544 benchmarking range, only inside our own namespaces
addr_b=198.18.0.2
stats_old=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
cleanup() {
  local rc=$?
  # Any tracer or iperf3 still running in our namespaces.
  for ns in "$ns_a" "$ns_b"; do
    if [ -e "/run/netns/$ns" ]; then
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    fi
  done
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$stats_old" >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make_netns() {
  ip netns add "$ns_a"
  ip netns add "$ns_b"
  ip link add "$veth_a" netns "$ns_a" type veth peer name "$veth_b" netns "$ns_b"
  ip -n "$ns_a" addr add "$addr_a/30" dev "$veth_a"
  ip -n "$ns_b" addr add "$addr_b/30" dev "$veth_b"
  ip -n "$ns_a" link set lo up
  ip -n "$ns_b" link set lo up
  ip -n "$ns_a" link set "$veth_a" up
  ip -n "$ns_b" link set "$veth_b" up
}
make_netns

# ---- quiet machine --------------------------------------------------------------------
# The numbers mean little while something else keeps the two cores busy (a build, other
# tests): before each section (each repetition of the exec storm), wait (bounded,
# QUIET_WAIT seconds) until the CPUs were at most QUIET_BUSY % busy over two seconds,
# twice in a row, and record what was found.
QUIET_WAIT=${QUIET_WAIT:-300}
QUIET_BUSY=${QUIET_BUSY:-15}
[ $quick -eq 1 ] && QUIET_WAIT=0
busy_pct() {  # CPU busy % over 2 s, from /proc/stat
  local a b
  a=($(head -n1 /proc/stat)); sleep 2; b=($(head -n1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}
wait_quiet() {  # wait_quiet SECTION: quiet = two samples in a row (4 s) at most QUIET_BUSY %
  local start=$SECONDS busy prev
  prev=$(busy_pct)
  busy=$(busy_pct)
  while { [ "$busy" -gt "$QUIET_BUSY" ] || [ "$prev" -gt "$QUIET_BUSY" ]; } && [ $((SECONDS - start)) -lt "$QUIET_WAIT" ]; do
    [ $((SECONDS - start)) -lt 6 ] && log "machine $busy% busy: waiting up to ${QUIET_WAIT}s for it to calm down"
    prev=$busy
    busy=$(busy_pct)
  done
  echo "busy_before_$1 ${busy}%" >>"$res/machine.txt"
  [ $((SECONDS - start)) -lt 6 ] || log "waited $((SECONDS - start))s for a quiet machine (now $busy% busy)"
  [ "$busy" -le "$QUIET_BUSY" ] || log "machine still $busy% busy before $1: measuring anyway"
}

# ---- the tracers ----------------------------------------------------------------------
# ours_cmd TOOL / theirs_cmd TOOL: the command line of each tracer as bench_trace runs
# it. TC tools run inside $ns_a on $veth_a (ingress+egress).
ours_cmd() {
  case $1 in
    execve_dumb) echo "$tk/execve_dumb" ;;
    execve_enriched) echo "$tk/execve_enriched" ;;
    tcp_tracker) echo "ip netns exec $ns_a $tk/tcp_tracker $veth_a" ;;
    tcp_duration) echo "ip netns exec $ns_a $tk/tcp_duration $veth_a" ;;
  esac
}
theirs_cmd() {
  case $1 in
    execve_*) echo "$PY $bench/baseline/$1.py" ;;
    tcp_*) echo "ip netns exec $ns_a $PY $bench/baseline/$1.py $veth_a" ;;
  esac
}
# cold: ours compiling every time (--no-cache), as before the compile cache.
cold_cmd() { echo "$(ours_cmd "$1") --no-cache"; }
# bpftrace (Debian's 0.17) doing the same job, for the exec tools (bench/bpftrace/*.bt).
bpftrace_cmd() {
  case $1 in
    execve_*) echo "bpftrace $bench/bpftrace/$1.bt" ;;
  esac
}

# trace KEY [bench_trace options] -- CMD...: runs bench_trace, keeps its key=value
# output in $res/KEY.kv, the tracer's stdout/stderr in $res/KEY.out / KEY.err.
trace() {
  local key=$1
  shift
  # A tracer that had to be SIGKILLed may have left a clsact qdisc behind on the veth.
  ip -n "$ns_a" qdisc del dev "$veth_a" clsact 2>/dev/null || true
  timeout -k 10 600 "$hb/bench_trace" --out "$res/$key.out" --err "$res/$key.err" "$@" >"$res/$key.kv" || {
    log "$key: tracer failed (see $res/$key.err)"
    return 1
  }
}
kv() { sed -n "s/^$2=//p" "$res/$1.kv" | tail -n1; }  # kv KEY FIELD

# ---- 1+2. start-up and memory ---------------------------------------------------------
if want startup; then
  wait_quiet startup
  for t in execve_dumb execve_enriched tcp_tracker tcp_duration; do
    # ours: a warm start (the cache entry made by one unmeasured run); cold: --no-cache.
    if have "$t"; then
      # shellcheck disable=SC2086
      trace "startup-prime-$t" --settle 0 -- $(ours_cmd "$t") || true
    fi
    for side in ours cold theirs bpftrace; do
      if [ $side != theirs ] && [ $side != bpftrace ] && ! have "$t"; then continue; fi
      cmd=$(${side}_cmd "$t")
      [ -n "$cmd" ] || continue
      ready=()
      [ $side = bpftrace ] && ready=(--ready-stdout)
      log "start-up: $side $t x$STARTUP_RUNS"
      for i in $(seq "$STARTUP_RUNS"); do
        key=startup-$side-$t-$i
        # shellcheck disable=SC2086
        trace "$key" "${ready[@]}" --settle 1 -- $cmd || continue
        put "startup/$t/$side $(kv "$key" startup_s)"
        for f in vmhwm_kib rss_anon_kib rss_file_kib; do put "mem/$t/$side/$f $(kv "$key" $f)"; done
      done
    done
    # The compile alone (bcc's two clang passes over the text, same loader for both
    # texts): the part of the start-up that the BPF text decides.
    cflags=()
    case $t in execve_enriched|tcp_duration) cflags=(-DUSE_RINGBUF) ;; esac
    if have "$t"; then
      timeout 120 "$hb/bench_bpf" compile --tool "$t" "${cflags[@]}" --runs 3 >"$res/compile-ours-$t.kv" 2>/dev/null &&
        put "compile/$t/ours $(sed -n 's/^compile_s=//p' "$res/compile-ours-$t.kv")"
    fi
    timeout 120 "$hb/bench_bpf" compile --text "$bench/baseline/$t.bpf.c" --runs 3 >"$res/compile-theirs-$t.kv" 2>/dev/null &&
      put "compile/$t/theirs $(sed -n 's/^compile_s=//p' "$res/compile-theirs-$t.kv")"
  done
fi

# ---- 3. execve under load -------------------------------------------------------------
# Lost events, from each tracer's own count: ours ends every run with a summary on
# stdout (text: "Traced 12.3 s: N execve calls, M lost, ..."; JSON: a line of
# "type":"summary" with "lost":M), the baseline prints "Lost M events" on stderr.
lost_of() {  # lost_of KEY
  {
    grep -E '^Traced [0-9.]+ s: ' "$res/$1.out" | grep -oE ', [0-9]+ lost,' || true
    grep -E '^\{"tool":"[a-z_]+","type":"summary",' "$res/$1.out" | grep -oE '"lost":[0-9]+' || true
    grep -oE 'Lost [0-9]+ events' "$res/$1.err" || true
    # --before binaries older than the output layer: "Traced N execve calls ..., M lost
    # (ring buffer)" on stderr.
    grep -E '^Traced [0-9]+ execve calls' "$res/$1.err" | grep -oE '[0-9]+ lost \(' || true
  } | grep -oE '[0-9]+' | tail -n1 || true
}
storm_traced() {  # storm_traced CONFIG REP CMD...
  local config=$1 rep=$2
  shift 2
  local key=storm-$config-$rep
  local ready=()
  [ "$config" = bpftrace ] && ready=(--ready-stdout)  # its BEGIN line is on stdout
  trace "$key" "${ready[@]}" --settle 1 --drain 30 --run "$hb/bench_storm -n $EXECS -j 2" -- "$@" || return 0
  # The storm's events: the caller's comm is bench_storm (and ours names the file);
  # all events: every event line (the tracer also saw the rest of the machine's execs).
  # Ours in text mode: the lines that start with a PID (not the column header nor the
  # closing "Traced ..." summary); in JSON mode: the lines of "type":"event" (not the
  # notices nor the summary); a --before binary older than the output layer wrote one
  # object per event starting with "timestamp" and nothing else in JSON mode.
  local storm_events all_events
  local json_event='^\{("tool":"execve_enriched","type":"event",|"timestamp":)'
  case $config in
    ours_json*|before_json*)
      # (the cgroup fields sit between comm and filename since the owner work)
      storm_events=$(grep -E "$json_event" "$res/$key.out" | grep -F '"comm":"bench_storm",' |
                       grep -F '"filename":"/bin/true",' | grep -cF ',"ret":0,' || true)
      all_events=$(grep -cE "$json_event" "$res/$key.out" || true) ;;
    ours*|before*)
      storm_events=$(grep -cE '^[0-9]+ .* bench_storm +0 +/bin/true( |$)' "$res/$key.out" || true)
      all_events=$(grep -cE '^[0-9]+ ' "$res/$key.out" || true) ;;
    bpftrace)  # "PID PPID UID COMM FILENAME ARGS..." (bench/bpftrace/execve_enriched.bt)
      storm_events=$(grep -cE '^[0-9]+ [0-9]+ [0-9]+ bench_storm /bin/true( |$)' "$res/$key.out" || true)
      all_events=$(grep -cE '^[0-9]+ [0-9]+ [0-9]+ ' "$res/$key.out" || true) ;;
    *)
      storm_events=$(grep -c 'Command =  bench_storm,' "$res/$key.out" || true)
      all_events=$(grep -c '^PID = ' "$res/$key.out" || true) ;;
  esac
  # execve calls seen by the BPF side: run_cnt of the sys_enter/exit_execve program
  # (bcc names both "syscalls__sys_e..."; they run equally often).
  local bpf_execs
  # (bcc names both "syscalls__sys_e..."; they run equally often; bpftrace names its one
  # program after the tracepoint, "sys_enter_execve" cut to 15 characters.)
  bpf_execs=$(sed -n 's/^bpf_prog=[0-9]*:\(syscalls__sys_e\|sys_enter_execv\|tracepoint_sysc\)[^:]*:[0-9]*:\([0-9]*\)$/\2/p' \
                "$res/$key.kv" | sort -n | tail -n1)
  put "storm/$config/rate $(kv "$key" rate)"
  put "storm/$config/execs $(kv "$key" execs)"
  put "storm/$config/events ${storm_events:-0}"
  put "storm/$config/all_events ${all_events:-0}"
  put "storm/$config/other_events $(( ${all_events:-0} - ${storm_events:-0} ))"
  put "storm/$config/lost $(lost_of "$key")"
  put "storm/$config/cpu_ns $(kv "$key" cpu_ns)"
  put "storm/$config/cpu_ticks $(kv "$key" cpu_ticks)"
  put "storm/$config/bpf_run_ns $(kv "$key" bpf_run_ns)"
  put "storm/$config/bpf_run_cnt $(kv "$key" bpf_run_cnt)"
  put "storm/$config/bpf_execs ${bpf_execs:-0}"
}
if want storm; then
  sysctl -qw kernel.bpf_stats_enabled=1
  for rep in $(seq "$STORM_REPS"); do
    # Each repetition waits for a quiet machine: another exec storm or a build during
    # one would be counted as the tracer's cost (the "others" in events received).
    wait_quiet "storm$rep"
    log "exec storm $rep/$STORM_REPS: $EXECS execs, no tracer / ours (text, JSON; ring, perf)${before_commit:+ / before ($before_commit)} / theirs"
    timeout 600 "$hb/bench_storm" -n "$EXECS" -j 2 >"$res/storm-none-$rep.kv" || true
    put "storm/none/rate $(sed -n 's/^rate=//p' "$res/storm-none-$rep.kv")"
    if have execve_enriched; then
      # Text and JSON of one transport back to back, so that they see the same machine.
      # shellcheck disable=SC2046
      storm_traced ours "$rep" $(ours_cmd execve_enriched)
      # shellcheck disable=SC2046
      storm_traced ours_json "$rep" $(ours_cmd execve_enriched) --json
      # shellcheck disable=SC2046
      storm_traced ours_perf "$rep" $(ours_cmd execve_enriched) --buffer perf
      # shellcheck disable=SC2046
      storm_traced ours_json_perf "$rep" $(ours_cmd execve_enriched) --json --buffer perf
    fi
    if [ -n "$before_tk" ]; then
      storm_traced before "$rep" "$before_tk/execve_enriched"
      storm_traced before_json "$rep" "$before_tk/execve_enriched" --json
      storm_traced before_perf "$rep" "$before_tk/execve_enriched" --buffer perf
      storm_traced before_json_perf "$rep" "$before_tk/execve_enriched" --json --buffer perf
    fi
    # shellcheck disable=SC2046
    storm_traced theirs "$rep" $(theirs_cmd execve_enriched)
    if command -v bpftrace >/dev/null; then
      # shellcheck disable=SC2046
      storm_traced bpftrace "$rep" $(bpftrace_cmd execve_enriched)
    fi
  done
  sysctl -qw kernel.bpf_stats_enabled="$stats_old"
fi

# ---- 4. per-packet cost (BPF_PROG_TEST_RUN) ----------------------------------------------
testrun() {  # testrun NAME FRAME bench_bpf-args...
  local name=$1 frame=$2
  shift 2
  log "test run: $name ($frame)"
  if timeout 300 "$hb/bench_bpf" testrun "$@" --frame "$frame" --repeat $TESTRUN_REPEAT --runs "$TESTRUN_RUNS" \
       >"$res/testrun-$name-$frame.kv" 2>"$res/testrun-$name-$frame.err"; then
    put "testrun/$name/$frame $(sed -n 's/^ns_per_packet=//p' "$res/testrun-$name-$frame.kv")"
  else
    log "test run $name failed (see $res/testrun-$name-$frame.err)"
  fi
}
if want testrun; then
  wait_quiet testrun
  for frame in tcp4 tcp6; do
    testrun floor "$frame" --text "$bench/bpf/empty_classifier.bpf.c" --fn empty_classifier
    testrun theirs_tcp_tracker "$frame" --text "$bench/baseline/tcp_tracker.bpf.c" --fn trace_tcp_connections
    testrun theirs_tcp_duration "$frame" --text "$bench/baseline/tcp_duration.bpf.c" --fn trace_tcp_duration
    have tcp_tracker && testrun ours_tcp_tracker "$frame" --tool tcp_tracker --fn trace_tcp_tracker_ingress
    have tcp_duration && testrun ours_tcp_duration "$frame" --tool tcp_duration --fn tcp_duration_ingress -DUSE_RINGBUF
  done
fi

# ---- 5. flow table read ---------------------------------------------------------------
if want flowread; then
  wait_quiet flowread
  log "flow-table read: $FLOWS flows"
  if have tcp_tracker; then
    timeout 300 "$hb/bench_bpf" flowread --flows $FLOWS --runs "$FLOW_RUNS" >"$res/flowread-ours.kv" 2>"$res/flowread-ours.err" || true
    put "flowread/ours $(sed -n 's/^read_ms=//p' "$res/flowread-ours.kv")"
    put "flowread/ours_flows $(sed -n 's/^flows_read=//p' "$res/flowread-ours.kv")"
    put "flowread/ours_iter $(sed -n 's/^iter_read_ms=//p' "$res/flowread-ours.kv")"
  fi
  timeout 300 $PY "$bench/baseline/flow_read.py" --flows $FLOWS --runs "$FLOW_RUNS" >"$res/flowread-theirs.kv" 2>"$res/flowread-theirs.err" || true
  put "flowread/theirs $(sed -n 's/^items_ms=//p' "$res/flowread-theirs.kv")"
  put "flowread/theirs_flows $(sed -n 's/^items_flows=//p' "$res/flowread-theirs.kv")"
  put "flowread/theirs_batch $(sed -n 's/^batch_ms=//p' "$res/flowread-theirs.kv")"
fi

# ---- 5b. a metrics scrape of tcp_tracker holding $FLOWS flows ----------------------------
# tcp_tracker runs on $veth_a with --metrics; bench_bpf fillflows puts $FLOWS flows into
# its live flow map; then GET /metrics is timed with curl inside $ns_a: the first scrape
# (every flow is new: the cap admits the busiest) and the next SCRAPE_RUNS.
if want scrape && have tcp_tracker; then
  wait_quiet scrape
  log "metrics scrape: $FLOWS flows"
  mport=19753
  ip netns exec "$ns_a" timeout 600 "$tk/tcp_tracker" "$veth_a" -q -i 3600 --max-flows 262144 \
    --metrics "127.0.0.1:$mport" >/dev/null 2>"$res/scrape-tool.err" &
  scrape_pid=$!
  for _ in $(seq 1 300); do grep -q "^Attached" "$res/scrape-tool.err" && break; sleep 0.2; done
  if timeout 120 "$hb/bench_bpf" fillflows --flows $FLOWS >"$res/scrape-fill.kv" 2>"$res/scrape-fill.err"; then
    get() { ip netns exec "$ns_a" timeout 30 curl -s -o "$res/scrape-body.txt" -w '%{time_total}\n' "http://127.0.0.1:$mport/metrics"; }
    first=$(get)
    : >"$res/scrape-times.txt"
    for _ in $(seq 1 "${SCRAPE_RUNS:-5}"); do get >>"$res/scrape-times.txt"; done
    put "scrape/first_ms $(awk -v t="$first" 'BEGIN { printf "%.1f", t * 1000 }')"
    put "scrape/ms $(sort -n "$res/scrape-times.txt" | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] * 1000 }')"
    put "scrape/bytes $(wc -c <"$res/scrape-body.txt")"
    put "scrape/series $(grep -c '^tracekit_tcp_flow_bytes_total' "$res/scrape-body.txt")"
    put "scrape/flows $(sed -n 's/^tracekit_map_entries{.*map="flows"} //p' "$res/scrape-body.txt")"
    put "scrape/rss_kib $(awk '/^VmRSS/ { print $2 }' /proc/$(pgrep -n -f "tcp_tracker $veth_a -q")/status 2>/dev/null)"
  fi
  kill -INT $scrape_pid 2>/dev/null || true
  wait $scrape_pid 2>/dev/null || true
fi

# ---- 6. throughput through the traced veth ----------------------------------------------
iperf_cmd="$bench/iperf_once.sh $ns_a $ns_b $addr_b $IPERF_SECS"
if want iperf; then
  wait_quiet iperf
  for rep in $(seq "$IPERF_REPS"); do
    log "iperf3 $rep/$IPERF_REPS: ${IPERF_SECS}s each, no filter / ours / theirs"
    timeout 120 $iperf_cmd >"$res/iperf-none-$rep.kv" 2>&1 || true
    put "iperf/none $(sed -n 's/^gbps=//p' "$res/iperf-none-$rep.kv")"
    for t in tcp_tracker tcp_duration; do
      for side in ours theirs; do
        if [ $side = ours ] && ! have "$t"; then continue; fi
        key=iperf-$side-$t-$rep
        # shellcheck disable=SC2046
        trace "$key" --settle 0.5 --drain 0 --run "$iperf_cmd" -- $(${side}_cmd "$t") || continue
        put "iperf/${side}_$t $(kv "$key" gbps)"
      done
    done
    if have tcp_tracker; then  # ours on the same kind of hook as the original's
      key=iperf-ours_clsact-tcp_tracker-$rep
      # shellcheck disable=SC2046
      trace "$key" --settle 0.5 --drain 0 --run "$iperf_cmd" -- $(ours_cmd tcp_tracker) --attach clsact &&
        put "iperf/ours_clsact_tcp_tracker $(kv "$key" gbps)"
    fi
  done
fi

echo "loadavg_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$res/machine.txt"

# ---- report ---------------------------------------------------------------------------
$PY "$bench/report.py" "$res" >"$res/PERFORMANCE-section.md"
cat "$res/PERFORMANCE-section.md"
if [ $write_doc -eq 1 ]; then
  $PY "$bench/report.py" --splice "$root/docs/PERFORMANCE.md" "$res/PERFORMANCE-section.md"
  log "wrote docs/PERFORMANCE.md (raw output: $res)"
else
  log "results in $res (docs/PERFORMANCE.md not touched)"
fi
