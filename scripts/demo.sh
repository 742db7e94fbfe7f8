#!/usr/bin/env bash
# `make demo`: the main job, a membership-inference audit. Trains a deliberately leaky
# Fashion-MNIST target (the cnn preset on 2,500 images, 40 epochs of batches of 32) and 16 shadow models
# on LiRA's protocol (every candidate IN for half the shadows), runs every attack, and
# writes OUT/mia.json and OUT/report.html (one self-contained page) with the figures.
# When chromium is installed, the page is rendered headless and checked.
# Usage: scripts/demo.sh PATH/TO/mlaudit OUT
set -euo pipefail
BIN=$1
OUT=$2
mkdir -p "$OUT"
cmd=("$BIN" mia --data fashion-mnist --model cnn --epochs 40 --batch 32 --protocol lira --pool 5000 --shadows 16
     --batch-sizes 8,16,32,64,128 --seed 0 --out "$OUT")
echo "mlaudit demo: membership-inference audit of a cnn trained on 2,500 Fashion-MNIST images,"
echo "with 16 shadow models ($(nproc) threads; a few minutes). Running:"
echo "  ${cmd[*]}"
"${cmd[@]}"
if command -v chromium >/dev/null; then
  mapfile -t attacks < <(python3 -c 'import json, sys; print(*json.load(open(sys.argv[1]))["attacks"], sep="\n")' \
    "$OUT/mia.json")
  bash "$(dirname "$0")/check_report.sh" "$OUT/report.html" "${attacks[@]}" >"$OUT/report_check.txt" \
    && echo "report.html renders in headless chromium and names every attack ($OUT/report_check.txt)" \
    || { echo "report.html failed its chromium check:"; cat "$OUT/report_check.txt"; exit 1; }
fi
echo "open $OUT/report.html in a browser; wrote: $(cd "$OUT" && ls | tr '\n' ' ')"
