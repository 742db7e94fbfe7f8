#!/usr/bin/env bash
# CLI test of scripts/robust/tables.sh's printing (NO_RUN=1, no run made): Table 1 takes
# the DNN, kNN and DkNN columns from the T1_SUBSET invocation (a one-run invocation, whose
# robust.json sits in OUT/DATA/t1 itself) and the DkNNB columns from the main one
# (OUT/DATA/fgsm-dknnb/); a missing run prints "-". Then, with a stub binary that records
# its arguments: every robust run gets --normalize (the study's cosine kNN) unless
# NORMALIZE=0, and T1_ONLY=1 makes Table 1's invocation alone.
# Usage: tests/cli/robust_tables.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"
ROOT=${MLA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

run_json() { # DIR DNN KNN DKNN DKNNB N_EVAL
  mkdir -p "$1"
  printf '{"accuracy": {"clean": {"dnn": %s, "knn": %s, "dknn": %s, "dknnb": %s}}, "settings": {"n_eval": %s, "model": "dknn", "knn_layer": "relu3", "k": 75, "normalize": true}}\n' \
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
grep -qF "(mnist: net dknn, kNN at relu3, k 75, L2-normalised features)" <<<"$table" \
  && ok || bad "Table 1's kNN note: $table"

# The stub: 'train ... --out F' creates F; 'robust ... --out DIR' logs its arguments and
# writes DIR/robust.json (the kNN note's settings).
cat >"$T/stub" <<'SH'
#!/usr/bin/env bash
echo "$*" >>"$STUB_LOG"
out=; prev=
for a in "$@"; do [ "$prev" = --out ] && out=$a; prev=$a; done
if [ "$1" = train ]; then : >"$out"; exit 0; fi
norm=false; [[ " $* " == *" --normalize "* ]] && norm=true
mkdir -p "$out"
printf '{"accuracy": {"clean": {"dnn": 0.9, "knn": 0.8, "dknn": 0.85}}, "settings": {"n_eval": 9250, "model": "advknn", "knn_layer": "relu3", "k": 75, "normalize": %s}}\n' \
  "$norm" >"$out/robust.json"
SH
chmod +x "$T/stub"
stub_tables() { # OUT_SUBDIR ENV...: runs tables.sh with the stub on mnist, Table 1 only
  local o=$1; shift
  env "$@" STUB_LOG="$T/$o.log" TABLES=1 DATASETS=mnist T1_SUBSET=0 T1_ONLY=1 PRESET=advknn \
    MODEL_DIR="$T/$o/m" OUT="$T/$o" bash "$ROOT/scripts/robust/tables.sh" "$T/stub" 2>/dev/null
}
table=$(stub_tables s1)
[ "$(grep -c ' robust ' "$T/s1.log")" = 0 ] && [ "$(grep -c '^robust ' "$T/s1.log")" = 1 ] \
  && ok || bad "T1_ONLY: one robust invocation wanted: $(cat "$T/s1.log")"
grep -q '^robust .*--attack fgsm --through dnn .*--normalize .*--out '"$T"'/s1/mnist/t1$' "$T/s1.log" \
  && ok || bad "Table 1's invocation lacks --normalize: $(cat "$T/s1.log")"
grep -q '^train --data mnist --model advknn ' "$T/s1.log" && ok || bad "advknn net not trained: $(cat "$T/s1.log")"
grep -qF "| mnist | 9250 | 90.00 [99.17] | 80.00 [98.98] | 85.00 [98.89] | - [n/a] | - [n/a] |" <<<"$table" \
  && grep -qF "(mnist: net advknn, kNN at relu3, k 75, L2-normalised features)" <<<"$table" \
  && ok || bad "stub Table 1: $table"
table=$(stub_tables s0 NORMALIZE=0)
! grep -q -- '--normalize' "$T/s0.log" && grep -qF "k 75, raw features)" <<<"$table" \
  && ok || bad "NORMALIZE=0 still normalises: $(cat "$T/s0.log") $table"

cli_finish robust_tables
