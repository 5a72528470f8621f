#!/usr/bin/env bash
# run_mpi_reduce.sh - run mpi_reduce_check under real mpirun with 1, 2 and
# 4 ranks (4 oversubscribed on 2 cores) and check:
#   - exact mode: every run passes its own checks and prints the SAME
#     result hash for every P (bit-identical reduction at any world size);
#   - float mode: every run passes (result within the float error bound);
#   - the 32-bit wire of an exact tail: exact, blocks out of its range resent
#     in 64 bits, the same hash for every P;
#   - a NaN in one rank's gradient is skipped by all ranks together;
#   - an out-of-range gradient stops all ranks with a non-zero exit and a
#     message naming the element;
#   - a parameter-count mismatch fails the start-up check on every rank,
#     rank 0 naming what differs;
#   - die() on one rank ends all ranks (MPI_Abort), none left in a barrier;
#   - a failing MPI call dies with the call and the MPI error string.
#   - `shardnet train` under mpirun: an option error and more ranks than
#     micro-batches exit 2 on every rank with the message (optional 2nd arg).
#   run_mpi_reduce.sh PATH/TO/mpi_reduce_check [PATH/TO/shardnet]
set -uo pipefail
prog=${1:?usage: run_mpi_reduce.sh PATH/TO/mpi_reduce_check [PATH/TO/shardnet]}
shardnet=${2:-}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }

# Extra mpirun options and the time limit of the next runs.
extra=()
limit=120

# run NAME NP ARGS... : stdout/stderr in $out/NAME.{out,err}, exit code in $rc
run() {
    local name=$1 np=$2
    shift 2
    local exe=$prog
    if [[ $1 == shardnet ]]; then exe=$shardnet; shift; fi
    timeout "$limit" "${mpi[@]}" -np "$np" "${extra[@]}" \
        "$exe" "$@" >"$out/$name.out" 2>"$out/$name.err"
    rc=$?
}

show() { sed 's/^/    | /' "$out/$1.out" "$out/$1.err" | head -40; }

declare -A hash
for np in 1 2 4; do
    for mode in exact float; do
        name=$mode-$np
        run "$name" "$np" --reduce "$mode"
        if [[ $rc -eq 0 ]] && grep -q '^[0-9]* passed, 0 failed' "$out/$name.out"; then
            pass "$mode reduce, $np rank(s): $(grep 'passed' "$out/$name.out")"
        else
            fail "$mode reduce, $np rank(s): exit $rc"
            show "$name"
        fi
        h=$(sed -n 's/^result hash \(0x[0-9a-f]*\).*/\1/p' "$out/$name.out")
        [[ -n $h ]] || fail "$mode reduce, $np rank(s): no result hash printed"
        hash[$name]=$h
    done
done
if [[ -n ${hash[exact-1]} && ${hash[exact-1]} == "${hash[exact-2]}" &&
      ${hash[exact-1]} == "${hash[exact-4]}" ]]; then
    pass "exact result hash identical for P = 1, 2, 4: ${hash[exact-1]}"
else
    fail "exact result hashes differ across P: 1 ${hash[exact-1]} 2 ${hash[exact-2]} 4 ${hash[exact-4]}"
fi
grep -h 'float mode' "$out"/float-*.out | sed 's/^/    /'

# The 32-bit wire of an exact tail (the trainer's path): bit-identical to
# the int64 reference, the out-of-range blocks resent, the same for every P.
declare -A wire
for np in 1 2 4; do
    run "wire-$np" "$np" --case wire
    wire[$np]=$(sed -n 's/^result hash \(0x[0-9a-f]*\) (wire.*/\1/p' "$out/wire-$np.out")
    if [[ $rc -eq 0 ]] && grep -q '^[0-9]* passed, 0 failed' "$out/wire-$np.out" &&
       grep -q '^step 1: 2 of 17 blocks resent in 64 bits, 0 sent so by plan' "$out/wire-$np.out" &&
       grep -q '^step 2: 0 of 17 blocks resent in 64 bits, 2 sent so by plan' "$out/wire-$np.out" &&
       grep -q '^step 3: 0 of 17 blocks resent in 64 bits, 2 sent so by plan' "$out/wire-$np.out" &&
       [[ -n ${wire[$np]} ]]; then
        pass "32-bit wire, $np rank(s): exact; 2 of 17 blocks resent in 64 bits, then planned wide"
    else
        fail "32-bit wire, $np rank(s): exit $rc"
        show "wire-$np"
    fi
done
if [[ -n ${wire[1]} && ${wire[1]} == "${wire[2]}" && ${wire[1]} == "${wire[4]}" ]]; then
    pass "32-bit wire: result hash identical for P = 1, 2, 4: ${wire[1]}"
else
    fail "32-bit wire hashes differ across P: 1 ${wire[1]} 2 ${wire[2]} 4 ${wire[4]}"
fi

run nonfinite 4 --case nonfinite
if [[ $rc -eq 0 ]] && grep -q '^[0-9]* passed, 0 failed' "$out/nonfinite.out" &&
   grep -q 'skipped by all' "$out/nonfinite.out"; then
    pass "NaN on one of 4 ranks: step skipped by all, next step exact"
else
    fail "NaN skip case: exit $rc"
    show nonfinite
fi


run overflow 2 --case overflow
if [[ $rc -ne 0 ]] && grep -q 'element 17 of local micro-batch 5 is 1e+09, outside the exact-reduce range' "$out/overflow.err" &&
   grep -q 'all ranks stop' "$out/overflow.err" && grep -q '0 failed' "$out/overflow.out"; then
    pass "out-of-range gradient: all ranks stopped (exit $rc) with the element named"
else
    fail "overflow case: exit $rc"
    show overflow
fi

run mismatch 2 --case mismatch
if [[ $rc -ne 0 ]] &&
   grep -q 'ranks disagree on parameter count: rank 0 = 5003 .*, rank 1 = 5004' "$out/mismatch.err" &&
   [[ $(grep -o 'start-up agreement failed: exiting' "$out/mismatch.err" | wc -l) -eq 2 ]]; then
    pass "parameter count mismatch: rank 0 names it, both ranks exit non-zero (exit $rc)"
else
    fail "mismatch case: exit $rc"
    show mismatch
fi

# mpirun ends a job when a rank exits non-zero; with that turned off, a rank
# that merely exit()s leaves rank 0 in its barrier until the timeout (124),
# so only the abort hook's MPI_Abort passes this.
[[ $mpi_kind == openmpi ]] && extra=(--mca orte_abort_on_non_zero_status 0)
limit=30
run die 2 --case die
extra=()
limit=120
if [[ $rc -ne 0 && $rc -ne 124 ]] &&
   grep -q '\[rank 1\] mpi_reduce_check.c:[0-9]*: deliberate failure on the last rank' "$out/die.err" &&
   ! grep -q 'barrier returned' "$out/die.err"; then
    pass "die() on rank 1 while rank 0 waits: MPI_Abort ended both (exit $rc)"
else
    fail "die case: exit $rc (124 = hung until timeout)"
    show die
fi

# Debian's MPICH checks no arguments (a count of -1 crashes inside it), so
# there the case would test the library, not MPI_CHECK; dist.c's mpi_count
# keeps such counts from ever reaching MPI.
if [[ $mpi_kind != openmpi ]]; then
    echo "skipped: failing MPI call (MPICH does not check a count of -1; it crashes)"
    rc=-1
else
    run mpierror 2 --case mpierror
fi
if [[ $rc -eq -1 ]]; then
    :
elif [[ $rc -ne 0 ]] &&
   grep -q 'MPI_Allreduce(MPI_IN_PLACE, &x, -1, .*) failed: MPI_ERR_COUNT' "$out/mpierror.err"; then
    pass "failing MPI call: died naming the call and MPI_ERR_COUNT (exit $rc)"
else
    fail "mpierror case: exit $rc"
    show mpierror
fi

if [[ -n $shardnet ]]; then
    run train-split 9 shardnet train
    if [[ $rc -eq 2 ]] && grep -q 'shardnet train: 9 ranks, but a step has only --batch 256 / --micro-batch 32 = 8 micro-batches' "$out/train-split.err" &&
       [[ $(grep -c "^Try 'shardnet train --help'.\$" "$out/train-split.err") -eq 1 ]]; then
        pass "shardnet train at P=9, 8 micro-batches: exit 2 on all ranks, rank 0 names --batch"
    else
        fail "shardnet train at P=9: exit $rc"
        show train-split
    fi
    run train-lr 2 shardnet train --lr -1
    if [[ $rc -eq 2 ]] && grep -q 'shardnet train: --lr: -1 is out of range' "$out/train-lr.err"; then
        pass "shardnet train --lr -1 at P=2: exit 2 naming --lr"
    else
        fail "shardnet train --lr -1: exit $rc"
        show train-lr
    fi
fi

echo "float reduce hashes (not required to match): 1 ${hash[float-1]} 2 ${hash[float-2]} 4 ${hash[float-4]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
