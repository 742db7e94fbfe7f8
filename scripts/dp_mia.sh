#!/usr/bin/env bash
# Membership inference against DP-SGD's own model (issue #16, done-when 3): the DP-SGD
# cnn of bench/bench_dpsgd.sh (all 60,000 Fashion-MNIST training images, Poisson batches
# of 256, clip 1, SGD lr 2, epsilon 8 at delta 1e-5 over 10 epochs) and an undefended cnn
# on the same images (Adam 1e-3, batch 256, 10 epochs), each audited as an own target
# (`mlaudit mia --target`): members are training images 0..M-1, non-members the first M
# test images (pooled indices 60000..), and the shadows train on halves of the other
# training images (members of the target, never evaluated), DP shadows by the target's
# recorded recipe. Own-target audits run offline LiRA (no shadow saw an evaluated image).
# Prints, for each model, test accuracy, the loss-threshold AUC and LiRA offline's TPR at
# FPR 1% with its 95% Clopper-Pearson interval, and whether the interval holds chance
# (TPR = 1%). Writes OUT/{dp,plain}.safetensors, OUT/{dp,plain}/ (mia --out) and
# OUT/summary.md.
# Usage: scripts/dp_mia.sh [PATH/TO/mlaudit]
#   env OUT (default dp-mia-out/), SHADOWS (16), MEMBERS (10000), EPOCHS (10),
#       THREADS (all cores), SEED (0), RESUME=1 keeps finished steps
# Time: 2 targets of 600,000 sample-passes and 2 x SHADOWS shadows of 25,000 images x 10
# epochs; about 20 minutes on 2 quiet cores at the bench's speeds (an estimate; with
# SHADOWS=8 on a machine shared at load 10 it took 2 hours 10 minutes). Figures: README.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/build/mlaudit}")
[ -x "$BIN" ] || { echo "dp_mia: $BIN is not an executable (build it: make)" >&2; exit 1; }
OUT=$(realpath -m "${OUT:-$ROOT/dp-mia-out}")
SHADOWS=${SHADOWS:-16}
MEMBERS=${MEMBERS:-10000}
EPOCHS=${EPOCHS:-10}
THREADS=${THREADS:-$(nproc)}
SEED=${SEED:-0}
RESUME=${RESUME:-0}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
cd "$ROOT"   # mlaudit finds data/ relative to the current directory

COMMON=(--data fashion-mnist --model cnn --batch 256 --epochs "$EPOCHS" --seed "$SEED" --threads "$THREADS")
run() { echo "+ $*" >&2; t0=$(date +%s); "$@"; echo "  $(( $(date +%s) - t0 )) s" >&2; }
train() { # name, flags...
  local name=$1; shift
  if [ "$RESUME" = 1 ] && [ -s "$OUT/$name.safetensors" ]; then echo "= $OUT/$name.safetensors kept"; return; fi
  run "$BIN" train "${COMMON[@]}" "$@" --out "$OUT/$name.safetensors" --json >"$OUT/$name.train.json"
}
train dp --optimizer sgd --lr 2 --momentum 0 --dp-clip 1 --dp-epsilon 8 --dp-delta 1e-5
train plain

seq 0 $((MEMBERS - 1)) >"$OUT/members.txt"
seq 60000 $((60000 + MEMBERS - 1)) >"$OUT/nonmembers.txt"
seq "$MEMBERS" 59999 >"$OUT/shadow_pool.txt"
for name in dp plain; do
  if [ "$RESUME" = 1 ] && [ -s "$OUT/$name/mia.json" ]; then echo "= $OUT/$name/mia.json kept"; continue; fi
  run "$BIN" mia --data fashion-mnist --target "$OUT/$name.safetensors" --members "$OUT/members.txt" \
    --nonmembers "$OUT/nonmembers.txt" --shadow-pool "$OUT/shadow_pool.txt" --shadows "$SHADOWS" \
    --threads "$THREADS" --seed "$SEED" --attacks loss,lira_offline,lira_offline_fixed,rmia_offline \
    --out "$OUT/$name" --json >"$OUT/$name.mia.json"
done

"$PY" - "$OUT" "$SHADOWS" "$MEMBERS" <<'PY'
import json, os, sys
out, shadows, members = sys.argv[1:4]
lines = ["Own-target audits of Fashion-MNIST cnns trained on all 60,000 training images "
         "(%s members vs %s test images evaluated, %s shadows on halves of the other training images)" % (members, members, shadows),
         "", "| model | test acc | epsilon | loss AUC | LiRA offline TPR at FPR 1% [95% CI] | chance (1%) inside? |",
         "|---|---|---|---|---|---|"]
for name, label in (("dp", "DP-SGD, epsilon 8"), ("plain", "undefended")):
    t = json.load(open(os.path.join(out, name + ".train.json")))
    m = json.load(open(os.path.join(out, name, "mia.json")))
    lira = m["attacks"]["lira_offline"]
    lo, hi = lira["ci95_at_fpr_0.01"]
    eps = t.get("dp", {}).get("epsilon")
    lines.append("| %s | %.4f | %s | %.4f | %.2f%% [%.2f, %.2f] | %s |" % (
        label, t["test_accuracy"], "%.3f" % eps if eps else "-", m["attacks"]["loss"]["auc"],
        100 * lira["tpr_at_fpr_0.01"], 100 * lo, 100 * hi, "yes" if lo <= 0.01 <= hi else "no"))
text = "\n".join(lines) + "\n"
open(os.path.join(out, "summary.md"), "w").write(text)
print(text)
PY
