#!/usr/bin/env bash
# The AdvKNN study's tables (issue 18) with mlaudit, each printed beside the study's own
# figures where the issue quotes them ("n/a" elsewhere):
#   Table 1  clean accuracy of the DNN, kNN (relu3), DkNN and DkNNB (+CL), MNIST and Fashion-MNIST
#   Table 2  kNN and DkNN accuracy under FGSM (eps 0.25) and BIM (eps 0.25, step 0.01, 100
#            iterations) sent through the DNN ("Origin"), a DkNNB and a DkNNB+CL, with the
#            mean L2 (raw [0, 1] scale, and the AdvKNN repository's rescaled figure); PGD and
#            C&W rows (Origin, DkNNB+CL) and the Sitawarin-Wagner baseline under BIM beside them
#   Table 3  transfer: a separately trained LeNet-5's accuracy on the same adversarial images
#            (LeNet-5 is trained, and passed as --transfer, only when TABLES has 3)
# Runs are made in priority order (Table 1's two, then BIM and FGSM through DkNNB+CL, DkNNB
# and the DNN, then PGD, Sitawarin-Wagner and C&W), each once; every run's wall time goes
# to OUT/DATA/RUN/wall_s and into Table 2, so a script stopped early still prints what it made.
# Usage: scripts/robust/tables.sh [PATH/TO/mlaudit]
#   env TABLES     which to print (default "1 2 3"; the runs they need are made once)
#       DATASETS   default "mnist fashion-mnist"
#       OUT        output folder (default robust-out/ in the repository)
#       THREADS    threads (default: all cores)
#       EPOCHS     training epochs of the dknn net and LeNet-5 (default 18: AdvKNN's train_mnist.py)
#       TRAIN_SUBSET / TEST_SUBSET   images indexed / evaluated (default all; the full DkNN over
#                  relu1 holds 2 x 3 GB of activations and BIM runs 100 passes per image)
#       RESUME=1   keep a run whose robust.json is already there
#       NO_RUN=1   make no run: print the tables from the robust.json files already in OUT
#                  (a run not made prints as "-")
#       EXTRA      more flags for every robust run (word-split), e.g. "--normalize" or a
#                  smaller C&W budget "--cw-search 3 --cw-iterations 50"
#       SMOKE=1    a minutes-long check of the script: 1,000 training images, 1 epoch, 60
#                  evaluated images, k 10, 5 attack iterations; its figures mean nothing
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/build/mlaudit}")
[ -x "$BIN" ] || { echo "tables: $BIN is not an executable (build it: make)" >&2; exit 1; }
TABLES=${TABLES:-1 2 3}
DATASETS=${DATASETS:-mnist fashion-mnist}
OUT=$(realpath -m "${OUT:-$ROOT/robust-out}")
THREADS=${THREADS:-$(nproc)}
EPOCHS=${EPOCHS:-18}
SMOKE=${SMOKE:-0}
RESUME=${RESUME:-0}
NO_RUN=${NO_RUN:-0}
read -r -a EXTRA_FLAGS <<< "${EXTRA:-}"
PY=${PYTHON:-python3}
cd "$ROOT"
mkdir -p "$OUT"

TRAIN_FLAGS=(--epochs "$EPOCHS" --batch 128 --seed 0)
ROBUST_FLAGS=(--threads "$THREADS" --seed 0 --grid 4 "${EXTRA_FLAGS[@]}")
[ -n "${TRAIN_SUBSET:-}" ] && ROBUST_FLAGS+=(--train-subset "$TRAIN_SUBSET")
[ -n "${TEST_SUBSET:-}" ] && ROBUST_FLAGS+=(--test-subset "$TEST_SUBSET")
if [ "$SMOKE" = 1 ]; then
  TRAIN_FLAGS=(--epochs 1 --batch 128 --seed 0 --subset 1000)
  ROBUST_FLAGS+=(--train-subset 1000 --test-subset 60 --calibration 100 --k 10 --iterations 5 --dknnb-epochs 2
                 --cw-search 2 --cw-iterations 5 --sw-guides 10)
fi

# model DATA PRESET: trains (once) OUT/DATA-PRESET.safetensors
model() {
  local f="$OUT/$1-$2.safetensors"
  if [ ! -s "$f" ]; then
    echo "+ $BIN train --data $1 --model $2 ${TRAIN_FLAGS[*]} --threads $THREADS --out $f" >&2
    "$BIN" train --data "$1" --model "$2" "${TRAIN_FLAGS[@]}" --threads "$THREADS" --out "$f" >/dev/null
  fi
  echo "$f"
}

# run DATA ATTACK THROUGH: OUT/DATA/ATTACK-THROUGH/robust.json and its wall_s (LeNet-5 as
# the transfer model when Table 3 is wanted)
declare -A DONE=()
run() {
  local dir="$OUT/$1/$2-$3"
  [ -n "${DONE[$dir]:-}" ] && return 0
  DONE[$dir]=1
  [ "$NO_RUN" = 1 ] && return 0
  if [ "$RESUME" = 1 ] && [ -s "$dir/robust.json" ]; then return 0; fi
  local cmd=("$BIN" robust --model "$(model "$1" dknn)" --data "$1" --attack "$2" --through "$3"
             "${ROBUST_FLAGS[@]}" --out "$dir")
  want 3 && cmd+=(--transfer "$(model "$1" lenet5)")
  echo "+ ${cmd[*]}" >&2
  local t0=$SECONDS
  "${cmd[@]}" >/dev/null
  echo $((SECONDS - t0)) > "$dir/wall_s"
  echo "  ($((SECONDS - t0)) s)" >&2
}

want() { [[ " $TABLES " == *" $1 "* ]]; }
for d in $DATASETS; do
  want 1 && run "$d" fgsm dknnb && run "$d" fgsm dknnb-cl
  if want 2; then
    run "$d" bim dknnb-cl
    for t in dknnb dnn; do run "$d" bim "$t"; done
    for t in dknnb-cl dknnb dnn; do run "$d" fgsm "$t"; done
    for t in dknnb-cl dnn; do run "$d" pgd "$t"; done
    run "$d" bim sw
    for t in dknnb-cl dnn; do run "$d" cw "$t"; done
  fi
  if want 3; then
    for a in fgsm bim; do for t in dnn dknnb dknnb-cl; do run "$d" "$a" "$t"; done; done
  fi
done

"$PY" - "$OUT" "$TABLES" "$DATASETS" "$SMOKE" <<'PY'
import json, os, sys
out, tables, datasets, smoke = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4] == "1"
def load(d, attack, through):
    """A run's robust.json with its wall time ("wall_s"), or None when it was not made."""
    run = os.path.join(out, d, "%s-%s" % (attack, through))
    try:
        j = json.load(open(os.path.join(run, "robust.json")))
    except OSError:
        return None
    try:
        j["wall_s"] = int(open(os.path.join(run, "wall_s")).read())
    except (OSError, ValueError):
        j["wall_s"] = None
    return j
def pct(v): return "-" if v is None else "%.2f" % (100 * v)
def paper(v): return "n/a" if v is None else "%.2f" % v
def get(j, *keys):
    for k in keys:
        if j is None or k not in j: return None
        j = j[k]
    return j
# The study's figures as the issue quotes them (percent).
T1 = {"mnist": (99.17, 98.98, 98.89), "fashion-mnist": (91.22, 89.87, 90.28)}
T2_BIM_CL = {"mnist": (1.03, 5.97), "fashion-mnist": (7.54, 12.88)}
note = " (SMOKE: tiny settings, figures meaningless)" if smoke else ""
if "1" in tables:
    print("\nTable 1: clean accuracy (%%), mlaudit [study]%s\n" % note)
    print("| dataset | evaluated | DNN | kNN | DkNN | DkNNB | DkNNB+CL |")
    print("|---|---|---|---|---|---|---|")
    for d in datasets:
        b, c = load(d, "fgsm", "dknnb"), load(d, "fgsm", "dknnb-cl")
        a = get(b, "accuracy", "clean") or get(c, "accuracy", "clean") or {}
        p = T1.get(d, (None,) * 3)
        print("| %s | %s | %s [%s] | %s [%s] | %s [%s] | %s [n/a] | %s [n/a] |" % (
            d, get(b or c, "settings", "n_eval") or "-", pct(a.get("dnn")), paper(p[0]), pct(a.get("knn")),
            paper(p[1]), pct(a.get("dknn")), paper(p[2]), pct(get(b, "accuracy", "clean", "dknnb")),
            pct(get(c, "accuracy", "clean", "dknnb"))))
if "2" in tables:
    print("\nTable 2: accuracy under attack (%%), mlaudit [study]; mean L2 raw / AdvKNN-rescaled%s\n" % note)
    print("| dataset | attack | through | kNN | DkNN | DNN | mean L2 | rescaled L2 | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [(a, t) for a in ("fgsm", "bim") for t in ("dnn", "dknnb", "dknnb-cl")]
    rows += [("pgd", "dnn"), ("pgd", "dknnb-cl"), ("cw", "dnn"), ("cw", "dknnb-cl"), ("bim", "sw")]
    names = {"dnn": "Origin", "dknnb": "DkNNB", "dknnb-cl": "DkNNB+CL", "sw": "Sitawarin-Wagner"}
    def num(v, f="%.3f"): return "-" if v is None else f % v
    for d in datasets:
        for a, t in rows:
            j = load(d, a, t)
            acc = get(j, "accuracy", "adversarial") or {}
            p = T2_BIM_CL.get(d) if (a, t) == ("bim", "dknnb-cl") else None
            print("| %s | %s | %s | %s [%s] | %s [%s] | %s | %s | %s | %s |" % (
                d, a.upper(), names[t], pct(acc.get("knn")), paper(p and p[0]), pct(acc.get("dknn")),
                paper(p and p[1]), pct(acc.get("dnn")), num(get(j, "l2", "mean")),
                num(get(j, "l2", "rescaled_advknn")), num(get(j, "wall_s"), "%d")))
if "3" in tables:
    print("\nTable 3: transfer to LeNet-5 (%%): its accuracy on the adversarial images%s\n" % note)
    print("| dataset | attack | through | LeNet-5 clean | LeNet-5 adversarial [study] |")
    print("|---|---|---|---|---|")
    for d in datasets:
        for a in ("fgsm", "bim"):
            for t in ("dnn", "dknnb", "dknnb-cl"):
                tr = load(d, a, t)
                print("| %s | %s | %s | %s | %s [n/a] |" % (d, a.upper(), t, pct(get(tr, "transfer", "clean")),
                                                           pct(get(tr, "transfer", "adversarial"))))
PY
