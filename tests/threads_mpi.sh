#!/usr/bin/env bash
# threads_mpi.sh - threads are micro-batch workers: real mpirun on
# Fashion-MNIST (2560 samples, the default B = 256 and m = 32: 8
# micro-batches a step, 10 steps) with the default options otherwise:
#   - P ranks x T threads for (P,T) in (1,1) (1,2) (2,1) (2,2) (4,1), and
#     (3,2), where a rank's 3 micro-batches split 2 + 1 between its
#     workers: the same final weights (sha256) and the same epoch line
#     (train loss and accuracy, summed exactly) every time, and the
#     start-up line says "P ranks x T threads";
#   - at m = 64 (4 micro-batches a step), 3 ranks x 2 threads, where two
#     ranks have one micro-batch for two workers: the 1 x 1 run's weights
#     and epoch line, and a start-up note that some threads idle;
#   - a checkpoint written by 1 rank x 2 threads, resumed on 2 ranks x 1
#     thread, ends with the uninterrupted run's weights;
#   - --threading onednn at 1 x 2 gives other weights, and says so at start;
#   - --reduce float at 1 x 2 gives the same weights twice (the workers'
#     float sums merge in worker order);
#   - a NaN in every gradient of a two-worker rank is one rank's NaN: the
#     step is skipped "on 1 rank(s)" (the workers' records merge their flags).
# Before the workers, --threads 2 let oneDNN split each primitive over two
# threads, and (1,2) ended with other weights than (1,1).
#   threads_mpi.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: threads_mpi.sh PATH/TO/shardnet}
unset OMP_NUM_THREADS
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Open MPI binds each of 2 ranks to a core, which leaves a rank one CPU
# (and --threads 2 refused): unbind.
launch=("${mpi[@]}")
[[ $mpi_kind == openmpi ]] && launch+=(--bind-to none)
# run NAME P T ARGS... -> $dir/NAME.{out,err}, exit status in $rc
run() {
  local name=$1 np=$2 threads=$3
  shift 3
  timeout 300 "${launch[@]}" -np "$np" "$bin" train --data "$dir/fm.h5" --limit 2560 --epochs 1 \
    --threads "$threads" --no-eval --quiet "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  rc=$?
}

if ! "$bin" prepare --out "$dir/fm.h5" >"$dir/prepare.out" 2>&1; then
  cat "$dir/prepare.out"; echo "0 passed, 1 failed"; exit 1
fi

# epoch_line NAME: the epoch's loss and accuracy (not its time and rate)
epoch_line() { sed -n 's/^\(epoch 1\/1: train loss [0-9.]* acc [0-9.]*\),.*/\1/p' "$dir/$1.out"; }
ref= ref_line=
for pt in 1,1 1,2 2,1 2,2 4,1 3,2; do
  p=${pt%,*} t=${pt#*,}
  run "p${p}t$t" "$p" "$t" --no-ckpt
  h=$(final_hash "p${p}t$t") line=$(epoch_line "p${p}t$t")
  ranks="$p rank$([[ $p -eq 1 ]] || echo s) x $t thread$([[ $t -eq 1 ]] || echo s) (micro-batch workers)"
  if [[ $rc -ne 0 || -z $h ]]; then
    fail "$p x $t: exit $rc, no final hash"; show "p${p}t$t"; continue
  fi
  if grep -qF "  $ranks, oneDNN" "$dir/p${p}t$t.out"; then
    pass "$p x $t: the start-up line says '$ranks'"
  else
    fail "$p x $t: no start-up line '$ranks'"; show "p${p}t$t"
  fi
  if [[ -z $ref ]]; then
    ref=$h ref_line=$line
    pass "1 rank x 1 thread: final weights sha256 $h, '$line'"
  elif [[ $h == "$ref" && -n $line && $line == "$ref_line" ]]; then
    pass "$p x $t: the same final weights and epoch line as 1 x 1 ($h)"
  else
    fail "$p x $t: final weights $h, '$line'; 1 x 1 gave $ref, '$ref_line'"
  fi
done

run m64-ref 1 1 --no-ckpt --micro-batch 64
run m64 3 2 --no-ckpt --micro-batch 64
h=$(final_hash m64) r=$(final_hash m64-ref)
line=$(epoch_line m64) r_line=$(epoch_line m64-ref)
if [[ $rc -eq 0 && -n $h && $h == "$r" && -n $line && $line == "$r_line" ]]; then
  pass "m = 64, 3 ranks x 2 threads (idle workers): 1 x 1's weights and epoch line ($h)"
else
  fail "m = 64, 3 x 2: exit $rc, '$h' '$line'; 1 x 1 gave '$r' '$r_line'"; show m64
fi
if grep -q '^  note: B/m = 4 micro-batches a step, fewer than ranks x threads = 6: some threads idle' "$dir/m64.out"; then
  pass "m = 64, 3 x 2: the start-up note says some threads idle"
else
  fail "m = 64, 3 x 2: no note about idle threads"; show m64
fi

run ck 1 2 --run "$dir/ck" --ckpt-every 5 --keep 0
run resume 2 1 --run "$dir/r" --resume "$dir/ck/ckpt-00000005.h5"
h=$(final_hash resume)
if [[ $rc -eq 0 && -n $h && $h == "$ref" && -f $dir/ck/ckpt-00000005.h5 ]]; then
  pass "the step-5 checkpoint of 1 x 2 resumed on 2 x 1 ends with the same weights ($h)"
else
  fail "resume across threads: exit $rc, hash '$h' vs '$ref'"; show resume
fi

# --threading onednn: oneDNN splits each layer over the threads, which
# changes the weights (what --threads 2 did before the workers).
run onednn 1 2 --no-ckpt --threading onednn
h=$(final_hash onednn)
if [[ $rc -eq 0 && -n $h && $h != "$ref" ]] \
   && grep -qF '  1 rank x 2 threads (oneDNN threads: the weights depend on the thread count)' "$dir/onednn.out"; then
  pass "--threading onednn, 1 x 2: other weights than 1 x 1 ($h), and the start-up line says so"
else
  fail "--threading onednn, 1 x 2: exit $rc, hash '$h' (1 x 1: $ref)"; show onednn
fi

# Float mode depends on the split, but repeats: the workers' sums merge in
# worker order.
run float1 1 2 --no-ckpt --reduce float
run float2 1 2 --no-ckpt --reduce float
h=$(final_hash float1) h2=$(final_hash float2)
if [[ $rc -eq 0 && -n $h && $h == "$h2" ]]; then
  pass "--reduce float, 1 x 2: the same weights twice ($h)"
else
  fail "--reduce float, 1 x 2: '$h' then '$h2' (exit $rc)"; show float2
fi

run nan 1 2 --no-ckpt --inject-nonfinite 3:0 --on-nonfinite skip
if [[ $rc -eq 0 ]] && grep -q 'step 3 (epoch 1): a non-finite loss or gradient (NaN/Inf) on 1 rank(s); all ranks skip this step' "$dir/nan.err" \
   && grep -q '^done: 10 steps (1 skipped)' "$dir/nan.out"; then
  pass "a NaN in both workers of one rank: step 3 skipped, counted as 1 rank"
else
  fail "injected NaN with 2 workers: exit $rc"; show nan
fi
finish
