#!/usr/bin/env bash
# The generalisation gap of a net trained to overfit, without and with each
# regulariser (the first membership-inference defences). Prints a Markdown table.
# Usage: scripts/defence_gaps.sh PATH/TO/mlaudit [MODEL] [SUBSET] [EPOCHS]
#   defaults: cnn on a 5,000-image stratified Fashion-MNIST subset for 50 epochs.
set -euo pipefail
BIN=$1
MODEL=${2:-cnn}
SUBSET=${3:-5000}
EPOCHS=${4:-50}
THREADS=${THREADS:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
base="--data fashion-mnist --model $MODEL --subset $SUBSET --epochs $EPOCHS --threads $THREADS --seed 0 --json"
runs=(
  "none|"
  "weight decay 5e-4|--weight-decay 5e-4"
  "augmentation|--augment"
  "mixup 0.4|--mixup 0.4"
  "label smoothing 0.1|--label-smoothing 0.1"
  "early stopping (5, 10% val)|--early-stop 5 --val-fraction 0.1"
  "augmentation + weight decay|--augment --weight-decay 5e-4"
)
echo "$MODEL, $SUBSET training images, $EPOCHS epochs, Adam 1e-3, batch 128, seed 0"
echo
echo "| defence | train acc | test acc | gap (acc) | train loss | test loss | gap (loss) | epoch kept | seconds |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in "${runs[@]}"; do
  name=${r%%|*}
  flags=${r#*|}
  # shellcheck disable=SC2086
  "$BIN" train $base $flags >"$OUT/r.json"
  python3 - "$OUT/r.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("| %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %d | %.0f |" % (
    sys.argv[2], d["train_accuracy"], d["test_accuracy"], d["gap_accuracy"], d["train_loss"],
    d["test_loss"], d["gap_loss"], d["epoch_kept"], d["train_seconds"]))
PY
done
