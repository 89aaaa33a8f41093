#!/usr/bin/env bash
# Checks the man pages in packaging/man against the tools:
#   - the flags in the page's OPTIONS section (the tags of its .TP paragraphs that start
#     with a dash) are exactly the flags of `TOOL --help`, in both directions, short and
#     long forms and the argument name as --help shows them ("-d, --duration SECONDS");
#   - an option whose --help text has "(default: X)" says "Default: X" in its paragraph;
#   - the sections bcc's man pages have are all there, once each, in bcc's order;
#   - .TH names the tool, section 8 and the version `TOOL --version` prints;
#   - the page renders without warnings (man --warnings as lintian runs it, groff -ww).
# Needs bash, awk, sed, grep, sort, comm and man-db or groff (no python, no root).
#   tests/docs/man_pages_test.sh [--bin-dir DIR] [--man-dir DIR] [TOOL...]
# Exit: 0 all good, 1 a check failed, 77 (ctest: skipped) when every check passed but
# neither man nor groff is installed to check the rendering.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin_dir=$repo/build
man_dir=$repo/packaging/man
tools=()
while [ $# -gt 0 ]; do
  case $1 in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --man-dir) man_dir=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "man_pages_test.sh: unknown option $1" >&2; exit 2 ;;
    *) tools+=("$1"); shift ;;
  esac
done
[ ${#tools[@]} -gt 0 ] || tools=(execve_dumb execve_enriched tcp_tracker tcp_duration tracekit-doctor)

required_sections=(NAME SYNOPSIS DESCRIPTION REQUIREMENTS OPTIONS EXAMPLES FIELDS OVERHEAD SOURCE OS
  STABILITY "SEE ALSO")

failures=0
render_unchecked=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# --help text -> one line per option: the flag column ("-d, --duration SECONDS"), a tab,
# the description with its continuation lines joined. cxxopts indents option lines by 2
# ("  -d, --duration") or 6 ("      --by") columns and continuation lines by the
# description column (10 or more).
help_options() {
  awk '
    function flush() { if (col != "") { gsub(/  +/, " ", desc); sub(/ $/, "", desc); print col "\t" desc } col = "" }
    /^  -[[:alnum:]], --[[:alnum:]]/ || /^      --[[:alnum:]]/ || /^  -[[:alnum:]]( |$)/ {
      flush()
      line = $0
      sub(/^ +/, "", line)
      i = index(line, "  ")
      if (i) { col = substr(line, 1, i - 1); desc = substr(line, i) } else { col = line; desc = "" }
      sub(/^ +/, "", desc)
      next
    }
    col != "" && /^        +[^ ]/ { line = $0; sub(/^ +/, "", line); desc = desc " " line; next }
    { flush() }
    END { flush() }
  '
}

# A man page -> one line per OPTIONS paragraph whose tag starts with a dash: the tag as
# plain text, a tab, the paragraph as plain text. Also understands tags written with the
# font macros (.B, .BI, .BR, .I, .IB, .IR, .RB, .RI) and .IP "tag".
man_options() {
  awk '
    function plain(s) {
      gsub(/\\e/, "\001", s)
      gsub(/\\f\[[^]]*\]/, "", s); gsub(/\\f\([A-Za-z][A-Za-z]/, "", s); gsub(/\\f[A-Za-z0-9]/, "", s)
      gsub(/\\-/, "-", s); gsub(/\\[&%c|^]/, "", s); gsub(/\\[ ~0]/, " ", s)
      gsub(/\\\(aq/, "\047", s); gsub(/\\\((dq|lq|rq)/, "\"", s); gsub(/\\\(em/, "--", s); gsub(/\\\(en/, "-", s)
      gsub(/\001/, "\\", s)
      return s
    }
    # The words of a macro line, honouring double quotes.
    function args(s, a,    n, w, q, c, i, inw) {
      n = 0; w = ""; q = 0; inw = 0
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\") { w = w substr(s, i, 2); i++; inw = 1; continue }
        if (c == "\"") { if (q && substr(s, i + 1, 1) == "\"") { w = w c; i++; continue } q = !q; inw = 1; continue }
        if (c == " " && !q) { if (inw) { a[++n] = w; w = ""; inw = 0 } continue }
        w = w c; inw = 1
      }
      if (inw) a[++n] = w
      return n
    }
    # A source line as text: macro lines of the font macros give their words.
    function text(line,    m, rest, a, n, i, out, sep) {
      if (line !~ /^[.\047]/) return plain(line)
      m = line; sub(/^[.\047][ \t]*/, "", m); rest = m
      sub(/[ \t].*$/, "", m); sub(/^[^ \t]*[ \t]*/, "", rest)
      if (m !~ /^(B|I|BI|BR|IB|IR|RB|RI|SM|SB)$/) return ""
      n = args(rest, a)
      sep = (length(m) == 2 && m != "SM" && m != "SB") ? "" : " "
      out = ""
      for (i = 1; i <= n; i++) out = out (i > 1 ? sep : "") a[i]
      return plain(out)
    }
    function flush() {
      if (tag != "") { gsub(/[ \t]+/, " ", para); sub(/^ /, "", para); sub(/ $/, "", para); print tag "\t" para }
      tag = ""; para = ""; intag = 0
    }
    /^\.\\"/ || /^\\"/ { next }
    /^\.SH/ { flush(); s = $0; sub(/^\.SH[ \t]*/, "", s); gsub(/"/, "", s); sect = s; next }
    sect != "OPTIONS" { next }
    /^\.TP/ { flush(); want = 1; next }
    /^\.IP/ {
      flush(); n = args(substr($0, 4), ipa)
      if (n >= 1) { t = plain(ipa[1]); if (t ~ /^-/) { tag = t; gsub(/[ \t]+/, " ", tag) } }
      next
    }
    /^\.(SS|PP|P|LP)([ \t]|$)/ { flush(); next }
    want { want = 0; t = text($0); gsub(/[ \t]+/, " ", t); sub(/^ /, "", t); sub(/ $/, "", t); if (t ~ /^-/) tag = t; next }
    tag != "" { para = para " " text($0) }
    END { flush() }
  ' "$1"
}

check_tool() {
  local tool=$1 page=$man_dir/$1.8 bin=$bin_dir/$1
  local help_text version_text
  echo "== $tool"
  if [ ! -f "$page" ]; then
    fail "$tool: no man page $page"
    return
  fi
  if [ ! -x "$bin" ]; then
    fail "$tool: no binary $bin (build it first)"
    return
  fi

  # --- the flags --------------------------------------------------------------------
  local rc=0
  help_text=$("$bin" --help 2>&1 </dev/null) || rc=$?
  if [ "$rc" -ne 0 ] || [ -z "$(help_options <<<"$help_text")" ]; then
    fail "$tool --help exited $rc or lists no options"
    return
  fi
  local help_opts man_opts
  help_opts=$(help_options <<<"$help_text")
  man_opts=$(man_options "$page")
  local missing extra
  missing=$(comm -23 <(cut -f1 <<<"$help_opts" | sort -u) <(cut -f1 <<<"$man_opts" | sed '/^$/d' | sort -u))
  extra=$(comm -13 <(cut -f1 <<<"$help_opts" | sort -u) <(cut -f1 <<<"$man_opts" | sed '/^$/d' | sort -u))
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && fail "$tool: '$line' is in --help but not in the man page's OPTIONS"
  done <<<"$missing"
  while IFS= read -r line; do
    [ -n "$line" ] && fail "$tool: '$line' is in the man page's OPTIONS but not in --help"
  done <<<"$extra"
  local dups
  dups=$(cut -f1 <<<"$man_opts" | sed '/^$/d' | sort | uniq -d)
  [ -z "$dups" ] || fail "$tool: the man page lists these more than once: $dups"
  echo "flags: $(wc -l <<<"$help_opts") in --help, $(sed '/^$/d' <<<"$man_opts" | wc -l) in the man page"

  # --- the defaults -----------------------------------------------------------------
  local col desc def para
  while IFS=$'\t' read -r col desc; do
    [[ $desc == *"(default: "* ]] || continue
    def=${desc#*"(default: "}
    def=${def%%")"*}
    para=$(awk -F'\t' -v c="$col" '$1 == c { print $2 }' <<<"$man_opts")
    [ -n "$para" ] || continue # reported above
    if [[ ${para,,} != *"default: ${def,,}"* ]]; then
      fail "$tool: the man page's paragraph of '$col' does not say 'Default: $def' (as --help does)"
    fi
  done <<<"$help_opts"

  # --- the sections -----------------------------------------------------------------
  local sections=()
  mapfile -t sections < <(sed -n 's/^\.SH[[:space:]]*//p' "$page" | sed 's/"//g; s/[[:space:]]*$//')
  local want got pos last=-1 i count
  for want in "${required_sections[@]}"; do
    pos=-1
    count=0
    for i in "${!sections[@]}"; do
      if [ "${sections[$i]}" = "$want" ]; then
        count=$((count + 1))
        [ "$pos" -ge 0 ] || pos=$i
      fi
    done
    if [ "$count" -eq 0 ]; then
      fail "$tool: no section $want"
      continue
    fi
    [ "$count" -eq 1 ] || fail "$tool: section $want appears $count times"
    if [ "$pos" -lt "$last" ]; then
      fail "$tool: section $want is out of order (want: ${required_sections[*]}; got: ${sections[*]})"
    fi
    last=$pos
  done

  # --- .TH and NAME -------------------------------------------------------------------
  local th
  th=$(grep -m1 '^\.TH' "$page" || true)
  local -a tha=()
  mapfile -t tha < <(awk '{ # the words of the line, honouring double quotes
    s = $0; sub(/^\.TH[ \t]*/, "", s); w = ""; q = 0; inw = 0
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c == "\"") { q = !q; inw = 1; continue }
      if ((c == " " || c == "\t") && !q) { if (inw) print w; w = ""; inw = 0; continue }
      w = w c; inw = 1
    }
    if (inw) print w
  }' <<<"$th")
  if [ "${tha[0]-}" != "$tool" ] || [ "${tha[1]-}" != 8 ]; then
    fail "$tool: .TH should start with '$tool 8', is: $th"
  fi
  rc=0
  version_text=$("$bin" --version 2>&1 </dev/null) || rc=$?
  if [ "$rc" -eq 0 ] && [[ $version_text =~ ^$tool\ ([0-9][^[:space:]]*)$ ]]; then
    got=${BASH_REMATCH[1]}
    [ "${tha[3]-}" = "tracekit $got" ] || fail "$tool: .TH says '${tha[3]-}', the binary is version $got (want 'tracekit $got')"
  else
    fail "$tool --version exited $rc or printed '$version_text', not '$tool VERSION'"
  fi
  local name_line
  name_line=$(sed -n '/^\.SH[[:space:]]*"\{0,1\}NAME/{n;p;q}' "$page")
  if [[ $name_line != "$tool \\- "* ]] && [[ $name_line != "${tool//-/\\-} \\- "* ]]; then
    fail "$tool: the NAME line should be '$tool \\- summary', is: $name_line"
  fi

  # --- rendering ----------------------------------------------------------------------
  local warnings
  if command -v man >/dev/null 2>&1; then
    if ! man -l "$page" >/dev/null 2>&1; then
      fail "$tool: man -l $page fails"
    fi
    warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null || echo "(exit status $?)")
    [ -z "$warnings" ] || fail "$tool: man --warnings: $warnings"
  fi
  if command -v groff >/dev/null 2>&1; then
    warnings=$(groff -man -ww -z -Tutf8 "$page" 2>&1 || echo "(exit status $?)")
    [ -z "$warnings" ] || fail "$tool: groff -ww: $warnings"
  fi
  if ! command -v man >/dev/null 2>&1 && ! command -v groff >/dev/null 2>&1; then
    echo "NOTE: neither man nor groff is installed: rendering not checked (apt-get install man-db groff-base)"
    render_unchecked=1
  fi
}

for tool in "${tools[@]}"; do
  check_tool "$tool"
done

if [ "$failures" -gt 0 ]; then
  echo "man_pages_test: $failures failure(s)"
  exit 1
fi
if [ "$render_unchecked" -eq 1 ]; then
  echo "man_pages_test: the flags and sections agree; rendering not checked (skipped)"
  exit 77
fi
echo "man_pages_test: all ${#tools[@]} man pages agree with --help and render cleanly"
