#!/usr/bin/env bash
# multihost.sh - shardnet across simulated hosts (needs root).
#
# Each host is a network namespace of scripts/netns.sh (its own hostname, one
# veth into a bridge), on 10.213.77.0/24, which exists only inside them;
# mpirun runs in the head namespace and reaches the hosts through an ssh
# replacement.  The MPI settings are the ones README.md
# documents (TCP between hosts, oob keepalive 5/2/3 for fast failure).
#   - 2 hosts x 1 rank, 2 hosts x 2 ranks, 3 hosts x 1 rank: the SAME final
#     weights as a plain single-host mpirun with the same B and m; rank 0's
#     start-up line names the hosts and ranks per host;
#   - a rank SIGKILLed mid-run: the job ends non-zero within seconds, no
#     shardnet process is left in any namespace, the last checkpoint
#     verifies, and --resume auto finishes with the uninterrupted weights;
#   - a host's link cut (its veth down): the job ends non-zero within a bound
#     (watchdog --timeout 5 + keepalive), the checkpoint survives.
# Namespaces and every process in them are removed on any exit (trap).
#   multihost.sh PATH/TO/shardnet
set -uo pipefail
bin=$(realpath "${1:?usage: multihost.sh PATH/TO/shardnet}")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS SLURM_JOB_ID SLURM_STEP_ID SLURM_STEP_NUM_TASKS SLURM_NTASKS
# Not root: skipped (exit 77, meson's SKIP), saying why; CI runs as root.
if [[ $(id -u) -ne 0 ]]; then echo "skipped: multihost.sh needs root (network namespaces)"; exit 77; fi

subnet=10.213.77.0/24 net=10.213.77
pre=sn$$-           # namespace names: sn<pid>-br, -hd, -h1, -h2, -h3
dir=$(mktemp -d)
bg=
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/netns.sh"
teardown() {
  [[ -n $bg ]] && kill -9 "$bg" 2>/dev/null
  netns_teardown
  rm -rf "$dir"
}
trap teardown EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_openmpi "multihost.sh (plm_rsh_agent, oob_tcp_* across namespaces)"

if ! netns_setup; then echo "cannot build the namespaces"; echo "0 passed, 1 failed"; exit 1; fi
if ! ip -o addr | grep -q "$net\." && ip -n "${pre}h3" -o addr | grep -q "$net\.14/24"; then
  pass "namespaces up; $subnet exists only inside them"
else
  fail "namespace addresses: $(ip -o addr | grep "$net\.")"
fi

netns_rsh "$dir/rsh"
mpiflags=(--mca plm_rsh_agent "$dir/rsh" --mca plm_rsh_no_tree_spawn 1
  --mca btl tcp,vader,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet"
  --mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3
  --bind-to none --mca mpi_yield_when_idle 1)
# On the head, with its own hostname: mpirun HOSTS NP ARGS... (killed after 300 s)
head_mpirun() {
  local hostlist=$1 np=$2
  shift 2
  netns_head timeout -s KILL 300 mpirun "${mpiflags[@]}" --host "$hostlist" -np "$np" "$bin" train "$@"
}

"$bin" prepare --out "$dir/fm.h5" >/dev/null 2>&1 || { echo "prepare failed"; echo "$passed passed, 1 failed"; exit 1; }
# 3168 samples, B=96, m=8: 33 steps an epoch; 12 micro-batches share over 1, 2, 3, 4 ranks.
short=(--data "$dir/fm.h5" --limit 3168 --batch 96 --micro-batch 8 --epochs 2 --no-eval --quiet --no-ckpt)
timeout 300 mpirun -np 2 --oversubscribe --mca mpi_yield_when_idle 1 "$bin" train "${short[@]}" \
  >"$dir/single.out" 2>"$dir/single.err"
rc=$? ref=$(final_hash single)
[[ $rc -eq 0 && -n $ref ]] && pass "single-host mpirun -np 2: $ref" || { fail "single-host run: exit $rc"; show single; }

multi() { # NAME HOSTS NP EXPECTED-HOST-LINE
  head_mpirun "$2" "$3" "${short[@]}" >"$dir/$1.out" 2>"$dir/$1.err"
  rc=$?
  local h
  h=$(final_hash "$1")
  if [[ $rc -eq 0 && -n $h && $h == "$ref" ]] && grep -qF "train: $4" "$dir/$1.out"; then
    pass "$1: '$4', same weights $h"
  else
    fail "$1: exit $rc, hash '$h' vs $ref"; show "$1"
  fi
}
multi 2hosts h1,h2 2 "2 ranks on 2 hosts: h1 (1 rank), h2 (1 rank)"
multi 2x2 h1:2,h2:2 4 "4 ranks on 2 hosts: h1 (2 ranks), h2 (2 ranks)"
multi 3hosts h1,h2,h3 3 "3 ranks on 3 hosts: h1 (1 rank), h2 (1 rank), h3 (1 rank)"

# Long runs for the failures: 8 epochs = 264 steps, a checkpoint every 10.
long=(--data "$dir/fm.h5" --limit 3168 --batch 96 --micro-batch 8 --epochs 8 --no-eval --quiet
  --ckpt-every 10 --keep 0)
timeout 300 mpirun -np 2 --oversubscribe --mca mpi_yield_when_idle 1 "$bin" train "${long[@]}" \
  --no-ckpt >"$dir/longref.out" 2>"$dir/longref.err"
longref=$(final_hash longref)
[[ -n $longref ]] && pass "uninterrupted long run: $longref" || { fail "long reference"; show longref; }

wait_file() { local i; for ((i = 0; i < $2 * 10; i++)); do [[ -e $1 ]] && return 0; sleep 0.1; done; return 1; }
# shardnet processes in namespace NS (pids by the namespace, checked by comm)
ns_ranks() { local p; for p in $(ip netns pids "$pre$1" 2>/dev/null); do
  [[ $(cat "/proc/$p/comm" 2>/dev/null) == shardnet ]] && echo "$p"; done; }
# wait_job PID SECONDS: sets rc, and took (seconds, 0.1 s resolution) since $t0
wait_job() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  kill -0 "$1" 2>/dev/null && { echo "    (job still running after $2 s: killing it)"; kill -9 "$1"; }
  wait "$1"; rc=$?
  bg=
}
leftover() { local h n=0; for h in h1 h2 h3; do n=$((n + $(ns_ranks "$h" | wc -l))); done; echo "$n"; }

# A rank SIGKILLed mid-run (rank 1, on h2).
head_mpirun h1,h2 2 "${long[@]}" --run "$dir/kill" >"$dir/kill.out" 2>"$dir/kill.err" &
bg=$!
victim=
if wait_file "$dir/kill/ckpt-00000030.h5" 120; then
  victim=$(ns_ranks h2 | head -1)
  t0=$(date +%s.%N)
  [[ -n $victim ]] && kill -9 "$victim"
fi
wait_job "$bg" 60
sleep 1
left=$(leftover)
if [[ -n $victim && $rc -ne 0 && $left -eq 0 ]] && awk -v t="$took" 'BEGIN { exit !(t <= 15) }'; then
  pass "rank on h2 SIGKILLed: the job ended with exit $rc after $took s, no rank left"
else
  fail "killed rank: victim '$victim', exit $rc after ${took:-?} s, $left shardnet process(es) left"; show kill
fi
latest=$(cat "$dir/kill/latest" 2>/dev/null)
if [[ -n $latest ]] && "$bin" verify "$dir/kill/$latest" >"$dir/kverify.out" 2>&1; then
  pass "the last checkpoint $latest verifies"
else
  fail "last checkpoint '$latest' after the kill"; cat "$dir/kverify.out" 2>/dev/null
fi
head_mpirun h1,h2 2 "${long[@]}" --run "$dir/kill" --resume auto \
  >"$dir/kresume.out" 2>"$dir/kresume.err"
rc=$?
if [[ $rc -eq 0 && $(final_hash kresume) == "$longref" ]] && grep -q '^resume: ' "$dir/kresume.out"; then
  pass "resumed across 2 hosts: $(grep -o 'at step [0-9]*' "$dir/kresume.out" | head -1), uninterrupted weights"
else
  fail "resume after the kill: exit $rc, $(final_hash kresume) vs $longref"; show kresume
fi

# h2's link cut.  cut NAME TIMEOUT: run on h1,h2, cut h2's veth after the
# step-30 checkpoint; sets rc and took.
cut() {
  head_mpirun h1,h2 2 "${long[@]}" --run "$dir/$1" --timeout "$2" >"$dir/$1.out" 2>"$dir/$1.err" &
  bg=$!
  local down=0
  if wait_file "$dir/$1/ckpt-00000030.h5" 120; then
    t0=$(date +%s.%N)
    ip -n "${pre}h2" link set eth0 down && down=1
  fi
  wait_job "$bg" 120
  ip -n "${pre}h2" link set eth0 up
  [[ $down -eq 1 ]] || rc=0
  local latest
  latest=$(cat "$dir/$1/latest" 2>/dev/null)
  if [[ -n $latest ]] && "$bin" verify "$dir/$1/$latest" >"$dir/$1.verify" 2>&1; then
    pass "$1: the checkpoint $latest survives the cut and verifies"
  else
    fail "$1: checkpoint after the cut '$latest'"; cat "$dir/$1.verify" 2>/dev/null
  fi
}
# (1) --timeout 20, above the keepalive's detection (5 + 2 x 3 = 11 s):
# mpirun finds the daemon on h2 lost and ends the job.
cut cut-keepalive 20
if [[ $rc -ne 0 ]] && awk -v t="$took" 'BEGIN { exit !(t <= 30) }' \
   && grep -q 'ORTE has lost communication with a remote daemon' "$dir/cut-keepalive.err"; then
  pass "h2's link cut, --timeout 20: the keepalive ended the job (exit $rc) after $took s"
else
  fail "link cut with --timeout 20: exit $rc after ${took:-?} s"; show cut-keepalive
fi
# (2) --timeout 5, below the keepalive: the watchdog fires first, naming the
# late rank (or, when h2 arrived just before the cut, saying the network
# stalled), and MPI_Abort must reach h2's daemon over a dead link: that
# waits on TCP retransmission (net.ipv4.tcp_retries2, default 15: many
# minutes), so these namespaces give up after 3 retries (trainer/dist.h).
for h in hd h1 h2; do ip netns exec "$pre$h" sysctl -qw net.ipv4.tcp_retries2=3; done
cut cut-watchdog 5
if [[ $rc -ne 0 ]] && awk -v t="$took" 'BEGIN { exit !(t <= 30) }' \
   && grep -q 'watchdog: step [0-9]*: the control all-reduce did not complete within 5 s; late rank(s), not arrived at step [0-9]*: 1 (host h2)\|watchdog: step [0-9]*: the gradient all-reduce did not complete within 5 s; every rank passed\|watchdog: step [0-9]*: the control all-reduce did not complete within 5 s; every rank arrived at it, so the network stalled' "$dir/cut-watchdog.err"; then
  pass "h2's link cut, --timeout 5: $(grep -o 'watchdog: step [0-9]*: the [a-z]* all-reduce' "$dir/cut-watchdog.err" | head -1) ..., exit $rc after $took s"
else
  fail "link cut with --timeout 5: exit $rc after ${took:-?} s"; show cut-watchdog
fi
echo "    (shardnet processes left in the namespaces after the cuts: $(leftover); teardown kills them)"

finish
