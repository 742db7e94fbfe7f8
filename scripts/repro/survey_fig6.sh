#!/usr/bin/env bash
# The MIA survey's Figure 6: attack accuracy against the target's train-test gap, one point per
# run of scripts/repro/survey_table1.sh (it reads OUT/*/mia.json; run table1 first). Writes
# OUT/fig6.csv (label, gap, attack accuracy, loss AUC) and OUT/fig6.svg, a scatter drawn by
# scripts/repro/svg.py with Python's standard library only, with the correctness baseline
# (1 + gap) / 2 as a dashed line; prints the points as a Markdown table.
# Usage: scripts/repro/survey_fig6.sh [PATH/TO/mlaudit]   (the binary is not run; env OUT, ATTACK)
#   ATTACK  the attack on the y axis (default shadow_sample; e.g. loss, lira_offline)
set -euo pipefail
source "$(dirname "$0")/common.sh"
ATTACK=${ATTACK:-shadow_sample}
shopt -s nullglob
runs=("$OUT"/*/mia.json)
[ ${#runs[@]} -gt 0 ] || { echo "survey_fig6: no $OUT/*/mia.json; run scripts/repro/survey_table1.sh first" >&2; exit 1; }
echo "reading ${#runs[@]} run(s): $OUT/*/mia.json"
"$PY" - "$OUT" "$ATTACK" "${runs[@]}" <<'PY'
import csv, json, os, sys
out, attack, files = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for p in sorted(files):
    j = json.load(open(p))
    a = j["attacks"].get(attack)
    if a is None or a.get("accuracy") is None:
        print("skipped %s: no %s accuracy" % (p, attack), file=sys.stderr)
        continue
    label = os.path.basename(os.path.dirname(p))
    rows.append({"label": label, "x": j["target"]["gap_accuracy"], "y": a["accuracy"], "loss_auc": j["attacks"]["loss"]["auc"]})
print()
print("Figure 6: %s attack accuracy vs train-test gap (paper's points: n/a, none embedded)" % attack)
print()
print("| run | gap | %s acc | baseline (1+gap)/2 | loss AUC |" % attack)
print("|---|---|---|---|---|")
for r in rows:
    print("| %s | %.4f | %.4f | %.4f | %.4f |" % (r["label"], r["x"], r["y"], (1 + r["x"]) / 2, r["loss_auc"]))
with open(os.path.join(out, "fig6.csv"), "w", newline="") as fh:
    w = csv.DictWriter(fh, ["label", "x", "y", "loss_auc"])
    w.writeheader()
    w.writerows(rows)
PY
"$PY" "$REPRO_DIR/svg.py" scatter "$OUT/fig6.csv" "$OUT/fig6.svg" "Attack accuracy ($ATTACK) vs generalisation gap"
echo
echo "Written: $OUT/fig6.csv (x: gap, y: attack accuracy), $OUT/fig6.svg"
