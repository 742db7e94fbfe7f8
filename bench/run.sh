#!/usr/bin/env bash
# `make bench`: every bench/bench_*.sh, each printing its own side-by-side table
# (bench_mia.sh with ARCH=mlp; BENCH_MIA_CNN=1 adds its cnn run, some 16 minutes for the peer alone;
# bench_dpsgd.sh's cnn DP-SGD comparison over 10 epochs takes about 10 minutes on 2 quiet cores,
# 35-45 on a shared machine; bench_fl.sh's federated cnn runs (2 x 5 epochs, 2 x 2 epochs and
# two mlp rounds) some 10 minutes on 2 quiet cores; bench_robust.sh's full DkNN (10,000 x 60,000
# images over 4 layers, 19 TFLOP of distance products, some 8 GB) takes minutes: DKNN_TRAIN /
# DKNN_QUERY shrink it).
# Usage: bench/run.sh PATH/TO/mlaudit
set -euo pipefail
BIN=$(realpath "$1")
cd "$(dirname "$0")/.."
status=0
# Which kernel family ran (AVX-512, AVX2 or portable; MLA_ISA=avx2 forces the AVX2 path, see README's Speed)
"$BIN" version | sed -n 2p
echo
for b in bench/bench_*.sh; do
  echo "== $b =="
  bash "$b" "$BIN" || { echo "$b failed" >&2; status=1; }
  echo
done
if [ "${BENCH_MIA_CNN:-0}" = 1 ]; then
  echo "== bench/bench_mia.sh (ARCH=cnn) =="
  ARCH=cnn bash bench/bench_mia.sh "$BIN" || { echo "bench/bench_mia.sh (cnn) failed" >&2; status=1; }
  echo
fi
exit $status
