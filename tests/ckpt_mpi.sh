#!/usr/bin/env bash
# ckpt_mpi.sh - checkpoints for real: real files, real mpirun.
#   - runs at P = 1, 2, 4 checkpoint every 20 steps and end with the same
#     weights; a run resumed from a mid-run checkpoint at another P
#     (1 -> 2, 2 -> 4, 4 -> 1) ends with the SAME weights; --resume auto too;
#   - changing B, m or arch on resume is refused with a clear message;
#   - a truncated file, a flipped byte in a parameter, a file that is not
#     HDF5: refused by `shardnet verify` and by --resume, naming the problem;
#     --resume auto falls back past a corrupt newest checkpoint;
#   - the writer killed with SIGKILL mid-write: the previous checkpoint
#     verifies, the temporary file is never taken, and a resume finishes with
#     the uninterrupted run's weights;
#   - a full disk (a small tmpfs mounted here): clear error, the previous
#     checkpoint intact, no temporary file; --on-ckpt-error stop|warn;
#   - `shardnet eval` of a checkpoint: the same figures at P = 1 and 2.
#   ckpt_mpi.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: ckpt_mpi.sh PATH/TO/shardnet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS
dir=$(mktemp -d)
cleanup() {
  mountpoint -q "$dir/full" 2>/dev/null && umount "$dir/full"
  [[ -n ${bg:-} ]] && kill -9 "$bg" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

common=(--data "$dir/fm.h5" --limit 3200 --batch 64 --micro-batch 16 --epochs 3 --no-eval --quiet)
# run NAME NP ARGS...  (NP 0: no mpirun, a singleton)
run() {
  local name=$1 np=$2
  shift 2
  if [[ $np -eq 0 ]]; then
    timeout 300 "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  else
    timeout 300 "${mpi[@]}" -np "$np" "$bin" "$@" \
      >"$dir/$name.out" 2>"$dir/$name.err"
  fi
  rc=$?
}
expect_hash() { # NAME WHAT
  local h
  h=$(final_hash "$1")
  if [[ $rc -eq 0 && -n $h && $h == "$ref" ]]; then pass "$2 ($h)"; else fail "$2: exit $rc, hash '$h' vs $ref"; show "$1"; fi
}
expect_error() { # NAME PATTERN WHAT
  if [[ $rc -ne 0 ]] && grep -q -- "$2" "$dir/$1.err" "$dir/$1.out"; then pass "$3"
  else fail "$3: exit $rc, no /$2/"; show "$1"; fi
}

"$bin" prepare --out "$dir/fm.h5" >/dev/null 2>&1 || { echo "prepare failed"; echo "0 passed, 1 failed"; exit 1; }

# Uninterrupted runs at P = 1, 2, 4 (150 steps), checkpoints every 20 steps.
run full-1 1 train "${common[@]}" --run "$dir/c1" --ckpt-every 20 --keep 0
ref=$(final_hash full-1)
[[ $rc -eq 0 && -n $ref ]] && pass "uninterrupted P=1 run: $ref" || { fail "P=1 run: exit $rc"; show full-1; }
run full-2 2 train "${common[@]}" --run "$dir/c2" --ckpt-every 20 --keep 0
expect_hash full-2 "uninterrupted P=2 run, same weights"
run full-4 4 train "${common[@]}" --run "$dir/c4" --ckpt-every 20 --keep 0
expect_hash full-4 "uninterrupted P=4 run, same weights"
ls "$dir/c1" | grep -q '^ckpt-00000150.h5$' && [[ $(cat "$dir/c1/latest") == ckpt-00000150.h5 ]] \
  && pass "checkpoint at the end, latest points to it" || fail "final checkpoint / latest: $(ls "$dir/c1")"

# Resume at another P.
run r12 2 train "${common[@]}" --run "$dir/r12" --resume "$dir/c1/ckpt-00000040.h5"
expect_hash r12 "written at P=1 step 40, resumed at P=2"
run r24 4 train "${common[@]}" --run "$dir/r24" --resume "$dir/c2/ckpt-00000060.h5"
expect_hash r24 "written at P=2 step 60, resumed at P=4"
run r41 1 train "${common[@]}" --run "$dir/r41" --resume "$dir/c4/ckpt-00000100.h5"
expect_hash r41 "written at P=4 step 100, resumed at P=1"
run auto-a 2 train "${common[@]}" --epochs 2 --run "$dir/auto"
run auto-b 2 train "${common[@]}" --run "$dir/auto" --resume auto --change-schedule
grep -q 'resume: .*ckpt-00000100.h5 at step 100' "$dir/auto-b.out" && expect_hash auto-b "--resume auto continues a stopped run" \
  || { fail "--resume auto did not take step 100"; show auto-b; }

# Incompatible resumes.
run bad-b 2 train "${common[@]}" --batch 32 --micro-batch 16 --run "$dir/x" --resume "$dir/c1/ckpt-00000040.h5"
expect_error bad-b "batch: checkpoint 64, now 32" "changing B on resume is refused, naming it"
run bad-arch 2 train "${common[@]}" --arch modern --run "$dir/x" --resume "$dir/c1/ckpt-00000040.h5"
expect_error bad-arch 'arch: checkpoint "classic", now "modern"' "changing arch on resume is refused, naming it"

# Corruptions.
mkdir -p "$dir/bad"
head -c 300000 "$dir/c1/ckpt-00000040.h5" >"$dir/bad/truncated.h5"
echo "this is not an HDF5 file" >"$dir/bad/text.h5"
cp "$dir/c1/ckpt-00000040.h5" "$dir/bad/flipped.h5"
h5dump -d /params/fc1.weight -b LE -o "$dir/fc1.bin" "$dir/bad/flipped.h5" >/dev/null 2>&1
off=$(python3 -c "import sys; f=open(sys.argv[1],'rb').read(); w=open(sys.argv[2],'rb').read(); print(f.find(w))" \
      "$dir/bad/flipped.h5" "$dir/fc1.bin")
if [[ -n $off && $off -gt 0 ]]; then
  python3 - "$dir/bad/flipped.h5" $((off + 1001)) <<'PY'
import sys
path, at = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x10]))
PY
else
  fail "could not locate fc1.weight's bytes in the checkpoint"
fi
for case in "truncated:truncated" "text:not an HDF5" "flipped:fc1.weight"; do
  name=${case%%:*} pattern=${case#*:}
  run "verify-$name" 0 verify "$dir/bad/$name.h5"
  expect_error "verify-$name" "$pattern" "verify refuses the $name checkpoint"
  run "resume-$name" 2 train "${common[@]}" --run "$dir/x" --resume "$dir/bad/$name.h5"
  expect_error "resume-$name" "$pattern" "--resume refuses the $name checkpoint"
done
cp -r "$dir/c1" "$dir/fallback"
cp "$dir/bad/flipped.h5" "$dir/fallback/ckpt-00000150.h5"
run fallback 2 train "${common[@]}" --run "$dir/fallback" --resume auto
grep -q 'skipping .*ckpt-00000150.h5' "$dir/fallback.err" && grep -q 'resume: .*ckpt-00000140.h5 at step 140' "$dir/fallback.out" \
  && expect_hash fallback "--resume auto falls back past a corrupt newest checkpoint" \
  || { fail "--resume auto fallback"; show fallback; }

# The writer killed mid-write: checkpoints are written in 4 KiB pieces 5 ms
# apart (about 0.7 s each); SIGKILL lands while the step-40 one is written.
"$bin" train "${common[@]}" --run "$dir/kill" --ckpt-every 20 --test-ckpt-delay 5 \
  >"$dir/kill.out" 2>"$dir/kill.err" &
bg=$!
for _ in $(seq 1 600); do
  [[ -f $dir/kill/ckpt-00000020.h5 ]] && ls -a "$dir/kill" | grep -q '^\.ckpt-00000040\.h5\.tmp\.' && break
  sleep 0.05
done
kill -9 "$bg" 2>/dev/null; wait "$bg" 2>/dev/null; bg=
if ls -a "$dir/kill" | grep -q '^\.ckpt-00000040\.h5\.tmp\.' && [[ ! -e $dir/kill/ckpt-00000040.h5 ]]; then
  pass "writer killed mid-write (temporary file left, no ckpt-00000040.h5)"
else
  fail "the kill did not land mid-write: $(ls -a "$dir/kill" | tr '\n' ' ')"
fi
run kill-verify 0 verify "$dir/kill/ckpt-00000020.h5"
[[ $rc -eq 0 ]] && pass "the previous checkpoint still verifies" || { fail "previous checkpoint"; show kill-verify; }
run kill-resume 2 train "${common[@]}" --run "$dir/kill" --resume auto
grep -q 'resume: .*ckpt-00000020.h5 at step 20' "$dir/kill-resume.out" \
  && expect_hash kill-resume "resumed after the kill: the uninterrupted weights" \
  || { fail "resume after kill"; show kill-resume; }

# Disk full: room for two checkpoints (the start-up check asks for that)
# but not three.
mkdir -p "$dir/full"
if ! is_root; then
  skip "disk full: mounting a small tmpfs needs root"
elif mount -t tmpfs -o size=1400k tmpfs "$dir/full" 2>"$dir/mount.err"; then
  run full-stop 2 train "${common[@]}" --run "$dir/full/a" --ckpt-every 20 --keep 0
  expect_error full-stop "checkpoint at step 60 failed: .*No space left on device" "a full disk stops training (--on-ckpt-error stop)"
  run full-verify 0 verify "$dir/full/a/ckpt-00000040.h5"
  if [[ $rc -eq 0 ]] && [[ $(cat "$dir/full/a/latest") == ckpt-00000040.h5 ]] && ! ls -a "$dir/full/a" | grep -q tmp; then
    pass "after the failed write: the previous checkpoint verifies, latest unchanged, no temporary file"
  else
    fail "state after disk full: $(ls -a "$dir/full/a" | tr '\n' ' ')"; show full-verify
  fi
  rm -rf "$dir/full/a"
  run full-warn 2 train "${common[@]}" --run "$dir/full/b" --ckpt-every 20 --keep 0 --on-ckpt-error warn
  # It trains to the end, but its final checkpoint failed too: exit 1.
  if [[ $rc -eq 1 ]] && grep -q 'No space left on device.*training goes on' "$dir/full-warn.err" \
     && grep -q 'the final checkpoint (step [0-9]*) failed' "$dir/full-warn.err" \
     && [[ $(final_hash full-warn) == "$ref" ]]; then
    pass "with --on-ckpt-error warn training goes on to the same weights, and exits 1 when the final checkpoint failed"
  else
    fail "--on-ckpt-error warn: exit $rc"; show full-warn
  fi
  umount "$dir/full"
else
  fail "cannot mount a tmpfs for the disk-full test: $(cat "$dir/mount.err")"
fi
run nodir 2 train "${common[@]}" --run "$dir/fm.h5/sub"
expect_error nodir "fm.h5 exists and is not a directory" "an unusable run directory is refused before training"

# eval of a checkpoint that learned something: the same figures whatever P is.
run learn 2 train --data "$dir/fm.h5" --arch modern --lr 0.01 --momentum 0.9 --limit 6400 --batch 64 \
  --epochs 1 --no-eval --quiet --run "$dir/learn"
run eval-1 0 eval --data "$dir/fm.h5" "$dir/learn/ckpt-00000100.h5"
run eval-2 2 eval --data "$dir/fm.h5" "$dir/learn/ckpt-00000100.h5"
acc=$(sed -n 's/^test loss [0-9.]*  accuracy \([0-9.]*\) .*/\1/p' "$dir/eval-1.out")
if [[ $rc -eq 0 ]] && grep -q 'confusion matrix' "$dir/eval-1.out" \
   && python3 -c "import sys; sys.exit(not float(sys.argv[1]) > 0.5)" "${acc:-0}" \
   && diff <(grep -v -e '^eval:' -e '^inference:' "$dir/eval-1.out") \
           <(grep -v -e '^eval:' -e '^inference:' "$dir/eval-2.out") >/dev/null; then
  pass "eval: $(grep '^test loss' "$dir/eval-1.out"), identical at P=1 and P=2"
else
  fail "eval at P=1 vs P=2 (accuracy '$acc')"; show eval-1; show eval-2
fi

finish
