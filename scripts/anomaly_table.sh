#!/usr/bin/env bash
# Prints the per-class AUROC table of an `mlaudit anomaly` run as Markdown: one row per
# method (mean, and ± the sample sd over seeds when there are several), the mean over
# classes, the mean AUPR; then one row per score term (the ablation); the protocol first.
# Published figures go in extra rows: --row "NAME=v_0,...,v_{C-1},mean" (AUROC in [0, 1];
# "-" for a missing value), printed first.
# Usage: scripts/anomaly_table.sh anomaly.json... [--row "GPND (paper)=0.99,...,0.798"]...
# Several files (runs of the same settings split by class, e.g. two processes) are
# merged by class: the same methods and seeds in each, a class twice is an error; the
# means are then recomputed over the merged classes (as the runner computes them).
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
[ $# -ge 1 ] || { echo "usage: $0 anomaly.json... [--row 'NAME=v0,...,mean']..." >&2; exit 2; }
FILES=() ROWS=()
while [ $# -gt 0 ]; do
  case $1 in
    --row) [ $# -ge 2 ] || { echo "$0: expected --row 'NAME=v0,...,mean'" >&2; exit 2; }; ROWS+=("$2"); shift 2 ;;
    -*) echo "$0: expected a file or --row 'NAME=v0,...,mean', got '$1'" >&2; exit 2 ;;
    *) FILES+=("$1"); shift ;;
  esac
done
[ ${#FILES[@]} -ge 1 ] || { echo "usage: $0 anomaly.json... [--row 'NAME=v0,...,mean']..." >&2; exit 2; }
python3 - "${#FILES[@]}" "${FILES[@]}" "${ROWS[@]+"${ROWS[@]}"}" <<'PY'
import json, re, sys
nf = int(sys.argv[1])
files, sys.argv = sys.argv[2:2 + nf], sys.argv[:1] + sys.argv[1:2] + sys.argv[2 + nf:]  # rows: argv[2:]
def mean(v):
    return sum(v) / len(v)
def merge_into(dst, src, f):
    """src's per-class entries added to dst's (a result or a term); means recomputed."""
    have = {p["class"] for p in dst["per_class"]}
    for p in src["per_class"]:
        if p["class"] in have:
            sys.exit("anomaly_table: class %d appears twice (%s)" % (p["class"], f))
        dst["per_class"].append(p)
    dst["per_class"].sort(key=lambda p: p["class"])
    dst["mean_auroc"] = mean([p["auroc"] for p in dst["per_class"]])
    dst["mean_aupr"] = mean([p["aupr"] for p in dst["per_class"]])
d = json.load(open(files[0]))
for f in files[1:]:
    e = json.load(open(f))
    for key in ("methods", "protocol", "dataset"):
        if e[key] != d[key]:
            sys.exit("anomaly_table: %s differs in %s (%s, not %s)" % (f, key, e[key], d[key]))
    if e["settings"]["seeds"] != d["settings"]["seeds"] or e["settings"]["seed"] != d["settings"]["seed"]:
        sys.exit("anomaly_table: %s has other seeds" % f)
    for name in d["methods"]:
        merge_into(d["results"][name], e["results"][name], f)
        for term, t in d["results"][name].get("terms", {}).items():
            merge_into(t, e["results"][name]["terms"][term], f)
    d["classes"] = sorted(set(d["classes"]) | set(e["classes"]))
if nf > 1:
    d["protocol_description"] = re.sub(r"^(one-\w+: )class \d+ ", r"\1each class c in turn ",
                                       d["protocol_description"]) + " (%d runs merged)" % nf
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
