#!/usr/bin/env bash
# slurm.sh - scripts/slurm/train.sbatch on a REAL one-node Slurm (needs root,
# Debian's slurmctld, slurmd, munge).  The test starts munged, slurmctld and
# slurmd with everything (config, state, spool, logs, pid files, the munge
# socket) under one short temporary directory, on ports of its own on
# 127.0.0.1, and stops them by their pid files on any exit.
#   (a) the batch script trains 2 ranks (mpirun inside the allocation) to
#       COMPLETED: checkpoint and metrics present, the weights of a plain
#       mpirun run; the same through LAUNCH=srun (srun --mpi=pmix);
#   (b) preemption: SIGUSR1 to the batch shell mid-run (scancel --signal=USR1
#       --batch): the script forwards it, shardnet checkpoints and exits 3,
#       the script requeues, the requeued job resumes (SLURM_RESTART_COUNT 1)
#       and ends COMPLETED with the uninterrupted weights, all in the job's
#       default run directory runs/slurm-<job id>;
#   (d) the same script submitted twice: two jobs, two run directories, the
#       second starts fresh (never resumes the first job's checkpoints) and
#       each run's metrics hold its own single start; a job array of 2
#       tasks gets runs/slurm-<array job>_1 and _2;
#   (c) srun without PMI (2 singletons): each refuses with the launch message.
#   slurm.sh PATH/TO/shardnet
set -uo pipefail
bin=$(realpath "${1:?usage: slurm.sh PATH/TO/shardnet}")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sbatch_script=$here/scripts/slurm/train.sbatch
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS SLURM_JOB_ID SLURM_STEP_ID SLURM_STEP_NUM_TASKS SLURM_NTASKS
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
for tool in slurmctld slurmd munged mungekey sbatch scontrol; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/test.sh (installs the test packages)"; echo "0 passed, 1 failed"; exit 1; }
done
# Not root: skipped (exit 77, meson's SKIP), saying why; CI runs as root.
[[ $(id -u) -eq 0 ]] || { echo "skipped: slurm.sh needs root (it starts munged, slurmctld, slurmd)"; exit 77; }

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_openmpi "slurm.sh (srun --mpi=pmix: Debian's Slurm and Open MPI use PMIx)"
d=$(mktemp -d /tmp/sns.XXXX)   # short: the munge socket path must stay < 108 bytes
stop_daemons() {
  local f
  for f in slurmd slurmctld munged; do
    [[ -s $d/$f.pid ]] && kill "$(cat "$d/$f.pid")" 2>/dev/null
  done
  sleep 1
  for f in slurmd slurmctld munged; do
    [[ -s $d/$f.pid ]] && kill -9 "$(cat "$d/$f.pid")" 2>/dev/null
  done
}
cleanup() {
  # Jobs first (their processes die with slurmd's steps), then the daemons.
  [[ -n ${SLURM_CONF:-} ]] && scancel --full --quiet --user=root 2>/dev/null && sleep 1
  stop_daemons
  rm -rf "$d"
}
trap cleanup EXIT
show() { sed 's/^/    | /' "$1" | grep -v '^    |   config' | tail -"${2:-25}"; }
daemon_logs() { tail -n 8 "$d/slurmctld.log" "$d/slurmd.log" 2>&1 | sed 's/^/    # /'; }

mkdir -p "$d/state" "$d/spool" "$d/work"
mungekey -c -k "$d/munge.key" >/dev/null 2>&1 || mungekey --create --keyfile="$d/munge.key"
munged --force --socket="$d/munge.sock" --key-file="$d/munge.key" --pid-file="$d/munged.pid" \
  --log-file="$d/munged.log" --seed-file="$d/munge.seed" \
  || { echo "munged did not start"; echo "0 passed, 1 failed"; exit 1; }
node=$(hostname -s)
read -r cpus mem < <(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*RealMemory=\([0-9]*\).*/\1 \2/p')
port=$((20000 + $$ % 20000))
cat >"$d/slurm.conf" <<CONF
ClusterName=sntest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge.sock
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
EnforcePartLimits=ALL
ReturnToService=2
JobRequeue=1
SchedulerType=sched/builtin
MinJobAge=600
SchedulerParameters=sched_interval=1
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$d/slurm.conf
slurmctld -f "$SLURM_CONF" && slurmd -f "$SLURM_CONF" \
  || { daemon_logs; echo "0 passed, 1 failed"; exit 1; }
up=0
for _ in $(seq 50); do
  sinfo -h -N -o '%T' 2>/dev/null | grep -q '^idle' && { up=1; break; }
  sleep 0.2
done
[[ $up -eq 1 ]] && pass "slurmctld, slurmd and munged up; node $node idle" \
  || { fail "node not idle: $(sinfo -h -N 2>&1)"; daemon_logs; echo "$passed passed, $failed failed"; exit 1; }

job_field() { scontrol show job "$1" 2>/dev/null | grep -o "$2=[^ ]*" | head -1 | cut -d= -f2; }
final_hash() { sed -n 's/^done: .*final parameters sha256 \([0-9a-f]*\)$/\1/p' "$1" | tail -1; }

"$bin" prepare --out "$d/fm.h5" >/dev/null 2>&1 || { fail "prepare"; echo "$passed passed, $failed failed"; exit 1; }
# Runs without --run (the references) make runs/<time> here.
cd "$d/work" || exit 1
short=(--limit 3200 --batch 64 --micro-batch 16 --epochs 2 --no-eval --quiet)
long=(--limit 3200 --batch 64 --micro-batch 16 --epochs 16 --no-eval --quiet --ckpt-every 20 --keep 0)
mpirun -np 2 "$bin" train --data "$d/fm.h5" "${short[@]}" --no-ckpt >"$d/ref.out" 2>&1
ref=$(final_hash "$d/ref.out")
mpirun -np 2 "$bin" train --data "$d/fm.h5" "${long[@]}" --no-ckpt >"$d/longref.out" 2>&1
longref=$(final_hash "$d/longref.out")
[[ -n $ref && -n $longref ]] && pass "plain mpirun references: $ref, $longref" || fail "reference runs"

export SHARDNET=$bin SHARDNET_DATA=$d/fm.h5
# (a) mpirun inside the allocation, and srun --mpi=pmix.
for launch in mpirun srun; do
  out=$d/a-$launch.out
  id=$(RUN_DIR=$d/ck-$launch LAUNCH=$launch timeout 300 sbatch --parsable --wait --ntasks=2 \
       --ntasks-per-node=2 --time=10 --chdir="$d/work" --output="$out" "$sbatch_script" "${short[@]}")
  rc=$?
  id=${id%%;*}
  state=$(job_field "$id" JobState)
  latest=$(cat "$d/ck-$launch/latest" 2>/dev/null)
  if [[ $rc -eq 0 && $state == COMPLETED && $(final_hash "$out") == "$ref" ]] \
     && grep -q '2 ranks on 1 host' "$out" && grep -q "slurm job $id, SLURM_RESTART_COUNT" "$out" \
     && [[ -n $latest ]] && "$bin" verify "$d/ck-$launch/$latest" >/dev/null 2>&1 \
     && [[ $(grep -c '"type": *"step"\|"type":"step"' "$d/ck-$launch/metrics.jsonl") -ge 1 ]]; then
    pass "(a) LAUNCH=$launch: job $id COMPLETED, $latest verifies, metrics written, weights $ref"
  else
    fail "(a) LAUNCH=$launch: sbatch exit $rc, state '$state', latest '$latest', hash $(final_hash "$out") vs $ref"
    show "$out"; ls "$d/ck-$launch" 2>&1 | sed 's/^/    ls: /'; daemon_logs
  fi
done

# (b) preemption: SIGUSR1 to the batch shell once step 40 is checkpointed.
out=$d/b.out
id=$(sbatch --parsable --ntasks=2 --ntasks-per-node=2 --time=10 \
     --chdir="$d/work" --output="$out" "$sbatch_script" "${long[@]}")
id=${id%%;*}
rb=$d/work/runs/slurm-$id
for _ in $(seq 600); do [[ -e $rb/ckpt-00000040.h5 ]] && break; sleep 0.1; done
sent=0
[[ -e $rb/ckpt-00000040.h5 ]] && scancel --signal=USR1 --batch "$id" && sent=1
state= restarts=
# Slurm keeps a requeued job ineligible for 120 s (slurmd refuses the job id
# while the first run's credential is revoked): the wait is part of the test.
for _ in $(seq 2400); do
  state=$(job_field "$id" JobState) restarts=$(job_field "$id" Restarts)
  [[ $state == COMPLETED || $state == FAILED || $state == CANCELLED || $state == TIMEOUT ]] && break
  sleep 0.1
done
stopped=$(sed -n 's/^stopped: at step \([0-9]*\) of .*exit 3.*/\1/p' "$out" | head -1)
if [[ $sent -eq 1 && $state == COMPLETED && $restarts == 1 && -n $stopped ]] \
   && grep -q 'USR1 received, forwarding to the job step' "$out" \
   && grep -q "requeueing job $id" "$out" \
   && grep -q "slurm job $id, SLURM_RESTART_COUNT 1" "$out" \
   && grep -q "resume: runs/slurm-$id/ckpt-$(printf %08d "$stopped").h5 at step $stopped " "$out" \
   && [[ $(final_hash "$out") == "$longref" ]]; then
  pass "(b) preempted at step $stopped: checkpoint, requeue, resume (SLURM_RESTART_COUNT 1), COMPLETED with the uninterrupted weights"
else
  fail "(b) preemption: signal sent $sent, state '$state', restarts '$restarts', stopped at '$stopped', hash $(final_hash "$out") vs $longref"
  show "$out" 40; daemon_logs
fi

# (d) the same script submitted twice, one after the other.
ids=()
for k in 1 2; do
  id=$(timeout 300 sbatch --parsable --wait --ntasks=2 --ntasks-per-node=2 --time=10 --chdir="$d/work" \
       --output="$d/d$k.out" "$sbatch_script" "${short[@]}")
  ids+=("${id%%;*}")
done
ok=1
for k in 1 2; do
  id=${ids[$((k - 1))]} r=$d/work/runs/slurm-${ids[$((k - 1))]}
  [[ $(job_field "$id" JobState) == COMPLETED && $(final_hash "$d/d$k.out") == "$ref" ]] || ok=0
  grep -q "resume: no checkpoint in runs/slurm-$id, starting from scratch" "$d/d$k.out" || ok=0
  [[ $(grep -c '"type":"start"' "$r/metrics.jsonl" 2>/dev/null) -eq 1 && $(grep -c '"type":"resume"' "$r/metrics.jsonl") -eq 0 ]] || ok=0
  [[ -n $(cat "$r/latest" 2>/dev/null) ]] || ok=0
done
if [[ $ok -eq 1 && ${ids[0]} != "${ids[1]}" ]]; then
  pass "(d) one script submitted twice: jobs ${ids[*]} train in runs/slurm-${ids[0]} and runs/slurm-${ids[1]}, each from scratch"
else
  fail "(d) resubmission: jobs ${ids[*]}"; show "$d/d1.out"; show "$d/d2.out"; ls -R "$d/work/runs" | head -30
fi

# (e) an array of two tasks: a run directory each.
aid=$(timeout 300 sbatch --parsable --wait --array=1-2 --ntasks=1 --time=10 --chdir="$d/work" \
      --output="$d/e-%a.out" "$sbatch_script" "${short[@]}")
aid=${aid%%;*}
ok=1
for k in 1 2; do
  r=$d/work/runs/slurm-${aid}_$k
  [[ $(final_hash "$d/e-$k.out") == "$ref" && $(grep -c '"type":"start"' "$r/metrics.jsonl" 2>/dev/null) -eq 1 ]] || ok=0
  grep -q '"world_size": 1' "$r/config.json" 2>/dev/null || ok=0
done
if [[ $ok -eq 1 ]]; then
  pass "(e) job array $aid: tasks 1 and 2 train in runs/slurm-${aid}_1 and runs/slurm-${aid}_2"
else
  fail "(e) job array $aid"; show "$d/e-1.out"; show "$d/e-2.out"; ls -R "$d/work/runs" | head -30
fi

# (c) srun without PMI: 2 singletons, each refuses.  Debian's Open MPI
# itself already refuses a direct srun launch without PMI inside MPI_Init
# (it recognises the srun environment); an MPI that does not becomes 2
# singletons - shardnet's case.  Simulated by handing each task only srun's
# task counts (SLURM_JOB_ID, SLURM_STEP_ID, SLURM_STEP_NUM_TASKS, real values
# from this srun) and a clean environment otherwise.
out=$d/c.out
cat >"$d/singleton.sh" <<SH
#!/bin/sh
exec env -i PATH="\$PATH" SLURM_JOB_ID="\$SLURM_JOB_ID" SLURM_STEP_ID="\$SLURM_STEP_ID" \
  SLURM_STEP_NUM_TASKS="\$SLURM_STEP_NUM_TASKS" SLURM_NTASKS="\$SLURM_NTASKS" \
  "$bin" train --data "$d/fm.h5" ${short[*]} --no-ckpt
SH
chmod +x "$d/singleton.sh"
id=$(timeout 120 sbatch --parsable --wait --ntasks=2 --ntasks-per-node=2 --time=5 --chdir="$d/work" \
     --output="$out" --wrap "srun --mpi=none $d/singleton.sh")
rc=$?
id=${id%%;*}
state=$(job_field "$id" JobState)
n=$(grep -c 'launch mismatch: srun started 2 tasks (SLURM_STEP_NUM_TASKS=2) but this process is in an MPI world of 1 rank' "$out")
if [[ $rc -ne 0 && $state == FAILED && $n -eq 2 ]] && grep -q 'srun --mpi=pmix' "$out" && ! grep -q '^done' "$out"; then
  pass "(c) srun --mpi=none: both singletons refuse to train (job FAILED, exit $rc)"
else
  fail "(c) mismatched launch: sbatch exit $rc, state '$state', $n messages"; show "$out"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
