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
# Each dataset takes two `mlaudit robust` invocations, each one index, calibration and clean
# pass shared by its runs (robust's attack lists): FGSM and BIM through the DNN, a DkNNB and a
# DkNNB+CL, PGD through the DNN and the DkNNB+CL, and BIM through Sitawarin-Wagner (Tables 1-3);
# then C&W through the DNN and the DkNNB+CL (its own, usually smaller, CW_SUBSET). Each run's
# files land in OUT/DATA/ATTACK-THROUGH/ (timing.json: the shared pass and the run's seconds).
# Usage: scripts/robust/tables.sh [PATH/TO/mlaudit]
#   env TABLES     which to print (default "1 2 3"; the runs they need are made once)
#       DATASETS   default "mnist fashion-mnist"
#       OUT        output folder (default robust-out/ in the repository)
#       THREADS    threads (default: all cores)
#       EPOCHS     training epochs of the net and LeNet-5 (default 18: AdvKNN's train_mnist.py)
#       PRESET     the audited net (default dknn, the issue's; advknn: the study's own net)
#       MODEL_DIR  where the trained nets are (default OUT): DATA-PRESET.safetensors and
#                  DATA-lenet5.safetensors, trained there when missing
#       CW_SUBSET  images evaluated by the C&W invocation (default TEST_SUBSET); CW=0 skips it
#       T1_SUBSET  when set (0: all), one more invocation (FGSM through the DNN: one
#                  adversarial pass) on that many images gives Table 1's DNN, kNN and DkNN (in
#                  OUT/DATA/t1/); its DkNNB columns stay the first invocation's
#       TRAIN_SUBSET / TEST_SUBSET   images indexed / evaluated (default all; the full DkNN over
#                  relu1 holds 2 x 3 GB of activations and BIM runs 100 passes per image)
#       RESUME=1   skip an invocation whose runs' robust.json are all there
#       NO_RUN=1   make no run: print the tables from the robust.json files already in OUT
#                  (a run not made prints as "-")
#       NORMALIZE  1 (default): --normalize on every run, the study's kNN and DkNN (AdvKNN's
#                  attack.py: each library and query feature vector divided by its L2 norm,
#                  neighbours by largest dot product, i.e. cosine); 0: raw activations
#       T1_ONLY=1  with T1_SUBSET: only Table 1's invocation (no attack tables; the
#                  DkNNB columns print "-" unless the main invocation's runs are in OUT)
#       EXTRA      more flags for every robust run (word-split), e.g. a smaller C&W
#                  budget "--cw-search 3 --cw-iterations 50"
#       SMOKE=1    a minutes-long check of the script: 1,000 training images, 1 epoch, 60
#                  evaluated images, k 10, 5 attack iterations; its figures mean nothing
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(realpath "${1:-$ROOT/build/mlaudit}")
[ -x "$BIN" ] || { echo "tables: $BIN is not an executable (build it: make)" >&2; exit 1; }
TABLES=${TABLES:-1 2 3}
DATASETS=${DATASETS:-mnist fashion-mnist}
OUT=$(realpath -m "${OUT:-$ROOT/robust-out}")
MODEL_DIR=$(realpath -m "${MODEL_DIR:-$OUT}")
THREADS=${THREADS:-$(nproc)}
EPOCHS=${EPOCHS:-18}
PRESET=${PRESET:-dknn}
CW=${CW:-1}
SMOKE=${SMOKE:-0}
RESUME=${RESUME:-0}
NO_RUN=${NO_RUN:-0}
NORMALIZE=${NORMALIZE:-1}
T1_ONLY=${T1_ONLY:-0}
read -r -a EXTRA_FLAGS <<< "${EXTRA:-}"
PY=${PYTHON:-python3}
cd "$ROOT"
mkdir -p "$OUT"

TRAIN_FLAGS=(--epochs "$EPOCHS" --batch 128 --seed 0)
ROBUST_FLAGS=(--threads "$THREADS" --seed 0 --grid 4 "${EXTRA_FLAGS[@]}")
[ "$NORMALIZE" = 1 ] && ROBUST_FLAGS+=(--normalize)
[ -n "${TRAIN_SUBSET:-}" ] && ROBUST_FLAGS+=(--train-subset "$TRAIN_SUBSET")
if [ "$SMOKE" = 1 ]; then
  TRAIN_FLAGS=(--epochs 1 --batch 128 --seed 0 --subset 1000)
  TEST_SUBSET=${TEST_SUBSET:-60}
  ROBUST_FLAGS+=(--train-subset 1000 --calibration 100 --k 10 --iterations 5 --dknnb-epochs 2
                 --cw-search 2 --cw-iterations 5 --sw-guides 10)
fi

# model DATA PRESET: trains (once) MODEL_DIR/DATA-PRESET.safetensors
model() {
  local f="$MODEL_DIR/$1-$2.safetensors"
  if [ ! -s "$f" ] && [ "$NO_RUN" != 1 ]; then
    mkdir -p "$MODEL_DIR"
    echo "+ $BIN train --data $1 --model $2 ${TRAIN_FLAGS[*]} --threads $THREADS --out $f" >&2
    "$BIN" train --data "$1" --model "$2" "${TRAIN_FLAGS[@]}" --threads "$THREADS" --out "$f" >/dev/null
  fi
  echo "$f"
}

want() { [[ " $TABLES " == *" $1 "* ]]; }

# invoke DATA DIR ATTACKS THROUGHS [flags...]: one robust invocation, its runs in DIR/ATTACK-THROUGH/
invoke() {
  local d=$1 dir=$2 attacks=$3 throughs=$4
  shift 4
  [ "$NO_RUN" = 1 ] && return 0
  if [ "$RESUME" = 1 ]; then
    local missing=0 a t
    for a in ${attacks//,/ }; do
      if [[ $a == *:* ]]; then [ -s "$dir/${a%%:*}-${a#*:}/robust.json" ] || missing=1
      else for t in ${throughs//,/ }; do [ -s "$dir/$a-$t/robust.json" ] || missing=1; done; fi
    done
    [ $missing = 0 ] && return 0
  fi
  local cmd=("$BIN" robust --model "$(model "$d" "$PRESET")" --data "$d" --attack "$attacks" --through "$throughs"
             "${ROBUST_FLAGS[@]}" "$@" --out "$dir")
  want 3 && cmd+=(--transfer "$(model "$d" lenet5)")
  echo "+ ${cmd[*]}" >&2
  local t0=$SECONDS
  "${cmd[@]}" >/dev/null
  echo "  ($((SECONDS - t0)) s)" >&2
}

subset_flag() { [ "$1" = 0 ] && return 0; echo "--test-subset $1"; }
for d in $DATASETS; do
  if [ -n "${T1_SUBSET:-}" ] && want 1; then
    # shellcheck disable=SC2046
    invoke "$d" "$OUT/$d/t1" fgsm dnn $(subset_flag "$T1_SUBSET")
  fi
  [ -n "${T1_SUBSET:-}" ] && [ "$T1_ONLY" = 1 ] && continue
  if want 1 || want 2 || want 3; then
    # shellcheck disable=SC2046
    invoke "$d" "$OUT/$d" fgsm,bim,pgd:dnn,pgd:dknnb-cl,bim:sw dnn,dknnb,dknnb-cl $(subset_flag "${TEST_SUBSET:-0}")
  fi
  if want 2 && [ "$CW" = 1 ]; then
    # shellcheck disable=SC2046
    invoke "$d" "$OUT/$d" cw dnn,dknnb-cl $(subset_flag "${CW_SUBSET:-${TEST_SUBSET:-0}}")
  fi
done

"$PY" - "$OUT" "$TABLES" "$DATASETS" "$SMOKE" "$PRESET" "${T1_SUBSET:+t1}" <<'PY'
import json, os, sys
out, tables, datasets, smoke, preset = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4] == "1", sys.argv[5]
t1 = sys.argv[6] if len(sys.argv) > 6 else ""
def load(d, attack, through, sub=""):
    """A run's robust.json with its timing.json ("timing": shared_s, run_s, runs), or None
    when it was not made."""
    run = os.path.join(out, d, sub, "%s-%s" % (attack, through))
    if sub and not os.path.exists(os.path.join(run, "robust.json")):
        run = os.path.join(out, d, sub)  # a one-run invocation writes its DIR itself
    try:
        j = json.load(open(os.path.join(run, "robust.json")))
    except OSError:
        return None
    try:
        j["timing"] = json.load(open(os.path.join(run, "timing.json")))
    except (OSError, ValueError):
        j["timing"] = {}
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
    print("\nTable 1: clean accuracy (%%), mlaudit (%s preset) [study]%s\n" % (preset, note))
    print("| dataset | evaluated%s | DNN | kNN | DkNN | DkNNB | DkNNB+CL |" % (" (DNN-DkNN / DkNNBs)" if t1 else ""))
    print("|---|---|---|---|---|---|---|")
    for d in datasets:
        b, c = load(d, "fgsm", "dknnb"), load(d, "fgsm", "dknnb-cl")
        f = load(d, "fgsm", "dnn", t1) if t1 else None
        a = get(f, "accuracy", "clean") or get(b, "accuracy", "clean") or get(c, "accuracy", "clean") or {}
        p = T1.get(d, (None,) * 3)
        n = [str(get(j, "settings", "n_eval")) for j in (f, b or c) if get(j, "settings", "n_eval")]
        print("| %s | %s | %s [%s] | %s [%s] | %s [%s] | %s [n/a] | %s [n/a] |" % (
            d, " / ".join(n) or "-", pct(a.get("dnn")), paper(p[0]), pct(a.get("knn")),
            paper(p[1]), pct(a.get("dknn")), paper(p[2]), pct(get(b, "accuracy", "clean", "dknnb")),
            pct(get(c, "accuracy", "clean", "dknnb"))))
    notes = []  # how the kNN / DkNN columns were made (the study: relu3, k 75, normalised)
    for d in datasets:
        st = get((load(d, "fgsm", "dnn", t1) if t1 else None) or load(d, "fgsm", "dknnb"), "settings")
        if st and "k" in st:
            notes.append("%s: net %s, kNN at %s, k %d, %s features" % (
                d, st.get("model", "?"), st.get("knn_layer", "?"), st["k"],
                "L2-normalised" if st.get("normalize") else "raw"))
    if notes:
        print("\n(" + "; ".join(notes) + ")")
if "2" in tables:
    print("\nTable 2: accuracy under attack (%%), mlaudit [study]; mean L2 raw / AdvKNN-rescaled%s\n" % note)
    print("| dataset | evaluated | attack | through | kNN | DkNN | DNN | mean L2 | rescaled L2 | run s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = [(a, t) for a in ("fgsm", "bim") for t in ("dnn", "dknnb", "dknnb-cl")]
    rows += [("pgd", "dnn"), ("pgd", "dknnb-cl"), ("cw", "dnn"), ("cw", "dknnb-cl"), ("bim", "sw")]
    names = {"dnn": "Origin", "dknnb": "DkNNB", "dknnb-cl": "DkNNB+CL", "sw": "Sitawarin-Wagner"}
    def num(v, f="%.3f"): return "-" if v is None else f % v
    for d in datasets:
        for a, t in rows:
            j = load(d, a, t)
            acc = get(j, "accuracy", "adversarial") or {}
            p = T2_BIM_CL.get(d) if (a, t) == ("bim", "dknnb-cl") else None
            print("| %s | %s | %s | %s | %s [%s] | %s [%s] | %s | %s | %s | %s |" % (
                d, get(j, "settings", "n_eval") or "-", a.upper(), names[t], pct(acc.get("knn")),
                paper(p and p[0]), pct(acc.get("dknn")), paper(p and p[1]), pct(acc.get("dnn")),
                num(get(j, "l2", "mean")), num(get(j, "l2", "rescaled_advknn")), num(get(j, "timing", "run_s"), "%d")))
    shared = []
    for d in datasets:
        for a, t in (("fgsm", "dnn"), ("cw", "dnn")):
            j = load(d, a, t)
            if get(j, "timing", "shared_s") is not None:
                shared.append("%s %s: %d s shared by %d runs" % (d, "C&W" if a == "cw" else "main",
                                                                 j["timing"]["shared_s"], j["timing"]["runs"]))
    if shared:
        print("\n(run s: the run's attacks and scoring; the index, calibration and clean pass once per invocation: %s)"
              % "; ".join(shared))
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
