#!/usr/bin/env bash
# isa_mpi.sh - one oneDNN ISA for the whole job, chosen by the job: real
# mpirun on Fashion-MNIST (2560 samples, B = 256, m = 64: 10 steps) with a
# per-rank ONEDNN_MAX_CPU_ISA (a wrapper sets it from the rank number, as
# if the ranks ran on CPUs of different generations):
#   - AVX2 and AVX-512 give different weights (so the cases below can fail);
#   - AVX-512 + AVX2 ranks give the uniform AVX2 run's weights, and the
#     start-up line names AVX2; SSE4.1 + AVX2 give the uniform SSE4.1 run's;
#   - the checkpoint records the ISA (shardnet verify prints it); resumed on
#     "other hosts" (no cap: AVX-512) it pins the recorded AVX2 and ends
#     with the uninterrupted AVX2 run's weights;
#   - resumed where a rank cannot run the recorded ISA (capped to SSE4.1)
#     it is refused, naming both ISAs.
#   isa_mpi.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: isa_mpi.sh PATH/TO/shardnet}
unset OMP_NUM_THREADS ONEDNN_MAX_CPU_ISA DNNL_MAX_CPU_ISA
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# cap.sh CAPS PROG...: rank r gets the r-th of the comma-separated CAPS as
# ONEDNN_MAX_CPU_ISA ("-": none).  Open MPI sets OMPI_COMM_WORLD_RANK,
# MPICH's Hydra PMI_RANK.
cat >"$dir/cap.sh" <<'SH'
#!/bin/sh
r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
cap=$(echo "$1" | cut -d, -f$((r + 1)))
shift
[ -n "$cap" ] && [ "$cap" != - ] && export ONEDNN_MAX_CPU_ISA="$cap"
exec "$@"
SH
chmod +x "$dir/cap.sh"

# run NAME CAPS ARGS... -> $dir/NAME.{out,err}, exit status in $rc (P = 2)
run() {
  local name=$1 caps=$2
  shift 2
  timeout 300 "${mpi[@]}" -np 2 "$dir/cap.sh" "$caps" \
    "$bin" train --data "$dir/fm.h5" --limit 2560 --epochs 1 --batch 256 --micro-batch 64 \
    --threads 1 --no-eval --quiet "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  rc=$?
}
# same NAME REF WHAT: NAME ended well with REF's final hash
same() {
  local h r
  h=$(final_hash "$1") r=$(final_hash "$2")
  if [[ $rc -eq 0 && -n $h && $h == "$r" ]]; then pass "$3 ($h)"; else fail "$3: exit $rc, hash '$h' vs $2's '$r'"; show "$1"; fi
}
isa_line() { # NAME ISA HOW: the start-up line names the job's ISA
  if grep -q "ISA $2 ($3" "$dir/$1.out"; then pass "$1: start-up line says ISA $2 ($3...)"; else fail "$1: no 'ISA $2 ($3' line"; show "$1"; fi
}
supports() { ONEDNN_MAX_CPU_ISA=$1 "$bin" --version | grep -qi "CPU ISA cpu_isa_$1)"; }

if ! "$bin" prepare --out "$dir/fm.h5" >"$dir/prepare.out" 2>&1; then
  cat "$dir/prepare.out"; echo "0 passed, 1 failed"; exit 1
fi

run avx2 AVX2,AVX2 --run "$dir/ck" --ckpt-every 5 --keep 0
isa_line avx2 AVX2 "the highest every rank supports"
if [[ -f $dir/ck/ckpt-00000005.h5 ]] && "$bin" verify "$dir/ck/ckpt-00000005.h5" 2>&1 | grep -q 'oneDNN ISA AVX2$'; then
  pass "the checkpoint records ISA AVX2 (shardnet verify)"
else
  fail "no step-5 checkpoint recording AVX2"; "$bin" verify "$dir/ck/ckpt-00000005.h5" 2>&1 | tail -5
fi

if supports avx512_core; then
  run avx512 AVX512_CORE,AVX512_CORE --no-ckpt
  h2=$(final_hash avx2) h5=$(final_hash avx512)
  if [[ $rc -eq 0 && -n $h5 && -n $h2 && $h5 != "$h2" ]]; then
    pass "AVX-512 and AVX2 give different weights ($h5, $h2)"
  else
    fail "AVX-512 vs AVX2: exit $rc, hashes '$h5' '$h2' (expected two different ones)"; show avx512
  fi
  run mixed512 AVX512_CORE,AVX2 --no-ckpt
  same mixed512 avx2 "AVX-512 + AVX2 ranks give the uniform AVX2 weights"
  isa_line mixed512 AVX2 "the highest every rank supports"
  run resume - --run "$dir/r" --resume "$dir/ck/ckpt-00000005.h5"
  same resume avx2 "the AVX2 checkpoint resumed on AVX-512 ranks ends with the AVX2 weights"
  isa_line resume AVX2 "recorded in the checkpoint"
else
  skip "this CPU has no AVX-512: the AVX-512 + AVX2 cases"
fi

run sse41 SSE41,SSE41 --no-ckpt
isa_line sse41 SSE41 "the highest every rank supports"
run mixed41 AVX2,SSE41 --no-ckpt
same mixed41 sse41 "AVX2 + SSE4.1 ranks give the uniform SSE4.1 weights"

run refused -,SSE41 --run "$dir/x" --resume "$dir/ck/ckpt-00000005.h5"
if [[ $rc -eq 1 ]] && grep -q 'cannot resume: the checkpoint was trained with oneDNN ISA AVX2 .*resume on hosts that support AVX2' "$dir/refused.err" \
   && grep -q '^\[rank 1\] .*runs oneDNN ISA SSE41 at most' "$dir/refused.err"; then
  pass "resuming the AVX2 checkpoint with a rank capped to SSE4.1 is refused (exit 1), naming both"
else
  fail "resume on a host below the recorded ISA: exit $rc"; show refused
fi
finish
