#!/usr/bin/env bash
# CLI tests for mia --backend mpi (shadow models dealt to MPI ranks): 2 and 3 ranks under
# mpirun write the same mia.json (timings and the backend's own fields aside),
# scores.csv, roc.csv and saved arrays as one process with --threads 1; rank 0 alone
# prints; 2 ranks with --threads 2 == one process with --parallel 2 --threads 2; federated
# shadows (--train fl) the same, clients.csv included; one-line refusals. The MPI runs are skipped, saying so, in a build without MPI
# or without mpirun.
# Usage: tests/cli/mia_mpi.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"
PY=${PY:-python3}

A=(--data fashion-mnist --model mlp --protocol lira --pool 600 --shadows 5 --epochs 2 --batch 32
   --batch-sizes 8 --attack-epochs 5 --seed 4 --threads 1)

# ---- bad input: one line, non-zero exit, nothing written ----
mpi_msg=$("$BIN" mia "${A[@]}" --backend mpi 2>&1 >/dev/null)
if echo "$mpi_msg" | grep -q "no MPI support"; then need="no MPI support"; else need="must be started by mpirun"; fi
expect_fail any "$need" "$BIN" mia "${A[@]}" --backend mpi --out "$T/bad"
# with MPI built, the message outside mpirun names the command line to use
[ "$need" = "no MPI support" ] || expect_fail any "(mpirun -np P mlaudit mia ... --backend mpi)" \
  "$BIN" mia "${A[@]}" --backend mpi --out "$T/bad"
expect_fail any "--backend must be local or mpi" "$BIN" mia "${A[@]}" --backend ray --out "$T/bad"
expect_fail any "--keep-shadows needs --backend local" "$BIN" mia "${A[@]}" --backend mpi --keep-shadows "$T/bad"
expect_fail any "--parallel needs --backend local" "$BIN" mia "${A[@]}" --backend mpi --parallel 2 --out "$T/bad"
expect_fail any "--from trains none" "$BIN" mia --from "$T" --backend mpi
[ ! -e "$T/bad" ] && ok || bad "a refused run wrote $T/bad"
"$BIN" mia --help | grep -q -- "mpirun -np P mlaudit mia" && ok || bad "mia --help lacks the mpirun line"

# ---- P ranks == one process ----
if echo "$mpi_msg" | grep -q "no MPI support"; then
  echo "SKIP: mia MPI runs: this build has no MPI support (install openmpi-bin libopenmpi-dev and rebuild)"
elif ! command -v mpirun >/dev/null; then
  echo "SKIP: mia MPI runs: mpirun is not installed"
else
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  run_mpi() { ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" mpirun --oversubscribe -np "$@"; }
  "$BIN" mia "${A[@]}" --out "$T/one" --save-arrays "$T/one_arrays" >"$T/one.out" 2>"$T/err" \
    && ok || bad "one-process audit failed: $(cat "$T/err")"
  for P in 2 3; do
    run_mpi "$P" "$BIN" mia "${A[@]}" --backend mpi --out "$T/mpi$P" --save-arrays "$T/mpi${P}_arrays" \
      >"$T/mpi$P.out" 2>"$T/err" && ok || bad "$P-rank audit failed: $(cat "$T/err")"
    for f in scores.csv roc.csv; do
      cmp -s "$T/one/$f" "$T/mpi$P/$f" && ok || bad "$P ranks: $f differs from one process"
    done
    for f in "$T"/one_arrays/*.npy; do
      cmp -s "$f" "$T/mpi${P}_arrays/$(basename "$f")" && ok || bad "$P ranks: saved $(basename "$f") differs"
    done
    "$PY" - "$T/one/mia.json" "$T/mpi$P/mia.json" "$P" <<'PYCHECK' && ok || bad "$P ranks: mia.json differs"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["settings"]["backend"] == "local" and "ranks" not in a["settings"], a["settings"]
assert b["settings"]["backend"] == "mpi" and b["settings"]["ranks"] == int(sys.argv[3]), b["settings"]
for d in (a, b):
    d.pop("seconds")
    d["settings"].pop("backend"), d["settings"].pop("ranks", None)
assert a == b, [k for k in a if a[k] != b.get(k)]
PYCHECK
    # rank 0 alone prints: the same table as one process
    cmp -s <(sed "s#$T/one#X#" "$T/one.out") <(sed "s#$T/mpi$P#X#" "$T/mpi$P.out") && ok \
      || bad "$P ranks printed otherwise than one process: $(diff "$T/one.out" "$T/mpi$P.out" | head -5)"
  done
  # rank 0's --threads 2 (the target's) == one process with --parallel 2 --threads 2
  B=("${A[@]:0:${#A[@]}-2}") # A without its --threads 1
  "$BIN" mia "${B[@]}" --threads 2 --parallel 2 --out "$T/par" >/dev/null 2>"$T/err" || bad "--parallel 2: $(cat "$T/err")"
  run_mpi 2 "$BIN" mia "${B[@]}" --threads 2 --backend mpi --out "$T/mpit2" >/dev/null 2>"$T/err" \
    || bad "2 ranks --threads 2: $(cat "$T/err")"
  cmp -s "$T/par/scores.csv" "$T/mpit2/scores.csv" && ok || bad "2 ranks --threads 2 differ from --parallel 2"
  # federated shadows (--train fl) deal the same way; clients.csv too
  FL=(--data fashion-mnist --model mlp --pool 800 --shadows 3 --batch 32 --batch-sizes 8 --attack-epochs 5 --seed 4
      --train fl --clients 2 --rounds 2 --local-epochs 1 --attacks loss,shadow_sample,shadow_batch --threads 1)
  "$BIN" mia "${FL[@]}" --out "$T/flone" >/dev/null 2>"$T/err" || bad "--train fl: $(cat "$T/err")"
  run_mpi 2 "$BIN" mia "${FL[@]}" --backend mpi --out "$T/flmpi" >/dev/null 2>"$T/err" \
    || bad "2 ranks --train fl: $(cat "$T/err")"
  for f in scores.csv clients.csv; do
    cmp -s "$T/flone/$f" "$T/flmpi/$f" && ok || bad "2 ranks --train fl: $f differs from one process"
  done
fi
cli_finish mia_mpi
