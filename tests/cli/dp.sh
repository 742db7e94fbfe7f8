#!/usr/bin/env bash
# CLI tests for `mlaudit dp`: the published accountant values, --help, and clean failures.
# Usage: tests/cli/dp.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"

# expect_value KEY WANT TOL CMD...: CMD prints one JSON line whose KEY is within TOL of WANT.
expect_value() {
  local key=$1 want=$2 tol=$3; shift 3
  "$@" >"$T/out" 2>"$T/err" || { bad "$* failed: $(cat "$T/err")"; return; }
  [ "$(wc -l <"$T/out")" -eq 1 ] || { bad "$* printed more than one line"; return; }
  python3 - "$T/out" "$key" "$want" "$tol" <<'PY' && ok || bad "$*: $key is $(cat "$T/out")"
import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
sys.exit(0 if abs(v - float(sys.argv[3])) <= float(sys.argv[4]) else 1)
PY
}

# --- the published values ---
# TF Privacy's MNIST tutorial: batch 256 of 60000, sigma 1.1, 60 epochs (14062 steps as
# the tutorial counts them), delta 1e-5, classic conversion: 3.01.
expect_value epsilon_classic 3.01 0.005 "$BIN" dp epsilon --q 0.0042666666666666667 --sigma 1.1 --steps 14062 --delta 1e-5
# The same plan in a run's terms: 60 * ceil(60000 / 256) = 14100 steps, still 3.01.
expect_value epsilon_classic 3.01 0.005 "$BIN" dp epsilon --batch 256 --n 60000 --epochs 60 --sigma 1.1 --delta 1e-5
expect_value steps 14100 0 "$BIN" dp epsilon --batch 256 --n 60000 --epochs 60 --sigma 1.1 --delta 1e-5
# Abadi et al. 2016: q 0.01, sigma 4, 10000 steps, integer orders, classic: 1.26.
expect_value epsilon_classic 1.26 0.005 "$BIN" dp epsilon --q 0.01 --sigma 4 --steps 10000 --delta 1e-5 --orders int
# Opacus: q 0.04, sigma 1.5, 2250 steps, improved conversion: 7.33; sigma for epsilon 8: 1.416.
expect_value epsilon 7.32911117143 1e-6 "$BIN" dp epsilon --q 0.04 --sigma 1.5 --steps 2250 --delta 1e-5 --orders opacus
expect_value sigma 1.416 0.0005 "$BIN" dp sigma --q 0.04 --epsilon 8 --steps 2250 --delta 1e-5 --orders opacus --tol 0.01

# Every field, and sigma's answer meets its budget to --tol.
"$BIN" dp sigma --batch 256 --n 60000 --epochs 60 --epsilon 3 --delta 1e-5 >"$T/s.json" 2>"$T/err" || bad "dp sigma: $(cat "$T/err")"
python3 - "$T/s.json" <<'PY' && ok || bad "dp sigma JSON: $(cat "$T/s.json")"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ["sigma", "epsilon", "order", "epsilon_classic", "order_classic", "q", "steps", "delta", "orders"]:
    assert k in d, k
assert d["epsilon"] <= 3 and 3 - d["epsilon"] <= 1e-6 and d["orders"] == "tf" and d["tol"] == 1e-6
PY
"$BIN" dp epsilon --q 0.01 --sigma 1 --steps 100 --delta 1e-5 >"$T/e.json" 2>"$T/err" || bad "dp epsilon: $(cat "$T/err")"
python3 - "$T/e.json" <<'PY' && ok || bad "dp epsilon JSON: $(cat "$T/e.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(d) == sorted(["epsilon", "order", "epsilon_classic", "order_classic", "q", "sigma", "steps", "delta", "orders"]), d
assert d["epsilon"] <= d["epsilon_classic"]
PY

# --- help ---
"$BIN" dp --help | grep -q "^usage: mlaudit dp epsilon|sigma" && ok || bad "dp --help"
for c in epsilon sigma; do
  "$BIN" dp $c --help >"$T/help" && grep -q "^usage: mlaudit dp $c" "$T/help" && ok || bad "dp $c --help"
  grep -q -- "--batch B --n N --epochs E" "$T/help" && ok || bad "dp $c --help lacks the --batch/--n/--epochs form"
done
"$BIN" --help | grep -q "^  dp " && ok || bad "mlaudit --help lacks dp"

# --- clean failures ---
expect_fail any "give a subcommand" "$BIN" dp
expect_fail any "unknown subcommand 'budget'" "$BIN" dp budget
expect_fail any "--sigma is required" "$BIN" dp epsilon --q 0.1 --steps 10 --delta 1e-5
expect_fail any "--epsilon is required" "$BIN" dp sigma --q 0.1 --steps 10 --delta 1e-5
expect_fail any "--delta is required" "$BIN" dp epsilon --q 0.1 --sigma 1 --steps 10
expect_fail any "needs --q and --steps" "$BIN" dp epsilon --q 0.1 --sigma 1 --delta 1e-5
expect_fail any "go together" "$BIN" dp epsilon --batch 10 --n 100 --sigma 1 --delta 1e-5
expect_fail any "not both" "$BIN" dp epsilon --q 0.1 --steps 10 --batch 10 --sigma 1 --delta 1e-5
expect_fail any "--q must be between 0 and 1" "$BIN" dp epsilon --q 1.5 --sigma 1 --steps 10 --delta 1e-5
expect_fail any "q would be above 1" "$BIN" dp epsilon --batch 200 --n 100 --epochs 1 --sigma 1 --delta 1e-5
expect_fail any "sigma must be positive" "$BIN" dp epsilon --q 0.1 --sigma -1 --steps 10 --delta 1e-5
expect_fail any "sigma must be positive" "$BIN" dp epsilon --q 0.1 --sigma 0 --steps 10 --delta 1e-5
expect_fail any "delta must lie in (0, 1)" "$BIN" dp epsilon --q 0.1 --sigma 1 --steps 10 --delta 1
expect_fail any "--steps must be between" "$BIN" dp epsilon --q 0.1 --sigma 1 --steps -5 --delta 1e-5
expect_fail any "out of reach" "$BIN" dp sigma --q 1 --epsilon 1e-4 --steps 1000000 --delta 1e-5
expect_fail any "tolerance must be positive" "$BIN" dp sigma --q 0.1 --epsilon 1 --steps 10 --delta 1e-5 --tol 0
expect_fail any "epsilon must be positive" "$BIN" dp sigma --q 0.1 --epsilon -2 --steps 10 --delta 1e-5
expect_fail any "unknown order set 'moments'" "$BIN" dp epsilon --q 0.1 --sigma 1 --steps 10 --delta 1e-5 --orders moments
expect_fail any "unknown flag '--noise'" "$BIN" dp epsilon --q 0.1 --noise 1 --steps 10 --delta 1e-5
expect_fail any "--sigma expects a number" "$BIN" dp epsilon --q 0.1 --sigma lots --steps 10 --delta 1e-5

cli_finish
