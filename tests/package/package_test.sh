#!/usr/bin/env bash
# The .deb of scripts/package.sh, checked as an operator meets it:
#   tests/package/package_test.sh DEB [BUILD_DIR]
# BUILD_DIR (default build/) is the tree whose --help the unpacked tools must print.
#  (a) dpkg-deb -I: the fields; Depends names the package of every library a binary links,
#      plplot-driver-cairo (loaded at run time), and nothing else; Recommends the headers;
#  (b) lintian: no E: line;
#  (c) unpacked into a scratch root: the layout, no maintainer scripts, the units pass
#      systemd-analyze verify (where it exists), each command's --version and --help;
#  (d) as root: the unpacked execve_dumb traces, with the unpacked helper found relative to
#      itself (no TRACEKIT_COMPILER, the build tree nowhere, the compiled-in path hidden).
# Bash and the package tools only: a fresh host may have no python3.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 DEB [BUILD_DIR]" >&2
  exit 2
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
deb=$(realpath "$1")
build=$(realpath "${2:-$top/build}")
version=$(sed -n 's/^project(tracekit VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
arch=$(dpkg --print-architecture)
tools=(execve_dumb execve_enriched tcp_tracker tcp_duration tracekit-doctor)
units=(tracekit-execve-dumb.service tracekit-execve-enriched.service
  tracekit-tcp-tracker@.service tracekit-tcp-duration@.service)

scratch=$(mktemp -d /tmp/tracekit-package-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
root=$scratch/root

passed=0
failed=0
ok() {
  echo "ok: $*"
  passed=$((passed + 1))
}
bad() {
  echo "FAIL: $*"
  failed=$((failed + 1))
}
# check WHAT COMMAND...: one result line per check.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}

dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$scratch/control"

echo "== (a) control fields"
dpkg-deb -I "$deb"
field() { dpkg-deb -f "$deb" "$1"; }
# The package names of a relation field, one per line (alternatives and versions dropped).
names() { field "$1" | tr ',|' '\n\n' | sed 's/(.*//; s/:any//; s/[[:space:]]//g' | grep -v '^$' | sort -u; }
check "Package is tracekit" test "$(field Package)" = tracekit
check "Version is the project's ($version)" test "$(field Version)" = "$version"
check "Architecture is $arch" test "$(field Architecture)" = "$arch"
check "Section is admin or utils" grep -qxE 'admin|utils' <<<"$(field Section)"
check "Priority is optional" test "$(field Priority)" = optional
check "Maintainer is a name and an address" grep -qE '^[^<]+ <[^@ ]+@[^> ]+>$' <<<"$(field Maintainer)"
check "Description has a synopsis and a long text" test "$(field Description | wc -l)" -ge 3
depends=$(names Depends)
check "Depends holds plplot-driver-cairo (tcp_duration's plsdev(\"pngcairo\") plugin)" grep -qx plplot-driver-cairo <<<"$depends"
check "Recommends holds linux-headers-$arch" grep -qx "linux-headers-$arch" <<<"$(names Recommends)"

# The package that owns a library file, whichever of /lib and /usr/lib dpkg knows it by
# (merged /usr: ldd says /lib/..., dpkg may have /usr/lib/... or the other way round).
owner() {
  local real p
  real=$(realpath "$1")
  for p in "$1" "$real" "/usr${1#/usr}" "${1#/usr}" "/usr${real#/usr}" "${real#/usr}"; do
    dpkg -S "$p" 2>/dev/null | sed -n '1s/:.*//p' | grep . && return 0
  done
  return 1
}
# What each binary links (its NEEDED entries, resolved by ldd; not ldd's whole list, whose
# libraries of libraries are their own packages' business) and the packages that own them.
linked=""
for bin in "$root"/usr/sbin/* "$root"/usr/libexec/tracekit/*; do
  ldd_out=$(ldd "$bin")
  for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }' <<<"$ldd_out")
    if [ -z "$path" ] || ! pkg=$(owner "$path"); then
      bad "$(basename "$bin"): no package owns $lib (${path:-not found by ldd})"
      continue
    fi
    linked+="$pkg"$'\n'
  done
done
linked=$(grep -v '^$' <<<"$linked" | sort -u)
echo "packages of the linked libraries: $(tr '\n' ' ' <<<"$linked")"
# A library package may be depended on by a name it provides (the shlibs of libspdlog1.10
# name libspdlog1.10-fmt9, the fmt ABI it was built against).
provided() { dpkg-query -W -f='${Provides}' "$1" | tr ',' '\n' | sed 's/(.*//; s/[[:space:]]//g' | grep -v '^$' || true; }
names_of_linked=""
for pkg in $linked; do
  alias=$(printf '%s\n' "$pkg" $(provided "$pkg"))
  names_of_linked+="$alias"$'\n'
  check "Depends holds $pkg" grep -qxF "$alias" <<<"$depends"
done
for pkg in $depends; do
  [ "$pkg" = plplot-driver-cairo ] && continue
  check "Depends' $pkg is a linked library's package" grep -qx "$pkg" <<<"$names_of_linked"
done

echo "== (b) lintian"
lintian_out=$(lintian "$deb" 2>&1) || true
echo "${lintian_out:-(nothing)}"
check "lintian reports no error" bash -c '! grep -q "^E: " <<<"$1"' _ "$lintian_out"

echo "== (c) the unpacked tree ($root)"
for t in "${tools[@]}"; do
  check "usr/sbin/$t is an executable" test -f "$root/usr/sbin/$t" -a -x "$root/usr/sbin/$t"
done
check "usr/libexec/tracekit/tracekit-compile is an executable" \
  test -f "$root/usr/libexec/tracekit/tracekit-compile" -a -x "$root/usr/libexec/tracekit/tracekit-compile"
# gzip -9n: no file name and no time in the header (FLG bit 3 clear, MTIME 0), XFL 2 (-9).
gzip_9n() {
  gzip -t "$1" 2>/dev/null || return 1
  local b
  read -ra b < <(od -An -tu1 -N9 "$1")
  [ $((b[3] & 8)) -eq 0 ] && [ "${b[4]}${b[5]}${b[6]}${b[7]}" = 0000 ] && [ "${b[8]}" -eq 2 ]
}
for t in "${tools[@]}"; do
  check "man8/$t.8.gz is gzip -9n" gzip_9n "$root/usr/share/man/man8/$t.8.gz"
done
# Sourced alone, the script must register a completion for each of the five names.
completes() { bash -c 'source "$1" && complete -p "$2" >/dev/null' _ "$1" "$2" 2>/dev/null; }
for t in "${tools[@]}"; do
  check "bash completion for $t" completes "$root/usr/share/bash-completion/completions/$t" "$t"
done
for u in "${units[@]}"; do
  check "unit $u" test -f "$root/usr/lib/systemd/system/$u"
done
check "/var/log/tracekit (the units' StandardOutput= files)" test -d "$root/var/log/tracekit"
check "/etc/logrotate.d/tracekit rotates them (copytruncate: systemd holds the fd)" \
  grep -q '^/var/log/tracekit/\*\.jsonl {' "$root/etc/logrotate.d/tracekit"
check "it is a conffile" grep -qx /etc/logrotate.d/tracekit "$scratch/control/conffiles"
if command -v logrotate >/dev/null 2>&1; then
  check "logrotate -d accepts it" logrotate -d "$root/etc/logrotate.d/tracekit"
fi
for s in preinst postinst prerm postrm; do
  check "no $s (nothing enabled or started on install)" test ! -e "$scratch/control/$s"
done
check "no unit enabled in the package (no .wants/ links)" test -z "$(find "$root" -name '*.wants')"
doc=$root/usr/share/doc/tracekit
check "doc: copyright is machine-readable (DEP-5)" \
  grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$doc/copyright"
# changelog.gz: the version has no Debian revision (a native package, policy 12.7).
check "doc: changelog.gz is gzip -9n" gzip_9n "$doc/changelog.gz"
check "doc: the changelog's first entry is $version" \
  grep -q "^tracekit ($version) " <<<"$(gzip -dc "$doc/changelog.gz" 2>/dev/null | head -n1)"
for f in README.md docs/privileges.md docs/metrics.md docs/json.md docs/alerts.yml; do
  check "doc: $f" test -s "$doc/$f"
done

# systemd-analyze verify on the unpacked tree, with the host's own units beside ours (the
# targets ours are ordered against) and the unpacked man pages for Documentation=man:.
if command -v systemd-analyze >/dev/null; then
  vroot=$scratch/verify
  mkdir -p "$vroot"
  cp -a "$root/." "$vroot/"
  for d in /lib/systemd/system /usr/lib/systemd/system; do
    [ -d "$d" ] && cp -an "$d/." "$vroot/usr/lib/systemd/system/"
  done
  for u in "${units[@]}"; do
    [[ $u == *@.service ]] && u=${u/@./@eth0.}
    out=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$vroot" "$u" 2>&1) && st=0 || st=$?
    [ -n "$out" ] && echo "$out"
    check "systemd-analyze verify $u" test "$st" -eq 0 -a -z "$out"
  done
else
  echo "skip: systemd-analyze verify (no systemd-analyze here)"
fi

# Each command from the unpacked tree: --version says "<tool> <version>", --help is the
# build tree's, byte for byte.
run() {
  local out st
  out=$(env -u TRACEKIT_COMPILER PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@" 2>/dev/null) && st=0 || st=$?
  printf '%s\n[exit %d]\n' "$out" "$st"
}
for t in "${tools[@]}"; do
  got=$(run "$root/usr/sbin/$t" --version)
  want=$(run "$build/$t" --version)
  check "$t --version prints '$t $version', exit 0" test "$got" = "$t $version"$'\n[exit 0]'
  got=$(run "$root/usr/sbin/$t" --help)
  check "$t --help exits 0" grep -qx '\[exit 0\]' <<<"$got"
  check "$t --help is the build tree's" test "$got" = "$(run "$build/$t" --help)"
done

echo "== (d) a real trace from the unpacked tree"
if [ "$(id -u)" -ne 0 ]; then
  echo "skip: the trace needs root (BPF), run as root for it"
else
  cmd=(timeout 300 env -u TRACEKIT_COMPILER PATH=/usr/sbin:/usr/bin:/sbin:/bin
    "$root/usr/sbin/execve_dumb" -d 1 -i 1 --no-cache)
  # An installed tracekit's helper at the compiled-in path would hide a broken relative
  # lookup: a private mount namespace puts an empty directory over it.
  if [ -e /usr/libexec/tracekit ]; then
    echo "note: /usr/libexec/tracekit exists on this host; hidden for the run"
    cmd=(unshare --mount sh -c 'mount -t tmpfs tracekit-test /usr/libexec/tracekit && exec "$@"' sh "${cmd[@]}")
  fi
  "${cmd[@]}" >"$scratch/trace.out" 2>"$scratch/trace.err" &
  pid=$!
  # execs to count while it runs
  while kill -0 "$pid" 2>/dev/null; do
    /bin/true
    sleep 0.1
  done
  wait "$pid" && st=0 || st=$?
  cat "$scratch/trace.out" "$scratch/trace.err"
  check "execve_dumb --no-cache from the unpacked tree exits 0" test "$st" -eq 0
  check "it prints its final report" grep -q '^Final at: ' "$scratch/trace.out"
  check "the report counts root's execs" \
    grep -qE '^User ID 0 \(root\) has invoked [0-9]+ times execve syscall!' "$scratch/trace.out"
fi

echo "package_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
