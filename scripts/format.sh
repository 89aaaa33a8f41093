#!/usr/bin/env bash
# Applies .clang-format to the C++ sources (--check: list the files that differ, exit 1).
# The BPF texts (programs/*/*.bpf.c, programs/include/**/*.bpf.h) and the structs they
# share with C++ (programs/<tool>/<tool>.h) stay in the kernel's own style.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'programs/*.cc' 'programs/*.h' 'tests/*.cc' 'tests/*.h' \
  'bench/src/*.cc' 'bench/src/*.h' | grep -Ev '\.bpf\.|^programs/([a-z_]+)/\1\.h$')
if [ "${1:-}" = "--check" ]; then
  bad=0
  for f in "${files[@]}"; do
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then echo "$f"; bad=1; fi
  done
  exit $bad
fi
clang-format --style=file -i "${files[@]}"
