#!/usr/bin/env bash
# One bounded iperf3 TCP test across the bench's veth pair: server in netns $2,
# client in netns $1, for $4 seconds, to address $3. Prints gbps=N (receiver side).
# Used by bench/run.sh, directly or as bench_trace's --run workload.
#   iperf_once.sh CLIENT_NS SERVER_NS SERVER_ADDR SECONDS
set -euo pipefail
client_ns=$1 server_ns=$2 addr=$3 secs=$4
out=$(mktemp /tmp/tracekit-iperf.XXXXXX)
trap 'rm -f "$out"; [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null; true' EXIT
timeout $((secs + 20)) ip netns exec "$server_ns" iperf3 -s -1 -B "$addr" -p 5201 >/dev/null 2>&1 &
srv=$!
# Wait for the server socket (bounded).
for _ in $(seq 50); do
  ip netns exec "$server_ns" ss -Htln "sport = :5201" 2>/dev/null | grep -q . && break
  sleep 0.1
done
timeout $((secs + 15)) ip netns exec "$client_ns" iperf3 -c "$addr" -p 5201 -t "$secs" -J >"$out"
wait "$srv" 2>/dev/null || true
srv=
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("gbps=%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))
print("retransmits=%d" % d["end"]["sum_sent"].get("retransmits", 0))
' "$out"
