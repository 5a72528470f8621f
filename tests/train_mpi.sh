#!/usr/bin/env bash
# train_mpi.sh - `shardnet train` for real: the real Fashion-MNIST prepared
# into HDF5, real mpirun with 1, 2 and 4 ranks (4 oversubscribed on 2 cores).
#   - the weight hash after 200 steps is the SAME for P = 1, 2, 4 with the
#     same B, m and seed; the same across two runs; different with another seed;
#   - exact sums travel in 32 bits; forcing the 64-bit resend on every step
#     or every 3rd (SHARDNET_TEST_FORCE_WIDE, test-only) changes no bit;
#   - --reduce float runs and trains;
#   - a short real run makes the loss fall and the test accuracy rise;
#   - a NaN injected into one rank's gradient stops every rank with the step
#     named, or is skipped by every rank with --on-nonfinite skip;
#   - ranks started with different options fail the start-up agreement;
#   - more ranks than micro-batches is a usage error on every rank.
#   train_mpi.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: train_mpi.sh PATH/TO/shardnet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# run NAME NP ARGS...: shardnet train on the test's data -> $dir/NAME.{out,err}, $rc
run() { mpi_train "$1" "$2" --data "$dir/fm.h5" "${@:3}"; }

if ! "$bin" prepare --out "$dir/fm.h5" >"$dir/prepare.out" 2>&1; then
  cat "$dir/prepare.out"; echo "0 passed, 1 failed"; exit 1
fi

# 3200 samples, B=64: 50 steps an epoch, 4 epochs = 200 steps.
short=(--limit 3200 --batch 64 --micro-batch 16 --epochs 4 --no-eval --quiet)
declare -A h
for np in 1 2 4; do
  run "exact-$np" "$np" "${short[@]}"
  h[$np]=$(final_hash "exact-$np")
  if [[ $rc -eq 0 && -n ${h[$np]} ]]; then pass "P=$np trains 200 steps: ${h[$np]}"
  else fail "P=$np run: exit $rc"; show "exact-$np"; fi
done
if [[ -n ${h[1]} && ${h[1]} == "${h[2]}" && ${h[1]} == "${h[4]}" ]]; then
  pass "bit-identical weights for P = 1, 2, 4"
else
  fail "weights differ across P: ${h[1]} ${h[2]} ${h[4]}"
fi
grep -q '200 steps (0 skipped)' "$dir/exact-4.out" && pass "200 steps at P=4" \
  || { fail "P=4 step count"; show exact-4; }

# Exact mode sends its sums in 32 bits where they provably fit; the test-only
# SHARDNET_TEST_FORCE_WIDE=N resends every N-th step's whole tail in 64 bits
# (N=1: the int64 all-reduce of every step): the weights must not change.
grep -q '^exact reduce: 32-bit sums on 200 of 200 steps' "$dir/exact-2.out" \
  && ! grep -q 'may exceed 32 bits' "$dir/exact-2.err" \
  && pass "P=2: 32-bit sums on every step ($(sed -n 's/^exact reduce: //p' "$dir/exact-2.out"))" \
  || { fail "P=2: no 32-bit wire line, or resends named on stderr outside the test switch"; show exact-2; }
SHARDNET_TEST_FORCE_WIDE=1 run wide-2 2 "${short[@]}"
wide_line=$(sed -n 's/^exact reduce: //p' "$dir/wide-2.out")
if [[ $rc -eq 0 && $(final_hash wide-2) == "${h[2]}" ]] &&
   [[ $wide_line =~ ^32-bit\ sums\ on\ 200\ of\ 200\ steps,\ 200\ resent\ ([0-9]+)\ of\ ([0-9]+)\ blocks ]] &&
   [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] &&
   grep -q 'step 1: .* blocks of the exact gradient sum may exceed 32 bits .*resent in 64 bits, same result' "$dir/wide-2.err"; then
  pass "every step resent in 64 bits (the int64 path): same weights as the 32-bit wire ($wide_line)"
else
  fail "forced 64-bit resend at P=2: exit $rc, $(final_hash wide-2) vs ${h[2]}, '$wide_line'"; show wide-2
fi
SHARDNET_TEST_FORCE_WIDE=3 run wide-4 4 "${short[@]}"
wide4=$(sed -n 's/^exact reduce: 32-bit sums on 200 of 200 steps, \([0-9]*\) resent.*/\1/p' "$dir/wide-4.out")
if [[ $rc -eq 0 && $(final_hash wide-4) == "${h[1]}" && ${wide4:-0} -ge 66 ]]; then
  pass "every 3rd step resent in 64 bits at P=4: same weights as P=1"
else
  fail "forced 64-bit resend at P=4: exit $rc, $(final_hash wide-4) vs ${h[1]}, ${wide4:-no} steps resent (want >= 66)"; show wide-4
fi

run again-2 2 "${short[@]}"
[[ $rc -eq 0 && $(final_hash again-2) == "${h[2]}" ]] && pass "a second P=2 run gives the same weights" \
  || fail "second P=2 run: exit $rc, $(final_hash again-2) vs ${h[2]}"
run seed-2 2 "${short[@]}" --seed 43
[[ $rc -eq 0 && -n $(final_hash seed-2) && $(final_hash seed-2) != "${h[2]}" ]] \
  && pass "another seed gives other weights" || fail "seed 43: exit $rc, $(final_hash seed-2)"
run float-2 2 "${short[@]}" --reduce float
[[ $rc -eq 0 && -n $(final_hash float-2) ]] && pass "--reduce float trains" \
  || { fail "--reduce float: exit $rc"; show float-2; }

# Learning: modern LeNet, 2 epochs of 12800 samples; per-epoch test metrics.
run learn 2 --arch modern --lr 0.01 --momentum 0.9 --limit 12800 --batch 128 --epochs 2 \
  --log-every 20 --run "$dir/learn"
if [[ $rc -eq 0 ]]; then
  read -r first last acc1 acc2 < <(python3 - "$dir/learn/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r for r in rows if r["type"] == "step"]
epochs = [r for r in rows if r["type"] == "epoch"]
print(steps[0]["loss"], steps[-1]["loss"], epochs[0]["test_accuracy"], epochs[-1]["test_accuracy"])
PY
)
  if python3 -c "import sys; f,l,a1,a2=map(float,sys.argv[1:]); sys.exit(not (l < 0.6*f and a2 > 0.70 and a2 >= a1))" \
       "$first" "$last" "$acc1" "$acc2"; then
    pass "loss falls ($first -> $last), test accuracy rises ($acc1 -> $acc2)"
  else
    fail "no learning: loss $first -> $last, test accuracy $acc1 -> $acc2"
  fi
else
  fail "learning run: exit $rc"; show learn
fi

# scripts/plot.py draws the learning run's curves as a PNG.
plot=$(cd "$(dirname "$0")/.." && pwd)/scripts/plot.py
if /usr/bin/python3 "$plot" "$dir/learn" --out "$dir/curves.png" >"$dir/plot.out" 2>&1 \
   && [[ $(head -c 8 "$dir/curves.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] \
   && grep -q 'wrote .*curves.png (2 epochs' "$dir/plot.out"; then
  pass "plot.py draws the curves as a PNG ($(stat -c %s "$dir/curves.png") bytes)"
else
  fail "plot.py"; cat "$dir/plot.out"
fi
echo '{"type": "start", "world_size": 1}' >"$dir/empty.jsonl"
if ! /usr/bin/python3 "$plot" "$dir/empty.jsonl" --out "$dir/none.png" 2>"$dir/plot.err" \
   && grep -q 'has no step records' "$dir/plot.err" && [[ ! -e $dir/none.png ]]; then
  pass "plot.py refuses a metrics file without steps"
else
  fail "plot.py on a file without steps"; cat "$dir/plot.err"
fi
if ! /usr/bin/python3 "$plot" "$dir/learn" --out "$dir/curves.png" 2>"$dir/plot.err" \
   && grep -q -- "--out $dir/curves.png: the file exists and is not overwritten" "$dir/plot.err"; then
  pass "plot.py does not overwrite an existing --out"
else
  fail "plot.py over an existing file"; cat "$dir/plot.err"
fi

# --scaling-report at P=1, then at P=2 against it.
run scale-1 1 "${short[@]}" --epochs 1 --scaling-report "$dir/scale1"
run scale-2 2 "${short[@]}" --epochs 1 --scaling-report "$dir/scale2" --scaling-baseline "$dir/scale1.json"
if [[ $rc -eq 0 ]] && python3 - "$dir/scale1.json" "$dir/scale2.json" <<'PY'
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:])
assert one["ranks"] == 1 and two["ranks"] == 2, (one["ranks"], two["ranks"])
assert len(two["per_rank"]) == 2 and all(r["steps"] == 50 for r in two["per_rank"])
# Exact sums mostly in 32 bits: more than float's 4 bytes an element (the
# conv head and the range bounds go in int64), far below the int64 path's 8.
b = [r["bytes"] for r in two["per_rank"]]
assert b[0] == b[1] and 50 * (61706 + 1) * 4 < b[0] < 50 * (61706 + 1) * 8 * 0.6, b
assert two["baseline_img_per_s"] == one["img_per_s"] and abs(two["efficiency"] - two["img_per_s"] / (2 * one["img_per_s"])) < 1e-3
PY
then
  pass "--scaling-report: per-rank figures, bytes reduced, efficiency against P=1 ($(grep -o 'efficiency [0-9.]*%' "$dir/scale2.md"))"
else
  fail "--scaling-report: exit $rc"; show scale-2; cat "$dir/scale2.json" 2>/dev/null
fi

# A NaN in rank 1's gradient at step 5: all ranks stop, or all skip it.
run nan-stop 2 "${short[@]}" --epochs 1 --inject-nonfinite 5:1
if [[ $rc -ne 0 ]] && grep -q 'step 5 (epoch 1): a non-finite loss or gradient (NaN/Inf) on 1 rank(s); all ranks stop' "$dir/nan-stop.err" \
   && ! grep -q '^done:' "$dir/nan-stop.out"; then
  pass "an injected NaN stops all ranks at step 5 (exit $rc)"
else
  fail "injected NaN, stop: exit $rc"; show nan-stop
fi
run nan-skip 2 "${short[@]}" --epochs 1 --inject-nonfinite 5:1 --on-nonfinite skip
if [[ $rc -eq 0 ]] && grep -q 'step 5 (epoch 1).*all ranks skip this step' "$dir/nan-skip.err" \
   && grep -q '^done: 50 steps (1 skipped)' "$dir/nan-skip.out"; then
  pass "an injected NaN is skipped by all ranks"
else
  fail "injected NaN, skip: exit $rc"; show nan-skip
fi

# Ranks started with different seeds (MPMD): the start-up check refuses.
timeout 120 "${mpi[@]}" -np 1 "$bin" train --data "$dir/fm.h5" "${short[@]}" --seed 1 \
  : -np 1 "$bin" train --data "$dir/fm.h5" "${short[@]}" --seed 2 >"$dir/mismatch.out" 2>"$dir/mismatch.err"
rc=$?
if [[ $rc -ne 0 ]] && grep -q 'config hash' "$dir/mismatch.err" && ! grep -q '^done:' "$dir/mismatch.out"; then
  pass "ranks with different options fail the start-up agreement (exit $rc)"
else
  fail "mismatched ranks: exit $rc"; show mismatch
fi

run badworld 5 --batch 64 --micro-batch 16
if [[ $rc -eq 2 ]] && grep -q '5 ranks, but a step has only --batch 64 / --micro-batch 16 = 4 micro-batches' "$dir/badworld.err"; then
  pass "5 ranks for 4 micro-batches is a usage error"
else
  fail "P=5: exit $rc"; show badworld
fi

run nodata 2 --data "$dir/missing.h5"
mv "$dir/nodata.out" "$dir/nodata.out" 2>/dev/null
if [[ $rc -ne 0 ]] && grep -q 'run `shardnet prepare` first' "$dir/nodata.err"; then
  pass "a missing dataset is a clear error on every rank"
else
  fail "missing data: exit $rc"; show nodata
fi

finish
