#!/usr/bin/env bash
# balance_mpi.sh - exact on any number of ranks, with the defaults, and
# micro-batches balanced by measured speed: real mpirun on the real
# Fashion-MNIST (2560 samples, the default B = 256 and m = 32: 8
# micro-batches a step, 20 steps).
#   - the same final weights for P = 1, 2, 3, 4, 5, 8 (5 and 8
#     oversubscribed; 3 and 5 give ranks unequal numbers of micro-batches),
#     and at P = 3 with --balance off;
#   - a P = 3 run resumed from its step-10 checkpoint at P = 2 and at P = 5
#     ends with the same weights;
#   - one rank slowed to 40% of its speed (--test-slow) is given fewer
#     micro-batches after a few steps (--scaling-report's per-rank
#     assignment), with the unslowed run's weights; with --balance off it
#     keeps its even share;
#   - --reduce float runs at P = 3 with uneven shares;
#   - more ranks than micro-batches is a usage error naming a --micro-batch
#     and a --batch that would work.
#   balance_mpi.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: balance_mpi.sh PATH/TO/shardnet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# run NAME NP ARGS...: shardnet train on the test's data -> $dir/NAME.{out,err}, $rc
run() { mpi_train "$1" "$2" --data "$dir/fm.h5" "${@:3}"; }
expect_hash() { # NAME WHAT
  local h
  h=$(final_hash "$1")
  if [[ $rc -eq 0 && -n $h && $h == "$ref" ]]; then pass "$2 ($h)"; else fail "$2: exit $rc, hash '$h' vs $ref"; show "$1"; fi
}
# micro NAME RANK FIELD: a field of a rank in NAME's scaling report
micro() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["per_rank"][int(sys.argv[2])][sys.argv[3]])' \
    "$dir/$1.json" "$2" "$3"
}

if ! "$bin" prepare --out "$dir/fm.h5" >"$dir/prepare.out" 2>&1; then
  cat "$dir/prepare.out"; echo "0 passed, 1 failed"; exit 1
fi

defaults=(--limit 2560 --epochs 2 --no-eval --quiet)
run p1 1 "${defaults[@]}" --no-ckpt
ref=$(final_hash p1)
if [[ $rc -eq 0 && -n $ref ]] && grep -q 'batch 256 = 8 micro-batches of 32 on 1 rank ' "$dir/p1.out" \
   && grep -q '^done: 20 steps' "$dir/p1.out"; then
  pass "P=1 with the defaults: m = 32, 20 steps, $ref"
else
  fail "P=1 run: exit $rc"; show p1
fi
for np in 2 3 4 5 8; do
  run "p$np" "$np" "${defaults[@]}" --no-ckpt
  expect_hash "p$np" "P=$np with the defaults gives P=1's weights"
done
grep -q 'on 3 ranks (3 3 2 to start' "$dir/p3.out" && pass "P=3 starts with 3, 3, 2 micro-batches" \
  || { fail "P=3 start-up split"; show p3; }
grep -q 'on 5 ranks (2 2 2 1 1 to start' "$dir/p5.out" && pass "P=5 starts with 2, 2, 2, 1, 1" \
  || { fail "P=5 start-up split"; show p5; }
run p3-even 3 "${defaults[@]}" --no-ckpt --balance off
expect_hash p3-even "P=3 with --balance off gives the same weights"

# Resume at another P: P=3 checkpoints every 10 steps; from step 10 at P=2, P=5.
run c3 3 "${defaults[@]}" --run "$dir/c3" --ckpt-every 10 --keep 0
expect_hash c3 "P=3 with checkpoints"
for np in 2 5; do
  run "r3-$np" "$np" "${defaults[@]}" --run "$dir/r3-$np" --resume "$dir/c3/ckpt-00000010.h5"
  if grep -q "^resume: .*ckpt-00000010.h5 at step 10 .*written by 3 rank(s), now $np" "$dir/r3-$np.out" \
     && grep -q '^done: 20 steps' "$dir/r3-$np.out"; then
    expect_hash "r3-$np" "P=3's step-10 checkpoint resumed at P=$np ends with P=1's weights"
  else
    fail "resume at P=$np: exit $rc, no resume line or not 20 steps"; show "r3-$np"
  fi
done

# Rank 1 at 40% speed: after a few steps it computes fewer than its even 4.
run slow 2 "${defaults[@]}" --no-ckpt --test-slow 1:40 --scaling-report "$dir/slow"
expect_hash slow "rank 1 slowed to 40%: the same weights"
if [[ $rc -eq 0 ]]; then
  s0=$(micro slow 0 microbatches) s1=$(micro slow 1 microbatches)
  l0=$(micro slow 0 microbatches_last_step) l1=$(micro slow 1 microbatches_last_step)
  if (( s0 + s1 == 160 && s1 < s0 && l1 < 4 && l0 + l1 == 8 )); then
    pass "the slowed rank is given fewer micro-batches: $s1 of 160 (last step $l1 of 8), rank 0 $s0"
  else
    fail "slowed rank's share: rank 0 $s0 (last $l0), rank 1 $s1 (last $l1) of 160"; cat "$dir/slow.md"
  fi
fi
run slow-even 2 "${defaults[@]}" --no-ckpt --test-slow 1:40 --balance off --scaling-report "$dir/slow-even"
expect_hash slow-even "slowed rank, --balance off: the same weights"
if [[ $rc -eq 0 && $(micro slow-even 0 microbatches) == 80 && $(micro slow-even 1 microbatches) == 80 ]]; then
  pass "--balance off keeps the even 4 and 4"
else
  fail "--balance off share"; cat "$dir/slow-even.md"
fi

run float3 3 "${defaults[@]}" --no-ckpt --reduce float
if [[ $rc -eq 0 && -n $(final_hash float3) ]] && grep -q '^done: 20 steps (0 skipped)' "$dir/float3.out"; then
  pass "--reduce float trains at P=3 ($(final_hash float3))"
else
  fail "--reduce float at P=3: exit $rc"; show float3
fi

run p9 9 "${defaults[@]}" --no-ckpt
if [[ $rc -eq 2 ]] && grep -q '9 ranks, but a step has only --batch 256 / --micro-batch 32 = 8 micro-batches and every rank needs at least one: use --micro-batch 16 or --batch 288, or at most 8 ranks' "$dir/p9.err"; then
  pass "P=9 for 8 micro-batches is a usage error naming --micro-batch 16 and --batch 288"
else
  fail "P=9: exit $rc"; show p9
fi

finish
