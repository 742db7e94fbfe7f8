#!/usr/bin/env bash
# CLI tests for anomaly: a tiny synthetic dataset (seconds), knn and ae side by side on
# every class and 2 seeds; every figure in anomaly.json recomputed from scores.csv
# (pairwise AUROC, textbook average precision, F1 at the recorded threshold, the
# threshold itself from the validation scores is checked in the C tests), means and
# sample sds over seeds and classes; --json equals the file; the same bits twice; the
# protocol printed; one-line failures for the issue's bad inputs, with no file written.
# Usage: tests/cli/anomaly.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"
COMMON=$(cd "$(dirname "$0")/../common" && pwd)

# 3 classes of 8x8 images: a bright bar in rows 0-2, 3-5 or 6-7 over uint8 noise; and a
# one-class copy (every label 0).
mkdir -p "$T/data" "$T/one"
python3 - "$T" "$COMMON" <<'PY'
import random, sys
sys.path.insert(0, sys.argv[2])
from npy import npy_save
r = random.Random(5)
for split, n in (('train', 240), ('test', 90)):
    xs, ys = [], []
    for i in range(n):
        c = i % 3
        xs += [r.randrange(150, 256) if (p // 8) // 3 == c else r.randrange(0, 110) for p in range(64)]
        ys.append(c)
    for d, lab in (('data', ys), ('one', [0] * n)):
        npy_save('%s/%s/x_%s.npy' % (sys.argv[1], d, split), xs, (n, 8, 8), '|u1')
        npy_save('%s/%s/y_%s.npy' % (sys.argv[1], d, split), lab, (n,), '<i8')
PY
D=npy:$T/data
RUN=(anomaly --data "$D" --method knn,ae --epochs 4 --batch 16 --latent 8 --seeds 2 --threads 1 --seed 7)
"$BIN" "${RUN[@]}" --out "$T/o1" --json >"$T/o1.json" 2>"$T/err" || bad "anomaly failed: $(cat "$T/err")"
for f in anomaly.json scores.csv roc.png score_hist.png ae_reconstructions.png; do
  [ -s "$T/o1/$f" ] && ok || bad "no $f"
done
cmp -s "$T/o1.json" "$T/o1/anomaly.json" && ok || bad "--json differs from anomaly.json"
grep -q "anomaly: ae epoch 4/4 loss" "$T/err" && ok || bad "no per-epoch progress on stderr"

# Every number of anomaly.json from scores.csv.
python3 - "$T/o1/anomaly.json" "$T/o1/scores.csv" <<'PY' && ok || bad "anomaly.json vs scores.csv"
import csv, json, math, sys
d = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
assert d["protocol"] == "one-out" and "class" in d["protocol_description"], d["protocol_description"]
assert d["methods"] == ["knn", "ae"] and d["method"] == "knn" and d["classes"] == [0, 1, 2]
assert d["per_class"] == d["results"]["knn"]["per_class"] and d["mean_auroc"] == d["results"]["knn"]["mean_auroc"]
assert len(rows) == 2 * 3 * 2 * 90, len(rows)  # methods x classes x seeds x test images
def close(a, b): assert abs(a - b) < 1e-9, (a, b)
def sd(v):
    m = sum(v) / len(v)
    return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
for name, res in d["results"].items():
    for pc in res["per_class"]:
        c = pc["class"]
        assert pc["n_test"] == 90 and pc["n_anomalies"] == 30 and pc["n_train"] + pc["n_val"] == 160
        au, ap, f1 = [], [], []
        for s in pc["seeds"]:
            rs = [r for r in rows if r["method"] == name and int(r["class"]) == c and int(r["seed"]) == s["seed"]]
            assert len(rs) == 90
            for r in rs:  # the flag follows the protocol: class c is the anomaly
                assert int(r["anomaly"]) == (int(r["label"]) == c)
            pos = [float(r["score"]) for r in rs if r["anomaly"] == "1"]
            neg = [float(r["score"]) for r in rs if r["anomaly"] == "0"]
            a = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))
            allv = pos + neg
            prec = [sum(1 for q in pos if q >= p) / sum(1 for q in allv if q >= p) for p in pos]
            t = s["threshold"]
            tp = sum(p >= t for p in pos); fp = sum(q >= t for q in neg); fn = len(pos) - tp
            close(s["auroc"], a); close(s["aupr"], sum(prec) / len(pos)); close(s["f1"], 2 * tp / (2 * tp + fp + fn))
            au.append(a); ap.append(s["aupr"]); f1.append(s["f1"])
        close(pc["auroc"], sum(au) / 2); close(pc["auroc_sd"], sd(au))
        close(pc["aupr"], sum(ap) / 2); close(pc["aupr_sd"], sd(ap)); close(pc["f1"], sum(f1) / 2)
        assert [s["seed"] for s in pc["seeds"]] == [7, 8]
    close(res["mean_auroc"], sum(p["auroc"] for p in res["per_class"]) / 3)
    close(res["mean_aupr"], sum(p["aupr"] for p in res["per_class"]) / 3)
assert d["results"]["knn"]["mean_auroc"] > 0.9, d["results"]["knn"]["mean_auroc"]
s = d["settings"]
assert s["seeds"] == 2 and s["seed"] == 7 and s["epochs"] == 4 and s["k"] == 1 and s["val_fraction"] == 0.1
assert s["adegan"]["patterns"] == 10 and s["adegan"]["gamma"] == 10 and s["adegan"]["recon_trains"] == "ge" and s["adegan"]["recon_code"] == "soft"
assert s["adegan"]["info_weight"] == 1 and s["adegan"]["code_scale"] == 1 and s["adegan"]["noise_sigma"] == 0.3
PY

# scripts/anomaly_table.sh: the rows carry the JSON's figures.
SRC=${MLA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bash "$SRC/scripts/anomaly_table.sh" "$T/o1/anomaly.json" --row "paper=0.9,-,0.8,0.85" >"$T/table.md" 2>"$T/err" \
  || bad "anomaly_table.sh failed: $(cat "$T/err")"
python3 - "$T/o1/anomaly.json" "$T/table.md" <<'PY' && ok || bad "anomaly_table.sh rows: $(cat "$T/table.md")"
import json, sys
d = json.load(open(sys.argv[1]))
lines = open(sys.argv[2]).read().splitlines()
assert lines[0].startswith("data, one-out, 2 seed(s) from 7: one-out: "), lines[0]
assert "| paper | 0.9 | - | 0.8 | 0.85 | - |" in lines
for name in ("knn", "ae"):
    r = d["results"][name]
    cells = ["%.3f ± %.3f" % (p["auroc"], p["auroc_sd"]) for p in r["per_class"]]
    want = "| %s | %s | **%.3f** | %.3f |" % (name, " | ".join(cells), r["mean_auroc"], r["mean_aupr"])
    assert want in lines, want
PY
bash "$SRC/scripts/anomaly_table.sh" "$T/o1/anomaly.json" --row "short=0.9" >/dev/null 2>"$T/err" \
  && bad "a short --row was accepted" || { grep -q "has 1 values, want 4" "$T/err" && ok || bad "short --row: $(cat "$T/err")"; }

# anomaly_table.sh --nc (Table 2 mode): single-class runs merged into one row per n_c,
# the mean over the classes present; a class twice for one n_c refused.
for run in "2 0" "2 1" "4 1"; do
  set -- $run
  "$BIN" anomaly --data "$D" --method knn --protocol one-out --class "$2" --patterns "$1" --threads 1 \
    --out "$T/nc$1c$2" >/dev/null 2>&1 || bad "knn --patterns $1 --class $2 failed"
done
bash "$SRC/scripts/anomaly_table.sh" --nc "$T"/nc*/anomaly.json --method knn >"$T/nc.md" 2>"$T/err" \
  || bad "anomaly_table.sh --nc failed: $(cat "$T/err")"
python3 - "$T" <<'PY' && ok || bad "anomaly_table.sh --nc rows: $(cat "$T/nc.md")"
import json, sys
t = sys.argv[1]
a = {k: json.load(open("%s/nc%s/anomaly.json" % (t, k)))["results"]["knn"]["per_class"][0]["auroc"]
     for k in ("2c0", "2c1", "4c1")}
lines = open(t + "/nc.md").read().splitlines()
assert lines[0] == "data, one-out, 1 seed(s): knn AUROC by pattern count n_c (the study's Table 2)", lines[0]
assert lines[2] == "| n_c | 0 | 1 | mean |", lines[2]
want2 = "| 2 | %.3f | %.3f | **%.3f** |" % (a["2c0"], a["2c1"], (a["2c0"] + a["2c1"]) / 2)
want4 = "| 4 | - | %.3f | **%.3f** (1 of 2 classes) |" % (a["4c1"], a["4c1"])
assert lines[4:6] == [want2, want4], (lines[4:6], want2, want4)
PY
bash "$SRC/scripts/anomaly_table.sh" --nc "$T/nc2c0/anomaly.json" "$T/nc2c0/anomaly.json" --method knn >/dev/null \
  2>"$T/err" && bad "a class twice was accepted" \
  || { grep -q "n_c 2, class 0 appears twice" "$T/err" && ok || bad "class twice: $(cat "$T/err")"; }

# anomaly_table.sh with several files (a run split by class): the classes merged, the
# means recomputed over them; a class twice refused.
bash "$SRC/scripts/anomaly_table.sh" "$T/nc2c1/anomaly.json" "$T/nc2c0/anomaly.json" >"$T/merged.md" 2>"$T/err" \
  || bad "anomaly_table.sh merge failed: $(cat "$T/err")"
python3 - "$T" <<'PY' && ok || bad "anomaly_table.sh merged rows: $(cat "$T/merged.md")"
import json, sys
t = sys.argv[1]
r = [json.load(open("%s/nc2c%d/anomaly.json" % (t, c)))["results"]["knn"]["per_class"][0] for c in (0, 1)]
lines = open(t + "/merged.md").read().splitlines()
assert "each class c in turn is the anomaly" in lines[0] and lines[0].endswith("(2 runs merged)"), lines[0]
assert lines[2] == "| AUROC | 0 | 1 | mean | mean AUPR |", lines[2]
want = "| knn | %.3f | %.3f | **%.3f** | %.3f |" % (r[0]["auroc"], r[1]["auroc"], (r[0]["auroc"] + r[1]["auroc"]) / 2,
                                              (r[0]["aupr"] + r[1]["aupr"]) / 2)
assert lines[4] == want, (lines[4], want)
PY
bash "$SRC/scripts/anomaly_table.sh" "$T/nc2c0/anomaly.json" "$T/nc2c0/anomaly.json" >/dev/null 2>"$T/err" \
  && bad "a class twice was merged" \
  || { grep -q "class 0 appears twice" "$T/err" && ok || bad "merge, class twice: $(cat "$T/err")"; }

# anomaly_table.sh merging runs of one seed each (`--seed S --seeds 1`, S = 7 and 8) gives
# the table of the 2-seed run: the classes' seeds pooled, means and sample sds recomputed.
for s in 7 8; do
  "$BIN" "${RUN[@]}" --seed $s --seeds 1 --out "$T/s$s" >/dev/null 2>&1 || bad "--seed $s --seeds 1 failed"
done
bash "$SRC/scripts/anomaly_table.sh" "$T/o1/anomaly.json" >"$T/t2.md" 2>"$T/err" || bad "table: $(cat "$T/err")"
bash "$SRC/scripts/anomaly_table.sh" "$T/s8/anomaly.json" "$T/s7/anomaly.json" >"$T/t78.md" 2>"$T/err" \
  || bad "seed merge failed: $(cat "$T/err")"
python3 - "$T/t2.md" "$T/t78.md" <<'PY' && ok || bad "seed merge: $(cat "$T/t78.md")"
import sys
a, b = (open(f).read().splitlines() for f in sys.argv[1:])
assert b[0].startswith("data, one-out, 2 seed(s) from 7: ") and b[0].endswith("(2 runs merged)"), b[0]
assert a[1:] == b[1:], (a, b)
PY
bash "$SRC/scripts/anomaly_table.sh" "$T/o1/anomaly.json" "$T/s8/anomaly.json" >/dev/null 2>"$T/err" \
  && bad "a seed twice was merged" || { grep -q "class 0 appears twice with seed 8" "$T/err" && ok || bad "seed twice: $(cat "$T/err")"; }
"$BIN" "${RUN[@]}" --seed 9 --seeds 1 --k 2 --out "$T/k2" >/dev/null 2>&1 || bad "--k 2 failed"
bash "$SRC/scripts/anomaly_table.sh" "$T/o1/anomaly.json" "$T/k2/anomaly.json" >/dev/null 2>"$T/err" \
  && bad "runs of other settings were merged" || { grep -q "other settings (k: 2, not 1)" "$T/err" && ok || bad "settings: $(cat "$T/err")"; }

# ADe-GAN's score terms carry per-seed figures too (their means and sds recomputed from
# them), and merge the same way; a class left with fewer seeds is named in the head line.
AD=(anomaly --data "$D" --method adegan --epochs 1 --batch 16 --threads 1)
"$BIN" "${AD[@]}" --class 0 --seed 3 --seeds 2 --out "$T/a34" >/dev/null 2>&1 || bad "adegan 2 seeds failed"
for s in 3 4; do "$BIN" "${AD[@]}" --class 0 --seed $s --seeds 1 --out "$T/a$s" >/dev/null 2>&1 || bad "adegan $s"; done
"$BIN" "${AD[@]}" --class 1 --seed 3 --seeds 1 --out "$T/a3c1" >/dev/null 2>&1 || bad "adegan class 1"
python3 - "$T/a34/anomaly.json" <<'PY' && ok || bad "term seeds in anomaly.json"
import json, math, sys
d = json.load(open(sys.argv[1]))
for term, t in d["results"]["adegan"]["terms"].items():
    p = t["per_class"][0]
    assert [x["seed"] for x in p["seeds"]] == [3, 4], (term, p)
    for k in ("auroc", "aupr", "f1"):
        v = [x[k] for x in p["seeds"]]
        m = sum(v) / 2
        assert abs(p[k] - m) < 1e-12 and abs(p[k + "_sd"] - math.sqrt(sum((x - m) ** 2 for x in v))) < 1e-12, (term, k)
PY
bash "$SRC/scripts/anomaly_table.sh" "$T/a34/anomaly.json" >"$T/ta.md" 2>"$T/err" || bad "adegan table: $(cat "$T/err")"
bash "$SRC/scripts/anomaly_table.sh" "$T/a4/anomaly.json" "$T/a3/anomaly.json" >"$T/tb.md" 2>"$T/err" \
  || bad "adegan seed merge: $(cat "$T/err")"
cmp -s <(tail -n +2 "$T/ta.md") <(tail -n +2 "$T/tb.md") && grep -q "recon alone" "$T/tb.md" && ok \
  || bad "adegan merged table differs: $(diff "$T/ta.md" "$T/tb.md")"
bash "$SRC/scripts/anomaly_table.sh" "$T/a34/anomaly.json" "$T/a3c1/anomaly.json" >"$T/tc.md" 2>"$T/err" \
  || bad "partial merge: $(cat "$T/err")"
python3 - "$T/tc.md" "$T/a3c1/anomaly.json" <<'PY' && ok || bad "partial merge: $(cat "$T/tc.md")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines[0].startswith("data, one-out, 2 seed(s) from 3 (cells with other seeds name them): "), lines[0]
c1 = json.load(open(sys.argv[2]))["results"]["adegan"]["per_class"][0]["auroc"]
row = [l for l in lines if l.startswith("| adegan |")][0].split(" | ")
assert row[1].count("±") == 1 and "seeds" not in row[1] and row[2] == "%.3f (seeds 3)" % c1, row
PY

# Methods run apart (knn in one run, ae in another) merge into the table of the run of both.
for m in knn ae; do
  "$BIN" "${RUN[@]/knn,ae/$m}" --out "$T/m$m" >/dev/null 2>&1 || bad "--method $m alone failed"
done
bash "$SRC/scripts/anomaly_table.sh" "$T/mknn/anomaly.json" "$T/mae/anomaly.json" >"$T/tm.md" 2>"$T/err" \
  || bad "method merge failed: $(cat "$T/err")"
cmp -s <(tail -n +2 "$T/t2.md") <(tail -n +2 "$T/tm.md") && ok || bad "methods merged differ: $(diff "$T/t2.md" "$T/tm.md")"

# The same seed and threads: the same scores; the table states the protocol.
"$BIN" "${RUN[@]}" --out "$T/o2" >"$T/o2.txt" 2>/dev/null || bad "second run failed"
cmp -s "$T/o1/scores.csv" "$T/o2/scores.csv" && ok || bad "scores.csv differs between identical runs"
grep -q "^protocol one-out: each class c in turn is the anomaly, the other 2 classes are normal" "$T/o2.txt" && ok \
  || bad "table lacks the protocol: $(head -2 "$T/o2.txt")"

# one-in, one class: the flags invert; k = 3.
"$BIN" anomaly --data "$D" --method knn --protocol one-in --class 1 --k 3 --threads 1 --json >"$T/in.json" 2>/dev/null \
  || bad "one-in failed"
python3 - "$T/in.json" <<'PY' && ok || bad "one-in JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["protocol"] == "one-in" and d["classes"] == [1] and len(d["per_class"]) == 1
pc = d["per_class"][0]
assert pc["n_anomalies"] == 60 and pc["n_train"] + pc["n_val"] == 80 and pc["auroc"] > 0.9
assert d["settings"]["k"] == 3
PY

# Bad input: one line, non-zero exit, nothing written.
B=(anomaly --data "$D" --method knn --threads 1)
expect_fail 1 "class 3 is out of range" "$BIN" "${B[@]}" --class 3 --out "$T/bad1"
[ ! -e "$T/bad1" ] && ok || bad "--class 3 left $T/bad1"
expect_fail 2 "--patterns must be between 2" "$BIN" "${B[@]}" --patterns 1 --out "$T/bad2"
expect_fail 2 "--alpha must be between 0" "$BIN" "${B[@]}" --alpha -1 --out "$T/bad2"
expect_fail 2 "--gamma must be between 0" "$BIN" "${B[@]}" --gamma -0.5 --out "$T/bad2"
expect_fail 2 "--info-weight must be between 0" "$BIN" "${B[@]}" --info-weight -1 --out "$T/bad2"
expect_fail 2 "--code-scale must be between" "$BIN" "${B[@]}" --code-scale 0 --out "$T/bad2"
expect_fail 1 "available: adegan, ganomaly, knn, ae, dsvdd, knn-ae" "$BIN" anomaly --data "$D" --method knn,ocsvm --out "$T/bad2"
expect_fail 1 "1 class" "$BIN" anomaly --data "npy:$T/one" --method knn --out "$T/bad2"
expect_fail 1 "unknown protocol 'one-vs-rest'" "$BIN" "${B[@]}" --protocol one-vs-rest --out "$T/bad2"
expect_fail 1 "--score must be both, recon or pattern" "$BIN" "${B[@]}" --score mean --out "$T/bad2"
expect_fail 1 "--recon-trains must be e or ge" "$BIN" "${B[@]}" --recon-trains g --out "$T/bad2"
expect_fail 1 "--recon-code must be soft or hard" "$BIN" "${B[@]}" --recon-code firm --out "$T/bad2"
expect_fail 1 "--class must be a class number or all" "$BIN" "${B[@]}" --class two --out "$T/bad2"
expect_fail 1 "k = 500 exceeds" "$BIN" "${B[@]}" --k 500 --out "$T/bad2"
expect_fail 1 "nothing to write" "$BIN" "${B[@]}"
expect_fail 1 "lists 'knn' twice" "$BIN" anomaly --data "$D" --method knn,knn --json
[ ! -e "$T/bad2" ] && ok || bad "a failed run left $T/bad2"
cli_finish anomaly
