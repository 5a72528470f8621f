#!/usr/bin/env bash
# signals_mpi.sh - stop signals, the hang watchdog and the launch check,
# for real under mpirun on one host:
#   - SIGUSR1 to mpirun mid-run (mpirun forwards it): every rank stops at the
#     same step, rank 0 writes a checkpoint that verifies, exit 3; a run
#     resumed with --resume auto ends with the uninterrupted run's weights;
#   - SIGTERM to ONE rank only, as a burst of 2000: the control all-reduce
#     makes all ranks stop together (exit 3, "on 1 rank(s)"), and every
#     thread of every rank blocks the stop signals (see signals.h);
#   - the watchdog: one rank stalls before a step's control all-reduce; the
#     job ends with exit 4 within the timeout plus a few seconds, rank 0
#     naming the late rank, the step and the collective; a stalled rank 0 is
#     named by the others; a stall shorter than --timeout, or with
#     --timeout 0, is no failure;
#   - the launch check: a singleton that srun's environment says is one of
#     2 tasks refuses to train (exit 2) naming both sizes; mpirun -np 2
#     inside an allocation of 4 tasks (mpirun's count trusted) trains.
#   signals_mpi.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: signals_mpi.sh PATH/TO/shardnet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS SLURM_JOB_ID SLURM_STEP_ID SLURM_STEP_NUM_TASKS SLURM_NTASKS OMPI_COMM_WORLD_SIZE
dir=$(mktemp -d)
bg=
cleanup() {
  [[ -n $bg ]] && kill -9 "$bg" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# 3200 samples, B=64: 50 steps an epoch; 12 epochs = 600 steps (~8 s at P=2).
common=(--data "$dir/fm.h5" --limit 3200 --batch 64 --micro-batch 16 --no-eval --quiet)
long=("${common[@]}" --epochs 12 --ckpt-every 20 --keep 0)

"$bin" prepare --out "$dir/fm.h5" >/dev/null 2>&1 || { echo "prepare failed"; echo "0 passed, 1 failed"; exit 1; }

# wait_file FILE SECONDS: 0 when FILE appeared in time.
wait_file() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do [[ -e $1 ]] && return 0; sleep 0.1; done
  return 1
}
# wait_bounded PID SECONDS: wait for a background job; SIGKILL it when it
# outlives SECONDS (a hang is a failure, not a stuck test).  Sets rc.
wait_bounded() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$1" 2>/dev/null && { echo "    (killing hung pid $1)"; kill -9 "$1"; }
  wait "$1"; rc=$?
  bg=
}

# Uninterrupted reference.
timeout 300 "${mpi[@]}" -np 2 "$bin" train "${long[@]}" --no-ckpt >"$dir/ref.out" 2>"$dir/ref.err"
rc=$? ref=$(final_hash ref)
[[ $rc -eq 0 && -n $ref ]] && pass "uninterrupted run: $ref" || { fail "reference run: exit $rc"; show ref; }

# SIGUSR1 to mpirun once the step-40 checkpoint exists.
"${mpi[@]}" -np 2 "$bin" train "${long[@]}" --run "$dir/usr1" \
  >"$dir/usr1.out" 2>"$dir/usr1.err" &
bg=$!
if wait_file "$dir/usr1/ckpt-00000040.h5" 60; then stop_job "$bg" "$dir/usr1"; fi
wait_bounded "$bg" 120
step=$(sed -n 's/^stopped: at step \([0-9]*\) of 600 by a signal; checkpoint written; exit 3.*/\1/p' "$dir/usr1.out")
if [[ $rc -eq 3 && -n $step && $step -lt 600 ]] && grep -Eq 'stop requested \((SIGUSR1|a signal)\) on [12] rank\(s\)' "$dir/usr1.err" \
   && ! grep -q '^done:' "$dir/usr1.out"; then
  pass "SIGUSR1 (to $([[ $mpi_kind == openmpi ]] && echo mpirun || echo the ranks)): all ranks stop at step $step, exit 3"
else
  fail "SIGUSR1 stop: exit $rc, step '$step'"; show usr1
fi
ck=$(printf '%s/usr1/ckpt-%08d.h5' "$dir" "${step:-0}")
if [[ -n $step ]] && "$bin" verify "$ck" >"$dir/verify.out" 2>&1 && [[ $(cat "$dir/usr1/latest") == $(basename "$ck") ]]; then
  pass "the stop checkpoint $(basename "$ck") verifies and is latest"
else
  fail "stop checkpoint $ck"; cat "$dir/verify.out"
fi
timeout 300 "${mpi[@]}" -np 2 "$bin" train "${long[@]}" --run "$dir/usr1" --resume auto \
  >"$dir/resume.out" 2>"$dir/resume.err"
rc=$?
if [[ $rc -eq 0 && $(final_hash resume) == "$ref" ]] && grep -q "resume: .* at step $step " "$dir/resume.out"; then
  pass "--resume auto from step $step ends with the uninterrupted weights"
else
  fail "resume after SIGUSR1: exit $rc, hash $(final_hash resume) vs $ref"; show resume
fi

# Open MPI's mpirun reports any non-zero exit of a rank with two boxed
# messages ("... the job has been aborted", "mpirun detected that one or
# more processes exited with non-zero status"), which read as a crash after
# an intentional stop.  No rank can prevent them while exiting 3; `mpirun
# --quiet` (orte_execute_quiet) does and keeps the 3, whereas
# --mca orte_abort_on_non_zero_status 0 made mpirun exit 0.  Both halves are
# checked: the plain run above shows the banner (else the README's advice
# is stale), the --quiet run shows none and still exits 3 with the stop
# message.
if [[ $mpi_kind == openmpi ]]; then
  if grep -q 'the job has been aborted\|exited with non-zero status' "$dir/usr1.err"; then
    pass "plain mpirun prints its abort banner after exit 3 (what --quiet avoids)"
  else
    fail "plain mpirun printed no abort banner after exit 3: the README's --quiet advice is stale"
    show usr1
  fi
  "${mpi[@]}" --quiet -np 2 "$bin" train "${long[@]}" --run "$dir/quiet" \
    >"$dir/quiet.out" 2>"$dir/quiet.err" &
  bg=$!
  if wait_file "$dir/quiet/ckpt-00000040.h5" 60; then kill -USR1 "$bg"; fi
  wait_bounded "$bg" 120
  if [[ $rc -eq 3 ]] && grep -q '^stopped: at step [0-9]* of 600 by a signal; checkpoint written; exit 3' "$dir/quiet.out" \
     && grep -q 'stop requested' "$dir/quiet.err" \
     && ! grep -q 'aborted\|non-zero status\|^------' "$dir/quiet.err"; then
    pass "SIGUSR1 to mpirun --quiet: exit 3, the stop message, no abort banner"
  else
    fail "SIGUSR1 to mpirun --quiet: exit $rc"; show quiet
  fi
fi

# SIGTERM to rank 1 only (a child of mpirun with OMPI_COMM_WORLD_RANK=1),
# as a burst of 2000: a stop signal must never be delivered while oneDNN
# runs (its JIT GEMM kernels point rsp into the heap, where a handler's
# signal frame would land; signals.h), so every thread of every rank must
# block SIGTERM and SIGUSR1 (SigBlk bits 15 and 10, mask 0x4200), and the
# burst must end in the ordinary stop.
"${mpi[@]}" -np 2 "$bin" train "${long[@]}" --run "$dir/term" \
  >"$dir/term.out" 2>"$dir/term.err" &
bg=$!
rank1= unblocked= threads=0
if wait_file "$dir/term/ckpt-00000020.h5" 60; then
  while read -r p r; do
    [[ $r == 1 ]] && rank1=$p
    for st in /proc/"$p"/task/*/status; do
      blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' "$st" 2>/dev/null)
      [[ -n $blk ]] || continue
      threads=$((threads + 1))
      (( (0x$blk & 0x4200) == 0x4200 )) || unblocked+=" ${st#/proc/}:$blk"
    done
  done < <(rank_pids "$dir/term")
  if [[ -n $rank1 ]]; then
    for ((i = 0; i < 2000; i++)); do kill -TERM "$rank1" 2>/dev/null || break; done
  fi
fi
wait_bounded "$bg" 120
if [[ $threads -ge 2 && -z $unblocked ]]; then
  pass "all $threads threads of the 2 ranks block SIGTERM and SIGUSR1"
else
  fail "threads that take stop signals asynchronously (of $threads):$unblocked"
fi
if [[ -n $rank1 && $rc -eq 3 ]] && grep -q 'stop requested (.*) on 1 rank(s)' "$dir/term.err" \
   && grep -q '^stopped: at step' "$dir/term.out" \
   && "$bin" verify "$dir/term/$(cat "$dir/term/latest" 2>/dev/null)" >/dev/null 2>&1; then
  pass "2000 x SIGTERM to rank 1 alone: all ranks stop together, exit 3, checkpoint verifies"
else
  fail "SIGTERM burst to one rank (pid '$rank1'): exit $rc"; show term 60
fi

# SIGKILL to rank 1 mid-run: the launcher (mpirun or Hydra's mpiexec) must
# end the whole job with a non-zero exit, quickly: rank 0 must not be left
# waiting in a collective.
"${mpi[@]}" -np 2 "$bin" train "${long[@]}" --run "$dir/kill" \
  >"$dir/kill.out" 2>"$dir/kill.err" &
bg=$!
victim=
if wait_file "$dir/kill/ckpt-00000020.h5" 60; then
  victim=$(rank_pids "$dir/kill" | awk '$2 == 1 {print $1}')
  [[ -n $victim ]] && kill -9 "$victim"
fi
t0=$SECONDS
wait_bounded "$bg" 60
took=$((SECONDS - t0))
if [[ -n $victim && $rc -ne 0 && $took -le 30 ]] && ! grep -q '^done:' "$dir/kill.out" \
   && "$bin" verify "$dir/kill/$(cat "$dir/kill/latest" 2>/dev/null)" >/dev/null 2>&1; then
  pass "rank 1 killed (SIGKILL): the job ends in ${took} s with exit $rc; the last checkpoint verifies"
else
  fail "killed rank 1 (pid '$victim'): exit $rc after ${took} s"; show kill
fi

# stall_case NAME NP STALL LIMIT PATTERN WHAT [ARGS...]: with --timeout 3 and
# --test-stall STALL (and ARGS), the job must end with exit 4 within LIMIT s
# and stderr must hold PATTERN (the watchdog's report).
stall_case() {
  local name=$1 np=$2 stall=$3 limit=$4 pattern=$5 what=$6 t0=$SECONDS
  shift 6
  timeout 120 "${mpi[@]}" -np "$np" "$bin" train "${common[@]}" --epochs 1 --no-ckpt --timeout 3 \
    --test-stall "$stall" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  rc=$? took=$((SECONDS - t0))
  if [[ $rc -eq 4 && $took -le $limit ]] && grep -q "$pattern" "$dir/$name.err"; then
    pass "watchdog: $what; exit 4 after ${took} s"
  else
    fail "watchdog, $what: exit $rc after ${took} s"; show "$name"
  fi
}
stall_case stall1 2 5:1:60 20 \
  '\[rank 0\] shardnet train: watchdog: step 5: the control all-reduce did not complete within 3 s; late rank(s), not arrived at step 5: 1 (host ' \
  "rank 1 stalled at step 5 is named by rank 0"
stall_case stall0 4 7:0:60 25 \
  'watchdog: step 7: the control all-reduce did not complete within 3 s; late rank(s), not arrived at step 7: 0 ' \
  "a stalled rank 0 is named by the others"
# A stall inside the gradient all-reduce (every rank passed the control
# all-reduce): the interval-timer watchdog reports it and the job ends.  In
# float mode, because there the conv gradients are summed after the control
# all-reduce; in exact mode they ride in it, and the rest is summed during
# backward, so a rank stalling after it may leave nothing to wait for.
stall_case stallg 2 5:1:60:grad 20 \
  '\[rank 0\] shardnet train: watchdog: step 5: the gradient all-reduce did not complete within 3 s; every rank passed' \
  "a stall in the gradient all-reduce is reported" --reduce float
timeout 120 "${mpi[@]}" -np 2 "$bin" train "${common[@]}" --epochs 1 --no-ckpt --timeout 6 \
  --test-stall 5:1:2 >"$dir/short.out" 2>"$dir/short.err"
rc=$?
[[ $rc -eq 0 && $(grep -c '^done: 50 steps' "$dir/short.out") -eq 1 ]] && ! grep -q watchdog: "$dir/short.err" \
  && pass "a 2 s stall under --timeout 6 is no failure" || { fail "short stall: exit $rc"; show short; }
timeout 120 "${mpi[@]}" -np 2 "$bin" train "${common[@]}" --epochs 1 --no-ckpt --timeout 0 \
  --test-stall 5:1:4 >"$dir/off.out" 2>"$dir/off.err"
rc=$?
[[ $rc -eq 0 ]] && grep -q '^done: 50 steps' "$dir/off.out" && grep -q 'watchdog: off' "$dir/off.out" \
  && pass "--timeout 0: no watchdog, a 4 s stall just waits" || { fail "--timeout 0: exit $rc"; show off; }

# Launch check: srun's environment without PMI (a singleton told it is 1 of 2).
SLURM_JOB_ID=1 SLURM_STEP_ID=0 SLURM_STEP_NUM_TASKS=2 SLURM_NTASKS=2 timeout 60 "$bin" train \
  "${common[@]}" --epochs 1 --no-ckpt >"$dir/srun.out" 2>"$dir/srun.err"
rc=$?
if [[ $rc -eq 2 ]] && grep -q 'launch mismatch: srun started 2 tasks (SLURM_STEP_NUM_TASKS=2) but this process is in an MPI world of 1 rank' "$dir/srun.err" \
   && grep -q 'srun --mpi=pmix' "$dir/srun.err" && ! grep -q '^done' "$dir/srun.out"; then
  pass "a singleton in a 2-task srun step refuses to train (exit 2)"
else
  fail "srun mismatch: exit $rc"; show srun
fi
# mpirun -np 2 in a 4-task allocation from inside a 1-task step: trusted.
SLURM_JOB_ID=1 SLURM_STEP_ID=0 SLURM_STEP_NUM_TASKS=1 SLURM_NTASKS=4 SLURM_RESTART_COUNT=2 \
  timeout 120 "${mpi[@]}" -np 2 "$bin" train "${common[@]}" --epochs 1 --no-ckpt \
  >"$dir/alloc.out" 2>"$dir/alloc.err"
rc=$?
if [[ $rc -eq 0 ]] && grep -q '^done: 50 steps' "$dir/alloc.out" \
   && grep -q 'slurm job 1, SLURM_RESTART_COUNT 2' "$dir/alloc.out"; then
  pass "mpirun -np 2 inside a 4-task allocation trains; job id and restart count printed"
else
  fail "mpirun in allocation: exit $rc"; show alloc
fi

"$bin" train --help >"$dir/help.out" 2>&1
grep -q '3 stopped by signal' "$dir/help.out" && grep -q -- '--timeout SECONDS' "$dir/help.out" \
  && pass "--help documents --timeout and the exit codes" || fail "--help text"

finish
