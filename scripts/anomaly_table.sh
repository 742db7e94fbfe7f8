#!/usr/bin/env bash
# Prints the per-class AUROC table of an `mlaudit anomaly` run as Markdown: one row per
# method (mean, and ± the sample sd over seeds when there are several), the mean over
# classes, the mean AUPR; then one row per score term (the ablation); the protocol first.
# Published figures go in extra rows: --row "NAME=v_0,...,v_{C-1},mean" (AUROC in [0, 1];
# "-" for a missing value), printed first.
# Usage: scripts/anomaly_table.sh anomaly.json [--row "GPND (paper)=0.99,...,0.798"]...
# Table 2 mode (the study's n_c sweep): --nc FILE... [--method M] [--row ...]: one row
# per pattern count n_c (settings.adegan.patterns) over any number of anomaly.json files
# (single-class runs are merged by class; a class twice for one n_c is an error), the
# per-class AUROC of method M (default adegan) and the mean over the classes present.
# Usage: scripts/anomaly_table.sh --nc runs/nc*/anomaly.json [--method adegan]
set -euo pipefail
if [ "${1:-}" = --nc ]; then
  shift
  FILES=() METHOD=adegan
  while [ $# -gt 0 ]; do
    case $1 in
      --method) [ $# -ge 2 ] || { echo "$0: --method needs a name" >&2; exit 2; }; METHOD=$2; shift 2 ;;
      -*) echo "$0: unknown option '$1' in --nc mode" >&2; exit 2 ;;
      *) FILES+=("$1"); shift ;;
    esac
  done
  [ ${#FILES[@]} -ge 1 ] || { echo "usage: $0 --nc anomaly.json... [--method M]" >&2; exit 2; }
  exec python3 - "$METHOD" "${FILES[@]}" <<'PY'
import json, sys
method, files = sys.argv[1], sys.argv[2:]
table, classes, head = {}, set(), None
for f in files:
    d = json.load(open(f))
    if method not in d["results"]:
        sys.exit("anomaly_table: %s has no method %s" % (f, method))
    nc = d["settings"]["adegan"]["patterns"]
    head = head or (d["dataset"], d["protocol"], d["settings"]["seeds"])
    for p in d["results"][method]["per_class"]:
        row = table.setdefault(nc, {})
        if p["class"] in row:
            sys.exit("anomaly_table: n_c %d, class %d appears twice (%s)" % (nc, p["class"], f))
        row[p["class"]] = (p["auroc"], p["auroc_sd"])
        classes.add(p["class"])
classes = sorted(classes)
print("%s, %s, %d seed(s): %s AUROC by pattern count n_c (the study's Table 2)" % (head[0], head[1], head[2], method))
print()
print("| n_c | " + " | ".join(str(c) for c in classes) + " | mean |")
print("|---|" + "---|" * (len(classes) + 1))
for nc in sorted(table):
    row = table[nc]
    cells = [("%.3f ± %.3f" % row[c] if head[2] > 1 else "%.3f" % row[c][0]) if c in row else "-" for c in classes]
    vals = [row[c][0] for c in classes if c in row]
    note = "" if len(vals) == len(classes) else " (%d of %d classes)" % (len(vals), len(classes))
    print("| %d | %s | **%.3f**%s |" % (nc, " | ".join(cells), sum(vals) / len(vals), note))
PY
fi
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
