#!/usr/bin/env bash
# The survey's defence comparison: one LiRA-protocol membership-inference audit
# (`mlaudit mia --protocol lira`) of a Fashion-MNIST net per defence, the same seed, pool and
# training settings for every row (those of `make demo`: Adam 1e-3, 40 epochs of batches of
# 32 on 2,500 images, a target that leaks: LiRA online TPR 5.5% at FPR 1%), so only the
# defence differs. (At mia's defaults, 15 epochs of batches of 128, the undefended cnn
# barely fits its 2,500 images: gap 0.03, LiRA 1.1% [0.7, 1.6], chance; measured.) Rows: none; L2 weight decay 5e-4 and 5e-3; dropout 0.5 (a model without
# dropout layers gets one before its last dense layer, as a spec file OUT/MODEL-dropout.json);
# augmentation; mixup 0.4; label smoothing 0.1; early stopping (patience 3 on 1,000
# validation images outside the audit); output masking at release (top-3, label only);
# DP-SGD at epsilon 1, 3, 8.
# Each row: the target's test accuracy, the loss-threshold AUC, the best shadow-model attack
# accuracy (shadow_sample or shadow_batch_B, whichever is higher; named), LiRA online's TPR at
# FPR 1% with its 95% Clopper-Pearson interval, and the target's epsilon for DP rows.
# Writes OUT/NAME/mia.json per row (and the rest of `mia --out`), OUT/defences.md (the table),
# OUT/defences.csv and OUT/defences.svg (privacy-utility scatter: x LiRA TPR at FPR 1%, or the
# loss AUC with X=loss_auc; y test accuracy; one labelled point per row), drawn with Python's
# standard library through scripts/repro/svg.py's helpers. Prints every command it runs.
# Usage: scripts/defences.sh [PATH/TO/mlaudit]      (`make defences`)
#   env OUT      output folder (default defences-out/ in the repository; git ignores it)
#       MODEL    default cnn; EPOCHS default 40; BATCH default 32; SHADOWS default 16;
#                POOL default 5000
#       THREADS  default: all cores; SEED default 0; X  lira (default) | loss_auc
#       DROPOUT_MODEL  run the dropout row on this preset instead (e.g. alexnet, which has
#                dropout layers; its accuracy then compares with no other row)
#       RESUME=1 keep a row whose mia.json is already there
#       SMOKE=1  a check of the script: --pool 800 --epochs 1 --shadows 2 --batch-sizes 8,16,32
# Time, defaults (cnn, pool 5000, 16 shadows, 40 epochs of batches of 32): each row is one
# `make demo` (3 minutes on 2 quiet cores of an AMD EPYC, measured), DP-SGD rows somewhat
# more, so some 40-60 minutes for the 13 rows on a quiet machine (an estimate). Measured:
# 7,034 s (1 h 57 min, 4-12 minutes a row) with THREADS=2 and OMP_WAIT_POLICY=passive on
# 2 cores shared with other jobs (load 4-14). SMOKE=1 took 2-4 minutes (mostly start-up,
# data loading and evaluation).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/build/mlaudit}")
[ -x "$BIN" ] || { echo "defences: $BIN is not an executable (build it: make)" >&2; exit 1; }
OUT=$(realpath -m "${OUT:-$ROOT/defences-out}")
MODEL=${MODEL:-cnn}
EPOCHS=${EPOCHS:-40}
BATCH=${BATCH:-32}
SHADOWS=${SHADOWS:-16}
POOL=${POOL:-5000}
THREADS=${THREADS:-$(nproc)}
SEED=${SEED:-0}
X=${X:-lira}
RESUME=${RESUME:-0}
SMOKE=${SMOKE:-0}
DROPOUT_MODEL=${DROPOUT_MODEL:-}
PY=${PYTHON:-python3}   # standard library only
case "$X" in lira|loss_auc) ;; *) echo "defences: X must be lira or loss_auc, not '$X'" >&2; exit 2 ;; esac
EXTRA=()
if [ "$SMOKE" = 1 ]; then
  POOL=800 EPOCHS=1 SHADOWS=2 BATCH=128
  EXTRA=(--batch-sizes 8,16,32)   # 200 members per model: too few for B = 64..256
fi
mkdir -p "$OUT"
cd "$ROOT"   # mlaudit finds data/ relative to the current directory

BASE=(--data fashion-mnist --protocol lira --pool "$POOL" --shadows "$SHADOWS" --epochs "$EPOCHS" --batch "$BATCH"
      --seed "$SEED" --threads "$THREADS" "${EXTRA[@]}")
ROWS="$OUT/rows.tsv"   # name, label, model, status (run | n/a reason), flags
: >"$ROWS"
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$ROWS"; }

has_dropout() { "$BIN" models --show "$1" 2>/dev/null | grep -q '"dropout"'; }

row none "none" "$MODEL" run ""
row wd5e-4 "L2 weight decay 5e-4" "$MODEL" run "--weight-decay 5e-4"
row wd5e-3 "L2 weight decay 5e-3" "$MODEL" run "--weight-decay 5e-3"
if [ -n "$DROPOUT_MODEL" ]; then
  row dropout0.5 "dropout 0.5 ($DROPOUT_MODEL)" "$DROPOUT_MODEL" run "--dropout 0.5"
elif has_dropout "$MODEL"; then
  row dropout0.5 "dropout 0.5" "$MODEL" run "--dropout 0.5"
else # the preset with a dropout layer before its last dense layer, as a spec file
  "$BIN" models --show "$MODEL" | "$PY" -c '
import json, sys
spec = json.load(sys.stdin)
last = max(i for i, l in enumerate(spec["layers"]) if l["type"] == "dense")
spec["layers"].insert(last, {"type": "dropout", "rate": 0.5})
spec["name"] += "-dropout"
spec["description"] = "The %s preset with dropout 0.5 before its last dense layer." % sys.argv[1]
json.dump(spec, open(sys.argv[2], "w"), indent=1)' "$MODEL" "$OUT/$MODEL-dropout.json"
  row dropout0.5 "dropout 0.5 (before the last dense layer)" "$OUT/$MODEL-dropout.json" run ""
fi
row augment "augmentation (shifts +-2 px)" "$MODEL" run "--augment"
row mixup0.4 "mixup 0.4" "$MODEL" run "--mixup 0.4"
row ls0.1 "label smoothing 0.1" "$MODEL" run "--label-smoothing 0.1"
row early-stop "early stopping (patience 3, 1,000 validation images)" "$MODEL" run "--early-stop 3 --val-size 1000"
row release-top3 "release top-3" "$MODEL" run "--release topk:3"
row release-label "release label only" "$MODEL" run "--release label"
row dp-eps1 "DP-SGD epsilon 1" "$MODEL" run "--dp-epsilon 1"
row dp-eps3 "DP-SGD epsilon 3" "$MODEL" run "--dp-epsilon 3"
row dp-eps8 "DP-SGD epsilon 8" "$MODEL" run "--dp-epsilon 8"

echo "output: $OUT"
while IFS=$'\t' read -r name label model status flags; do
  [ "$status" = run ] || continue
  dir="$OUT/$name"
  # shellcheck disable=SC2206
  cmd=("$BIN" mia --model "$model" "${BASE[@]}" $flags --json --out "$dir")
  if [ "$RESUME" = 1 ] && [ -s "$dir/mia.json" ]; then
    echo "= $dir/mia.json kept (RESUME=1)"
    continue
  fi
  echo "+ ${cmd[*]}"
  mkdir -p "$dir"
  t0=$(date +%s.%N)
  "${cmd[@]}" >"$dir/stdout.json.tmp"
  mv "$dir/stdout.json.tmp" "$dir/stdout.json"
  echo "  $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
done <"$ROWS"

"$PY" - "$OUT" "$ROWS" "$X" "$ROOT/scripts/repro" "$MODEL" "$POOL" "$SHADOWS" "$EPOCHS" "$SMOKE" "$BATCH" <<'PY'
import csv, json, os, sys
out, rows_tsv, xaxis, svgdir, model, pool, shadows, epochs, smoke, batch = sys.argv[1:11]
sys.path.insert(0, svgdir)
from svg import grid, svg, text  # scripts/repro/svg.py: standard library only

rows = []
for line in open(rows_tsv):
    name, label, mdl, status, flags = line.rstrip("\n").split("\t")
    r = {"name": name, "defence": label, "model": mdl, "flags": flags, "status": status}
    if status == "run":
        j = json.load(open(os.path.join(out, name, "mia.json")))
        a = j["attacks"]
        best, best_name = None, ""
        for k, v in a.items():
            if (k == "shadow_sample" or k.startswith("shadow_batch_")) and v.get("accuracy") is not None:
                if best is None or v["accuracy"] > best:
                    best, best_name = v["accuracy"], k
        lira = a["lira_online"]
        dp = j["settings"].get("dp") or {}
        r.update(test_accuracy=j["target"]["test_accuracy"], gap_accuracy=j["target"]["gap_accuracy"],
                 loss_auc=a["loss"]["auc"], best_shadow_accuracy=best, best_shadow_attack=best_name,
                 lira_tpr_at_fpr_0_01=lira["tpr_at_fpr_0.01"], lira_ci95_lo=lira["ci95_at_fpr_0.01"][0],
                 lira_ci95_hi=lira["ci95_at_fpr_0.01"][1], epsilon=dp.get("epsilon"), dp_sigma=dp.get("sigma"),
                 dp_delta=dp.get("delta"), seconds=j["seconds"]["total"])
    rows.append(r)

cols = ["name", "defence", "model", "flags", "status", "test_accuracy", "gap_accuracy", "loss_auc",
        "best_shadow_accuracy", "best_shadow_attack", "lira_tpr_at_fpr_0_01", "lira_ci95_lo", "lira_ci95_hi",
        "epsilon", "dp_sigma", "dp_delta", "seconds"]
with open(os.path.join(out, "defences.csv"), "w", newline="") as fh:
    w = csv.DictWriter(fh, cols)
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in cols})

f4 = lambda v: "n/a" if v is None else "%.4f" % v
md = []
md.append("%s%s on Fashion-MNIST, LiRA protocol: pool %s, %s shadows, %s epoch(s) of batches of %s; one audit per row" % (
    "SMOKE RUN (figures not meaningful): " if smoke == "1" else "", model, pool, shadows, epochs, batch))
md.append("")
md.append("| defence | test acc | loss AUC | best shadow attack acc | LiRA TPR at FPR 1% [95% CI] | epsilon | seconds |")
md.append("|---|---|---|---|---|---|---|")
for r in rows:
    if r["status"] != "run":
        md.append("| %s | %s | | | | | |" % (r["defence"], r["status"]))
        continue
    md.append("| %s | %.4f | %.4f | %s (%s) | %.2f%% [%.2f, %.2f] | %s | %.0f |" % (
        r["defence"], r["test_accuracy"], r["loss_auc"], f4(r["best_shadow_accuracy"]),
        r["best_shadow_attack"].replace("shadow_", ""), 100 * r["lira_tpr_at_fpr_0_01"],
        100 * r["lira_ci95_lo"], 100 * r["lira_ci95_hi"],
        "%.2f" % r["epsilon"] if r["epsilon"] is not None else "-", r["seconds"]))
md.append("")
md.append("test acc: the target's; loss AUC: the global loss threshold; best shadow attack: the higher accuracy of")
md.append("Shokri's sample-wise attack and MIA-BAD's batch-wise ones (batch_B: means of B samples); LiRA online's TPR")
md.append("at FPR 1% (no interpolation) with its Clopper-Pearson interval; epsilon: the target's DP-SGD epsilon.")
open(os.path.join(out, "defences.md"), "w").write("\n".join(md) + "\n")
print()
print("\n".join(md))

# Privacy-utility scatter.
pts = [r for r in rows if r["status"] == "run"]
xkey = "lira_tpr_at_fpr_0_01" if xaxis == "lira" else "loss_auc"
xlabel = "LiRA online TPR at FPR 1% (lower: more private)" if xaxis == "lira" else "loss-threshold AUC (lower: more private)"
W, H, L, R, T, B = 760, 520, 70, 220, 40, 60
xs = [r[xkey] for r in pts]
ys = [r["test_accuracy"] for r in pts]
x0 = min(xs + [0.0 if xaxis == "lira" else 0.5])
x1 = max(xs + [x0 + 0.02])
x1 += (x1 - x0) * 0.05
y0, y1 = min(ys), max(ys + [min(ys) + 0.02])
y0, y1 = y0 - (y1 - y0) * 0.05, y1 + (y1 - y0) * 0.05
px = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)
py = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)
title = "%sPrivacy vs utility: %s, Fashion-MNIST, LiRA protocol" % ("SMOKE RUN: " if smoke == "1" else "", model)
body = [text((L + W - R) / 2, 24, title, 15)]
body += grid(x0, x1, y0, y1, px, py, (L, T, W - R, H - B))
if xaxis == "lira" and x0 <= 0.01 <= x1:  # chance: TPR = FPR
    body.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999" stroke-dasharray="6 4"/>' % (px(0.01), T, px(0.01), H - B))
    body.append(text(px(0.01) + 4, T + 14, "chance", 11, "start"))
if xaxis == "loss_auc" and x0 <= 0.5 <= x1:
    body.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999" stroke-dasharray="6 4"/>' % (px(0.5), T, px(0.5), H - B))
    body.append(text(px(0.5) + 4, T + 14, "chance", 11, "start"))
body.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>' % (L, T, W - L - R, H - T - B))
body.append(text((L + W - R) / 2, H - 18, xlabel, 13))
body.append(text(18, (T + H - B) / 2, "target test accuracy", 13, extra='transform="rotate(-90 18 %.1f)"' % ((T + H - B) / 2)))
colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
          "#bcbd22", "#393b79", "#637939", "#843c39"]
for i, r in enumerate(pts):
    c = colors[i % len(colors)]
    cx, cy = px(r[xkey]), py(r["test_accuracy"])
    body.append('<circle cx="%.1f" cy="%.1f" r="5" fill="%s"/>' % (cx, cy, c))
    body.append(text(cx + 7, cy - 5, str(i + 1), 10, "start"))
    body.append('<circle cx="%d" cy="%d" r="5" fill="%s"/>' % (W - R + 16, T + 10 + 18 * i, c))
    body.append(text(W - R + 26, T + 14 + 18 * i, "%d %s" % (i + 1, r["defence"]), 11, "start"))
open(os.path.join(out, "defences.svg"), "w").write(svg(W, H, body))
print()
print("Written: %s/defences.md, defences.csv, defences.svg (x: %s, y: test accuracy), NAME/mia.json per row" % (out, xkey))
PY
