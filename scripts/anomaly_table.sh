#!/usr/bin/env bash
# Prints the per-class AUROC table of an `mlaudit anomaly` run as Markdown: one row per
# method (mean, and ± the sample sd over seeds when there are several), the mean over
# classes, the mean AUPR; then one row per score term (the ablation); the protocol first.
# Published figures go in extra rows: --row "NAME=v_0,...,v_{C-1},mean" (AUROC in [0, 1];
# "-" for a missing value), printed first.
# Usage: scripts/anomaly_table.sh anomaly.json... [--row "GPND (paper)=0.99,...,0.798"]...
# Several files (runs of the same settings split by class or by seed, e.g. two processes,
# or `--seed S --seeds 1` runs one seed at a time) are merged: the same methods and
# settings in each; a class in several files pools their seeds (the same class and seed
# twice is an error) and its mean and sample sd are recomputed from the pooled per-seed
# figures; the means over classes are then recomputed (as the runner computes them).
# Classes left with different seeds (a run not yet complete) are named in the head line.
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
def mean_sd(v):
    """The runner's figures: the mean and the sample sd (n - 1; 0 for one value)."""
    m = mean(v)
    return m, (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
def seed_list(p, settings, f, what):
    """A class entry's per-seed figures; an older single-seed run's term entries had none."""
    if "seeds" in p:
        return p["seeds"]
    if settings["seeds"] == 1:
        return [{"seed": settings["seed"], "auroc": p["auroc"], "aupr": p["aupr"], "f1": p["f1"]}]
    sys.exit("anomaly_table: %s: %s has no per-seed figures (a run before they were written): "
             "cannot merge its seeds" % (f, what))
def merge_into(dst, src, settings, f, what):
    """src's per-class entries added to dst's (a result or a term). A class in both: their
    seeds are pooled (the same seed twice is an error) and the class's means and sample
    sds recomputed from the pooled seeds; then the means over classes, as the runner does."""
    have = {p["class"]: p for p in dst["per_class"]}
    for p in src["per_class"]:
        q = have.get(p["class"])
        if q is None:
            p["seeds"] = seed_list(p, settings, f, what)
            dst["per_class"].append(p)
            continue
        old = {x["seed"] for x in q["seeds"]}
        new = seed_list(p, settings, f, what)
        if old & {x["seed"] for x in new}:
            sys.exit("anomaly_table: class %d appears twice with seed %s (%s)"
                     % (p["class"], sorted(old & {x["seed"] for x in new})[0], f))
        q["seeds"] = sorted(q["seeds"] + new, key=lambda x: x["seed"])
        for key in ("auroc", "aupr", "f1"):
            q[key], q[key + "_sd"] = mean_sd([x[key] for x in q["seeds"]])
        if "fit_seconds" in q:
            q["fit_seconds"] += p["fit_seconds"]
    dst["per_class"].sort(key=lambda p: p["class"])
    dst["mean_auroc"] = mean([p["auroc"] for p in dst["per_class"]])
    dst["mean_aupr"] = mean([p["aupr"] for p in dst["per_class"]])
def with_seed_lists(d, f):
    """Every class entry (results and terms) given its seed list, so merges can pool seeds."""
    for name in d["methods"]:
        r = d["results"][name]
        for what, t in [(name, r)] + [("%s's term %s" % (name, k), v) for k, v in r.get("terms", {}).items()]:
            for p in t["per_class"]:
                p["seeds"] = seed_list(p, d["settings"], f, what)
SAME = ("method_list", "val_fraction", "f1_quantile", "subset", "test_subset", "epochs", "batch", "lr",
        "latent", "k", "adegan")
d = json.load(open(files[0]))
if nf > 1:
    with_seed_lists(d, files[0])
for f in files[1:]:
    e = json.load(open(f))
    for key in ("methods", "protocol", "dataset"):
        if e[key] != d[key]:
            sys.exit("anomaly_table: %s differs in %s (%s, not %s)" % (f, key, e[key], d[key]))
    for key in SAME:
        if e["settings"].get(key) != d["settings"].get(key):
            sys.exit("anomaly_table: %s has other settings (%s: %s, not %s)"
                     % (f, key, e["settings"].get(key), d["settings"].get(key)))
    for name in d["methods"]:
        merge_into(d["results"][name], e["results"][name], e["settings"], f, name)
        for term, t in d["results"][name].get("terms", {}).items():
            merge_into(t, e["results"][name]["terms"][term], e["settings"], f, "%s's term %s" % (name, term))
    d["classes"] = sorted(set(d["classes"]) | set(e["classes"]))
if nf > 1:
    d["protocol_description"] = re.sub(r"^(one-\w+: )class \d+ ", r"\1each class c in turn ",
                                       d["protocol_description"]) + " (%d runs merged)" % nf
classes = d["classes"]
first = d["results"][d["methods"][0]]["per_class"]
seed_sets = {tuple(x["seed"] for x in p["seeds"]) for p in first} if nf > 1 else {()}
if nf == 1:
    seeds = d["settings"]["seeds"]
    head = "%d seed(s) from %d" % (seeds, d["settings"]["seed"])
elif len(seed_sets) == 1 and list(next(iter(seed_sets))) == list(range(min(next(iter(seed_sets))), max(next(iter(seed_sets))) + 1)):
    s0 = next(iter(seed_sets))
    seeds = len(s0)
    head = "%d seed(s) from %d" % (seeds, s0[0])
else:  # classes with different seeds (a run not yet complete): say which
    seeds = max(len(x) for x in seed_sets)
    head = "seeds by class: " + "; ".join("%d: %s" % (p["class"], ",".join(str(x["seed"]) for x in p["seeds"]))
                                          for p in first)
print("%s, %s, %s: %s" % (d["dataset"], d["protocol"], head, d["protocol_description"]))
print()
print("| AUROC | " + " | ".join(str(c) for c in classes) + " | mean | mean AUPR |")
print("|---|" + "---|" * (len(classes) + 2))
for row in sys.argv[2:]:
    name, _, vals = row.partition("=")
    v = vals.split(",")
    if len(v) != len(classes) + 1:
        sys.exit("anomaly_table: --row %s has %d values, want %d (classes, then the mean)" % (name, len(v), len(classes) + 1))
    print("| %s | %s | - |" % (name, " | ".join(v)))
def cell(m, sd, n):
    return "%.3f ± %.3f" % (m, sd) if n > 1 else "%.3f" % m
def n_seeds(p):
    return len(p["seeds"]) if nf > 1 else seeds
for name in d["methods"]:
    r = d["results"][name]
    cells = [cell(p["auroc"], p["auroc_sd"], n_seeds(p)) for p in r["per_class"]]
    print("| %s | %s | **%.3f** | %.3f |" % (name, " | ".join(cells), r["mean_auroc"], r["mean_aupr"]))
    for term, t in r.get("terms", {}).items():
        cells = [cell(p["auroc"], p["auroc_sd"], n_seeds(p)) for p in t["per_class"]]
        print("| %s: %s alone | %s | %.3f | %.3f |" % (name, term, " | ".join(cells), t["mean_auroc"], t["mean_aupr"]))
PY
