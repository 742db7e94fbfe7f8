#!/usr/bin/env bash
# CLI test of scripts/robust/tables.sh's printing (NO_RUN=1, no run made): Table 1 takes
# the DNN, kNN and DkNN columns from the T1_SUBSET invocation (a one-run invocation, whose
# robust.json sits in OUT/DATA/t1 itself) and the DkNNB columns from the main one
# (OUT/DATA/fgsm-dknnb/); a missing run prints "-".
# Usage: tests/cli/robust_tables.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"
ROOT=${MLA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

run_json() { # DIR DNN KNN DKNN DKNNB N_EVAL
  mkdir -p "$1"
  printf '{"accuracy": {"clean": {"dnn": %s, "knn": %s, "dknn": %s, "dknnb": %s}}, "settings": {"n_eval": %s}}\n' \
    "$2" "$3" "$4" "$5" "$6" >"$1/robust.json"
}
run_json "$T/o/mnist/t1" 0.9898 0.9908 0.9891 0 9250
run_json "$T/o/mnist/fgsm-dknnb" 0.5 0.5 0.5 0.994 500
run_json "$T/o/mnist/fgsm-dknnb-cl" 0.5 0.5 0.5 0.996 500

table=$(NO_RUN=1 TABLES=1 DATASETS="mnist fashion-mnist" T1_SUBSET=0 TEST_SUBSET=500 MODEL_DIR="$T/m" OUT="$T/o" \
  bash "$ROOT/scripts/robust/tables.sh" "$BIN" 2>"$T/err")
row=$(grep '^| mnist ' <<<"$table")
[ "$row" = "| mnist | 9250 / 500 | 98.98 [99.17] | 99.08 [98.98] | 98.91 [98.89] | 99.40 [n/a] | 99.60 [n/a] |" ] \
  && ok || bad "mnist row: $row"
row=$(grep '^| fashion-mnist ' <<<"$table")
[ "$row" = "| fashion-mnist | - | - [91.22] | - [89.87] | - [90.28] | - [n/a] | - [n/a] |" ] \
  && ok || bad "fashion-mnist row (no runs): $row"
cli_finish robust_tables
