# lib.sh - what the shell tests share: counting checks, showing a run's
# output, the final parameter hash of a run.  Source it; runs write
# $dir/NAME.out and $dir/NAME.err.  The closing line is the plain
# "N passed, M failed" that CI reads; finish's status is the test's.
passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
# skip WHAT: a case this machine cannot run (said, counted, not a failure).
skip() { skipped=$((skipped + 1)); echo "skipped: $*"; }
is_root() { [[ $(id -u) -eq 0 ]]; }
# show NAME [LINES]: the tail of a run's output, without the config line.
show() { sed 's/^/    | /' "$dir/$1.out" "$dir/$1.err" | grep -v '^    |   config' | tail -"${2:-25}"; }
# final_hash NAME: the fingerprint (SHA-256 of the parameters) of `shardnet
# train`'s "done:" line.
final_hash() { sed -n 's/^done: .*final parameters sha256 \([0-9a-f]*\)$/\1/p' "$dir/$1.out"; }
# run_cmd NAME CMD...: CMD (10 minutes at most) -> $dir/NAME.{out,err}, $rc.
run_cmd() {
  local name=$1
  shift
  timeout 600 "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  rc=$?
}
# mpi_train NAME NP ARGS...: `shardnet train ARGS` on NP ranks ($bin) ->
# $dir/NAME.{out,err}, $rc.
mpi_train() {
  local name=$1 np=$2
  shift 2
  timeout 300 "${mpi[@]}" -np "$np" "$bin" train "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  rc=$?
}
# expect_ok NAME WHAT [PATTERN]: the last run exited 0 (and its stdout matches).
expect_ok() {
  if [[ $rc -eq 0 ]] && { [[ -z ${3:-} ]] || grep -q -- "$3" "$dir/$1.out"; }; then pass "$2"
  else fail "$2: exit $rc${3:+, or no /$3/}"; show "$1"; fi
}
# expect_fail NAME STATUS PATTERN WHAT: the last run exited STATUS, PATTERN on stderr.
expect_fail() {
  if [[ $rc -eq $2 ]] && grep -q -- "$3" "$dir/$1.err"; then pass "$4 (exit $rc: $(grep -m1 -- "$3" "$dir/$1.err" | cut -c1-150))"
  else fail "$4: exit $rc (want $2), no /$3/ in stderr"; show "$1"; fi
}
finish() {
  echo "$passed passed, $failed failed$([[ $skipped -eq 0 ]] || echo ", $skipped skipped")"
  [[ $failed -eq 0 ]]
}

# The MPI launcher this build runs under, as an array to prefix "-np N PROG":
#   Open MPI   mpirun --oversubscribe --mca mpi_yield_when_idle 1
#   MPICH      mpiexec -launcher fork (Hydra: local ranks, even when a test
#              fakes a Slurm environment; oversubscribing needs no flag)
# mpi_kind is openmpi or mpich.
if mpirun --version 2>&1 | grep -q 'Open MPI'; then
  mpi_kind=openmpi
  mpi=(mpirun --oversubscribe --mca mpi_yield_when_idle 1)
else
  mpi_kind=mpich
  mpi=(mpiexec -launcher fork)
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# rank_pids PATTERN: the pids of running shardnet ranks whose command line
# contains PATTERN, as "PID RANK" lines (rank from OMPI_COMM_WORLD_RANK or
# Hydra's PMI_RANK); under either launcher the ranks may be grandchildren.
rank_pids() {
  local p r
  for p in $(pgrep -x shardnet); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$1" || continue
    r=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | sed -n 's/^\(OMPI_COMM_WORLD_RANK\|PMI_RANK\)=//p' | head -1)
    [[ -n $r ]] && echo "$p $r"
  done
}
# need_openmpi WHAT: end a test that uses Open MPI's own launcher options
# (exit 77, meson's "skipped") under another MPI.
need_openmpi() {
  [[ $mpi_kind == openmpi ]] && return 0
  echo "skipped: $1 uses Open MPI's mpirun options; this build's launcher is MPICH's Hydra"
  exit 77
}
# A train without --run makes a new runs/<time> in the working directory:
# work in $dir (when the test has one) so that such runs land there (paths
# that meson gives relative to the build directory are made absolute first).
[[ -n ${bin:-} ]] && bin=$(realpath "$bin")
[[ -n ${dump:-} ]] && dump=$(realpath "$dump")
if [[ -n ${dir:-} ]]; then cd "$dir" || exit 1; fi
# stop_job PID PATTERN: SIGUSR1 for a job started in the background as PID.
# Open MPI's mpirun forwards it to every rank.  MPICH's Hydra forwards it
# too, but its own exit status then comes back 0 now and then although every
# rank exits 3, so there the ranks (found by PATTERN) get it directly.
stop_job() {
  if [[ $mpi_kind == openmpi ]]; then
    kill -USR1 "$1"
  else
    rank_pids "$2" | while read -r p _; do kill -USR1 "$p"; done
  fi
}
