#!/usr/bin/env bash
# Prints the per-class AUROC table of an `mlaudit anomaly` run as Markdown: one row per
# method (mean, and ± the sample sd over seeds when there are several), the mean over
# classes, the mean AUPR; then one row per score term (the ablation); the protocol first.
# Published figures go in extra rows: --row "NAME=v_0,...,v_{C-1},mean" (AUROC in [0, 1];
# "-" for a missing value), printed first.
# Usage: scripts/anomaly_table.sh anomaly.json [--row "GPND (paper)=0.99,...,0.798"]...
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 anomaly.json [--row 'NAME=v0,...,mean']..." >&2; exit 2; }
JSON=$1
shift
ROWS=()
while [ $# -gt 0 ]; do
  [ "$1" = --row ] && [ $# -ge 2 ] || { echo "$0: expected --row 'NAME=v0,...,mean', got '$1'" >&2; exit 2; }
  ROWS+=("$2")
  shift 2
done
python3 - "$JSON" "${ROWS[@]+"${ROWS[@]}"}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
classes = d["classes"]
seeds = d["settings"]["seeds"]
print("%s, %s, %d seed(s) from %d: %s" % (d["dataset"], d["protocol"], seeds, d["settings"]["seed"],
                                         d["protocol_description"]))
print()
print("| AUROC | " + " | ".join(str(c) for c in classes) + " | mean | mean AUPR |")
print("|---|" + "---|" * (len(classes) + 2))
for row in sys.argv[2:]:
    name, _, vals = row.partition("=")
    v = vals.split(",")
    if len(v) != len(classes) + 1:
        sys.exit("anomaly_table: --row %s has %d values, want %d (classes, then the mean)" % (name, len(v), len(classes) + 1))
    print("| %s | %s | - |" % (name, " | ".join(v)))
def cell(m, sd):
    return "%.3f ± %.3f" % (m, sd) if seeds > 1 else "%.3f" % m
for name in d["methods"]:
    r = d["results"][name]
    cells = [cell(p["auroc"], p["auroc_sd"]) for p in r["per_class"]]
    print("| %s | %s | **%.3f** | %.3f |" % (name, " | ".join(cells), r["mean_auroc"], r["mean_aupr"]))
    for term, t in r.get("terms", {}).items():
        cells = [cell(p["auroc"], p["auroc_sd"]) for p in t["per_class"]]
        print("| %s: %s alone | %s | %.3f | %.3f |" % (name, term, " | ".join(cells), t["mean_auroc"], t["mean_aupr"]))
PY
