#!/usr/bin/env bash
# The MIA survey's Figures 7 and 8: transferability of the shadow-model attack.
#   Fig 7: on one dataset, target architecture x shadow architecture (--shadow-model);
#   Fig 8: with one architecture, target dataset x shadow dataset (--shadow-data), MNIST <->
#          Fashion-MNIST (same image shape and classes).
# Value: the shadow_sample attack's accuracy on the target's members vs non-members (split4).
# Runs go to OUT/fig7/TARGET-SHADOW/ and OUT/fig8/TARGET-SHADOW/; prints Markdown matrices
# (rows: target, columns: shadow) and writes OUT/fig7.csv, OUT/fig8.csv and the heatmaps
# OUT/fig7.svg, OUT/fig8.svg (scripts/repro/svg.py, standard library only).
# Usage: scripts/repro/survey_fig78.sh [PATH/TO/mlaudit]
#   env FIG7_DATA    default fashion-mnist;  FIG7_MODELS default "mlp cnn alexnet"
#       FIG8_MODEL   default cnn;            FIG8_DATASETS default "mnist fashion-mnist"
#       FIGS         default "7 8" (which figures to run)
#       EPOCHS       every model (else the per-model defaults of common.sh: mlp 30, cnn 15,
#                    alexnet 10); with --shadow-model the shadows train as many epochs
#       SHADOWS      default 4;  OUT, THREADS, SMOKE, RESUME: see scripts/repro/common.sh
# Expected time, defaults, 2 threads (throughput as in survey_table1.sh): Fig 7 is 9 runs, and
# in a mixed cell the shadows train for the TARGET's epochs (mlp 30), so the mlp-target row
# with alexnet shadows alone takes about 2 hours; the whole figure some 6 hours. Fig 8 is 4 cnn
# runs, about 2 hours. SMOKE=1: about a minute and a half.
set -euo pipefail
source "$(dirname "$0")/common.sh"
SHADOWS=${SHADOWS:-4}
FIG7_DATA=${FIG7_DATA:-fashion-mnist}
FIG7_MODELS=${FIG7_MODELS:-"mlp cnn alexnet"}
FIG8_MODEL=${FIG8_MODEL:-cnn}
FIG8_DATASETS=${FIG8_DATASETS:-"mnist fashion-mnist"}
FIGS=${FIGS:-"7 8"}

# The epochs of a mixed pair: the target's; a run trains target and shadows alike.
for fig in $FIGS; do
  case "$fig" in
    7)
      for t in $FIG7_MODELS; do
        for s in $FIG7_MODELS; do
          run_mia "$OUT/fig7/$t-$s" --data "$(dataset_spec "$FIG7_DATA")" --model "$t" --shadow-model "$s" \
            --protocol split4 --shadows "$SHADOWS" --epochs "$(epochs_for "$t")"
        done
      done ;;
    8)
      for t in $FIG8_DATASETS; do
        for s in $FIG8_DATASETS; do
          run_mia "$OUT/fig8/$t-$s" --data "$(dataset_spec "$t")" --shadow-data "$(dataset_spec "$s")" \
            --model "$FIG8_MODEL" --protocol split4 --shadows "$SHADOWS" --epochs "$(epochs_for "$FIG8_MODEL")"
        done
      done ;;
    *) echo "survey_fig78: FIGS holds 7 and/or 8, not '$fig'" >&2; exit 2 ;;
  esac
done

for fig in $FIGS; do
  if [ "$fig" = 7 ]; then names=$FIG7_MODELS; what="Figure 7: $FIG7_DATA, target model x shadow model"
  else names=$FIG8_DATASETS; what="Figure 8: $FIG8_MODEL, target dataset x shadow dataset"; fi
  echo
  echo "$what (shadow_sample attack accuracy; paper's cells: n/a, none embedded)"
  echo
  "$PY" - "$OUT" "$fig" $names <<'PY'
import csv, json, os, sys
out, fig, names = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
print("| target \\ shadow | " + " | ".join(names) + " |")
print("|---|" + "---|" * len(names))
for t in names:
    cells = []
    for s in names:
        j = json.load(open(os.path.join(out, "fig" + fig, "%s-%s" % (t, s), "mia.json")))
        v = j["attacks"]["shadow_sample"]["accuracy"]
        rows.append({"row": t, "col": s, "value": v, "target_gap": j["target"]["gap_accuracy"]})
        cells.append("%.4f" % v)
    print("| %s | %s |" % (t, " | ".join(cells)))
with open(os.path.join(out, "fig%s.csv" % fig), "w", newline="") as fh:
    w = csv.DictWriter(fh, ["row", "col", "value", "target_gap"])
    w.writeheader()
    w.writerows(rows)
PY
  if [ "$fig" = 7 ]; then title="Fig 7: $FIG7_DATA, target model x shadow model"
  else title="Fig 8: $FIG8_MODEL, target data x shadow data"; fi
  "$PY" "$REPRO_DIR/svg.py" heatmap "$OUT/fig$fig.csv" "$OUT/fig$fig.svg" "$title"
  echo
  echo "Written: $OUT/fig$fig.csv, $OUT/fig$fig.svg"
done
