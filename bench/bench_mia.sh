#!/usr/bin/env bash
# Membership-inference audit end to end: `mlaudit mia` beside the PyTorch peer
# (../shared/peers/mia_peer.py, Debian's python3-torch), same protocol (split4: four equal
# parts of Fashion-MNIST's 70,000 images, 4 shadows on halves of D', sorted softmax + loss
# features, MLP attack model, MIA-BAD batch means with B = 32), 2 threads each, runs
# interleaved. Prints each tool's attack figures and target gap (medians), its wall-clock
# seconds (measured here around each command, start-up and data loading included), the
# speed ratio peer_seconds / mlaudit_seconds, and |mlaudit - peer| for the three attack
# figures against the tolerances the two are expected to agree within.
# Usage: bench/bench_mia.sh PATH/TO/mlaudit
#   env ARCH    mlp (default) | cnn
#       EPOCHS  default 30 for mlp, 15 for cnn (both sides)
#       RUNS    default 1; THREADS default 2; SHADOWS default 4; B default 32
#       MLA_PEERS  folder holding mia_peer.py (default ../shared/peers beside the repository)
# Time, 2 threads, one run each measured on a 2-core AMD EPYC: mlp 70 s for the peer and
# 17 s for mlaudit; cnn 1,092 s for the peer and 129 s for mlaudit (the peers' README quotes
# 252 s and 981 s from another machine).
set -euo pipefail
BIN=$(realpath "$1")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${MLA_PEERS:-$ROOT/../shared/peers}
ARCH=${ARCH:-mlp}
case "$ARCH" in
  mlp) EPOCHS=${EPOCHS:-30} ;;
  cnn) EPOCHS=${EPOCHS:-15} ;;
  *) echo "bench_mia: ARCH must be mlp or cnn (the peer's two nets), not '$ARCH'" >&2; exit 2 ;;
esac
RUNS=${RUNS:-1}
THREADS=${THREADS:-2}
SHADOWS=${SHADOWS:-4}
B=${B:-32}
# Tolerances on |mlaudit - peer|: sample-wise and batch-wise attack accuracy 0.03, loss AUC 0.02.
TOL_ACC=0.03
TOL_AUC=0.02
[ -f "$PEERS/mia_peer.py" ] || { echo "bench_mia: $PEERS/mia_peer.py not found (set MLA_PEERS)" >&2; exit 1; }
PY=/usr/bin/python3
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
cd "$ROOT"   # mlaudit finds data/ (MNIST) relative to the current directory

now() { date +%s.%N; }
elapsed() { $PY -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# mla_fields FILE: sample batch auc gap from mia.json (pretty-printed, all of stdout)
mla_fields() {
  $PY - "$1" "$B" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
a = d["attacks"]
print(a["shadow_sample"]["accuracy"], a["shadow_batch_" + sys.argv[2]]["accuracy"], a["loss"]["auc"], d["target"]["gap_accuracy"])
PY
}
# peer_fields FILE: the same four from the peer's one JSON line (its last line)
peer_fields() {
  $PY - "$1" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(d["sample_attack_accuracy"], d["batch_attack_accuracy"], d["loss_auc"], d["gap_accuracy"])
PY
}

MLA_CMD=("$BIN" mia --data fashion-mnist --model "$ARCH" --epochs "$EPOCHS" --shadows "$SHADOWS" --protocol split4
         --batch-sizes "$B" --threads "$THREADS" --json)
PEER_CMD=("$PY" mia_peer.py --arch "$ARCH" --epochs "$EPOCHS" --shadows "$SHADOWS" --batch-attack "$B" --threads "$THREADS")
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $THREADS threads each; $RUNS run(s), interleaved"
echo "+ ${MLA_CMD[*]} --seed RUN-1"
echo "+ (cd $PEERS && ${PEER_CMD[*]})"

declare -a ms mb ma mg mt ps pb pa pg pt
for r in $(seq "$RUNS"); do
  t0=$(now)
  "${MLA_CMD[@]}" --seed $((r - 1)) >"$OUT/m.json"
  t1=$(now)
  (cd "$PEERS" && "${PEER_CMD[@]}") >"$OUT/p.json"
  t2=$(now)
  read -r s b a g < <(mla_fields "$OUT/m.json")
  ms+=("$s") mb+=("$b") ma+=("$a") mg+=("$g") mt+=("$(elapsed "$t0" "$t1")")
  read -r s b a g < <(peer_fields "$OUT/p.json")
  ps+=("$s") pb+=("$b") pa+=("$a") pg+=("$g") pt+=("$(elapsed "$t1" "$t2")")
  echo "run $r: mlaudit ${mt[-1]} s, peer ${pt[-1]} s" >&2
done

M=("$(median "${ms[@]}")" "$(median "${mb[@]}")" "$(median "${ma[@]}")" "$(median "${mg[@]}")" "$(median "${mt[@]}")")
P=("$(median "${ps[@]}")" "$(median "${pb[@]}")" "$(median "${pa[@]}")" "$(median "${pg[@]}")" "$(median "${pt[@]}")")
peer_version=$($PY -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['peer'])" "$OUT/p.json")
echo
echo "$ARCH, Fashion-MNIST, split4, $EPOCHS epochs, $SHADOWS shadows, B = $B"
$PY - "$RUNS" "$TOL_ACC" "$TOL_AUC" "$peer_version" "${M[@]}" "${P[@]}" <<'PY'
import sys
runs, tol_acc, tol_auc, peer = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
m = [float(v) for v in sys.argv[5:10]]
p = [float(v) for v in sys.argv[10:15]]
print("| tool | sample-wise acc | batch-wise acc (B) | loss AUC | target gap | seconds |")
print("|---|---|---|---|---|---|")
for name, v in (("mlaudit", m), (peer, p)):
    print("| %s | %.4f | %.4f | %.4f | %.4f | %.1f |" % (name, *v))
print()
print("speed ratio peer_seconds / mlaudit_seconds: %.2fx" % (p[4] / m[4]))
print()
print("| figure | abs(mla - peer) | tolerance | within |")
print("|---|---|---|---|")
for name, i, tol in (("sample-wise accuracy", 0, tol_acc), ("batch-wise accuracy", 1, tol_acc), ("loss AUC", 2, tol_auc)):
    d = abs(m[i] - p[i])
    print("| %s | %.4f | %.2f | %s |" % (name, d, tol, "yes" if d <= tol else "NO"))
print()
print("Medians of %d run(s) each (mlaudit seeds 0..%d; the peer seeds 0 every run). Seconds: wall clock" % (runs, runs - 1))
print("around each command, data loading and start-up included.")
PY
$PY - "$OUT/m.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["seconds"]
print("mlaudit's own phases (last run): target %.1f s, shadows %.1f s, attacks %.1f s. Its attacks are every" % (
    s["target"], s["shadows"], s["attacks"]))
print("attack of `mlaudit mia` (LiRA/RMIA offline, label-only, ...), where the peer runs three; its seconds include them.")
PY
