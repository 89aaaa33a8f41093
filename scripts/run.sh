#!/usr/bin/env bash
# Runs one tool, setting up first if needed:  sudo ./scripts/run.sh TOOL [ARGS...]
# Tools: execve_dumb, execve_enriched, tcp_tracker, tcp_duration.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  echo "usage: sudo $0 TOOL [ARGS...]   (TOOL: $(ls "$root/programs" | tr '\n' ' '))" >&2
  exit 2
fi
tool=$1
shift
if [ ! -d "$root/programs/$tool" ]; then
  echo "run.sh: unknown tool: $tool (tools: $(ls "$root/programs" | tr '\n' ' '))" >&2
  exit 2
fi
"$root/scripts/setup.sh"   # quick when everything is installed and built
exec "$root/build/$tool" "$@"
