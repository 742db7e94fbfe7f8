#!/usr/bin/env bash
# mlaudit's classical models beside scikit-learn's (../shared/peers/sk_classic.py), same data, same threads.
# Usage: bash bench/bench_classic.sh [PATH/TO/mlaudit] [THREADS]
#   kNN (k=5) and PCA (95%) on all 60,000 Fashion-MNIST training images (kNN: 10,000 queries);
#   svm, logreg, nb on a 10,000-image stratified subset (each tool draws its own, seed 0).
#   The random forest (100 trees) gets its own table: the 10,000-image subset at 1 and 2 threads
#   (RF_THREADS), RF_REPEATS (3) runs of each tool interleaved (sklearn, mlaudit, sklearn, ...),
#   medians; then all 60,000 images at THREADS, RF_FULL_REPEATS runs each (1; 0 skips it).
# Seconds are fit + predict (PCA: fit), without loading the data, for both tools (mlaudit's
# include its feature step: scaling the pixels).
# Prints the tables; ratio = sklearn seconds / mlaudit seconds (> 1: mlaudit faster).
# RF_ONLY=1: the random-forest table alone.
# CLASSIC_TABLE=1: the classical-study table (scripts/classic_table.sh: 7 models x 3 feature sets on
#   the 10,000-image subset, THREADS threads) with its wall time, instead of the tables above.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/mlaudit}
THREADS=${2:-2}
PEERS=$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || true)
PY=/usr/bin/python3
RF_THREADS=${RF_THREADS:-"1 2"}
RF_REPEATS=${RF_REPEATS:-3}
RF_FULL_REPEATS=${RF_FULL_REPEATS:-1}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ -x "$BIN" ] || { echo "bench_classic: $BIN is not an executable (build with make first)" >&2; exit 1; }

if [ "${CLASSIC_TABLE:-0}" = 1 ]; then
  THREADS=$THREADS bash "$ROOT/scripts/classic_table.sh" "$BIN"
  exit 0
fi

HAVE_SK=0
if [ -n "$PEERS" ] && [ -f "$PEERS/sk_classic.py" ] && $PY -c "import sklearn" 2>/dev/null; then HAVE_SK=1; fi

if [ "${RF_ONLY:-0}" != 1 ]; then
# --- scikit-learn ---
if [ "$HAVE_SK" = 1 ]; then
  echo "running scikit-learn (sk_classic.py, $THREADS threads)..." >&2
  (cd "$PEERS" && $PY sk_classic.py --threads "$THREADS" knn pca) >"$OUT/sk.jsonl" || echo "sk_classic.py knn pca failed" >&2
  (cd "$PEERS" && $PY sk_classic.py --threads "$THREADS" --subset 10000 svm logreg nb) >>"$OUT/sk.jsonl" \
    || echo "sk_classic.py on the subset failed" >&2
else
  echo "bench_classic: scikit-learn peer not available (scripts/deps.sh bench; ../shared/peers/sk_classic.py)" >&2
  : >"$OUT/sk.jsonl"
fi

# --- mlaudit ---
echo "running mlaudit ($THREADS threads)..." >&2
"$BIN" classic --data fashion-mnist --model knn --grid k=5 --threads "$THREADS" --json >"$OUT/ml_knn.json"
"$BIN" pca --data fashion-mnist --variance 0.95 --threads "$THREADS" --json >"$OUT/ml_pca.json"
for m in svm logreg nb; do
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
                    ("logreg", "logistic regression, 10,000"), ("nb", "Gaussian NB, 10,000")]:
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
fi

# --- the random forest: runs interleaved, medians ---
# rf_pair TAG THREADS SUBSET(0: all): one sklearn run, then one mlaudit run, each a JSON line in $OUT/rf_TAG_*.jsonl
rf_pair() {
  local tag=$1 threads=$2 subset=$3 sub=()
  [ "$subset" != 0 ] && sub=(--subset "$subset")
  if [ "$HAVE_SK" = 1 ]; then
    (cd "$PEERS" && $PY sk_classic.py --threads "$threads" "${sub[@]}" rf) >>"$OUT/rf_${tag}_sk.jsonl" \
      || echo "sk_classic.py rf failed" >&2
  fi
  "$BIN" classic --data fashion-mnist --model rf "${sub[@]}" --threads "$threads" --json >>"$OUT/rf_${tag}_ml.jsonl"
  echo >>"$OUT/rf_${tag}_ml.jsonl"
}
echo "random forest: $RF_REPEATS interleaved runs per tool on the 10,000-image subset (threads: $RF_THREADS)..." >&2
rf_tags=()
for t in $RF_THREADS; do
  for r in $(seq "$RF_REPEATS"); do rf_pair "sub$t" "$t" 10000; done
  rf_tags+=("sub$t:$t:10,000")
done
if [ "$RF_FULL_REPEATS" -gt 0 ]; then
  echo "random forest: $RF_FULL_REPEATS run(s) per tool on all 60,000 images ($THREADS threads)..." >&2
  for r in $(seq "$RF_FULL_REPEATS"); do rf_pair full "$THREADS" 0; done
  rf_tags+=("full:$THREADS:60,000")
fi
echo
CPU=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
AVX512=$(grep -qw avx512f /proc/cpuinfo && echo "AVX-512" || echo "no AVX-512")
echo "random forest (100 trees, scikit-learn's defaults), Fashion-MNIST; CPU: $CPU ($AVX512), $(nproc) cores online"
$PY - "$OUT" "${rf_tags[@]}" <<'EOF'
import json, os, statistics, sys
out = sys.argv[1]
def runs(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip().startswith("{")]
rows = []
for spec in sys.argv[2:]:
    tag, threads, size = spec.split(":")
    sk, ml = runs(os.path.join(out, "rf_%s_sk.jsonl" % tag)), runs(os.path.join(out, "rf_%s_ml.jsonl" % tag))
    ms = [m["features_seconds"] + m["train_seconds"] + m["predict_seconds"] for m in ml]
    ss = [s["seconds"] for s in sk]
    mmed, smed = statistics.median(ms), (statistics.median(ss) if ss else None)
    rows.append(("%s train, %s thr" % (size, threads), str(len(ms)),
                 "%.2f" % smed if smed else "-", "%.4f" % statistics.median(s["test_accuracy"] for s in sk) if sk else "-",
                 "%.2f" % mmed, "%.4f" % statistics.median(m["test_accuracy"] for m in ml),
                 "%.4f" % statistics.median(m["oob_accuracy"] for m in ml), "%.2fx" % (smed / mmed) if smed else "-"))
head = ("random forest", "runs", "sklearn s", "sklearn acc", "mlaudit s", "mlaudit acc", "mlaudit oob", "ratio")
widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
fmt = "  ".join("%%-%ds" % w if i == 0 else "%%%ds" % w for i, w in enumerate(widths))
print(fmt % head)
for r in rows:
    print(fmt % r)
print("(seconds and accuracies: medians of the runs; ratio = sklearn s / mlaudit s; runs interleaved sklearn, mlaudit, ...)")
EOF
