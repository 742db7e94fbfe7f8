#!/usr/bin/env bash
# `make bench`: every bench/bench_*.sh, each printing its own side-by-side table.
# Usage: bench/run.sh PATH/TO/mlaudit
set -euo pipefail
BIN=$(realpath "$1")
cd "$(dirname "$0")/.."
status=0
for b in bench/bench_*.sh; do
  echo "== $b =="
  bash "$b" "$BIN" || { echo "$b failed" >&2; status=1; }
  echo
done
exit $status
