#!/usr/bin/env bash
# Test accuracy of every classical model on every feature set, on the seeded stratified
# 10,000-image Fashion-MNIST subset (the study's protocol), default hyperparameters or the
# grid given per model below. Prints a Markdown table (accuracy with its 95% interval, kappa,
# fit + predict seconds), then the whole table's wall time (data loading included).
# Usage: scripts/classic_table.sh PATH/TO/mlaudit [SUBSET]   (env THREADS, default 2; MODELS; FEATURES)
# Each row's JSON is read by the system Python when there is one: a version manager's python3
# shim (pyenv) costs seconds per call on a busy machine, 21 times a table.
set -euo pipefail
BIN=$1
SUBSET=${2:-10000}
THREADS=${THREADS:-2}
MODELS=${MODELS:-"knn svm rf gbm logreg nb avnnet"}
FEATURES=${FEATURES:-"raw engineered pca:0.95"}
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "Fashion-MNIST, $SUBSET-image stratified training subset (seed 0), full 10,000-image test set, $THREADS threads"
echo
echo "| model | features | n_features | test acc | 95% CI | kappa | seconds (features + fit + predict) |"
echo "|---|---|---|---|---|---|---|"
START=$(date +%s.%N)
for m in $MODELS; do
  for f in $FEATURES; do
    grid=()
    [ "$m" = knn ] && grid=(--grid k=5)
    "$BIN" classic --data fashion-mnist --model "$m" --features "$f" --subset "$SUBSET" --seed 0 \
      --threads "$THREADS" "${grid[@]}" --json >"$OUT/r.json"
    "$PY" - "$OUT/r.json" "$m" "$f" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lo, hi = d["test_accuracy_ci95"]
secs = d.get("features_seconds", 0) + d["train_seconds"] + d["predict_seconds"]
print("| %s | %s | %d | %.4f | [%.4f, %.4f] | %.4f | %.1f |" % (
    sys.argv[2], sys.argv[3], d["n_features"], d["test_accuracy"], lo, hi, d["kappa"], secs))
PY
  done
done
echo
echo "table: $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }') s wall for $(echo $MODELS | wc -w) models x $(echo $FEATURES | wc -w) feature sets"
