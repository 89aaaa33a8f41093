#!/usr/bin/env bash
# Installs every build and run dependency from Debian's packages (fresh Debian 12 is
# enough) and builds into build/. Idempotent; quiet when nothing is missing.
#   sudo ./scripts/setup.sh            # install what is missing, then build
#   ./scripts/setup.sh --deps-only     # install only
# All output goes to stderr, so `run.sh TOOL --json | jq` stays clean.
set -euo pipefail
exec 3>&1 1>&2
cd "$(dirname "$0")/.."

arch=$(dpkg --print-architecture)
packages=(
  build-essential cmake pkg-config
  libbpfcc-dev libbpf-dev libelf-dev zlib1g-dev
  libcxxopts-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libmnl-dev libcap-dev catch2 clang-format
  prometheus-cpp-dev libssl-dev
  prometheus prometheus-node-exporter
  libcap2-bin
  "linux-headers-$arch"
  libplplot-dev plplot-driver-cairo
  iproute2 tcpdump ethtool procps file util-linux
  dpkg-dev lintian  # scripts/package.sh: dpkg-shlibdeps and dpkg-buildflags; the .deb's check
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root (sudo) to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  # prometheus and prometheus-node-exporter ship services: the tests run their binaries
  # themselves, so no package may start one. A policy-rc.d that says 101 (the Docker
  # images have one) stops invoke-rc.d; one is put in place for the install if missing.
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# tracekit setup.sh: no service starts during the install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  log=$(mktemp /tmp/tracekit-apt.XXXXXX)
  rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 || rc=$?
  [ -n "$own_policy" ] && rm -f "$policy"
  if [ $rc -ne 0 ]; then
    tail -n 30 "$log"
    echo "setup: apt-get failed (full log: $log)" >&2
    exit 1
  fi
  rm -f "$log"
fi

[ "${1:-}" = "--deps-only" ] && exit 0

build_dir=${BUILD_DIR:-build}
log=$(mktemp /tmp/tracekit-build.XXXXXX)
if ! { cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} && \
       cmake --build "$build_dir" -j "$(nproc)"; } >"$log" 2>&1; then
  grep -E "error|Error" "$log" | head -n 30 || tail -n 30 "$log"
  echo "setup: build failed (full log: $log)" >&2
  exit 1
fi
rm -f "$log"
