#!/usr/bin/env bash
# mlaudit mia --train fl: the federated target's audit (tiny settings): per-client
# figures in mia.json recomputed from scores.csv (pairwise AUC, TPR at FPR <= 1%),
# the leakiest client, members = the clients' union (the partition's remainder not
# evaluated), --parallel bits, --shadow-train central, and every bad input.
source "$(dirname "$0")/../common/cli_harness.sh" "$@"
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=python3
FL=(--data fashion-mnist --model mlp --batch-sizes 8 --seed 3 --threads 2 --pool 802 --shadows 2 --attack-epochs 20
    --train fl --clients 3 --rounds 2 --local-epochs 1)

# --- 1. the audit, its per-client figures against scores.csv ---
"$BIN" mia "${FL[@]}" --out "$T/r1" >"$T/r1.txt" 2>"$T/err" || bad "mia --train fl failed: $(cat "$T/err")"
grep -q "leaks most" "$T/r1.txt" && ok || bad "no leakiest-client line: $(cat "$T/r1.txt")"
out=$("$PY" - "$T/r1/mia.json" "$T/r1/scores.csv" <<'PY'
import csv, json, math, sys
d = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
s = d["settings"]
assert s["train"] == "fl" and s["clients"] == 3 and s["rounds"] == 2 and s["shadow_train"] == "fl", s
pc = d["per_client"]
assert [c["client"] for c in pc] == [0, 1, 2] and [c["size"] for c in pc] == [66, 66, 66], pc
# pool 802 -> 200 target-train samples, 3 IID clients of 66: 2 left over, not evaluated
assert d["attacks"]["loss"]["n_members"] == 198 and d["attacks"]["loss"]["n_nonmembers"] == 200, d["attacks"]["loss"]
assert sum(r["member"] == "1" for r in rows) == 198
neg = [float(r["loss"]) for r in rows if r["member"] == "0"]
pos = [float(r["loss"]) for r in rows if r["member"] == "1"]
auc = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
assert abs(auc - d["attacks"]["loss"]["auc"]) < 1e-12
print("ok")
PY
) || bad "per-client JSON: $out"
[ "$out" = ok ] && ok || bad "per-client JSON: $out"

# Each client's figures recomputed from scores.csv and clients.csv (which sample is
# whose): pairwise AUC and TPR at FPR <= 1% / 0.1% over every threshold, directly.
"$BIN" mia "${FL[@]}" --json --out "$T/r2" >"$T/r2.json" 2>"$T/err" || bad "mia --train fl --json failed: $(cat "$T/err")"
cmp -s "$T/r1/scores.csv" "$T/r2/scores.csv" && ok || bad "same seed, different scores"
[ -s "$T/r2/clients.csv" ] && ok || bad "no clients.csv"
out=$("$PY" - "$T/r2.json" "$T/r2/scores.csv" "$T/r2/clients.csv" <<'PY'
import csv, json, sys
d = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
owner = {int(r["index"]): int(r["client"]) for r in csv.DictReader(open(sys.argv[3]))}
def auc(p, n):
    return sum((a > b) + 0.5 * (a == b) for a in p for b in n) / (len(p) * len(n))
def tpr(p, n, f):
    best = 0
    for t in p + n:
        if sum(b >= t for b in n) <= f * len(n):
            best = max(best, sum(a >= t for a in p))
    return best / len(p)
best = None
for c in d["per_client"]:
    k = c["client"]
    assert sum(v == k for v in owner.values()) == c["size"]
    for name in ("loss", "lira_offline", "modified_entropy"):
        neg = [float(r[name]) for r in rows if r["member"] == "0"]
        pos = [float(r[name]) for r in rows if r["member"] == "1" and owner[int(r["index"])] == k]
        got = c["attacks"][name]
        assert got["n_members"] == len(pos) == c["size"] and got["n_nonmembers"] == len(neg), (k, name)
        assert abs(got["auc"] - auc(pos, neg)) < 1e-12, (k, name, got["auc"], auc(pos, neg))
        assert abs(got["tpr_at_fpr_0.01"] - tpr(pos, neg, 0.01)) < 1e-12, (k, name)
        assert abs(got["tpr_at_fpr_0.001"] - tpr(pos, neg, 0.001)) < 1e-12, (k, name)
        lo, hi = got["ci95_at_fpr_0.01"]
        assert 0 <= lo <= got["tpr_at_fpr_0.01"] <= hi <= 1
    a = c["attacks"]["loss"]["auc"]
    if best is None or a > best[1]: best = (k, a)
assert d["leakiest_client"]["client"] == best[0] and d["leakiest_client"]["auc"] == best[1], d["leakiest_client"]
mem = {int(r["index"]) for r in rows if r["member"] == "1"}  # members = the clients' union
assert mem == set(owner), (len(mem), len(owner))
print("ok")
PY
) || bad "per-client figures: $out"
[ "$out" = ok ] && ok || bad "per-client figures: $out"

# --- 2. shadows side by side: the same bits; central shadows ---
# (as for central models, --parallel gives a one-thread run's bits: compare with --threads 1)
"$BIN" mia "${FL[@]}" --threads 1 --out "$T/r3" >/dev/null 2>"$T/err" || bad "--threads 1 failed: $(cat "$T/err")"
"$BIN" mia "${FL[@]}" --threads 1 --parallel 2 --out "$T/r4" >/dev/null 2>"$T/err" || bad "--parallel 2 failed: $(cat "$T/err")"
cmp -s "$T/r3/scores.csv" "$T/r4/scores.csv" && ok || bad "--parallel 2 changed the scores"
"$BIN" mia "${FL[@]}" --shadow-train central --json >"$T/c.json" 2>"$T/err" || bad "--shadow-train central failed: $(cat "$T/err")"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["settings"]["shadow_train"]=="central"; assert len(d["per_client"])==3' "$T/c.json" \
  && ok || bad "central shadows' JSON"
"$BIN" mia --help | grep -q -- "--train T" && ok || bad "mia --help lacks --train"

# --- 3. bad input: one line, non-zero, nothing written ---
BASE=(--data fashion-mnist --model mlp --pool 802 --shadows 2 --out "$T/bad")
expect_fail 1 "go with --train fl" "$BIN" mia "${BASE[@]}" --clients 3
expect_fail 1 "--train fl needs --clients N and --rounds R" "$BIN" mia "${BASE[@]}" --train fl --clients 3
expect_fail 1 "--clients must be at least 1, got 0" "$BIN" mia "${BASE[@]}" --train fl --clients 0 --rounds 1
expect_fail 1 "--fraction must be in (0, 1], got 0" "$BIN" mia "${BASE[@]}" --train fl --clients 2 --rounds 1 --fraction 0
expect_fail 1 "--partition" "$BIN" mia "${BASE[@]}" --train fl --clients 2 --rounds 1 --partition dirichlet:0
expect_fail 1 "--epochs does not apply" "$BIN" mia "${BASE[@]}" --train fl --clients 2 --rounds 1 --epochs 3
expect_fail 1 "takes no DP-SGD" "$BIN" mia "${BASE[@]}" --train fl --clients 2 --rounds 1 --dp-sigma 1
expect_fail 1 "--train must be central or fl" "$BIN" mia "${BASE[@]}" --train federated
expect_fail 1 "--shadow-train must be fl or central" "$BIN" mia "${BASE[@]}" --train fl --clients 2 --rounds 1 --shadow-train x
expect_fail 1 "client" "$BIN" mia "${BASE[@]}" --train fl --clients 100000 --rounds 1
[ ! -e "$T/bad" ] && ok || bad "a refused run wrote $T/bad"
cli_finish mia_fl
