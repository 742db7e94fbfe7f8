#!/usr/bin/env bash
# Prints the per-class AUROC table of an `mlaudit anomaly` run as Markdown: one row per
# method (mean, and ± the sample sd over seeds when there are several), the mean over
# classes, the mean AUPR; then one row per score term (the ablation); the protocol first.
# Published figures go in extra rows: --row "NAME=v_0,...,v_{C-1},mean" (AUROC in [0, 1];
# "-" for a missing value), printed first.
# Usage: scripts/anomaly_table.sh anomaly.json... [--row "GPND (paper)=0.99,...,0.798"]...
# Several files (runs of the same settings split by class, by seed or by method, e.g. two
# processes, or `--seed S --seeds 1` runs one seed at a time) are merged: the same
# protocol, dataset and settings in each (all but seed, seeds, threads and the methods);
# a method's class in several files pools their seeds (the same class and seed twice is
# an error) and its mean and sample sd are recomputed from the pooled per-seed figures;
# the means over classes are then recomputed (as the runner computes them). The head line gives the seeds most cells have; a cell
# with other seeds (a run not yet complete) names its own, and a row short of classes
# says how many its mean covers.
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
import json, math, re, sys
nf = int(sys.argv[1])
files, sys.argv = sys.argv[2:2 + nf], sys.argv[:1] + sys.argv[1:2] + sys.argv[2 + nf:]  # rows: argv[2:]
def mean(v):
    return sum(v) / len(v)
def mean_sd(v):
    """The runner's figures: the mean and the sample sd (n - 1; 0 for one value)."""
    m = mean(v)
    return m, math.sqrt(sum((x - m) * (x - m) for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
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
SAME = ("val_fraction", "f1_quantile", "subset", "test_subset", "epochs", "batch", "lr", "latent", "k", "adegan")
d = json.load(open(files[0]))
if nf > 1:
    with_seed_lists(d, files[0])
for f in files[1:]:
    e = json.load(open(f))
    for key in ("protocol", "dataset"):
        if e[key] != d[key]:
            sys.exit("anomaly_table: %s differs in %s (%s, not %s)" % (f, key, e[key], d[key]))
    for key in SAME:
        if e["settings"].get(key) != d["settings"].get(key):
            sys.exit("anomaly_table: %s has other settings (%s: %s, not %s)"
                     % (f, key, e["settings"].get(key), d["settings"].get(key)))
    with_seed_lists(e, f)
    for name in e["methods"]:
        if name not in d["results"]:  # a method run apart (e.g. a baseline in other processes)
            d["methods"].append(name)
            d["results"][name] = e["results"][name]
            continue
        merge_into(d["results"][name], e["results"][name], e["settings"], f, name)
        for term, t in d["results"][name].get("terms", {}).items():
            merge_into(t, e["results"][name]["terms"][term], e["settings"], f, "%s's term %s" % (name, term))
    d["classes"] = sorted(set(d["classes"]) | set(e["classes"]))
if nf > 1:
    d["protocol_description"] = re.sub(r"^(one-\w+: )class \d+ ", r"\1each class c in turn ",
                                       d["protocol_description"]) + " (%d runs merged)" % nf
classes = d["classes"]
def entries(r):
    yield from r["per_class"]
    for t in r.get("terms", {}).values():
        yield from t["per_class"]
if nf == 1:
    seeds = d["settings"]["seeds"]
    common = None
    head = "%d seed(s) from %d" % (seeds, d["settings"]["seed"])
else:  # the seed set most entries have (ties: the longer); other entries' cells name theirs
    tally = {}
    for name in d["methods"]:
        for p in entries(d["results"][name]):
            k = tuple(x["seed"] for x in p["seeds"])
            tally[k] = tally.get(k, 0) + 1
    common = max(tally, key=lambda k: (tally[k], len(k)))
    seeds = len(common)
    contiguous = list(common) == list(range(common[0], common[0] + seeds))
    head = ("%d seed(s) from %d" % (seeds, common[0]) if contiguous else "seeds " + ",".join(map(str, common)))
    if len(tally) > 1:
        head += " (cells with other seeds name them)"
print("%s, %s, %s: %s" % (d["dataset"], d["protocol"], head, d["protocol_description"]))
print()
print("| AUROC | " + " | ".join(str(c) for c in classes) + " | mean | mean AUPR |")
print("|---|" + "---|" * (len(classes) + 2))
for extra in sys.argv[2:]:
    name, _, vals = extra.partition("=")
    v = vals.split(",")
    if len(v) != len(classes) + 1:
        sys.exit("anomaly_table: --row %s has %d values, want %d (classes, then the mean)" % (name, len(v), len(classes) + 1))
    print("| %s | %s | - |" % (name, " | ".join(v)))
def cell(p):
    n = len(p["seeds"]) if nf > 1 else seeds
    v = "%.3f ± %.3f" % (p["auroc"], p["auroc_sd"]) if n > 1 else "%.3f" % p["auroc"]
    k = tuple(x["seed"] for x in p["seeds"]) if nf > 1 else None
    return v + (" (seeds %s)" % ",".join(map(str, k)) if common is not None and k != common else "")
def row(label, t, bold):
    """One method's or term's cells by class ("-" where it has none), the mean over the
    classes it has (named when not all) and its mean AUPR."""
    by = {p["class"]: p for p in t["per_class"]}
    cells = [cell(by[c]) if c in by else "-" for c in classes]
    m = "%.3f" % t["mean_auroc"]
    m = ("**%s**" % m if bold else m) + ("" if len(by) == len(classes) else " (%d of %d classes)" % (len(by), len(classes)))
    print("| %s | %s | %s | %.3f |" % (label, " | ".join(cells), m, t["mean_aupr"]))
for name in d["methods"]:
    r = d["results"][name]
    row(name, r, True)
    for term, t in r.get("terms", {}).items():
        row("%s: %s alone" % (name, term), t, False)
PY
