#!/usr/bin/env bash
# CLI tests for federated learning (mlaudit fl): the JSON lines and the final object
# against eval, train and the files written; the same bits for any thread count, over
# MPI with 2 ranks, and after a kill and --resume; one-line refusals.
# Usage: tests/cli/fl.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"

B="--data fashion-mnist --model mlp --subset 600 --batch 32 --threads 2"

# ---- a run with everything reported ----
"$BIN" fl $B --clients 4 --rounds 3 --local-epochs 2 --fraction 0.75 --drop-prob 0.2 --partition dirichlet:0.5 \
  --compare-central --json --plots "$T/plots" --out "$T/g.safetensors" >"$T/fl.json" 2>"$T/err" \
  && ok || bad "fl run failed: $(cat "$T/err")"
"$BIN" eval --model "$T/g.safetensors" --data fashion-mnist --json >"$T/eval.json" 2>"$T/err" \
  && ok || bad "eval of the global model failed: $(cat "$T/err")"
"$BIN" train $B --epochs 6 --json >"$T/central.json" 2>"$T/err" && ok || bad "central train failed: $(cat "$T/err")"
python3 - "$T/fl.json" "$T/eval.json" "$T/central.json" "$T/plots/history.csv" <<'PY' && ok || bad "fl report: $(head -c 600 "$T/fl.json")"
import csv, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rounds, final = lines[:-1], lines[-1]
ev, central = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
assert len(rounds) == 3 and [r["round"] for r in rounds] == [1, 2, 3], rounds
sizes = final["client_sizes"]
assert sizes == [150] * 4 and final["train_size"] == 600 and final["clients_per_round"] == 3, final
hist = final["label_histogram"]
assert [sum(row) for row in hist] == sizes and len(hist[0]) == 10, hist
for r in rounds:
    assert r["taken"] == 3 and 1 <= r["reported"] <= 3 and len(r["clients"]) == r["reported"], r
    assert r["clients"] == sorted(set(r["clients"])) and all(0 <= c < 4 for c in r["clients"]), r
    assert r["samples"] == sum(sizes[c] for c in r["clients"]), r
    assert r["attempts"] >= 1 and r["seconds"] > 0 and 0 <= r["test_accuracy"] <= 1, r
# The final figures are the saved model's: eval computes them again.
assert final["test_accuracy"] == rounds[-1]["test_accuracy"] == ev["accuracy"], (final, ev)
assert abs(final["test_loss"] - ev["loss"]) < 1e-9 and rounds[-1]["test_loss"] == final["test_loss"], (final, ev)
assert final["samples"] == 2 * sum(r["samples"] for r in rounds), final
# The central baseline is `mlaudit train` with the same flags and E x R epochs.
c = final["central"]
assert c["epochs"] == 6 and c["test_accuracy"] == central["test_accuracy"], (c, central)
assert c["test_loss"] == central["test_loss"] and c["train_accuracy"] == central["train_accuracy"], (c, central)
rows = list(csv.DictReader(open(sys.argv[4])))
assert len(rows) == 3, rows
for row, r in zip(rows, rounds):
    assert int(row["reported"]) == r["reported"] and int(row["samples"]) == r["samples"], (row, r)
    assert abs(float(row["test_accuracy"]) - r["test_accuracy"]) < 1e-6, (row, r)
PY
for f in fl_curve.png fl_loss.png label_hist.png; do
  [ "$(head -c 4 "$T/plots/$f" | tail -c 3)" = PNG ] && ok || bad "$f missing or not a PNG"
done
python3 - "$T/g.safetensors" <<'PY' && ok || bad "global model's metadata"
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
meta = json.loads(f.read(n))["__metadata__"]
fed, rec = json.loads(meta["mlaudit.federated"]), json.loads(meta["mlaudit.training"])
assert fed["clients"] == 4 and fed["rounds"] == 3 and fed["local_epochs"] == 2 and fed["partition"] == "dirichlet:0.5", fed
assert rec["epochs"] == 6 and rec["model"] == "mlp", rec
PY

# ---- DP-SGD per client: epsilon of a client taken every round, as mlaudit dp computes it ----
# 3 clients of 200, batch 32: q = 0.16, 2 rounds x 2 local epochs x 7 steps = 28 steps.
"$BIN" fl $B --clients 3 --rounds 2 --local-epochs 2 --dp-clip 1 --dp-sigma 1.1 --json >"$T/dp.json" 2>"$T/err" \
  && ok || bad "DP fl run: $(cat "$T/err")"
"$BIN" dp epsilon --q 0.16 --sigma 1.1 --steps 28 --delta 1e-5 >"$T/acct.json" 2>"$T/err" || bad "dp epsilon"
python3 - "$T/dp.json" "$T/acct.json" <<'PY' && ok || bad "DP per client: $(tail -1 "$T/dp.json" | head -c 400)"
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])["dp_per_client"]
a = json.load(open(sys.argv[2]))
assert d["q"] == 0.16 and d["steps"] == 28 and d["sigma"] == 1.1 and d["delta"] == 1e-5, d
assert d["epsilon"] == a["epsilon"] and d["epsilon_classic"] == a["epsilon_classic"], (d, a)
PY
expect_fail any "(batchnorm) mixes the samples" "$BIN" fl --data fashion-mnist --model resnet20 --subset 100 --clients 2 --rounds 1 --dp-sigma 1

# ---- the same bits for any thread count; a shard partition ----
S="--data fashion-mnist --model mlp --subset 400 --batch 32 --clients 5 --rounds 2 --partition shards:2 --drop-prob 0.3"
"$BIN" fl $S --threads 1 --out "$T/t1.safetensors" >/dev/null 2>"$T/err" || bad "1 thread: $(cat "$T/err")"
"$BIN" fl $S --threads 2 --out "$T/t2.safetensors" >/dev/null 2>"$T/err" || bad "2 threads: $(cat "$T/err")"
cmp -s "$T/t1.safetensors" "$T/t2.safetensors" && ok || bad "1 and 2 threads differ"
"$BIN" fl $S --threads 1 --keep-client-state --out "$T/k1.safetensors" --json >"$T/k1.json" 2>"$T/err" \
  || bad "--keep-client-state: $(cat "$T/err")"
"$BIN" fl $S --threads 2 --keep-client-state --out "$T/k2.safetensors" >/dev/null 2>"$T/err" || bad "keep, 2 threads"
cmp -s "$T/k1.safetensors" "$T/k2.safetensors" && ok || bad "--keep-client-state: 1 and 2 threads differ"
! cmp -s "$T/k1.safetensors" "$T/t1.safetensors" && tail -1 "$T/k1.json" | grep -q '"keep_client_state":true' \
  && ok || bad "--keep-client-state changed nothing or is not reported"

# ---- a kill mid-run, then --resume: the same bits as a straight run ----
K="--data fashion-mnist --model mlp --subset 900 --batch 16 --clients 3 --rounds 5 --threads 1"
"$BIN" fl $K --out "$T/straight.safetensors" >/dev/null 2>"$T/err" || bad "straight run: $(cat "$T/err")"
"$BIN" fl $K --checkpoint "$T/ck.safetensors" --out "$T/killed.safetensors" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do [ -e "$T/ck.safetensors" ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -e "$T/ck.safetensors" ] && ok || bad "no checkpoint after the first round"
"$BIN" fl $K --resume "$T/ck.safetensors" --checkpoint "$T/ck.safetensors" --json --out "$T/resumed.safetensors" \
  >"$T/resumed.json" 2>"$T/err" || bad "resume: $(cat "$T/err")"
cmp -s "$T/straight.safetensors" "$T/resumed.safetensors" && ok || bad "resumed run differs from a straight one"
tail -1 "$T/resumed.json" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['rounds']==5 and d['resumed_from']>=1, d" \
  && ok || bad "resumed report: $(tail -1 "$T/resumed.json")"

# ---- MPI: 2 ranks write the same bytes as one process; resume with another rank count ----
mpi_msg=$("$BIN" fl $S --backend mpi 2>&1 >/dev/null)
if echo "$mpi_msg" | grep -q "no MPI support"; then
  echo "SKIP: MPI tests: this build has no MPI support (install openmpi-bin libopenmpi-dev and rebuild)"
elif ! command -v mpirun >/dev/null; then
  echo "SKIP: MPI tests: mpirun is not installed"
else
  echo "$mpi_msg" | grep -q "must be started by mpirun" && ok || bad "--backend mpi outside mpirun: $mpi_msg"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  run_mpi() { ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" mpirun --oversubscribe -np "$@"; }
  run_mpi 2 "$BIN" fl $S --threads 1 --backend mpi --out "$T/mpi.safetensors" >"$T/mpi.out" 2>"$T/err" \
    || bad "2-rank run: $(cat "$T/err")"
  cmp -s "$T/t1.safetensors" "$T/mpi.safetensors" && ok || bad "2 MPI ranks differ from --backend local"
  [ "$(grep -c '^round ' "$T/mpi.out")" -eq 2 ] && ok || bad "rank 0 alone should print: $(cat "$T/mpi.out")"
  "$BIN" fl ${S/--rounds 2/--rounds 1} --threads 1 --checkpoint "$T/mck.safetensors" >/dev/null 2>&1 || bad "1 round"
  run_mpi 2 "$BIN" fl $S --threads 1 --backend mpi --resume "$T/mck.safetensors" --out "$T/mres.safetensors" \
    >/dev/null 2>"$T/err" || bad "2-rank resume: $(cat "$T/err")"
  cmp -s "$T/t1.safetensors" "$T/mres.safetensors" && ok || bad "local checkpoint resumed on 2 ranks differs"
fi

# ---- bad input: one line, non-zero exit, no output file ----
F="--data fashion-mnist --model mlp --subset 100 --rounds 1 --out $T/bad.safetensors"
expect_fail any "--clients must be at least 1" "$BIN" fl $F --clients 0
expect_fail any "101 clients but only 100 training images" "$BIN" fl $F --clients 101
expect_fail any "--fraction must be in (0, 1]" "$BIN" fl $F --clients 4 --fraction 0
expect_fail any "--fraction must be in (0, 1]" "$BIN" fl $F --clients 4 --fraction 1.5
expect_fail any "alpha must be a number > 0" "$BIN" fl $F --clients 4 --partition dirichlet:0
expect_fail any "alpha must be a number > 0" "$BIN" fl $F --clients 4 --partition dirichlet:-1
expect_fail any "unknown partition" "$BIN" fl $F --clients 4 --partition noniid
expect_fail any "--min-clients must be in [1, 2]" "$BIN" fl $F --clients 4 --fraction 0.5 --min-clients 3
expect_fail any "--drop-prob must be in [0, 1)" "$BIN" fl $F --clients 4 --drop-prob 1
expect_fail any "--weighting must be samples or uniform" "$BIN" fl $F --clients 4 --weighting equal
expect_fail any "--epochs does not apply" "$BIN" fl $F --clients 4 --epochs 3
expect_fail any "--clients and --rounds are required" "$BIN" fl --data fashion-mnist --model mlp --rounds 1
# outside mpirun, or in a build without MPI (mpi_msg, above, says which this build is)
if echo "$mpi_msg" | grep -q "no MPI support"; then need="no MPI support"; else need="must be started by mpirun"; fi
expect_fail any "$need" "$BIN" fl $F --clients 4 --backend mpi
expect_fail any "--backend must be local or mpi" "$BIN" fl $F --clients 4 --backend ray
expect_fail any "--keep-client-state needs --backend local" "$BIN" fl $F --clients 4 --keep-client-state --backend mpi
"$BIN" fl $F --clients 4 --checkpoint "$T/f.safetensors" >/dev/null 2>&1 || bad "checkpoint run"
rm -f "$T/bad.safetensors"
expect_fail any "written by a federated run with epochs=1, this run has epochs=2" \
  "$BIN" fl $F --clients 4 --local-epochs 2 --resume "$T/f.safetensors"
expect_fail any "not an mlaudit federated checkpoint" "$BIN" fl $F --clients 4 --resume "$T/g.safetensors"
[ ! -e "$T/bad.safetensors" ] && ok || bad "a refused run left $T/bad.safetensors"

cli_finish fl
