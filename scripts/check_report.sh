#!/usr/bin/env bash
# Renders an HTML report in Debian's headless chromium and checks it:
#   - the page renders (a DOM dump and a screenshot come out),
#   - the rendered DOM contains every NAME given,
#   - the file has no external reference (no http:// or https:// in a src or href),
#   - every <img> is an inline data URI.
# Usage: scripts/check_report.sh REPORT.html NAME...   (SHOT=path.png keeps the screenshot)
# Prints one line per check; exits 1 when any fails, 2 on bad usage or no chromium
# (install it with scripts/deps.sh browser).
set -uo pipefail

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 REPORT.html NAME..." >&2
  exit 2
fi
command -v chromium >/dev/null || { echo "check_report: chromium missing (scripts/deps.sh browser)" >&2; exit 2; }
page=$(realpath "$1")
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shot=${SHOT:-$tmp/shot.png}
fail=0
check() { # check NAME STATUS DETAIL
  if [ "$2" = 0 ]; then echo "ok    $1${3:+: $3}"; else echo "FAIL  $1${3:+: $3}"; fail=1; fi
}
chrome() {
  timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$tmp/profile" "$@" 2>>"$tmp/chromium.log"
}

chrome --dump-dom "file://$page" >"$tmp/dom.html"
[ -s "$tmp/dom.html" ] && grep -qi "</html>" "$tmp/dom.html"
check "renders (DOM dump)" $? "$(wc -c <"$tmp/dom.html") bytes"

chrome --window-size=1100,2400 --screenshot="$shot" "file://$page" >/dev/null
[ -s "$shot" ]
check "renders (screenshot)" $? "$shot"

for name in "$@"; do
  grep -qF -- "$name" "$tmp/dom.html"
  check "names '$name'" $?
done

ext=$(grep -oiE '(src|href)[[:space:]]*=[[:space:]]*["'"'"']?[[:space:]]*(https?:)?//[^"'"'"' >]*' "$page" | head -3)
[ -z "$ext" ]
check "no external src/href" $? "${ext//$'\n'/ }"

grep -qiE 'https?://' "$page"
[ $? -ne 0 ]
check "no http(s):// anywhere in the file" $?

imgs=$(grep -oi '<img[^>]*>' "$page" | wc -l)
inline=$(grep -oi '<img[^>]*src="data:image/png;base64,[^"]*"' "$page" | wc -l)
[ "$imgs" -gt 0 ] && [ "$imgs" = "$inline" ]
check "figures present and inline" $? "$inline of $imgs as data URIs"

exit $fail
