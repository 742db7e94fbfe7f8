#!/usr/bin/env bash
# `make demo`: the main job. For now: train the cnn preset on Fashion-MNIST for 10
# epochs (Adam 1e-3, batch 128), evaluate it, and write results and figures to OUT.
# Usage: scripts/demo.sh PATH/TO/mlaudit OUT
set -euo pipefail
BIN=$1
OUT=$2
mkdir -p "$OUT"
echo "mlaudit demo: training the cnn preset on Fashion-MNIST (10 epochs, $(nproc) threads); figures go to $OUT/"
"$BIN" train --data fashion-mnist --model cnn --epochs 10 --batch 128 --lr 1e-3 --optimizer adam --seed 0 \
  --out "$OUT/cnn.safetensors" --plots "$OUT" --json >"$OUT/train.json"
"$BIN" eval --model "$OUT/cnn.safetensors" --data fashion-mnist --json >"$OUT/eval.json"
"$BIN" predict --model "$OUT/cnn.safetensors" --data fashion-mnist --out "$OUT/test_probs.npy"
python3 - "$OUT" <<'PY' 2>/dev/null || cat "$OUT/train.json"
import json, sys
out = sys.argv[1]
t = json.load(open(out + "/train.json"))
print("train: %d images, %d epochs in %.1f s (%.0f samples/s, %.1f GFLOP/s)" % (
    t["train_size"], t["epochs"], t["train_seconds"], t["samples_per_second"], t["train_gflops"]))
print("accuracy: train %.4f, test %.4f (gap %.4f); test loss %.4f" % (
    t["train_accuracy"], t["test_accuracy"], t["gap_accuracy"], t["test_loss"]))
PY
echo "wrote: $(cd "$OUT" && ls | tr '\n' ' ')"
