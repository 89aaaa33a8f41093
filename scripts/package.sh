#!/usr/bin/env bash
# Builds the Debian package with CPack's DEB generator in build-deb/ and checks it with
# lintian (no error allowed). The .deb's path is the last line, alone on stdout:
#   ./scripts/package.sh                 # build-deb/tracekit_<version>_<arch>.deb
#   deb=$(./scripts/package.sh) && sudo apt-get install "./$deb"
# Prefix /usr, Debian's hardening flags (dpkg-buildflags), binaries stripped; Depends comes
# from dpkg-shlibdeps (cmake/Install.cmake). Everything but the path goes to stderr.
set -euo pipefail
exec 3>&1 1>&2
cd "$(dirname "$0")/.."
start=$SECONDS

# dpkg-dev and lintian are in setup.sh's list; install what is missing (root), no build.
./scripts/setup.sh --deps-only

build_dir=${BUILD_DIR:-build-deb}
# The changelog's date: the last commit's time, so that two builds of one commit agree.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && git rev-parse --git-dir >/dev/null 2>&1; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
  export SOURCE_DATE_EPOCH
fi
# What a Debian package build gets from debhelper: fortify, stack protector, relro, now.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cppflags=$(dpkg-buildflags --get CPPFLAGS)
cflags=$(dpkg-buildflags --get CFLAGS)
cxxflags=$(dpkg-buildflags --get CXXFLAGS)
ldflags=$(dpkg-buildflags --get LDFLAGS)

log=$(mktemp /tmp/tracekit-package.XXXXXX)
fail() {
  tail -n 40 "$log"
  echo "package: $1 failed (full log: $log)" >&2
  exit 1
}
echo "package: configuring and building $build_dir/ (log: $log)"
# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: the install (and so cpack) does not build every
# target; only what is installed is built (target tracekit_installed), not the tests.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \
  -DCMAKE_C_FLAGS="$cppflags $cflags" -DCMAKE_CXX_FLAGS="$cppflags $cxxflags" \
  -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >"$log" 2>&1 || fail "cmake (configure)"
cmake --build "$build_dir" -j "$(nproc)" --target tracekit_installed >>"$log" 2>&1 || fail "the build"

echo "package: cpack -G DEB"
rm -f "$build_dir"/tracekit_*.deb
(cd "$build_dir" && cpack -G DEB) >>"$log" 2>&1 || fail "cpack"
debs=("$build_dir"/tracekit_*.deb)
[ -f "${debs[0]}" ] || fail "cpack (no .deb)"
deb=${debs[0]}

echo "package: lintian $deb"
# Errors fail the package; warnings and the rest are shown. --fail-on error is the
# default, spelled out because it is the contract.
lintian --fail-on error "$deb" || { echo "package: lintian reports errors" >&2; exit 1; }
rm -f "$log"
echo "package: $deb in $((SECONDS - start)) s"
echo "$deb" >&3
