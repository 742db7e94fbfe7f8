# Sourced by scripts/repro/*.sh: arguments, environment and the one way they run `mlaudit mia`.
#   $1            the mlaudit binary (default build/mlaudit)
#   env OUT       output folder (default repro-out/ in the repository; git ignores it)
#       SMOKE=1   a seconds-long check of the script: --pool 800 --epochs 1 --shadows 2, and
#                 --batch-sizes $SMOKE_BATCH_SIZES (default 8,16,32: 800 pooled samples leave
#                 the target and each shadow 200 members, too few for B = 128 or 256)
#       THREADS   threads per run (default: all cores)
#       RESUME=1  keep a run whose mia.json is already there instead of running it again
# Every run prints its command line ("+ ...") before it starts.
REPRO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(realpath "${1:-$REPRO_ROOT/build/mlaudit}")
[ -x "$BIN" ] || { echo "repro: $BIN is not an executable (build it: make)" >&2; exit 1; }
OUT=$(realpath -m "${OUT:-$REPRO_ROOT/repro-out}")
SMOKE=${SMOKE:-0}
THREADS=${THREADS:-$(nproc)}
RESUME=${RESUME:-0}
REPRO_DIR="$REPRO_ROOT/scripts/repro"
PY=${PYTHON:-python3}   # standard library only
mkdir -p "$OUT"
cd "$REPRO_ROOT"        # mlaudit finds data/ (MNIST) relative to the current directory

# SMOKE_FLAGS: what SMOKE=1 adds to every run (empty otherwise)
SMOKE_FLAGS=()
[ "$SMOKE" = 1 ] && SMOKE_FLAGS=(--pool 800 --epochs 1 --shadows 2 --batch-sizes "${SMOKE_BATCH_SIZES:-8,16,32}")

# epochs_for MODEL: the EPOCHS env if set, else the model's default (EPOCHS_<MODEL>)
epochs_for() {
  if [ -n "${EPOCHS:-}" ]; then echo "$EPOCHS"; return; fi
  case "$1" in
    mlp) echo "${EPOCHS_MLP:-30}" ;;
    cnn) echo "${EPOCHS_CNN:-15}" ;;
    alexnet) echo "${EPOCHS_ALEXNET:-10}" ;;
    resnet20) echo "${EPOCHS_RESNET20:-5}" ;;
    *) echo 10 ;;
  esac
}

# run_mia DIR ARGS...: mlaudit mia ARGS --out DIR --json (stdout kept as DIR/stdout.json);
# the smoke flags come last so they win over ARGS.
run_mia() {
  local dir=$1; shift
  local cmd=("$BIN" mia "$@" --threads "$THREADS" "${SMOKE_FLAGS[@]}" --out "$dir" --json)
  if [ "$RESUME" = 1 ] && [ -s "$dir/mia.json" ]; then
    echo "= $dir/mia.json kept (RESUME=1)"
    return 0
  fi
  echo "+ ${cmd[*]}"
  mkdir -p "$dir"
  "${cmd[@]}" >"$dir/stdout.json.tmp"
  mv "$dir/stdout.json.tmp" "$dir/stdout.json"
}

# dataset_spec NAME: the --data value for mnist, fashion-mnist, cifar10, cifar100
dataset_spec() {
  case "$1" in
    cifar10) echo "cifar10:$CIFAR10_DIR" ;;
    cifar100) echo "cifar100:$CIFAR100_DIR" ;;
    *) echo "$1" ;;
  esac
}
