#!/usr/bin/env bash
# Federated averaging against central training, MPI against threads, and memory per
# client count (issue 17's "done when" 2), on Fashion-MNIST:
#  1. time and accuracy: `mlaudit fl` with 10 IID clients x 1 local epoch x 5 rounds of
#     the cnn beside `mlaudit train` for 5 epochs, same flags (batch 16, adam 3e-3, seed
#     0: chosen from the grid in the README, the best of those where FedAvg's five rounds
#     come within 0.02 of central training), THREADS threads each, runs interleaved
#     (A B A B ...); wall time of the whole
#     command (loading and evaluation included on both sides: fl evaluates the test set
#     after every round). Targets: fl / central time <= 1.15, accuracy within 0.02.
#  2. `mpirun -np 2 mlaudit fl --backend mpi --threads 1` beside `mlaudit fl --threads 2`
#     (the same 10 x 1 x ROUNDS2 run; the same bits, checked with cmp): MPI time / local
#     time <= 1 (target). Skipped without mpirun or an MPI build.
#  3. peak RSS (/usr/bin/time's %M) of 1,000 clients x 1 round of the mlp beside 10 clients
#     x 1 round: target ratio <= 2.
# Usage: bench/bench_fl.sh PATH/TO/mlaudit
#   env RUNS     interleaved pairs per comparison (default 1; medians are printed)
#       THREADS  default 2
#       SUBSET   train on N stratified images (--subset N) for a quick check (default: all
#                60,000; a multiple of 10 keeps the IID clients covering it)
#       ROUNDS2  rounds of comparison 2 (default 2)
#       BATCH, LR  local and central batch and Adam learning rate (default 16, 3e-3)
# Time: with the defaults, 1 takes about 2 x 5 cnn epochs, 2 about 2 x 2 epochs, 3 under
# a minute; SUBSET=3000 runs the whole script in about a minute (figures too short to
# judge accuracy).
set -euo pipefail
BIN=$(realpath "$1")
RUNS=${RUNS:-1}
THREADS=${THREADS:-2}
SUBSET=${SUBSET:-}
ROUNDS2=${ROUNDS2:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
SUB=${SUBSET:+--subset $SUBSET}
COMMON="--data fashion-mnist --batch ${BATCH:-16} --optimizer adam --lr ${LR:-3e-3} --seed 0 $SUB"

now() { date +%s.%N; }
# runs CMD..., appends its wall seconds to file $1
timed() {
  local file=$1; shift
  local t0; t0=$(now)
  "$@"
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$(now)" >>"$file"
}
median() { python3 -c "import statistics, sys; print(statistics.median(float(l) for l in open(sys.argv[1])))" "$1"; }

echo "bench_fl: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. federated vs central ----
for r in $(seq 1 "$RUNS"); do
  timed "$OUT/fl.t" "$BIN" fl $COMMON --model cnn --clients 10 --rounds 5 --local-epochs 1 --threads "$THREADS" \
    --json >"$OUT/fl.json"
  timed "$OUT/central.t" "$BIN" train $COMMON --model cnn --epochs 5 --threads "$THREADS" --json >"$OUT/central.json"
done
python3 - "$OUT/fl.json" "$OUT/central.json" "$(median "$OUT/fl.t")" "$(median "$OUT/central.t")" <<'PY'
import json, sys
fl = json.loads(open(sys.argv[1]).read().splitlines()[-1])
central = json.load(open(sys.argv[2]))
tf, tc = float(sys.argv[3]), float(sys.argv[4])
print("1. cnn, %d images: fl 10 clients x 1 epoch x 5 rounds vs train 5 epochs" % fl["train_size"])
print("   %-28s %10s %14s" % ("", "seconds", "test accuracy"))
print("   %-28s %10.1f %14.4f" % ("fl (local backend)", tf, fl["test_accuracy"]))
print("   %-28s %10.1f %14.4f" % ("train (central)", tc, central["test_accuracy"]))
ratio, diff = tf / tc, fl["test_accuracy"] - central["test_accuracy"]
print("   time fl / central %.3f (target <= 1.15: %s); accuracy fl - central %+.4f (target within 0.02: %s)"
      % (ratio, "met" if ratio <= 1.15 else "NOT met", diff, "met" if abs(diff) <= 0.02 else "NOT met"))
PY

# ---- 2. two MPI ranks vs one rank with two threads ----
F2="fl $COMMON --model cnn --clients 10 --rounds $ROUNDS2 --local-epochs 1"
if ! command -v mpirun >/dev/null; then
  echo "2. skipped: mpirun is not installed (scripts/deps.sh mpi)"
elif "$BIN" fl --data fashion-mnist --model mlp --clients 2 --rounds 1 --backend mpi 2>&1 | grep -q "no MPI support"; then
  echo "2. skipped: this build has no MPI support"
else
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  for r in $(seq 1 "$RUNS"); do
    timed "$OUT/local.t" "$BIN" $F2 --threads 2 --out "$OUT/local.safetensors" >/dev/null
    timed "$OUT/mpi.t" mpirun --oversubscribe -np 2 "$BIN" $F2 --threads 1 --backend mpi \
      --out "$OUT/mpi.safetensors" >/dev/null
  done
  same=$(cmp -s "$OUT/local.safetensors" "$OUT/mpi.safetensors" && echo "byte-identical" || echo "DIFFERENT")
  python3 - "$(median "$OUT/local.t")" "$(median "$OUT/mpi.t")" "$same" "$ROUNDS2" <<'PY'
import sys
tl, tm, same, rounds = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
print("2. cnn, 10 clients x 1 epoch x %s rounds: 1 rank x 2 threads %.1f s, mpirun -np 2 x 1 thread %.1f s" % (rounds, tl, tm))
print("   MPI / local %.3f (target <= 1: %s); global models %s" % (tm / tl, "met" if tm <= tl else "NOT met", same))
PY
fi

# ---- 3. memory: 1,000 clients vs 10 ----
M="fl --data fashion-mnist --model mlp --rounds 1 --local-epochs 1 --threads $THREADS $SUB"
/usr/bin/time -f %M -o "$OUT/rss10" "$BIN" $M --clients 10 >/dev/null
/usr/bin/time -f %M -o "$OUT/rss1000" "$BIN" $M --clients 1000 >/dev/null
python3 - "$(tail -1 "$OUT/rss10")" "$(tail -1 "$OUT/rss1000")" <<'PY'
import sys
a, b = int(sys.argv[1]), int(sys.argv[2])
print("3. mlp, 1 round: peak RSS 10 clients %.1f MiB, 1,000 clients %.1f MiB: ratio %.3f (target <= 2: %s)"
      % (a / 1024, b / 1024, b / a, "met" if b <= 2 * a else "NOT met"))
PY
