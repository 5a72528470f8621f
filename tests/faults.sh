#!/usr/bin/env bash
# faults.sh - faults around checkpoints and output paths, on 1 and 2 ranks:
#   shm-full    /dev/shm of 200 KB (a private tmpfs, root): checkpoints are
#               built in memory by HDF5's core driver, so training and every
#               checkpoint succeed (HDF5 used to crash in its exit handler)
#   kill9       every rank SIGKILLed while rank 0 writes a checkpoint (slowed
#               by --test-ckpt-delay), in a PID namespace; the restart runs in
#               a fresh PID namespace, so it gets the same PIDs (as in
#               containers), next to leftovers with the old PID-named
#               temporary files: the stale files are removed, --resume auto
#               resumes and the final weights equal an uninterrupted run's
#   stuck step  a step whose computation never ends (--test-stall ...:compute):
#               reported and exit 4 after --timeout, also at P=1; a SIGTERM
#               that such a step keeps from being taken ends the run (exit 1)
#   aliases     --metrics naming the dataset through a symlink, or a
#               checkpoint through a symlinked directory: exit 2, inputs
#               unchanged
#   tests/faults.sh PATH/TO/shardnet
set -u
bin=${1:?usage: faults.sh PATH/TO/shardnet}
bin=$(realpath "$bin")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(mktemp -d /tmp/shardnet-faults.XXXXXX)
trap 'rm -rf "$dir"' EXIT
source "$here/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# Open MPI's shared-memory transport keeps its segments in /dev/shm too: put
# them elsewhere, so that the full /dev/shm tests shardnet, not Open MPI.
if [[ $mpi_kind == openmpi ]]; then
  mpirun=(mpirun --mca btl_vader_backing_directory /tmp --bind-to none --oversubscribe)
else
  mpirun=("${mpi[@]}")
fi
train=(train --data "$dir/d.h5" --epochs 2 --batch 64 --micro-batch 32 --no-eval --quiet)

/usr/bin/python3 "$here/malformed_gen.py" "$dir/gen" idx >/dev/null || { fail generator; finish; exit; }
"$bin" prepare --from "$dir/gen/good" --out "$dir/d.h5" >/dev/null || { fail prepare; finish; exit; }

# prepare onto a full disk: the errno text, nothing left behind.
if is_root; then
  mkdir -p "$dir/small"
  if mount -t tmpfs -o size=100k tmpfs "$dir/small"; then
    "$bin" prepare --from "$dir/gen/good" --out "$dir/small/d.h5" >"$dir/full.out" 2>"$dir/full.err"
    rc=$?
    if [[ $rc -eq 1 ]] && grep -q 'No space left on device' "$dir/full.err" && [[ -z $(ls -A "$dir/small") ]]; then
      pass "prepare on a full disk: 'No space left on device', nothing left"
    else
      fail "prepare on a full disk: exit $rc, left: $(ls -A "$dir/small")"; show full 5
    fi
    umount "$dir/small"
  else
    fail "cannot mount a tmpfs"
  fi
else
  skip "prepare on a full disk (needs root)"
fi

for P in 1 2; do
  "${mpirun[@]}" -np $P "$bin" "${train[@]}" --run "$dir/ref$P" >"$dir/ref$P.out" 2>"$dir/ref$P.err"
  ref=$(final_hash ref$P)
  [[ -n $ref ]] && pass "P=$P reference run: $ref" || { fail "P=$P reference run"; show ref$P; continue; }

  # ---- /dev/shm full ----
  if ! is_root; then
    skip "P=$P /dev/shm full (needs root for the tmpfs)"
  elif [[ $mpi_kind != openmpi ]]; then
    # MPICH's shared-memory transport needs /dev/shm itself (and, unlike
    # Open MPI's, cannot be pointed elsewhere here): the case would test MPICH.
    skip "P=$P /dev/shm full (MPICH needs /dev/shm for its own shared memory)"
  else
    unshare -m bash -c "mount -t tmpfs -o size=200k tmpfs /dev/shm && dd if=/dev/zero of=/dev/shm/fill bs=1k count=200 2>/dev/null;
      exec ${mpirun[*]} -np $P $bin ${train[*]} --run $dir/shm$P --ckpt-every 4" \
      >"$dir/shm$P.out" 2>"$dir/shm$P.err"
    rc=$?
    ok=1
    for f in "$dir/shm$P"/ckpt-*.h5; do "$bin" verify "$f" >/dev/null || ok=0; done
    if [[ $rc -eq 0 && $ok -eq 1 && $(final_hash shm$P) == "$ref" && -f $dir/shm$P/ckpt-00000016.h5 ]]; then
      pass "P=$P /dev/shm full: exit 0, every checkpoint verifies, same weights"
    else
      fail "P=$P /dev/shm full: exit $rc"; show shm$P 10
    fi
  fi

  # ---- kill -9 mid-checkpoint, restart with the same PIDs ----
  if ! is_root; then
    skip "P=$P kill -9 in a PID namespace (needs root)"
  else
    ck=$dir/kill$P
    mkdir -p "$ck"
    # leftovers of an older shardnet killed with these PIDs (the old names)
    for pid in $(seq 1 64); do echo partial >"$ck/.ckpt-00000008.h5.tmp.$pid"; echo x >"$ck/.latest.tmp.$pid"; done
    unshare -pf --mount-proc "${mpirun[@]}" -np $P "$bin" "${train[@]}" --run "$ck" --ckpt-every 4 \
      --resume auto --test-ckpt-delay 20 >"$dir/kill$P.out" 2>"$dir/kill$P.err" &
    job=$!
    for _ in $(seq 1 600); do
      compgen -G "$ck/.ckpt-*.h5.tmp.??????" >/dev/null && break
      sleep 0.05
    done
    sleep 0.3
    pids=$(pgrep -f -- "--run $ck --ckpt-every") || true
    [[ -n $pids ]] && kill -9 $pids
    wait $job
    left=$(compgen -G "$ck/.ckpt-*.h5.tmp.??????" | wc -l)
    ls "$ck"/ckpt-*.h5 >/dev/null 2>&1 && last=$(ls "$ck"/ckpt-*.h5 | tail -1) || last=
    if [[ $left -ge 1 ]] && { [[ -z $last ]] || "$bin" verify "$last" >/dev/null; }; then
      pass "P=$P kill -9 during a checkpoint write: $left temporary file(s) left, no bad checkpoint"
    else
      fail "P=$P kill -9: $left temporary files, last '$last'"
    fi
    unshare -pf --mount-proc "${mpirun[@]}" -np $P "$bin" "${train[@]}" --run "$ck" --ckpt-every 4 \
      --resume auto >"$dir/again$P.out" 2>"$dir/again$P.err"
    rc=$?
    stale=$(ls -A "$ck" | grep -c '\.tmp\.')
    if [[ $rc -eq 0 && $(final_hash again$P) == "$ref" && $stale -eq 0 ]] &&
       grep -q 'removed a stale temporary file' "$dir/again$P.err"; then
      pass "P=$P restart with the same PIDs: stale files removed, resumed, same weights"
    else
      fail "P=$P restart: exit $rc, $stale temporary files, hash $(final_hash again$P) want $ref"; show again$P 10
    fi
  fi

  # ---- a step that never finishes computing ----
  start=$SECONDS
  "${mpirun[@]}" -np $P "$bin" "${train[@]}" --no-ckpt --timeout 3 --test-stall 2:0:120:compute \
    >"$dir/stuck$P.out" 2>"$dir/stuck$P.err"
  rc=$? took=$((SECONDS - start))
  if [[ $rc -eq 4 && $took -lt 60 ]] && grep -q 'step 2 has been computing for' "$dir/stuck$P.err"; then
    pass "P=$P stuck step: reported, exit 4 after ${took} s"
  else
    fail "P=$P stuck step: exit $rc after $took s"; show stuck$P 5
  fi
  if [[ $P -eq 1 ]]; then
    "$bin" "${train[@]}" --no-ckpt --test-stall 2:0:120:compute >"$dir/term.out" 2>"$dir/term.err" &
    job=$! start=$SECONDS
    for _ in $(seq 1 100); do grep -q 'stalling' "$dir/term.err" && break; sleep 0.1; done
    kill -TERM $job
    wait $job
    rc=$? took=$((SECONDS - start))
    if [[ $rc -eq 1 && $took -lt 60 ]] && grep -q 'a stop signal arrived but step 2' "$dir/term.err"; then
      pass "P=1 SIGTERM during a stuck step: exit 1 after ${took} s"
    else
      fail "P=1 SIGTERM during a stuck step: exit $rc after $took s"; show term 5
    fi
  fi

  # ---- path aliases ----
  ln -sfn "$dir/d.h5" "$dir/data-link$P.h5"
  ln -sfn "$dir/ref$P" "$dir/ck-link$P"
  before=$(sha256sum "$dir/d.h5" "$dir/ref$P/ckpt-00000016.h5" | cut -c1-64)
  "${mpirun[@]}" -np $P "$bin" "${train[@]}" --run "$dir/data-link$P.h5" \
    >"$dir/a$P.out" 2>"$dir/a$P.err"
  rc1=$?
  "${mpirun[@]}" -np $P "$bin" "${train[@]}" --run "$dir/ref$P" --resume auto --scaling-report "$dir/ck-link$P/ckpt-00000016" \
    >"$dir/b$P.out" 2>"$dir/b$P.err"
  rc2=$?
  after=$(sha256sum "$dir/d.h5" "$dir/ref$P/ckpt-00000016.h5" | cut -c1-64)
  if [[ $rc1 -eq 2 && $rc2 -eq 2 && $before == "$after" ]] && grep -q 'same file as --data' "$dir/a$P.err" &&
     grep -q 'under a checkpoint' "$dir/b$P.err"; then
    pass "P=$P path aliases: refused (exit 2), dataset and checkpoint unchanged"
  else
    fail "P=$P path aliases: exits $rc1 $rc2"; show a$P 5; show b$P 5
  fi
done
finish
