#!/usr/bin/env bash
# CLI tests for DP-SGD training (train --dp-*): the accounting report, the training
# record, and one-line refusals.
# Usage: tests/cli/dp_train.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"

R="--data fashion-mnist --model mlp --subset 512 --epochs 1 --batch 64 --threads 2"
"$BIN" train $R --dp-clip 1 --dp-sigma 1 --json --out "$T/m.safetensors" >"$T/dp.json" 2>"$T/err" \
  && ok || bad "DP training failed: $(cat "$T/err")"
python3 - "$T/dp.json" "$T/m.safetensors" <<'PY' && ok || bad "DP report or record: $(cat "$T/dp.json")"
import json, math, struct, sys
dp = json.load(open(sys.argv[1]))["dp"]
assert set(dp) == {"epsilon", "epsilon_classic", "order", "delta", "sigma", "clip", "q", "steps", "sampling", "orders"}, dp
assert 0 < dp["epsilon"] <= dp["epsilon_classic"] and math.isfinite(dp["epsilon"]), dp
assert dp["delta"] == 1e-5 and dp["sigma"] == 1 and dp["clip"] == 1 and dp["q"] == 0.125, dp
assert dp["steps"] == 8 and dp["sampling"] == "poisson" and dp["orders"] == "tf", dp
with open(sys.argv[2], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    rec = json.loads(json.loads(f.read(n))["__metadata__"]["mlaudit.training"])
assert rec["dp_clip"] == 1 and rec["dp_sigma"] == 1 and rec["dp_delta"] == 1e-5 and rec["dp_sampling"] == "poisson", rec
assert rec["dp_orders"] == "tf", rec
res = rec["dp_result"]  # what the run achieved, as the report says
assert set(res) == {"epsilon", "epsilon_classic", "order", "delta", "sigma", "q", "steps"}, res
assert all(res[k] == dp[k] for k in res), (res, dp)
PY

# --dp-epsilon solves sigma; the reported epsilon meets the target.
"$BIN" train $R --dp-epsilon 8 --json >"$T/eps.json" 2>"$T/err" && ok || bad "--dp-epsilon failed: $(cat "$T/err")"
python3 -c "
import json, sys
dp = json.load(open(sys.argv[1]))['dp']
assert 7.9 < dp['epsilon'] <= 8 and dp['sigma'] > 0, dp" "$T/eps.json" && ok || bad "--dp-epsilon 8: $(cat "$T/eps.json")"

# --dp-orders: training's epsilon is the accountant's (mlaudit dp epsilon) over that set, and
# --dp-epsilon solves sigma over it too.
for set in opacus int; do
  "$BIN" train $R --dp-sigma 1 --dp-orders $set --json >"$T/o_$set.json" 2>"$T/err" || bad "--dp-orders $set: $(cat "$T/err")"
  "$BIN" dp epsilon --q 0.125 --sigma 1 --steps 8 --delta 1e-5 --orders $set >"$T/a_$set.json" 2>"$T/err" \
    || bad "dp epsilon --orders $set: $(cat "$T/err")"
  python3 -c "
import json, sys
t = json.load(open(sys.argv[1]))['dp']; a = json.loads(open(sys.argv[2]).read())
assert t['orders'] == sys.argv[3] and t['epsilon'] == a['epsilon'] and t['order'] == a['order'], (t, a)
assert t['epsilon_classic'] == a['epsilon_classic'], (t, a)" "$T/o_$set.json" "$T/a_$set.json" $set \
    && ok || bad "--dp-orders $set: train $(cat "$T/o_$set.json" | tail -c 300) vs dp $(cat "$T/a_$set.json")"
done
"$BIN" train $R --dp-epsilon 8 --dp-orders opacus --json >"$T/eps_o.json" 2>"$T/err" || bad "--dp-epsilon --dp-orders opacus: $(cat "$T/err")"
"$BIN" dp sigma --q 0.125 --epsilon 8 --steps 8 --delta 1e-5 --orders opacus --tol 0.01 >"$T/s_o.json" 2>"$T/err" \
  || bad "dp sigma --orders opacus: $(cat "$T/err")"
python3 -c "
import json, sys
t = json.load(open(sys.argv[1]))['dp']; a = json.loads(open(sys.argv[2]).read())
assert t['sigma'] == a['sigma'] and t['orders'] == 'opacus', (t, a)" "$T/eps_o.json" "$T/s_o.json" \
  && ok || bad "--dp-epsilon over opacus orders: sigma $(cat "$T/eps_o.json" | tail -c 300) vs $(cat "$T/s_o.json")"

# A plain run records no DP keys.
"$BIN" train $R --out "$T/plain.safetensors" >/dev/null 2>&1 || bad "plain run failed"
python3 -c "
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]
rec = json.loads(json.loads(f.read(n))['__metadata__']['mlaudit.training'])
sys.exit(1 if any(k.startswith('dp_') for k in rec) else 0)" "$T/plain.safetensors" && ok || bad "plain record has dp keys"

# history.csv: epsilon after every epoch (growing, the last one the report's); empty without DP.
R2="--data fashion-mnist --model mlp --subset 1024 --epochs 3 --batch 64 --threads 2 --seed 3 --dp-sigma 1.1"
"$BIN" train $R2 --json --plots "$T/p" --out "$T/straight.safetensors" >"$T/straight.json" 2>"$T/err" \
  && ok || bad "DP --plots: $(cat "$T/err")"
python3 - "$T/p/history.csv" "$T/straight.json" <<'PY' && ok || bad "DP history.csv: $(cat "$T/p/history.csv")"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
eps = [float(r["epsilon"]) for r in rows]
assert len(eps) == 3 and 0 < eps[0] < eps[1] < eps[2], eps
assert abs(eps[-1] - json.load(open(sys.argv[2]))["dp"]["epsilon"]) < 1e-5, eps
PY
"$BIN" train $R --plots "$T/plain" >/dev/null 2>&1 || bad "plain --plots failed"
python3 -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert rows and all(r['epsilon'] == '' for r in rows), rows" "$T/plain/history.csv" && ok || bad "plain history.csv epsilon"

# --- checkpoint and resume: interrupted after epoch 1 (SIGTERM once its checkpoint is
# written), resumed: the same model bytes and the same epsilon and steps ---
"$BIN" train $R2 --checkpoint "$T/ck.safetensors" --checkpoint-every 1 --out "$T/resumed.safetensors" \
  >/dev/null 2>"$T/int.err" &
pid=$!
for i in $(seq 1200); do [ -s "$T/ck.safetensors" ] && break; sleep 0.05; done
kill -TERM "$pid"; wait "$pid"; rc=$?
if [ "$rc" -ne 0 ]; then
  grep -q "continue with --resume" "$T/int.err" && ok || bad "DP interrupt message: $(cat "$T/int.err")"
  "$BIN" train $R2 --checkpoint "$T/ck.safetensors" --resume "$T/ck.safetensors" --json \
    --out "$T/resumed.safetensors" >"$T/resumed.json" 2>"$T/err" || bad "DP resume: $(cat "$T/err")"
else
  echo "note: the DP run finished before SIGTERM; resuming its last checkpoint"
  "$BIN" train $R2 --resume "$T/ck.safetensors" --json --out "$T/resumed.safetensors" >"$T/resumed.json" 2>"$T/err" \
    || bad "DP resume: $(cat "$T/err")"
fi
cmp -s "$T/straight.safetensors" "$T/resumed.safetensors" && ok || bad "resumed DP run differs from the straight run"
python3 - "$T/straight.json" "$T/resumed.json" <<'PY' && ok || bad "resumed DP accounting differs"
import json, sys
a, b = (json.load(open(p))["dp"] for p in sys.argv[1:])
assert a == b and a["steps"] == 48, (a, b)
PY
# The checkpoint holds the DP state; a plain run refuses it, a DP run with other
# settings refuses it, and a DP run refuses a plain run's checkpoint.
expect_fail 1 "holds training-hook state (dpsgd-1)" "$BIN" train ${R2% --dp-sigma 1.1} --resume "$T/ck.safetensors"
expect_fail 1 "this run has clip 1, sigma 1.2" "$BIN" train ${R2% --dp-sigma 1.1} --dp-sigma 1.2 --resume "$T/ck.safetensors"
"$BIN" train ${R2% --dp-sigma 1.1} --epochs 1 --checkpoint "$T/plain.ck" >/dev/null 2>&1 || bad "plain checkpoint run failed"
expect_fail 1 "but the checkpoint holds none" "$BIN" train ${R2% --dp-sigma 1.1} --epochs 1 --dp-sigma 1.1 --resume "$T/plain.ck"

expect_fail 1 "--dp-clip must be positive" "$BIN" train $R --dp-clip 0 --dp-sigma 1
expect_fail 1 "not both" "$BIN" train $R --dp-sigma 1 --dp-epsilon 2
expect_fail 1 "out of reach" "$BIN" train $R --dp-epsilon 1e-9
expect_fail 1 "--force" "$BIN" train $R --dp-sigma 1 --dp-delta 0.01
"$BIN" train $R --dp-sigma 1 --dp-delta 0.01 --force >/dev/null 2>"$T/err" && ok || bad "--force: $(cat "$T/err")"
expect_fail 1 "(batchnorm)" "$BIN" train $R --model resnet20 --dp-sigma 1
expect_fail 1 "needs --dp-sigma or --dp-epsilon" "$BIN" train $R --dp-clip 1
expect_fail 1 "--mixup" "$BIN" train $R --dp-sigma 1 --mixup 0.2
expect_fail 1 "poisson or shuffle" "$BIN" train $R --dp-sigma 1 --dp-sampling uniform
expect_fail 1 "--dp-orders must be tf, opacus or int" "$BIN" train $R --dp-sigma 1 --dp-orders renyi

cli_finish
