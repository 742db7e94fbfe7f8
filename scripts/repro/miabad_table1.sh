#!/usr/bin/env bash
# MIA-BAD's Table I, the Fashion-MNIST row: the shadow-model attack on single samples against
# MIA-BAD's batch-wise attack (attack features averaged over batches of B samples that are all
# members or all non-members), B = 8, 16, 32, 64, 128, 256, in one `mlaudit mia` run per model
# (the shadow models are shared by every B). Runs go to OUT/miabad/fashion-mnist-MODEL/.
# Usage: scripts/repro/miabad_table1.sh [PATH/TO/mlaudit]
#   env MODELS     default cnn
#       DATA       default fashion-mnist
#       PROTOCOL   default shadows (MIA-BAD's Algorithm 1: shadow datasets drawn from D');
#                  split4 for the survey's protocol
#       BATCH_SIZES default 8,16,32,64,128,256
#       EPOCHS, SHADOWS (default 4), OUT, THREADS, SMOKE, RESUME: see scripts/repro/common.sh
#       (SMOKE=1 uses B = 8,16,32,64: 800 pooled samples leave 200 members per side)
# Expected time, defaults, 2 threads: one cnn run, about 30 minutes (mlp: 2 minutes).
set -euo pipefail
SMOKE_BATCH_SIZES=8,16,32,64
source "$(dirname "$0")/common.sh"
MODELS=${MODELS:-cnn}
DATA=${DATA:-fashion-mnist}
PROTOCOL=${PROTOCOL:-shadows}
SHADOWS=${SHADOWS:-4}
BATCH_SIZES=${BATCH_SIZES:-8,16,32,64,128,256}
[ "$SMOKE" = 1 ] && BATCH_SIZES=$SMOKE_BATCH_SIZES

for m in $MODELS; do
  run_mia "$OUT/miabad/$DATA-$m" --data "$(dataset_spec "$DATA")" --model "$m" --protocol "$PROTOCOL" \
    --shadows "$SHADOWS" --epochs "$(epochs_for "$m")" --batch-sizes "$BATCH_SIZES"
done

# The paper's figures, keyed "model" -> "sample,B8,B16,B32,B64,B128,B256" accuracies. Empty:
# no figure of MIA-BAD's Table I could be checked against the paper when this was written, so
# the paper row prints n/a. Add a figure only with its source (table, row) in a comment.
declare -A PAPER=()

echo
echo "MIA-BAD Table I, $DATA ($PROTOCOL protocol$([ "$SMOKE" = 1 ] && echo ', SMOKE'))"
echo
for m in $MODELS; do
  "$PY" - "$OUT/miabad/$DATA-$m/mia.json" "$m" "$BATCH_SIZES" "${PAPER[$m]:-}" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
model, bs = sys.argv[2], sys.argv[3].split(",")
paper = sys.argv[4].split(",") if sys.argv[4] else []
a = j["attacks"]
print("model %s: target train %.4f, test %.4f, gap %.4f; %d shadows" % (
    model, j["target"]["train_accuracy"], j["target"]["test_accuracy"], j["target"]["gap_accuracy"], j["shadows"]))
print()
print("| | sample-wise | " + " | ".join("B=%s" % b for b in bs) + " |")
print("|---|---|" + "---|" * len(bs))
vals = [a["shadow_sample"]["accuracy"]] + [a["shadow_batch_%s" % b]["accuracy"] for b in bs]
print("| mlaudit acc | " + " | ".join("%.4f" % v for v in vals) + " |")
print("| members evaluated (samples, then batches) | %d | " % a["shadow_sample"]["n_members"] +
      " | ".join("%d" % a["shadow_batch_%s" % b]["n_members"] for b in bs) + " |")
p = (paper + [""] * len(vals))[:len(vals)]
print("| paper acc | " + " | ".join(v or "n/a" for v in p) + " |")
print()
PY
done
