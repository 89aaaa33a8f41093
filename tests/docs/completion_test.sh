#!/usr/bin/env bash
# Checks packaging/bash-completion/tracekit in a plain non-interactive bash (no
# bash-completion package helpers): it registers all five commands whatever name it is
# sourced under, and the registered function fills COMPREPLY with the right words for
# options (taken from each tool's --help), enumerated values, users, files, directories,
# cgroups and interfaces. Also checks that every value the script offers for an
# enumerated option is named in that option's --help text, and that --help is run once
# per command and shell.
# Needs bash, grep, sed, awk (no python, no root).
#   tests/docs/completion_test.sh [--bin-dir DIR] [--script FILE]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin_dir=$repo/build
script=$repo/packaging/bash-completion/tracekit
while [ $# -gt 0 ]; do
  case $1 in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --script) script=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "completion_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
bin_dir=$(cd "$bin_dir" && pwd)
tools=(execve_dumb execve_enriched tcp_tracker tcp_duration tracekit-doctor)
for t in "${tools[@]}"; do
  [ -x "$bin_dir/$t" ] || { echo "FAIL: no binary $bin_dir/$t (build it first)"; exit 1; }
done
export PATH=$bin_dir:$PATH

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tk-completion.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
checks=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# No bash-completion helpers: the script must work without them.
unset -f _init_completion _get_comp_words_by_ref _comp_initialize 2>/dev/null || true

# --- registration, under any name -------------------------------------------------------
# Sourced through a link named after one command, in a fresh shell: all five register.
mkdir -p "$tmp/completions"
for t in "${tools[@]}"; do
  ln -s "$script" "$tmp/completions/$t"
  out=$(bash --norc --noprofile -c 'source "$1" && complete -p execve_dumb execve_enriched tcp_tracker tcp_duration tracekit-doctor' _ "$tmp/completions/$t" 2>&1) || true
  checks=$((checks + 1))
  n=$(grep -c '^complete -F _tracekit ' <<<"$out" || true)
  [ "$n" -eq 5 ] || fail "sourced as completions/$t: $n of 5 commands registered: $out"
done

# shellcheck source=/dev/null
source "$script"

func_of() {
  local spec
  spec=$(complete -p "$1" 2>/dev/null) || return 1
  [[ $spec =~ -F\ ([^ ]+) ]] || return 1
  printf '%s\n' "${BASH_REMATCH[1]}"
}
for t in "${tools[@]}"; do
  checks=$((checks + 1))
  func_of "$t" >/dev/null || fail "complete -p $t: no completion function registered"
done

# complete WORD...: completes the last word (the command line up to the cursor, split as
# bash splits it: "--by=u" is --by = u) with the function `complete -p` names.
complete_words() {
  local func
  func=$(func_of "${1##*/}") || { COMPREPLY=(); return 0; }
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  local prev=
  [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
  "$func" "${1##*/}" "${COMP_WORDS[COMP_CWORD]}" "$prev"
}

reply_sorted() { [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort -u; }

# expect_eq "WORDS" "want1 want2 ...": COMPREPLY is exactly this set.
expect_eq() {
  local line=$1 want
  checks=$((checks + 1))
  want=$(tr ' ' '\n' <<<"$2" | sed '/^$/d' | sort -u)
  if [ "$(reply_sorted)" != "$want" ]; then
    fail "[$line] want {$(tr '\n' ' ' <<<"$want")}, got {${COMPREPLY[*]-}}"
  fi
}
# expect_has "WORDS" word...: COMPREPLY includes each word.
expect_has() {
  local line=$1 w
  shift
  for w in "$@"; do
    checks=$((checks + 1))
    grep -qxF -- "$w" <(reply_sorted) || fail "[$line] should offer '$w'; got {${COMPREPLY[*]-}}"
  done
}
# expect_lacks "WORDS" word...: COMPREPLY has none of these words.
expect_lacks() {
  local line=$1 w
  shift
  for w in "$@"; do
    checks=$((checks + 1))
    if grep -qxF -- "$w" <(reply_sorted); then fail "[$line] should not offer '$w'; got {${COMPREPLY[*]-}}"; fi
  done
}
expect_empty() {
  checks=$((checks + 1))
  [ ${#COMPREPLY[@]} -eq 0 ] || fail "[$1] should offer nothing; got {${COMPREPLY[*]}}"
}
# c WORD...: complete, and name the case for the messages ('' shows as an empty word).
c() {
  complete_words "$@"
  local w out=()
  for w in "$@"; do out+=("${w:-''}"); done
  case_name="${out[*]}"
}

# The flags of a tool's --help: long ones, or every one.
help_long() { "$bin_dir/$1" --help | grep -oE '^  (-[[:alnum:]], |    )--[[:alnum:]][[:alnum:]-]*' | grep -oE -- '--[[:alnum:]-]+$' | sort -u; }
help_all() { "$bin_dir/$1" --help | grep -oE '^  (-[[:alnum:]], |    )--[[:alnum:]][[:alnum:]-]*' | grep -oE -- '-[-[:alnum:]]+' | sort -u; }

# --- options --------------------------------------------------------------------------
c execve_dumb --dur
expect_eq "$case_name" "--duration"
c execve_dumb --met
expect_eq "$case_name" "--metrics --metrics-textfile --metrics-max-series"
c execve_enriched --fa
expect_eq "$case_name" "--failed-only"
c tcp_duration --plot
expect_eq "$case_name" "--plot --plot-only"

# Every tool: "-" offers exactly its --help flags (short and long), "--" its long ones.
for t in execve_dumb execve_enriched tcp_tracker tcp_duration; do
  c "$t" -
  expect_eq "$case_name" "$(help_all "$t" | tr '\n' ' ')"
done
c tcp_tracker lo --
expect_eq "$case_name" "$(help_long tcp_tracker | tr '\n' ' ')"
expect_has "$case_name" --sort --attach --direction --interval --owner
expect_lacks "$case_name" --probe --buffer --failed-only --plot --cgroups
c execve_enriched --
expect_lacks "$case_name" --interval --count --sort --iface
c tracekit-doctor -
expect_eq "$case_name" "$(help_all tracekit-doctor | tr '\n' ' ')"
expect_has "$case_name" --json --kernel-headers --cache-dir

# --- enumerated values ------------------------------------------------------------------
c execve_dumb --by ''
expect_eq "$case_name" "uid cgroup unit"
c tcp_tracker lo --by ''
expect_eq "$case_name" "flow uid cgroup unit"
c execve_dumb --by = u # --by=u as bash splits it
expect_eq "$case_name" "uid unit"
c execve_dumb --by = ''
expect_eq "$case_name" "uid cgroup unit"
c execve_dumb --by=u # COMP_WORDBREAKS without "="
expect_eq "$case_name" "--by=uid --by=unit"
c execve_dumb --probe ''
expect_eq "$case_name" "auto tracepoint kprobe"
c execve_enriched --probe k
expect_eq "$case_name" "kprobe"
c tcp_tracker --probe ''
expect_lacks "$case_name" auto tracepoint kprobe # not an option of tcp_tracker
c tcp_tracker eth0 --attach ''
expect_eq "$case_name" "auto tcx clsact"
c tcp_duration --direction ''
expect_eq "$case_name" "ingress egress both"
c tcp_duration --buffer ''
expect_eq "$case_name" "ring perf"
c execve_enriched --wakeup ''
expect_eq "$case_name" "batch each"
c tcp_tracker --sort r
expect_eq "$case_name" "rate"

# Each value the script offers is named in its option's --help text, and the default
# --help shows is one of them, for every tool that has the option.
help_text_of() { # TOOL OPTION: the option's description, continuation lines joined
  "$bin_dir/$1" --help | awk -v opt="$2" '
    /^  (-[[:alnum:]], |    )--/ { on = 0 }
    /^  (-[[:alnum:]], |    )--/ && ($2 == opt || $3 == opt || $1 == opt) { on = 1 }
    /^[^ ]/ || /^ [^ ]/ || /^$/ { on = 0 }
    on { printf "%s ", $0 }'
}
for key in "${!_tracekit_choices[@]}"; do
  who=${key%% *}
  opt=${key#* }
  for t in "${tools[@]:0:4}"; do
    [ "$who" = "*" ] || [ "$who" = "$t" ] || continue
    [ "$who" != "*" ] || [ -z "${_tracekit_choices["$t $opt"]+set}" ] || continue
    text=$(help_text_of "$t" "$opt")
    [ -n "$text" ] || continue
    for v in ${_tracekit_choices[$key]}; do
      checks=$((checks + 1))
      grep -qw -- "$v" <<<"$text" || fail "$t $opt: the completion offers '$v', which --help does not name: $text"
    done
    if [[ $text =~ \(default:\ ([^\)]*)\) ]]; then
      def=${BASH_REMATCH[1]}
      def=${def// /}
      checks=$((checks + 1))
      [[ " ${_tracekit_choices[$key]} " == *" $def "* ]] || fail "$t $opt: the default '$def' is not among the values offered (${_tracekit_choices[$key]})"
    fi
  done
done
# ... and every option that takes one of a fixed set of values (its argument is KEY,
# MODE, KIND or WHEN, or it is --direction) has its values in the script.
for t in "${tools[@]:0:4}"; do
  while read -r opt; do
    checks=$((checks + 1))
    [ -n "${_tracekit_choices["$t $opt"]+set}" ] || [ -n "${_tracekit_choices["* $opt"]+set}" ] ||
      fail "$t $opt takes a fixed set of values (by --help) but the completion offers none"
  done < <("$bin_dir/$t" --help | grep -oE '^  (-[[:alnum:]], |    )--[[:alnum:]-]+ (KEY|MODE|KIND|WHEN)( |$)|^      --direction ' | grep -oE -- '--[[:alnum:]-]+')
done

# --- users, processes ---------------------------------------------------------------------
c execve_dumb --user ro
expect_has "$case_name" root
expect_lacks "$case_name" daemon
c tcp_tracker lo --user=ro # unsplit form
expect_has "$case_name" --user=root
c execve_enriched -u ro
expect_has "$case_name" root
c tcp_tracker lo --uid ''
expect_has "$case_name" root
c execve_enriched -p "$$"
expect_has "$case_name" "$$"
c execve_enriched --ppid ''
expect_has "$case_name" 1 "$$"

# --- interfaces and positionals -----------------------------------------------------------
nosuch=tk-nosuch0
[ ! -e "/sys/class/net/$nosuch" ] || nosuch=tk-nosuch-$$
c tcp_tracker ''
expect_has "$case_name" lo
expect_lacks "$case_name" "$nosuch" --sort
all_ifaces=$(for d in /sys/class/net/*; do [ -d "$d" ] && printf "%s " "${d##*/}"; done)
expect_eq "$case_name" "$all_ifaces"
c tcp_tracker l
expect_has "$case_name" lo
c tcp_duration ''
expect_has "$case_name" lo
c tcp_tracker -i 5 -c 2 ''
expect_has "$case_name" lo
c tcp_tracker -Oi 5 ''
expect_has "$case_name" lo
c tcp_tracker --by unit ''
expect_has "$case_name" lo
c tcp_tracker --iface ''
expect_has "$case_name" lo
c tcp_tracker --iface = ''
expect_has "$case_name" lo
c tcp_tracker lo ''
expect_lacks "$case_name" lo # interval, not an interface
c tcp_tracker --iface lo ''
expect_lacks "$case_name" lo
c tcp_duration --plot-only statistics.dat ''
expect_lacks "$case_name" lo
c execve_dumb ''
expect_lacks "$case_name" lo
c tcp_tracker -Oi ''
expect_empty "$case_name" # the value of -i: seconds
c tcp_tracker lo --top ''
expect_empty "$case_name"

# --- files and directories -------------------------------------------------------------
mkdir -p "$tmp/f/sub.d"
: >"$tmp/f/stats.dat"
: >"$tmp/f/old.png"
: >"$tmp/f/notes.txt"
c tcp_duration -o "$tmp/f/st"
expect_eq "$case_name" "$tmp/f/stats.dat"
c tcp_duration lo --output "$tmp/f/"
expect_has "$case_name" "$tmp/f/stats.dat" "$tmp/f/old.png" "$tmp/f/sub.d"
c tcp_duration --plot "$tmp/f/"
expect_eq "$case_name" "$tmp/f/old.png $tmp/f/sub.d"
c tcp_duration --plot-only "$tmp/f/s"
expect_eq "$case_name" "$tmp/f/stats.dat $tmp/f/sub.d"
for opt in --cache-dir --kernel-headers --metrics-textfile; do
  c execve_dumb "$opt" "$tmp/f/"
  expect_eq "$case_name" "$tmp/f/sub.d"
done
c tracekit-doctor --cache-dir "$tmp/f/s"
expect_eq "$case_name" "$tmp/f/sub.d"

# --- cgroups (a cgroup2 mount made up in $tmp) -----------------------------------------
mnt=$tmp/cg
mkdir -p "$mnt/system.slice/nginx.service" "$mnt/system.slice/ssh.service" "$mnt/user.slice"
: >"$mnt/cgroup.procs"
printf 'proc /proc proc rw 0 0\ncgroup2 %s cgroup2 rw,nosuid 0 0\n' "$mnt" >"$tmp/mounts"
saved_mounts_file=$_tracekit_mounts_file
_tracekit_mounts_file=$tmp/mounts
c execve_enriched --cgroup ''
expect_eq "$case_name" "/system.slice/ /user.slice/"
c execve_enriched --cgroup /sys
expect_eq "$case_name" "/system.slice/"
c tcp_tracker lo --cgroup /system.slice/
expect_eq "$case_name" "/system.slice/nginx.service/ /system.slice/ssh.service/"
c tcp_tracker lo --cgroup /system.slice/ng
expect_eq "$case_name" "/system.slice/nginx.service/"
c execve_enriched --cgroup system
expect_eq "$case_name" "system.slice/"
c execve_enriched --cgroup "$mnt/u"
expect_eq "$case_name" "$mnt/user.slice/"
printf 'proc /proc proc rw 0 0\n' >"$tmp/mounts"
c execve_enriched --cgroup ''
expect_empty "$case_name" # no cgroup2 mount
_tracekit_mounts_file=$saved_mounts_file

# --- --help is run once per command and shell --------------------------------------------
mkdir -p "$tmp/counting"
cat >"$tmp/counting/execve_dumb" <<EOF
#!/usr/bin/env bash
echo run >>"$tmp/help-runs"
exec "$bin_dir/execve_dumb" "\$@"
EOF
chmod +x "$tmp/counting/execve_dumb"
PATH=$tmp/counting:$PATH
hash -r
for _ in 1 2 3; do c execve_dumb --dur; done
expect_eq "$case_name" "--duration"
c execve_dumb --by ''
expect_eq "$case_name" "uid cgroup unit"
checks=$((checks + 1))
runs=$(wc -l <"$tmp/help-runs")
[ "$runs" -eq 1 ] || fail "execve_dumb --help ran $runs times for 4 completions (want 1: cached)"
PATH=${PATH#"$tmp/counting:"}
hash -r

# A command that is not there: nothing offered, no error.
c /nonexistent/execve_dumb --dur
expect_empty "$case_name"

if [ "$failures" -gt 0 ]; then
  echo "completion_test: $failures of $checks checks failed"
  exit 1
fi
echo "completion_test: all $checks checks passed"
