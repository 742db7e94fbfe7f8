#!/usr/bin/env bash
# The robustness audit's speed (issue 18): (a) exact DkNN, N_QUERY test images against
# N_TRAIN training images over the dknn preset's 4 layers (relu1, relu2, relu3, logits),
# timed by stage; (b) PGD L_inf throughput (40 steps, eps 0.3, step 0.01, adversarial
# examples a second) of mlaudit beside PyTorch's (bench/robust_peer.py), same net (the
# dknn preset, random weights), same images and batch, THREADS threads each, runs
# interleaved (mlaudit, peer, mlaudit, peer, ...), medians and their ratio.
# Usage: bash bench/bench_robust.sh [PATH/TO/mlaudit] [THREADS]
#   env: DKNN_TRAIN (60000) DKNN_QUERY (10000) PGD_IMAGES (500) PGD_BATCH (100)
#        PGD_STEPS (40) REPEATS (3). The full DkNN holds the 60,000 x 15,882 training
#        activations once (some 4 GB: the index adopts them), plus the projection
#        engine's bfloat16 copy of relu1 and relu2 (1.9 GB); brute force would be
#        2 x 60,000 x 10,000 x 15,882 = 19 TFLOP of distance products (relu1 alone is
#        12,544 of the 15,882 features), which the kNN index's projection engine
#        replaces for relu1 and relu2 by 128-wide products and exact distances of the
#        rows its bounds cannot rule out.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/mlaudit}
THREADS=${2:-2}
RB=$(dirname "$(realpath "$BIN")")/mla_robust_bench
PY=/usr/bin/python3
DKNN_TRAIN=${DKNN_TRAIN:-60000} DKNN_QUERY=${DKNN_QUERY:-10000}
PGD_IMAGES=${PGD_IMAGES:-500} PGD_BATCH=${PGD_BATCH:-100} PGD_STEPS=${PGD_STEPS:-40} REPEATS=${REPEATS:-3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ -x "$RB" ] || { echo "bench_robust: $RB missing (build with make first)" >&2; exit 1; }
cd "$ROOT"

echo "running the DkNN ($DKNN_QUERY queries x $DKNN_TRAIN training images, $THREADS threads)..." >&2
"$RB" dknn "$THREADS" "$DKNN_TRAIN" "$DKNN_QUERY" >"$OUT/dknn.json"

peer=0
$PY -c "import torch" 2>/dev/null && peer=1 || echo "bench_robust: python3-torch missing: no PyTorch peer" >&2
for r in $(seq "$REPEATS"); do
  echo "PGD run $r of $REPEATS..." >&2
  "$RB" pgd "$THREADS" "$PGD_IMAGES" "$PGD_BATCH" "$PGD_STEPS" >>"$OUT/ml.jsonl"
  [ $peer = 1 ] && $PY bench/robust_peer.py --images "$PGD_IMAGES" --batch "$PGD_BATCH" --steps "$PGD_STEPS" \
    --threads "$THREADS" >>"$OUT/peer.jsonl"
done
[ $peer = 1 ] || : >"$OUT/peer.jsonl"

$PY - "$OUT" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
d = json.load(open(os.path.join(out, "dknn.json")))
total = d["train_features_seconds"] + d["index_seconds"] + d["query_features_seconds"] + d["search_seconds"]
print("DkNN, exact, %d queries x %d training images, layers %s (%d features), %d threads:"
      % (d["n_query"], d["n_train"], d["layers"], d["features"], d["threads"]))
print("  training activations %.1f s, index %.1f s, query activations %.1f s, search %.1f s (%.1f GFLOP/s); total %.1f s"
      % (d["train_features_seconds"], d["index_seconds"], d["query_features_seconds"], d["search_seconds"],
         d["search_gflops"], total))
if "cpu_seconds" in d:
    c = d["cpu_seconds"]
    print("  CPU seconds (user + system, all threads): %.1f, %.1f, %.1f, %.1f; %.1f in all; rows checked in full"
          " by the projection engine: %.1f a query and layer" % (c[0], c[1], c[2], c[3], sum(c),
                                                                d["exact_rows_per_query_layer"]))
def med(name):
    runs = [json.loads(l)["images_per_second"] for l in open(os.path.join(out, name)) if l.startswith("{")]
    return (statistics.median(runs), runs) if runs else (None, runs)
ml, mlr = med("ml.jsonl")
pe, per = med("peer.jsonl")
r0 = json.loads(open(os.path.join(out, "ml.jsonl")).readline())
print("PGD L_inf, %d steps, %d images in batches of %d, dknn preset, %d threads: adversarial examples a second (median of runs)"
      % (r0["steps"], r0["images"], r0["batch"], r0["threads"]))
print("  mlaudit  %8.2f   runs %s" % (ml, mlr))
if pe:
    print("  pytorch  %8.2f   runs %s" % (pe, per))
    print("  ratio mlaudit / pytorch: %.2fx" % (ml / pe))
PY
