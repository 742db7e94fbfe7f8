#!/usr/bin/env bash
# mlaudit's classical models beside scikit-learn's (../shared/peers/sk_classic.py), same data, same threads.
# Usage: bash bench/bench_classic.sh [PATH/TO/mlaudit] [THREADS]
#   kNN (k=5) and PCA (95%) on all 60,000 Fashion-MNIST training images (kNN: 10,000 queries);
#   svm, rf, logreg, nb on a 10,000-image stratified subset (each tool draws its own, seed 0).
# Seconds are fit + predict (PCA: fit), without loading the data, for both tools.
# Prints one table; ratio = sklearn seconds / mlaudit seconds (> 1: mlaudit faster).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/mlaudit}
THREADS=${2:-2}
PEERS=$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || true)
PY=/usr/bin/python3
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ -x "$BIN" ] || { echo "bench_classic: $BIN is not an executable (build with make first)" >&2; exit 1; }

# --- scikit-learn ---
if [ -n "$PEERS" ] && [ -f "$PEERS/sk_classic.py" ] && $PY -c "import sklearn" 2>/dev/null; then
  echo "running scikit-learn (sk_classic.py, $THREADS threads)..." >&2
  (cd "$PEERS" && $PY sk_classic.py --threads "$THREADS" knn pca) >"$OUT/sk.jsonl" || echo "sk_classic.py knn pca failed" >&2
  (cd "$PEERS" && $PY sk_classic.py --threads "$THREADS" --subset 10000 svm rf logreg nb) >>"$OUT/sk.jsonl" \
    || echo "sk_classic.py on the subset failed" >&2
else
  echo "bench_classic: scikit-learn peer not available (scripts/deps.sh bench; ../shared/peers/sk_classic.py)" >&2
  : >"$OUT/sk.jsonl"
fi

# --- mlaudit ---
echo "running mlaudit ($THREADS threads)..." >&2
"$BIN" classic --data fashion-mnist --model knn --grid k=5 --threads "$THREADS" --json >"$OUT/ml_knn.json"
"$BIN" pca --data fashion-mnist --variance 0.95 --threads "$THREADS" --json >"$OUT/ml_pca.json"
for m in svm rf logreg nb; do
  "$BIN" classic --data fashion-mnist --model "$m" --subset 10000 --threads "$THREADS" --json >"$OUT/ml_$m.json"
done

$PY - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
sk = {}
for line in open(os.path.join(out, "sk.jsonl")):
    line = line.strip()
    if line.startswith("{"):
        d = json.loads(line)
        sk[d["model"]] = d
def ml(name):
    return json.load(open(os.path.join(out, "ml_%s.json" % name)))
rows = []
for name, label in [("knn", "kNN k=5, 60,000 train"), ("pca", "PCA 95%, 60,000 train"), ("svm", "RBF SVM, 10,000"),
                    ("rf", "random forest, 10,000"), ("logreg", "logistic regression, 10,000"), ("nb", "Gaussian NB, 10,000")]:
    m = ml(name)
    s = sk.get(name, {})
    if name == "pca":
        ms, macc = m["fit_seconds"], "%d comp." % m["components"]
        sacc = "%d comp." % s["components_95"] if "components_95" in s else "-"
    else:
        ms = m["features_seconds"] + m["train_seconds"] + m["predict_seconds"]
        macc = "%.4f" % m["test_accuracy"]
        sacc = "%.4f" % s["test_accuracy"] if "test_accuracy" in s else "-"
    ss = s.get("seconds")
    rows.append((label, "%.2f" % ss if ss else "-", sacc, "%.2f" % ms, macc, "%.1fx" % (ss / ms) if ss else "-"))
head = ("model", "sklearn s", "sklearn acc", "mlaudit s", "mlaudit acc", "ratio")
widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
fmt = "  ".join("%%-%ds" % w if i == 0 else "%%%ds" % w for i, w in enumerate(widths))
print(fmt % head)
for r in rows:
    print(fmt % r)
EOF
