#!/usr/bin/env bash
# CLI tests for robust: a tiny synthetic dataset and net (seconds), robust.json's names and
# ranges, the perturbation figures recomputed from examples.npy, reproducibility, the
# files, and one-line failures for every bad input the issue names.
# Usage: tests/cli/robust.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"

# 4 classes of 8x8 images: a bright 3x3 block in quadrant c over uint8 noise.
mkdir -p "$T/data"
python3 - "$T/data" "$(cd "$(dirname "$0")/../common" && pwd)" <<'PY'
import random, sys
sys.path.insert(0, sys.argv[2])
from npy import npy_save   # tests/common/npy.py
r = random.Random(1)
for split, n in (('train', 400), ('test', 200)):
    xs, ys = [], []
    for i in range(n):
        c = i % 4
        img = [r.randrange(0, 90) for _ in range(64)]
        oy, ox = (c // 2) * 4 + 1, (c % 2) * 4 + 1
        for dy in range(3):
            for dx in range(3):
                img[(oy + dy) * 8 + ox + dx] = r.randrange(150, 256)
        xs += img
        ys.append(c)
    npy_save('%s/x_%s.npy' % (sys.argv[1], split), xs, (n, 8, 8), '|u1')
    npy_save('%s/y_%s.npy' % (sys.argv[1], split), ys, (n,), '<i8')
PY
cat >"$T/net.json" <<'EOF'
{"name": "tiny", "layers": [
  {"type": "conv2d", "filters": 4, "kernel": 3, "name": "c1"}, {"type": "relu", "name": "r1"},
  {"type": "flatten"}, {"type": "dense", "units": 16, "name": "d1"}, {"type": "relu", "name": "r2"},
  {"type": "dense", "units": "classes", "name": "logits"}]}
EOF
D=npy:$T/data
"$BIN" train --data "$D" --model "$T/net.json" --epochs 8 --batch 32 --seed 1 --threads 2 --out "$T/m.safetensors" \
  >/dev/null 2>"$T/err" || bad "train failed: $(cat "$T/err")"

RUN=(robust --model "$T/m.safetensors" --data "$D" --layers r1,r2,logits --knn-layer r2 --k 9 --calibration 40
     --threads 2 --seed 3)
"$BIN" "${RUN[@]}" --attack fgsm --eps 0.1,0.3 --out "$T/o1" --json >"$T/o1.json" 2>"$T/err" \
  || bad "robust fgsm failed: $(cat "$T/err")"
for f in robust.json examples.npy indices.npy credibility.png acc_vs_l2.png; do
  [ -s "$T/o1/$f" ] && ok || bad "no $f"
done
cmp -s "$T/o1.json" "$T/o1/robust.json" && ok || bad "--json differs from robust.json"

# Names, ranges and the perturbation figures recomputed from examples.npy and indices.npy.
python3 - "$T/o1/robust.json" "$T/o1" "$T/data" <<'PY' && ok || bad "robust.json content"
import json, math, struct, sys
d = json.load(open(sys.argv[1]))
def frac(v): assert 0 <= v <= 1, v
for side in ("clean", "adversarial"):
    for c in ("dnn", "knn", "dknn"): frac(d["accuracy"][side][c])
for c in ("dnn", "knn", "dknn"): frac(d["success_rate"][c])
for c in ("clean", "adversarial"): frac(d["credibility"][c])
assert d["accuracy"]["clean"]["dnn"] > 0.9 and d["accuracy"]["clean"]["dknn"] > 0.9, d["accuracy"]
assert d["accuracy"]["adversarial"]["dnn"] <= d["accuracy"]["clean"]["dnn"]
s = d["settings"]
assert s["attack"] == "fgsm" and s["eps"] == 0.1 and s["eps_list"] == [0.1, 0.3] and s["k"] == 9
assert s["n_eval"] == 160 and s["calibration"] == 40 and s["n_train"] == 400 and s["knn_layer"] == "r2"
assert [p["eps"] for p in d["curve"]] == [0.1, 0.3]
assert d["curve"][0]["accuracy"] == d["accuracy"]["adversarial"]
assert d["curve"][1]["accuracy"]["dnn"] <= d["curve"][0]["accuracy"]["dnn"]
def npy(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<H', b[8:10])[0]
    hdr, body = b[10:10 + n].decode(), b[10 + n:]
    fmt = 'f' if "'<f4'" in hdr else 'i' if "'<i4'" in hdr else 'B'
    return struct.unpack('<%d%s' % (len(body) // struct.calcsize(fmt), fmt), body), hdr
adv, hdr = npy(sys.argv[2] + '/examples.npy')
assert "(160, 1, 8, 8)" in hdr, hdr
idx, _ = npy(sys.argv[2] + '/indices.npy')
test, _ = npy(sys.argv[3] + '/x_test.npy')
l2, linf = [], []
for i, t in enumerate(idx):
    diff = [adv[i * 64 + j] - test[t * 64 + j] / 255 for j in range(64)]
    assert all(0 <= adv[i * 64 + j] <= 1 for j in range(64))
    l2.append(math.sqrt(sum(x * x for x in diff)))
    linf.append(max(abs(x) for x in diff))
assert max(linf) <= 0.1 + 1e-6, max(linf)
l2s = sorted(l2)
med = (l2s[79] + l2s[80]) / 2
assert abs(d["l2"]["mean"] - sum(l2) / 160) < 1e-5 and abs(d["l2"]["median"] - med) < 1e-5, (d["l2"], med)
assert abs(d["linf"]["mean"] - sum(linf) / 160) < 1e-6 and abs(d["linf"]["max"] - max(linf)) < 1e-6
PY

# PGD (random start) and C&W: same seed, same bits; C&W's images stay in [0, 1].
"$BIN" "${RUN[@]}" --attack pgd --eps 0.2 --iterations 5 --step 0.05 --json >"$T/p1.json" 2>"$T/err" || bad "pgd: $(cat "$T/err")"
"$BIN" "${RUN[@]}" --attack pgd --eps 0.2 --iterations 5 --step 0.05 --json >"$T/p2.json" 2>"$T/err" || bad "pgd: $(cat "$T/err")"
cmp -s "$T/p1.json" "$T/p2.json" && ok || bad "pgd runs with one seed differ"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['linf']['max'] <= 0.2 + 1e-6 else 1)" \
  "$T/p1.json" && ok || bad "pgd beyond eps"
"$BIN" "${RUN[@]}" --attack cw --cw-iterations 20 --cw-search 3 --targeted --json >"$T/cw.json" 2>"$T/err" \
  && ok || bad "cw: $(cat "$T/err")"
"$BIN" "${RUN[@]}" --attack pgd-l2 --eps 1.5 --iterations 5 --step 0.5 --json >"$T/l2.json" 2>"$T/err" \
  && ok || bad "pgd-l2: $(cat "$T/err")"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['l2']['median'] <= 1.5 + 1e-5 else 1)" \
  "$T/l2.json" && ok || bad "pgd-l2 beyond eps"

# Through a DkNNB+CL with a transfer model (a second training run) and the grid; through SW.
"$BIN" train --data "$D" --model "$T/net.json" --epochs 2 --batch 32 --seed 2 --threads 2 --out "$T/m2.safetensors" \
  >/dev/null 2>"$T/err" || bad "train 2 failed: $(cat "$T/err")"
"$BIN" "${RUN[@]}" --attack bim --eps 0.1 --iterations 5 --through dknnb-cl --dknnb-layer r2 --dknnb-epochs 3 \
  --transfer "$T/m2.safetensors" --grid 2 --out "$T/o2" --json >"$T/o2.json" 2>"$T/err" || bad "dknnb-cl: $(cat "$T/err")"
[ -s "$T/o2/grid.png" ] && ok || bad "no grid.png"
"$BIN" "${RUN[@]}" --attack bim --eps 0.1 --iterations 5 --through sw --sw-guides 5 --grid 0 --out "$T/o3" \
  >/dev/null 2>"$T/err" || bad "sw: $(cat "$T/err")"
[ -e "$T/o3/grid.png" ] && bad "--grid 0 wrote grid.png" || ok
python3 - "$T/o2.json" "$T/o3/robust.json" <<'PY' && ok || bad "dknnb-cl / sw robust.json"
import json, sys
d, w = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
s = d["settings"]
assert s["through"] == "dknnb-cl" and s["dknnb_layer"] == "r2" and s["dknnb_lambda"] == 0.3 and s["dknnb_epochs"] == 3
assert s["transfer_file"].endswith("m2.safetensors")
for side in ("clean", "adversarial"): assert 0 <= d["accuracy"][side]["dknnb"] <= 1
assert d["accuracy"]["adversarial"]["dknnb"] <= d["accuracy"]["clean"]["dknnb"]
assert 0 <= d["transfer"]["clean"] <= 1 and 0 <= d["transfer"]["adversarial"] <= 1
r = d["l2"]["rescaled_advknn"]
assert r is None or r > 0
assert w["settings"]["through"] == "sw" and w["settings"]["sw_guides"] == 5 and "dknnb" not in w["accuracy"]["clean"]
assert w["linf"]["max"] <= 0.1 + 1e-6
PY

# Several runs on one index: DIR/ATTACK-THROUGH/ each hold what the single run writes (same
# robust.json and examples.npy bytes) plus timing.json; --json prints them keyed by run.
MULTI=(--eps 0.1 --iterations 4 --dknnb-layer r2 --dknnb-epochs 2 --sw-guides 5 --transfer "$T/m2.safetensors" --grid 2)
"$BIN" "${RUN[@]}" "${MULTI[@]}" --attack fgsm,bim,bim:sw --through dnn,dknnb-cl --out "$T/multi" --json \
  >"$T/multi.json" 2>"$T/err" || bad "multi-run: $(cat "$T/err")"
for r in fgsm-dnn fgsm-dknnb-cl bim-dnn bim-dknnb-cl bim-sw; do
  a=${r%%-*} t=${r#*-}
  "$BIN" "${RUN[@]}" "${MULTI[@]}" --attack "$a" --through "$t" --out "$T/single-$r" >/dev/null 2>"$T/err" \
    || bad "single $r: $(cat "$T/err")"
  for f in robust.json examples.npy indices.npy; do
    cmp -s "$T/multi/$r/$f" "$T/single-$r/$f" && ok || bad "multi-run $r/$f differs from the single run's"
  done
  [ -s "$T/multi/$r/grid.png" ] && [ -s "$T/single-$r/timing.json" ] && ok || bad "$r: no grid.png or timing.json"
done
[ -e "$T/multi/robust.json" ] && bad "multi-run wrote a top-level robust.json" || ok
python3 - "$T/multi.json" "$T/multi" <<'PY' && ok || bad "multi-run --json / timing.json"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(d) == sorted(["fgsm-dnn", "fgsm-dknnb-cl", "bim-dnn", "bim-dknnb-cl", "bim-sw"]), sorted(d)
for r, o in d.items():
    assert o == json.load(open("%s/%s/robust.json" % (sys.argv[2], r))), r
    t = json.load(open("%s/%s/timing.json" % (sys.argv[2], r)))
    assert t["runs"] == 5 and t["shared_s"] >= 0 and t["run_s"] >= 0, t
assert d["bim-sw"]["settings"]["through"] == "sw" and d["fgsm-dknnb-cl"]["settings"]["attack"] == "fgsm"
PY
# A run that fails stops the invocation; the runs before it are kept, each complete (the
# finished run drew PNGs: under ASan, LSan's note on the suppressed fontconfig leak would
# add stderr lines).
LSAN_OPTIONS=print_suppressions=0 expect_fail 1 "fewer than 500 guides" "$BIN" "${RUN[@]}" --attack fgsm:dnn,bim:sw --sw-guides 500 --out "$T/part"
[ -s "$T/part/fgsm-dnn/examples.npy" ] && [ -s "$T/part/fgsm-dnn/timing.json" ] && python3 -c "
import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))['settings']['attack'] == 'fgsm' else 1)" \
  "$T/part/fgsm-dnn/robust.json" && ok || bad "a later failure lost the finished run"
[ -e "$T/part/bim-sw" ] && bad "the failed run left a folder" || ok
expect_fail 1 "the run bim-dnn is asked for twice" "$BIN" "${RUN[@]}" --attack bim,bim:dnn --out "$T/bad"
expect_fail 1 "the SW attack takes fgsm, bim, pgd or pgd-l2 steps, not cw" "$BIN" "${RUN[@]}" --attack fgsm,cw \
  --through dnn,sw --out "$T/bad"

# Bad input: one line, non-zero exit, nothing written.
expect_fail 1 "unknown --through 'knn'" "$BIN" "${RUN[@]}" --through knn --out "$T/bad"
expect_fail 1 "unknown layer 'zz'" "$BIN" "${RUN[@]}" --through dknnb --dknnb-layer zz --out "$T/bad"
expect_fail 1 "the SW attack is untargeted" "$BIN" "${RUN[@]}" --through sw --targeted --out "$T/bad"
expect_fail 1 "fewer than 500 guides" "$BIN" "${RUN[@]}" --through sw --sw-guides 500 --out "$T/bad"
expect_fail 1 "nope.safetensors: cannot open" "$BIN" "${RUN[@]}" --transfer "$T/nope.safetensors" --out "$T/bad"
expect_fail 1 "unknown layer 'nope' (layers: input, c1, r1" "$BIN" "${RUN[@]}" --layers r1,nope --knn-layer r1 --out "$T/bad"
expect_fail 1 "--eps 0 must be in (0, 1]" "$BIN" "${RUN[@]}" --eps 0 --out "$T/bad"
expect_fail 1 "--eps 1.5 must be in (0, 1]" "$BIN" "${RUN[@]}" --eps 1.5 --out "$T/bad"
expect_fail 1 "larger than the training set" "$BIN" "${RUN[@]}" --k 401 --out "$T/bad"
expect_fail 1 "larger than the test set" "$BIN" "${RUN[@]}" --calibration 400 --out "$T/bad"
expect_fail 1 "multiple of the 4 classes" "$BIN" "${RUN[@]}" --calibration 42 --out "$T/bad"
expect_fail 1 "--knn-layer c1 is not one of --layers" "$BIN" "${RUN[@]}" --knn-layer c1 --out "$T/bad"
expect_fail 1 "unknown attack 'deepfool'" "$BIN" "${RUN[@]}" --attack deepfool --out "$T/bad"
expect_fail 1 "1x8x8" "$BIN" robust --model "$T/m.safetensors" --data mnist --out "$T/bad"
[ -e "$T/bad/robust.json" ] && bad "a failed run left robust.json" || ok

cli_finish robust
