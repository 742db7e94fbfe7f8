#!/usr/bin/env bash
# CLI tests for mia: a live split4 audit and its outputs, determinism, --from on saved and
# hand-written arrays, the lira and shadows protocols, an own target, clean failures, and
# the report in a browser.
# Usage: tests/cli/mia.sh PATH/TO/mlaudit   (MLA_SOURCE_DIR: the source tree, for scripts/)
source "$(dirname "$0")/../common/cli_harness.sh" "$@"
SRC=${MLA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# pycheck WHAT SCRIPT ARGS...: runs a python check that prints one line per check, "ok" or
# a failure message; each counts.
pycheck() {
  local what=$1 script=$2; shift 2
  local out; out=$("$PY" -c "$script" "$@" 2>&1); local rc=$?
  [ "$rc" -eq 0 ] || { bad "$what: python exited $rc: $out"; return; }
  [ -n "$out" ] || { bad "$what: no checks ran"; return; }
  while IFS= read -r line; do
    if [ "$line" = ok ]; then ok; else bad "$what: $line"; fi
  done <<<"$out"
}

# A .npy writer without NumPy (format v1.0): npy_save(path, flat list, shape, descr),
# shared by the CLI tests (tests/common/npy.py).
export PYTHONPATH="$(cd "$(dirname "$0")/../common" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
# The interpreter itself, resolved once: a version manager's shim costs ~0.5 s a call.
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=python3

SAME_FIGURES_EARLY='
import json, sys
a = json.load(open(sys.argv[1]))["attacks"]
b = json.load(open(sys.argv[2]))["attacks"]
for n in a:
    for f in ("auc", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "n_members", "n_nonmembers", "excluded"):
        print("ok" if n in b and a[n][f] == b[n][f] else "%s %s: live %r, re-scored %r" % (n, f, a[n][f], b.get(n, {}).get(f)))
'
COMMON=(--data fashion-mnist --model mlp --epochs 2 --batch-sizes 8,16 --seed 1 --threads 2)
SPLIT4=("${COMMON[@]}" --pool 800 --shadows 2)

# --- 1. a small split4 audit: files, JSON, scores.csv ---
"$BIN" mia "${SPLIT4[@]}" --out "$T/r1" --json --save-arrays "$T/a1" >"$T/r1.json" 2>"$T/err" \
  && ok || bad "split4 audit failed: $(cat "$T/err")"
for f in mia.json scores.csv roc.csv roc.png roc_log.png loss_hist.png batch.png report.html; do
  [ -s "$T/r1/$f" ] && ok || bad "split4 --out lacks $f"
done
ls -a "$T/r1" "$T/a1" | grep -q '\.tmp' && bad "temporary file left behind" || ok
# (mia.json ends without a newline; --json prints one)
cmp -s <(sed -e '$a\' "$T/r1.json") <(sed -e '$a\' "$T/r1/mia.json") && ok || bad "--json output differs from mia.json"
for f in target_probs target_phi shadow_probs shadow_phi shadow_in target_in labels population; do
  [ -s "$T/a1/$f.npy" ] && ok || bad "--save-arrays lacks $f.npy"
done

pycheck "split4 mia.json" '
import json, sys
d = json.load(open(sys.argv[1]))
a = d.get("attacks", {})
for k in ["random", "correctness", "loss", "confidence", "entropy", "modified_entropy", "shadow_sample",
          "shadow_batch_8", "shadow_batch_16", "lira_offline", "lira_offline_fixed", "rmia_offline", "label_augment"]:
    print("ok" if k in a else "no attack " + k)
for k in ["lira_online", "lira_online_fixed", "similarity"]:
    print("ok" if k not in a else "split4 has no IN shadows, yet " + k + " ran")
fields = ["auc", "balanced_accuracy", "accuracy", "precision", "recall", "advantage", "tpr_at_fpr_0.001",
          "ci95_at_fpr_0.001", "tpr_at_fpr_0.01", "ci95_at_fpr_0.01", "n_members", "n_nonmembers", "excluded"]
for name, v in a.items():
    miss = [f for f in fields if f not in v]
    print("ok" if not miss else name + " lacks " + ",".join(miss))
    if miss: continue
    print("ok" if 0 <= v["auc"] <= 1 else name + " auc %r outside [0, 1]" % v["auc"])
    for fpr in ("0.001", "0.01"):
        lo, hi = v["ci95_at_fpr_" + fpr]
        t = v["tpr_at_fpr_" + fpr]
        print("ok" if lo <= t <= hi else name + " tpr@%s %r outside its interval [%r, %r]" % (fpr, t, lo, hi))
    if name.startswith("shadow_batch_"):
        b = int(name[len("shadow_batch_"):])
        print("ok" if v.get("batch_size") == b else name + " batch_size %r" % v.get("batch_size"))
        print("ok" if v["n_members"] == 200 // b else name + " has %r member batches, wanted %d" % (v["n_members"], 200 // b))
    else:
        print("ok" if (v["n_members"], v["n_nonmembers"]) == (200, 200) else
              name + " evaluates %r members, %r non-members, wanted 200 each" % (v["n_members"], v["n_nonmembers"]))
print("ok" if a["random"]["auc"] == 0.5 else "random auc %r" % a["random"]["auc"])
gap = d["target"]["gap_accuracy"]
acc = a["correctness"]["accuracy"]
print("ok" if abs(acc - (1 + gap) / 2) <= 1e-12 else "correctness accuracy %r != (1 + gap %r) / 2" % (acc, gap))
print("ok" if d["protocol"] == "split4" and d["shadows"] == 2 and d["seed"] == 1 else "header %r" %
      [d.get("protocol"), d.get("shadows"), d.get("seed")])
for k in ("target", "shadows", "attacks", "total"):
    print("ok" if k in d.get("seconds", {}) else "seconds lacks " + k)
' "$T/r1/mia.json"

pycheck "split4 scores.csv" '
import csv, json, sys
d = json.load(open(sys.argv[1]))
rows = list(csv.reader(open(sys.argv[2])))
print("ok" if ",".join(rows[0]).startswith("index,member") else "scores.csv header: %r" % rows[0])
n = d["attacks"]["loss"]["n_members"] + d["attacks"]["loss"]["n_nonmembers"]
print("ok" if len(rows) - 1 == n else "scores.csv has %d rows, wanted %d" % (len(rows) - 1, n))
print("ok" if sorted(set(r[1] for r in rows[1:])) == ["0", "1"] else "member column holds %r" % set(r[1] for r in rows[1:]))
col = rows[0].index("random") if "random" in rows[0] else -1
print("ok" if col > 0 and all(float(r[col]) == 0.5 for r in rows[1:]) else "random scores are not all 0.5")
idx = [int(r[0]) for r in rows[1:]]
print("ok" if len(set(idx)) == len(idx) and all(0 <= i < 70000 for i in idx) else "scores.csv indices not distinct dataset indices")
' "$T/r1/mia.json" "$T/r1/scores.csv"
head -1 "$T/r1/roc.csv" | grep -qx "attack,threshold,fpr,tpr" && ok || bad "roc.csv header: $(head -1 "$T/r1/roc.csv")"

# --- 1b. released outputs: --release label and topk:1 ---
# Under label every model releases one-hot rows: confidence and entropy are constant (AUC
# exactly 0.5), loss is 0 or log 1e-300 as correctness is 1 or 0 (the same AUC), and
# topk:1 (renormalised) releases the very same rows, so the same figures.
"$BIN" mia "${SPLIT4[@]}" --release label --json --save-arrays "$T/alab" >"$T/lab.json" 2>"$T/err" \
  && ok || bad "--release label audit failed: $(cat "$T/err")"
"$BIN" mia "${SPLIT4[@]}" --release topk:1 --json >"$T/top1.json" 2>"$T/err" \
  && ok || bad "--release topk:1 audit failed: $(cat "$T/err")"
pycheck "--release label" '
import json, struct, sys
d = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
a = d["attacks"]
for n in ("confidence", "entropy"):
    print("ok" if a[n]["auc"] == 0.5 else "%s auc %r under label, wanted 0.5" % (n, a[n]["auc"]))
print("ok" if a["loss"]["auc"] == a["correctness"]["auc"] else "loss auc %r != correctness auc %r" %
      (a["loss"]["auc"], a["correctness"]["auc"]))
gap = d["target"]["gap_accuracy"]
print("ok" if abs(a["correctness"]["accuracy"] - (1 + gap) / 2) <= 1e-12 else "correctness vs gap")
print("ok" if d["settings"].get("release") == "label" else "settings.release %r" % d["settings"].get("release"))
print("ok" if t["settings"].get("release") == "topk:1" else "topk settings.release %r" % t["settings"].get("release"))
print("ok" if t["attacks"] == a and t["target"] == d["target"] else "topk:1 figures differ from label")
def npy(path):
    raw = open(path, "rb").read()
    hl = struct.unpack("<H", raw[8:10])[0]; hdr = raw[10:10 + hl].decode("latin1"); body = raw[10 + hl:]
    fmt = {"<f4": "f", "<i4": "i", "<f8": "d"}[hdr.split("descr\x27: \x27")[1].split("\x27")[0]]
    return struct.unpack("<%d%s" % (len(body) // struct.calcsize(fmt), fmt), body)
p = npy(sys.argv[3] + "/target_probs.npy")
rows = [p[i:i + 10] for i in range(0, len(p), 10)]
print("ok" if all(sorted(r) == [0.0] * 9 + [1.0] for r in rows) else "saved target_probs are not one-hot")
print("ok" if npy(sys.argv[3] + "/released.npy") == (1,) else "released.npy is not 1")
' "$T/lab.json" "$T/top1.json" "$T/alab"
"$BIN" mia --from "$T/alab" --batch-sizes 8,16 --seed 1 --threads 2 --json >"$T/flab.json" 2>"$T/err" \
  && ok || bad "--from released arrays failed: $(cat "$T/err")"
pycheck "--from released arrays" "$SAME_FIGURES_EARLY" "$T/lab.json" "$T/flab.json"
expect_fail 1 "--release topk:0: K must be 1..10" "$BIN" mia "${SPLIT4[@]}" --release topk:0
expect_fail 1 "--release topk:11: K must be 1..10" "$BIN" mia "${SPLIT4[@]}" --release topk:11
expect_fail 1 "--release top: unknown kind (none, topk:K[:raw], round:D, label" "$BIN" mia "${SPLIT4[@]}" --release top
expect_fail 1 "--from arrays are scored as saved" "$BIN" mia --from "$T/alab" --release label
"$BIN" mia --help | grep -q -- "--release POLICY" && ok || bad "mia --help lacks --release"

# --- 2. same seed and threads: the same bits ---
"$BIN" mia "${SPLIT4[@]}" --out "$T/r2" >/dev/null 2>"$T/err" || bad "second split4 audit failed: $(cat "$T/err")"
strip_seconds() {
  "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); d.pop('seconds', None); print(json.dumps(d, indent=1))" "$1"
}
strip_seconds "$T/r1/mia.json" >"$T/s1.json"
strip_seconds "$T/r2/mia.json" >"$T/s2.json" 2>/dev/null
cmp -s "$T/s1.json" "$T/s2.json" && ok || bad "two identical audits gave different mia.json: $(diff "$T/s1.json" "$T/s2.json" | head -5)"
cmp -s "$T/r1/scores.csv" "$T/r2/scores.csv" && ok || bad "two identical audits gave different scores.csv"
cmp -s "$T/r1/roc.csv" "$T/r2/roc.csv" && ok || bad "two identical audits gave different roc.csv"

# same_figures A.json B.json ATTACK...: every named attack (all of A's when none is named)
# has the same auc and TPR figures in both, exactly.
SAME_FIGURES='
import json, sys
a = json.load(open(sys.argv[1]))["attacks"]
b = json.load(open(sys.argv[2]))["attacks"]
names = sys.argv[3:] or list(a)
for n in names:
    if n not in a or n not in b:
        print("attack %s missing (live: %s, re-scored: %s)" % (n, n in a, n in b)); continue
    for f in ("auc", "tpr_at_fpr_0.001", "ci95_at_fpr_0.001", "tpr_at_fpr_0.01", "ci95_at_fpr_0.01",
              "n_members", "n_nonmembers", "excluded"):
        print("ok" if a[n][f] == b[n][f] else "%s %s: live %r, re-scored %r" % (n, f, a[n][f], b[n][f]))
'

# --- 3. --from the saved arrays reproduces the live audit ---
"$BIN" mia --from "$T/a1" --batch-sizes 8,16 --seed 1 --threads 2 --out "$T/f1" >/dev/null 2>"$T/err" \
  && ok || bad "--from the saved arrays failed: $(cat "$T/err")"
if [ -s "$T/f1/mia.json" ]; then
  pycheck "--from saved arrays" "$SAME_FIGURES" "$T/r1/mia.json" "$T/f1/mia.json"
  cmp -s "$T/r1/scores.csv" "$T/f1/scores.csv" && ok || bad "--from scores.csv differs from the live one"
else
  bad "--from the saved arrays wrote no mia.json"
fi
# The phi-only part of the saved arrays (no probabilities) reproduces the attacks that
# run on phi and p_y: LiRA offline and RMIA.
mkdir "$T/a1phi"
for f in target_phi target_p shadow_phi shadow_p shadow_in shadow_fit target_in population sample_index; do
  cp "$T/a1/$f.npy" "$T/a1phi/"
done
"$BIN" mia --from "$T/a1phi" --batch-sizes 8,16 --seed 1 --threads 2 --json >"$T/f1phi.json" 2>"$T/err" \
  && ok || bad "--from the saved phi arrays failed: $(cat "$T/err")"
pycheck "--from saved phi arrays" "$SAME_FIGURES" "$T/r1/mia.json" "$T/f1phi.json" lira_offline lira_offline_fixed rmia_offline random
pycheck "--from phi-only attacks" '
import json, sys
a = json.load(open(sys.argv[1]))["attacks"]
for n in ("correctness", "confidence", "shadow_sample", "label_augment"):
    print("ok" if n not in a else n + " ran without probabilities or counts")
print("ok" if "loss" in a else "loss did not run on phi")
' "$T/f1phi.json"

# Without target_in.npy the attacks only score: --out is required, scores.csv holds the
# evaluated samples (the 400 of D_train and D_test, not the population D') with the live
# run's scores and an empty member column.
mkdir "$T/a1nt"
cp "$T"/a1/*.npy "$T/a1nt/" && rm "$T/a1nt/target_in.npy"
expect_fail 1 "has no target_in.npy" "$BIN" mia --from "$T/a1nt" --batch-sizes 8,16 --seed 1 --threads 2
"$BIN" mia --from "$T/a1nt" --batch-sizes 8,16 --seed 1 --threads 2 --out "$T/fnt" >/dev/null 2>"$T/err" \
  && ok || bad "--from without target_in failed: $(cat "$T/err")"
pycheck "--from without target_in scores" '
import csv, sys
live = {r["index"]: r for r in csv.DictReader(open(sys.argv[1]))}
rows = list(csv.DictReader(open(sys.argv[2])))
print("ok" if len(rows) == 400 else "scores.csv has %d rows, want 400" % len(rows))
for r in rows:
    if r["member"] != "":
        print("member column %r without ground truth" % r["member"]); break
    if r["loss"] != live[r["index"]]["loss"] or r["lira_offline"] != live[r["index"]]["lira_offline"]:
        print("scores differ from the live run at %s" % r["index"]); break
else:
    print("ok")
' "$T/r1/scores.csv" "$T/fnt/scores.csv"

# --- 4. --from on hand-written arrays ---
# gen.py DIR:CASE[:BREAK]...: folders of M = 200 evaluated samples (members 0..99) and
# 40 population points (200..239); K = 4 shadows, each sample IN for two of them. CASE:
# separable (phi 5 for members / IN, -5 otherwise), equal (every phi 0), probs or logits
# (the separable outputs as 3-class probabilities or logits, label 0). BREAK spoils one
# thing for the failure cases.
cat >"$T/gen.py" <<'PY'
import math, os, sys
from npy import npy_save
def make(d, case, brk):
  os.makedirs(d, exist_ok=True)
  M, K, C, NM = 240, 4, 3, 100
  truth = [1 if i < NM else 0 for i in range(M)]
  pop = list(range(200, M))
  sin = [[1 if (i + s) % 2 == 0 else 0 for i in range(M)] for s in range(K)]
  if case in ("separable", "probs", "logits"):
      tphi = [5.0 if truth[i] == 1 else -5.0 for i in range(M)]
      sphi = [[5.0 if sin[s][i] else -5.0 for i in range(M)] for s in range(K)]
  else:  # equal: every output the same
      tphi = [0.0] * M
      sphi = [[0.0] * M for s in range(K)]
  if brk == "phi_nan": tphi[7] = float("nan")
  if brk == "p_negative": npy_save(d + "/target_p.npy", [-0.25] + [0.5] * (M - 1), (M,), "<f8")
  npy_save(d + "/target_phi.npy", tphi, (M,), "<f8")
  npy_save(d + "/shadow_phi.npy", sum(sphi, []), (K, M), "<f8")
  if brk == "shadow_in_m":
      npy_save(d + "/shadow_in.npy", sum((r + [0] for r in sin), []), (K, M + 1), "|u1")
  else:
      npy_save(d + "/shadow_in.npy", sum(sin, []), (K, M), "|u1")
  tin = [-1 if i in pop else truth[i] for i in range(M)]
  if brk == "pop_member": pop[0] = 3
  npy_save(d + "/target_in.npy", tin, (M,), "<i8")
  npy_save(d + "/population.npy", pop, (len(pop),), "<i8")
  # Probabilities (3 classes, label 0) with p_y = sigmoid(phi), for the probability cases.
  if case == "probs" or brk.startswith("probs_"):
      for n in ("target_phi", "shadow_phi"): os.remove(d + "/" + n + ".npy")
      def row(phi):
          p = 1 / (1 + math.exp(-phi)); return [p, (1 - p) / 2, (1 - p) / 2]
      tp = sum((row(x) for x in tphi), [])
      if brk == "probs_negative": tp[4] = -0.1; tp[5] += 0.1
      if brk == "probs_nan": tp[4] = float("nan")
      if brk == "probs_sum": tp[4] += 0.5
      npy_save(d + "/target_probs.npy", tp, (M, C), "<f4")
      npy_save(d + "/shadow_probs.npy", sum((row(x) for r in sphi for x in r), []), (K, M, C), "<f4")
      npy_save(d + "/labels.npy", [0] * M, (M,), "<i8")
  if case == "logits":
      for n in ("target_phi", "shadow_phi"): os.remove(d + "/" + n + ".npy")
      npy_save(d + "/target_logits.npy", sum(([x, 0.0, 0.0] for x in tphi), []), (M, C), "<f4")
      npy_save(d + "/shadow_logits.npy", sum(([x, 0.0, 0.0] for r in sphi for x in r), []), (K, M, C), "<f4")
      npy_save(d + "/labels.npy", [0] * M, (M,), "<i8")
for arg in sys.argv[1:]:
    d, case, brk = (arg.split(":") + [""])[:3]
    make(d, case, brk)
PY
"$PY" "$T/gen.py" "$T/sep:separable" "$T/eq:equal" "$T/sep_probs:probs" "$T/sep_logits:logits" \
  "$T/b_shape:separable:shadow_in_m" "$T/b_pop:separable:pop_member" "$T/b_nan:separable:phi_nan" \
  "$T/b_p:separable:p_negative" "$T/b_pneg:separable:probs_negative" "$T/b_pnan:separable:probs_nan" \
  "$T/b_psum:separable:probs_sum" "$T/b_trunc:separable" "$T/b_notin:separable" 2>"$T/err" \
  && ok || bad "gen.py: $(cat "$T/err")"

"$BIN" mia --from "$T/sep" --batch-sizes 8 --threads 2 --json >"$T/sep.json" 2>"$T/err" \
  && ok || bad "--from separable arrays failed: $(cat "$T/err")"
pycheck "--from separable" '
import json, sys
d = json.load(open(sys.argv[1]))
a = d["attacks"]
for n in ("loss", "lira_online", "lira_offline", "rmia_offline"):
    if n not in a: print("no attack " + n); continue
    print("ok" if a[n]["auc"] == 1.0 else "%s auc %r, wanted 1" % (n, a[n]["auc"]))
    print("ok" if a[n]["tpr_at_fpr_0.001"] == 1.0 else "%s tpr_at_fpr_0.001 %r, wanted 1" % (n, a[n]["tpr_at_fpr_0.001"]))
    print("ok" if (a[n]["n_members"], a[n]["n_nonmembers"]) == (100, 100) else
          "%s evaluates %r/%r, wanted 100/100 (population left out)" % (n, a[n]["n_members"], a[n]["n_nonmembers"]))
print("ok" if d.get("population_used") == 40 else "population_used %r, wanted 40" % d.get("population_used"))
print("ok" if d.get("protocol") == "from-arrays" and d.get("shadows") == 4 else "header %r" % [d.get("protocol"), d.get("shadows")])
' "$T/sep.json"

"$BIN" mia --from "$T/eq" --batch-sizes 8 --threads 2 --json >"$T/eq.json" 2>"$T/err" \
  && ok || bad "--from identical arrays failed: $(cat "$T/err")"
pycheck "--from identical" '
import json, sys
a = json.load(open(sys.argv[1]))["attacks"]
for n in ("random", "loss", "lira_offline"):
    if n not in a: print("no attack " + n); continue
    print("ok" if a[n]["auc"] == 0.5 else "%s auc %r, wanted 0.5 (every score equal)" % (n, a[n]["auc"]))
    print("ok" if a[n]["tpr_at_fpr_0.001"] == 0 else "%s tpr_at_fpr_0.001 %r, wanted 0" % (n, a[n]["tpr_at_fpr_0.001"]))
' "$T/eq.json"

# Probabilities and logits, written by hand: the same separable case.
for kind in probs logits; do
  "$BIN" mia --from "$T/sep_$kind" --batch-sizes 8 --threads 2 --json >"$T/sep_$kind.json" 2>"$T/err" \
    && ok || bad "--from separable $kind failed: $(cat "$T/err")"
  [ -s "$T/sep_$kind.json" ] && pycheck "--from separable $kind" '
import json, sys
a = json.load(open(sys.argv[1]))["attacks"]
for n in ("loss", "correctness", "lira_online"):
    print("ok" if n in a and a[n]["auc"] == 1.0 else "%s auc %r, wanted 1" % (n, a.get(n, {}).get("auc")))
' "$T/sep_$kind.json"
done

# --- 5. the lira and shadows protocols ---
"$BIN" mia "${COMMON[@]}" --protocol lira --pool 400 --shadows 4 --json >"$T/lira.json" 2>"$T/err" \
  && ok || bad "lira protocol failed: $(cat "$T/err")"
pycheck "lira protocol" '
import json, sys
d = json.load(open(sys.argv[1]))
a = d["attacks"]
for n in ("lira_online", "lira_online_fixed", "lira_offline", "similarity", "rmia_offline"):
    print("ok" if n in a else "no attack " + n)
    if n in a: print("ok" if a[n]["n_members"] == 200 and a[n]["n_nonmembers"] == 200 else
                     "%s evaluates %r/%r of a 400 pool" % (n, a[n]["n_members"], a[n]["n_nonmembers"]))
print("ok" if d["protocol"] == "lira" and d["shadows"] == 4 else "header %r" % [d["protocol"], d["shadows"]])
' "$T/lira.json"
"$BIN" mia "${COMMON[@]}" --protocol lira --pool 400 --shadows 2 --offline --json >"$T/liraoff.json" 2>"$T/err" \
  && ok || bad "lira --offline failed: $(cat "$T/err")"
pycheck "lira --offline" '
import json, sys
a = json.load(open(sys.argv[1]))["attacks"]
print("ok" if "lira_offline" in a and "rmia_offline" in a else "offline lira lacks lira_offline or rmia_offline")
print("ok" if "lira_online" not in a else "offline shadows never train on candidates, yet lira_online ran")
' "$T/liraoff.json"
"$BIN" mia "${COMMON[@]}" --protocol shadows --pool 800 --shadows 2 --json >"$T/shadows.json" 2>"$T/err" \
  && ok || bad "shadows protocol failed: $(cat "$T/err")"
"$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['protocol']=='shadows' and 'shadow_sample' in d['attacks'] else 1)" \
  "$T/shadows.json" 2>/dev/null && ok || bad "shadows protocol JSON"

# --- 6. an own target with index files ---
"$BIN" train --data fashion-mnist --model mlp --epochs 2 --subset 500 --seed 2 --threads 2 \
  --out "$T/m.safetensors" >/dev/null 2>"$T/err" || bad "train failed: $(cat "$T/err")"
# The member list names training-split images; the target's 500-image stratified subset
# is not known here, so this checks that the audit runs and subsamples, not its figures.
seq 0 199 >"$T/mem.txt"          # training split
seq 60000 60399 >"$T/non.txt"    # test split (pooled indices: 60000 + j); subsampled to 200
seq 1000 1399 >"$T/pool.txt"     # the shadows' data
OWN=(--data fashion-mnist --target "$T/m.safetensors" --shadow-pool "$T/pool.txt" --shadows 2 --batch-sizes 8,16 --threads 2)
"$BIN" mia "${OWN[@]}" --members "$T/mem.txt" --nonmembers "$T/non.txt" --json >"$T/own.json" 2>"$T/err" \
  && ok || bad "own target (text lists) failed: $(cat "$T/err")"
"$PY" -c "
from npy import npy_save
npy_save('$T/mem.npy', list(range(0, 200)), (200,), '<i8')
npy_save('$T/non.npy', list(range(60000, 60400)), (400,), '<i8')
npy_save('$T/non32.npy', list(range(60000, 60400)), (400,), '<i4')
" || bad "writing index .npy files"
"$BIN" mia "${OWN[@]}" --members "$T/mem.npy" --nonmembers "$T/non.npy" --json >"$T/own_npy.json" 2>"$T/err" \
  && ok || bad "own target (.npy lists) failed: $(cat "$T/err")"
"$BIN" mia "${OWN[@]}" --members "$T/mem.npy" --nonmembers "$T/non32.npy" --json >"$T/own_npy32.json" 2>"$T/err" \
  && ok || bad "own target (int32 .npy lists) failed: $(cat "$T/err")"
pycheck "own target" '
import json, sys
for path in sys.argv[1:]:
    try: d = json.load(open(path))
    except Exception as e: print("%s: %s" % (path, e)); continue
    a = d["attacks"]
    print("ok" if d["protocol"] == "own-target" else "protocol %r" % d["protocol"])
    print("ok" if (a["loss"]["n_members"], a["loss"]["n_nonmembers"]) == (200, 200) else
          "loss evaluates %r/%r, wanted 200/200" % (a["loss"]["n_members"], a["loss"]["n_nonmembers"]))
' "$T/own.json" "$T/own_npy.json" "$T/own_npy32.json"
cmp -s "$T/own.json" "$T/own_npy.json" 2>/dev/null; "$PY" -c "
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b): d.pop('seconds'); d.pop('settings')
sys.exit(0 if a == b else 1)" "$T/own.json" "$T/own_npy.json" 2>/dev/null \
  && ok || bad "own target: the same indices as text and as .npy gave different audits"

# --- 7. bad input: one clear line and a non-zero exit ---
seq 150 250 >"$T/overlap.txt"
(seq 60000 60010; echo 70000) >"$T/range.txt"
(echo 60000; echo six) >"$T/junk.txt"
expect_fail 1 "also in another list" "$BIN" mia "${OWN[@]}" --members "$T/mem.txt" --nonmembers "$T/overlap.txt"
expect_fail 1 "70000" "$BIN" mia "${OWN[@]}" --members "$T/mem.txt" --nonmembers "$T/range.txt"
expect_fail 1 "line 2 is not a sample index" "$BIN" mia "${OWN[@]}" --members "$T/mem.txt" --nonmembers "$T/junk.txt"
expect_fail 1 "--target needs --members and --nonmembers" "$BIN" mia "${OWN[@]}" --members "$T/mem.txt"
expect_fail 2 "--shadows" "$BIN" mia "${SPLIT4[@]}" --shadows 0
expect_fail 2 "--protocol" "$BIN" mia "${SPLIT4[@]}" --protocol
expect_fail 1 "unknown protocol 'nope'" "$BIN" mia "${SPLIT4[@]}" --protocol nope
expect_fail 1 "--batch-sizes" "$BIN" mia "${SPLIT4[@]}" --batch-sizes 8,x
expect_fail 1 "--offline applies to --protocol lira" "$BIN" mia "${SPLIT4[@]}" --offline
expect_fail 1 "--from scores saved arrays" "$BIN" mia --from "$T/sep" --data fashion-mnist
mkdir "$T/bad"
expect_fail 1 "batch size 100000 is larger" "$BIN" mia "${SPLIT4[@]}" --batch-sizes 100000 --out "$T/bad"
[ -e "$T/bad/mia.json" ] && bad "a failed audit left $T/bad/mia.json" || ok
expect_fail 1 "attack lira_online cannot run" "$BIN" mia "${SPLIT4[@]}" --attacks lira_online --out "$T/bad"
[ -z "$(ls -A "$T/bad")" ] && ok || bad "failed audits left files in --out: $(ls -A "$T/bad")"
expect_fail 1 "unknown attack 'nope'" "$BIN" mia --from "$T/sep" --attacks nope
expect_fail 1 "confidence" "$BIN" mia --from "$T/sep" --attacks confidence

# --from: malformed arrays, each named in the message.
expect_fail 1 "shadow_in.npy: shape (4, 241)" "$BIN" mia --from "$T/b_shape"
expect_fail 1 "population.npy: index 3 is a target member" "$BIN" mia --from "$T/b_pop"
expect_fail 1 "target_phi: entry 7 is nan" "$BIN" mia --from "$T/b_nan"
expect_fail 1 "not a probability" "$BIN" mia --from "$T/b_p"
expect_fail 1 "probabilities must be finite and >= 0" "$BIN" mia --from "$T/b_pneg"
expect_fail 1 "probabilities must be finite and >= 0" "$BIN" mia --from "$T/b_pnan"
expect_fail 1 "softmax rows must sum to 1" "$BIN" mia --from "$T/b_psum"
head -c 300 "$T/sep/target_phi.npy" >"$T/b_trunc/target_phi.npy"
expect_fail 1 "target_phi.npy" "$BIN" mia --from "$T/b_trunc"
rm "$T/b_notin/target_in.npy"
expect_fail 1 "has no target_in.npy" "$BIN" mia --from "$T/b_notin"
expect_fail 1 "no target_probs.npy" "$BIN" mia --from "$T"
mkdir "$T/bad2"
expect_fail 1 "target_phi.npy" "$BIN" mia --from "$T/b_trunc" --out "$T/bad2"
[ -e "$T/bad2/mia.json" ] && bad "a failed --from left mia.json" || ok

# --- 7b. DP-SGD for the target and its shadows: the target's epsilon in mia.json ---
"$BIN" mia "${SPLIT4[@]}" --dp-clip 1 --dp-sigma 1 --json >"$T/dp.json" 2>"$T/err" \
  && ok || bad "mia with DP-SGD failed: $(cat "$T/err")"
pycheck "mia DP-SGD accounting" '
import json, sys
d = json.load(open(sys.argv[1]))["settings"]["dp"]
print("ok" if d["sigma"] == 1 and d["clip"] == 1 and d["sampling"] == "poisson" else "dp settings %r" % d)
print("ok" if d["q"] == 128 / 200 and d["steps"] > 0 else "q %r steps %r (200 training images, batch 128)" % (d["q"], d["steps"]))
print("ok" if isinstance(d["epsilon"], float) and d["epsilon"] > 0 else "epsilon %r" % d["epsilon"])
' "$T/dp.json"
expect_fail 1 "batchnorm" "$BIN" mia --data fashion-mnist --model resnet20 --pool 800 --epochs 1 --shadows 2 \
  --dp-sigma 1 --threads 2
expect_fail 1 "not --dp-epsilon" "$BIN" mia --data fashion-mnist --target "$T/nonexistent.safetensors" \
  --members "$T/x" --nonmembers "$T/y" --dp-epsilon 8
# An own target trained with DP-SGD: its shadows follow its recorded recipe (sigma, clip,
# sampling), which is the same audit as naming that sigma; mia.json reports the target's
# own accounting from its record. A plain target with --dp-sigma gets DP shadows.
"$BIN" train --data fashion-mnist --model mlp --epochs 2 --subset 500 --seed 2 --threads 2 --dp-sigma 0.8 \
  --out "$T/mdp.safetensors" --json >"$T/mdp_train.json" 2>"$T/err" || bad "DP train failed: $(cat "$T/err")"
OWNDP=(--data fashion-mnist --shadow-pool "$T/pool.txt" --shadows 2 --batch-sizes 8,16 --threads 2
       --members "$T/mem.txt" --nonmembers "$T/non.txt" --attacks loss,lira_offline,rmia_offline --json)
"$BIN" mia "${OWNDP[@]}" --target "$T/mdp.safetensors" >"$T/owndp.json" 2>"$T/err" \
  && ok || bad "own DP target failed: $(cat "$T/err")"
"$BIN" mia "${OWNDP[@]}" --target "$T/mdp.safetensors" --dp-sigma 0.8 >"$T/owndp_flag.json" 2>"$T/err" \
  && ok || bad "own DP target with --dp-sigma failed: $(cat "$T/err")"
"$BIN" mia "${OWNDP[@]}" --target "$T/m.safetensors" >"$T/ownplain.json" 2>"$T/err" \
  && ok || bad "own plain target failed: $(cat "$T/err")"
"$BIN" mia "${OWNDP[@]}" --target "$T/m.safetensors" --dp-sigma 0.8 >"$T/ownplain_dp.json" 2>"$T/err" \
  && ok || bad "own plain target with DP shadows failed: $(cat "$T/err")"
pycheck "own target with DP-SGD shadows" '
import json, sys
t, dp, flag, plain, plain_dp = (json.load(open(p)) for p in sys.argv[1:6])
want = t["dp"]
got = dp["settings"].get("dp")
print("ok" if got and all(got[k] == want[k] for k in ("epsilon", "delta", "sigma", "q", "steps"))
      else "settings.dp %r, the target was trained with %r" % (got, want))
print("ok" if dp["settings"]["dp_sigma"] == 0.8 else "shadows sigma %r" % dp["settings"]["dp_sigma"])
print("ok" if dp["attacks"] == flag["attacks"] else "the recorded recipe and --dp-sigma 0.8 gave different audits")
print("ok" if "dp" not in plain["settings"] and "dp" not in plain_dp["settings"] else "a plain target reports a dp budget")
sh = lambda d: d["attacks"]["lira_offline"]["auc"]
print("ok" if sh(plain) != sh(plain_dp) else "--dp-sigma did not change the shadows (lira_offline AUC %r both)" % sh(plain))
print("ok" if plain["attacks"]["loss"]["auc"] == plain_dp["attacks"]["loss"]["auc"]
      else "DP shadows changed the loss AUC, a score of the target alone")
' "$T/mdp_train.json" "$T/owndp.json" "$T/owndp_flag.json" "$T/ownplain.json" "$T/ownplain_dp.json"

# --- 7c. early stopping: every model validates on images the protocol leaves unused ---
"$BIN" mia "${SPLIT4[@]}" --epochs 6 --lr 0.5 --early-stop 1 --val-size 300 --attacks loss --json \
  >"$T/es.json" 2>"$T/err" && ok || bad "mia --early-stop failed: $(cat "$T/err")"
pycheck "mia early stopping" '
import json, sys
s = json.load(open(sys.argv[1]))["settings"]
print("ok" if (s.get("early_stop"), s.get("val_size")) == (1, 300) else "early_stop %r val_size %r" % (s.get("early_stop"), s.get("val_size")))
r, k = s.get("target_epochs_run"), s.get("target_epoch_kept")
print("ok" if r is not None and 1 <= k <= r <= 6 else "target epochs run %r kept %r" % (r, k))
' "$T/es.json"
expect_fail 1 "--val-size goes with --early-stop" "$BIN" mia "${SPLIT4[@]}" --val-size 10
expect_fail 1 "validation images do not fit" "$BIN" mia "${SPLIT4[@]}" --early-stop 2 --val-size 69201
expect_fail 1 "an own target's shadows have no validation set" "$BIN" mia --data fashion-mnist \
  --target "$T/m.safetensors" --members "$T/mem.txt" --nonmembers "$T/non.txt" --early-stop 2

# --- 8. the report renders ---
if command -v chromium >/dev/null; then
  bash "$SRC/scripts/check_report.sh" "$T/r1/report.html" random correctness loss shadow_sample lira_offline \
    rmia_offline >"$T/chk" 2>&1 && ok || bad "check_report.sh: $(grep -v '^ok' "$T/chk")"
else
  echo "SKIP chromium"
fi

cli_finish
