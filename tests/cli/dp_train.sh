#!/usr/bin/env bash
# CLI tests for DP-SGD training (train --dp-*): the accounting report, the training
# record, and one-line refusals.
# Usage: tests/cli/dp_train.sh PATH/TO/mlaudit
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_fail CODE NEEDLE CMD...: exits with CODE, prints exactly one line on stderr containing NEEDLE.
expect_fail() {
  local code=$1 needle=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  local lines; lines=$(wc -l <"$T/err")
  if [ "$rc" -ne "$code" ]; then bad "$* exited $rc, wanted $code: $(cat "$T/err")"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$* printed $lines stderr lines: $(cat "$T/err")"; return; fi
  grep -qF -- "$needle" "$T/err" || { bad "$* stderr lacks '$needle': $(cat "$T/err")"; return; }
  ok
}

R="--data fashion-mnist --model mlp --subset 512 --epochs 1 --batch 64 --threads 2"
"$BIN" train $R --dp-clip 1 --dp-sigma 1 --json --out "$T/m.safetensors" >"$T/dp.json" 2>"$T/err" \
  && ok || bad "DP training failed: $(cat "$T/err")"
python3 - "$T/dp.json" "$T/m.safetensors" <<'PY' && ok || bad "DP report or record: $(cat "$T/dp.json")"
import json, math, struct, sys
dp = json.load(open(sys.argv[1]))["dp"]
assert set(dp) == {"epsilon", "epsilon_classic", "order", "delta", "sigma", "clip", "q", "steps", "sampling"}, dp
assert 0 < dp["epsilon"] <= dp["epsilon_classic"] and math.isfinite(dp["epsilon"]), dp
assert dp["delta"] == 1e-5 and dp["sigma"] == 1 and dp["clip"] == 1 and dp["q"] == 0.125, dp
assert dp["steps"] == 8 and dp["sampling"] == "poisson", dp
with open(sys.argv[2], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    rec = json.loads(json.loads(f.read(n))["__metadata__"]["mlaudit.training"])
assert rec["dp_clip"] == 1 and rec["dp_sigma"] == 1 and rec["dp_delta"] == 1e-5 and rec["dp_sampling"] == "poisson", rec
PY

# --dp-epsilon solves sigma; the reported epsilon meets the target.
"$BIN" train $R --dp-epsilon 8 --json >"$T/eps.json" 2>"$T/err" && ok || bad "--dp-epsilon failed: $(cat "$T/err")"
python3 -c "
import json, sys
dp = json.load(open(sys.argv[1]))['dp']
assert 7.9 < dp['epsilon'] <= 8 and dp['sigma'] > 0, dp" "$T/eps.json" && ok || bad "--dp-epsilon 8: $(cat "$T/eps.json")"

# A plain run records no DP keys.
"$BIN" train $R --out "$T/plain.safetensors" >/dev/null 2>&1 || bad "plain run failed"
python3 -c "
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]
rec = json.loads(json.loads(f.read(n))['__metadata__']['mlaudit.training'])
sys.exit(1 if any(k.startswith('dp_') for k in rec) else 0)" "$T/plain.safetensors" && ok || bad "plain record has dp keys"

expect_fail 1 "--dp-clip must be positive" "$BIN" train $R --dp-clip 0 --dp-sigma 1
expect_fail 1 "not both" "$BIN" train $R --dp-sigma 1 --dp-epsilon 2
expect_fail 1 "out of reach" "$BIN" train $R --dp-epsilon 1e-9
expect_fail 1 "--force" "$BIN" train $R --dp-sigma 1 --dp-delta 0.01
"$BIN" train $R --dp-sigma 1 --dp-delta 0.01 --force >/dev/null 2>"$T/err" && ok || bad "--force: $(cat "$T/err")"
expect_fail 1 "(batchnorm)" "$BIN" train $R --model resnet20 --dp-sigma 1
expect_fail 1 "needs --dp-sigma or --dp-epsilon" "$BIN" train $R --dp-clip 1
expect_fail 1 "--mixup" "$BIN" train $R --dp-sigma 1 --mixup 0.2
expect_fail 1 "poisson or shuffle" "$BIN" train $R --dp-sigma 1 --dp-sampling uniform
expect_fail 1 "checkpointed" "$BIN" train $R --dp-sigma 1 --checkpoint "$T/ck"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
