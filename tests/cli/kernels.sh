#!/usr/bin/env bash
# CLI tests of the kernel families (README's Speed): `mlaudit version` names them, MLA_ISA
# lowers them (avx2, portable) and a bad value is refused in one line; the exact kNN gives
# the same answer on every family; train --json says which family ran.
# Usage: tests/cli/kernels.sh PATH/TO/mlaudit
source "$(dirname "$0")/../common/cli_harness.sh" "$@"

json_get() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { [[ " $flags " == *" $1 "* ]]; }

line=$("$BIN" version | sed -n 2p)
[[ "$line" =~ ^kernels:\ nn\ (avx512|avx2|portable).*\;\ exact\ kNN\ (avx512-vnni|avx2|none)\;\ OpenBLAS ]] && ok ||
  bad "version's kernels line: '$line'"
line=$(MLA_ISA=portable "$BIN" version | sed -n 2p)
[[ "$line" == "kernels: nn portable; exact kNN none; "* ]] && ok || bad "MLA_ISA=portable: '$line'"
if has avx2 && has fma; then
  line=$(MLA_ISA=avx2 "$BIN" version | sed -n 2p)
  [[ "$line" == "kernels: nn avx2; exact kNN avx2; "* ]] && ok || bad "MLA_ISA=avx2: '$line'"
fi
expect_fail 2 "MLA_ISA='sse4'" env MLA_ISA=sse4 "$BIN" version
expect_fail 2 "expected avx512, avx2 or portable" env MLA_ISA=AVX2 "$BIN" classic --help

# The exact kNN: the same confusion matrix on the default family, AVX2 and the float engine.
SMALL=(--data fashion-mnist --subset 400 --test-subset 300 --seed 1 --threads 2 --model knn --grid k=5 --json)
for isa in default avx2 portable; do
  if [ "$isa" = default ]; then "$BIN" classic "${SMALL[@]}" >"$T/knn_$isa.json" 2>"$T/err"
  else MLA_ISA=$isa "$BIN" classic "${SMALL[@]}" >"$T/knn_$isa.json" 2>"$T/err"; fi || bad "knn ($isa) failed: $(cat "$T/err")"
done
for isa in avx2 portable; do
  [ "$(json_get "$T/knn_$isa.json" confusion)" = "$(json_get "$T/knn_default.json" confusion)" ] && ok ||
    bad "kNN confusion differs between the default family and $isa"
done

# train --json names the family that ran.
MLA_ISA=portable "$BIN" train --data fashion-mnist --subset 256 --model mlp --epochs 1 --threads 2 \
  --json >"$T/train.json" 2>"$T/err" || bad "train failed: $(cat "$T/err")"
[ "$(json_get "$T/train.json" kernels)" = portable ] && ok || bad "train --json kernels: $(json_get "$T/train.json" kernels)"

cli_finish kernels
