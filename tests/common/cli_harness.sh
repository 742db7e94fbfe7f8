# Shared harness of the CLI tests (tests/cli/*.sh), sourced first by each:
#   source "$(dirname "$0")/../common/cli_harness.sh" "$@"
# Sets BIN (the binary, $1) and T (a temporary folder removed on exit); counts checks
# with ok / bad; cli_finish prints "N passed, M failed" and exits non-zero on a failure.
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_fail CODE NEEDLE CMD...: CMD exits with CODE (any: any non-zero code), prints
# exactly one line on stderr containing NEEDLE and nothing on stdout.
expect_fail() {
  local code=$1 needle=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  local lines; lines=$(wc -l <"$T/err")
  if [ "$code" = any ] && [ "$rc" -eq 0 ]; then bad "$* succeeded"; return; fi
  if [ "$code" != any ] && [ "$rc" -ne "$code" ]; then bad "$* exited $rc, wanted $code: $(cat "$T/err")"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$* printed $lines stderr lines: $(cat "$T/err")"; return; fi
  if [ -s "$T/out" ]; then bad "$* printed on stdout: $(head -c 300 "$T/out")"; return; fi
  grep -qF -- "$needle" "$T/err" || { bad "$* stderr lacks '$needle': $(cat "$T/err")"; return; }
  ok
}

# Prints the closing line ("LABEL: " before it when given) and exits 1 on any failure.
cli_finish() {
  echo "${1:+$1: }$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}
