#!/usr/bin/env bash
# Neural-network training throughput: mlaudit beside the PyTorch peer
# (../shared/peers/torch_train.py, Debian's python3-torch), same data (Fashion-MNIST),
# same nets, one epoch, 2 threads each, runs interleaved; medians and ratios.
# Usage: bench/bench_nn.sh PATH/TO/mlaudit [ARCH...]   (env RUNS, default 3; THREADS, default 2;
#        SUBSET=N: train both on N images instead of all 60,000, for quicker ratios)
set -euo pipefail
BIN=$(realpath "$1"); shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS="$ROOT/../shared/peers"
RUNS=${RUNS:-3}
THREADS=${THREADS:-2}
SUBSET=${SUBSET:-0}
SUB_FLAG=()
[ "$SUBSET" -gt 0 ] && SUB_FLAG=(--subset "$SUBSET")
ARCHS=("$@")
[ ${#ARCHS[@]} -eq 0 ] && ARCHS=(mlp cnn resnet20)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ -f "$PEERS/torch_train.py" ] || { echo "bench_nn: $PEERS/torch_train.py not found" >&2; exit 1; }

field() { /usr/bin/python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

ceiling=$("$ROOT/build/mla_sgemm_bench" "$THREADS" 2048)
ceiling_gflops=$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['gflops_median'])" "$ceiling")
kernels=$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['openblas_kernels'])" "$ceiling")
echo "sgemm 2048x2048, $THREADS threads: $ceiling_gflops GFLOP/s (median of 7; OpenBLAS's $kernels kernels)"
"$BIN" version | sed -n 2p
printf '%-9s %14s %14s %7s %10s %10s %12s\n' arch torch_sps mlaudit_sps ratio torch_acc mla_acc mla_gflops
for arch in "${ARCHS[@]}"; do
  t=() m=() g=()
  for r in $(seq "$RUNS"); do
    (cd "$PEERS" && /usr/bin/python3 torch_train.py --arch "$arch" --epochs 1 --threads "$THREADS" --subset "$SUBSET") >"$OUT/t.json"
    "$BIN" train --data fashion-mnist --model "$arch" --epochs 1 --threads "$THREADS" --seed "$r" \
      "${SUB_FLAG[@]}" --json >"$OUT/m.json"
    t+=("$(field "$OUT/t.json" samples_per_second)")
    m+=("$(field "$OUT/m.json" samples_per_second)")
    g+=("$(field "$OUT/m.json" train_gflops)")
    tacc=$(field "$OUT/t.json" test_accuracy)
    macc=$(field "$OUT/m.json" test_accuracy)
  done
  tm=$(median "${t[@]}") mm=$(median "${m[@]}") gm=$(median "${g[@]}")
  ratio=$(/usr/bin/python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$mm" "$tm")
  share=$(/usr/bin/python3 -c "import sys; print('%.0f%%' % (100 * float(sys.argv[1]) / float(sys.argv[2])))" "$gm" "$ceiling_gflops")
  printf '%-9s %14.0f %14.0f %6sx %10s %10.4f %7.1f (%s)\n' "$arch" "$tm" "$mm" "$ratio" "$tacc" "$macc" "$gm" "$share"
done
[ "$SUBSET" -gt 0 ] && echo "(both trained on a $SUBSET-image subset)"
echo "samples/s and GFLOP/s: medians of $RUNS one-epoch runs each, interleaved; accuracy: last run."
echo "GFLOP/s counts conv/dense work (2 FLOPs per MAC: forward, weight and input gradients, less the first layer's input gradient); the percentage is of the sgemm figure above."
echo "On AVX-512 CPUs the conv products (and the dense ones, where OpenBLAS runs its 256-bit Haswell, Zen or Sandybridge kernels) run on mlaudit's own kernel, which can pass that figure; on AVX2 CPUs (or MLA_ISA=avx2) the conv forward and weight gradient and the dense products run on its AVX2 form (the dense forward as dot products, no transposes), and stride-1 convs' forward and input gradient as implicit GEMMs (no im2col)."
