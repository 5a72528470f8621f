#!/usr/bin/env bash
# runs.sh - run directories, history across resumes, the fingerprint,
# validation and the best checkpoint, TensorBoard files, `shardnet info` and
# the output-path policy, for real under mpirun:
#   - two runs started at once in one folder (default runs/<time>) get their
#     own directories and never touch each other's files; a used --run DIR
#     is refused without --resume;
#   - a run stopped by SIGUSR1 through mpirun and resumed (--resume auto, on
#     another number of ranks) ends with the uninterrupted run's weights and
#     has ONE metrics file with a continuous history (every logged step and
#     epoch once, start/stop/resume/checkpoint/end records with times) and
#     ONE TensorBoard file whose every record and value an independent
#     reader (tests/tfevents_check.py: python3-protobuf, python3-crc32c)
#     matches against the metrics; scripts/plot.py draws the whole history;
#   - best.h5 (--val) survives --keep 1 and is the epoch of the lowest
#     validation loss; --patience stops early;
#   - a resume whose configuration differs is refused naming every
#     difference; the schedule changes only with --change-schedule;
#   - the same SHA-256 fingerprint in the done line, metrics, verify, info
#     and export;
#   - output paths: missing parents created, a file where a folder should
#     be refused before any work, an existing --scaling-report refused
#     before training, a failed metrics write is a non-zero exit, no message
#     names a hidden temporary file.
#   runs.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: runs.sh PATH/TO/shardnet}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3 # Debian's python3-protobuf, python3-crc32c, python3-matplotlib
dir=$(mktemp -d)
bg=
cleanup() {
  [[ -n $bg ]] && kill -9 "$bg" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
source "$here/lib.sh"
# 3200 samples, 320 of them held out: 2880 / 64 = 45 steps an epoch.
common=(--data "$dir/fm.h5" --limit 2880 --val 320 --batch 64 --micro-batch 16 --quiet --log-every 10)
long=("${common[@]}" --epochs 8 --ckpt-every 15 --keep 1)

"$bin" prepare --out "$dir/fm.h5" >/dev/null 2>&1 || { echo "prepare failed"; echo "0 passed, 1 failed"; exit 1; }

run() { mpi_train "$@"; }
# records FILE EXPR: EXPR evaluated over the JSON lines of FILE as `recs`.
records() { "$py" -c 'import json,sys; recs=[json.loads(l) for l in open(sys.argv[1])]; print(eval(sys.argv[2]))' "$@"; }
wait_record() { # FILE PATTERN SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# --- two runs in one folder -------------------------------------------------
mkdir "$dir/shared" && cd "$dir/shared" || exit 1
"${mpi[@]}" -np 1 "$bin" train "${common[@]}" --epochs 2 --keep 1 --seed 1 >"$dir/a.out" 2>"$dir/a.err" &
pa=$!
"${mpi[@]}" -np 1 "$bin" train "${common[@]}" --epochs 2 --keep 1 --seed 2 >"$dir/b.out" 2>"$dir/b.err" &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
cd "$dir" || exit 1
runa=$(sed -n 's/^  run //p' "$dir/a.out") runb=$(sed -n 's/^  run //p' "$dir/b.out")
if [[ $ra -eq 0 && $rb -eq 0 && -n $runa && -n $runb && $runa != "$runb" && $(ls "$dir/shared/runs" | wc -l) -eq 2 ]]; then
  pass "two runs started together in one folder: $runa and $runb"
else
  fail "two runs: exit $ra/$rb, dirs '$runa' '$runb': $(ls "$dir/shared/runs")"; show a; show b
fi
ok=1
for r in a b; do
  d=$dir/shared/$(sed -n 's/^  run //p' "$dir/$r.out")
  seed=$([[ $r == a ]] && echo 1 || echo 2)
  [[ $(records "$d/metrics.jsonl" 'sum(r["type"]=="start" for r in recs)') == 1 ]] || ok=0
  [[ $(records "$d/metrics.jsonl" '{r["config"]["seed"] for r in recs if r["type"]=="start"}') == "{'$seed'}" ]] || ok=0
  [[ $(ls "$d" | grep -c '^ckpt-') -eq 1 && -f $d/best.h5 && -f $d/config.json ]] || ok=0
  last=$(records "$d/metrics.jsonl" 'recs[-1]["fingerprint"]')
  [[ $last == $(final_hash "$r") ]] || ok=0
done
[[ $ok -eq 1 ]] && pass "each run holds only its own config, metrics, checkpoints (--keep 1 pruned only its own) and fingerprint" \
  || { fail "the two runs mixed"; ls -R "$dir/shared/runs"; }

before=$(cat "$dir/shared/$runa/metrics.jsonl" "$dir/shared/$runa"/*.h5 | sha256sum)
run used 1 "${common[@]}" --epochs 2 --run "$dir/shared/$runa"
if [[ $rc -eq 1 ]] && grep -q "already holds a run .*give --resume auto" "$dir/used.err" \
   && [[ $(cat "$dir/shared/$runa/metrics.jsonl" "$dir/shared/$runa"/*.h5 | sha256sum) == "$before" ]] \
   && ! grep -q '^epoch' "$dir/used.out"; then
  pass "a used --run DIR without --resume is refused before training: $(grep -m1 already "$dir/used.err" | cut -c1-120)"
else
  fail "used run dir: exit $rc"; show used
fi

# --- stop, resume, one continuous history ------------------------------------
run ref 2 "${long[@]}" --run "$dir/ref"
ref=$(final_hash ref)
[[ $rc -eq 0 && -n $ref ]] && pass "uninterrupted reference (360 steps): ${ref:0:16}..." || { fail "reference: exit $rc"; show ref; }

"${mpi[@]}" -np 2 "$bin" train "${long[@]}" --run "$dir/r" >"$dir/r1.out" 2>"$dir/r1.err" &
bg=$!
wait_record "$dir/r/metrics.jsonl" '"type":"checkpoint","time":[0-9.e+]*,"step":60,' 120 && stop_job "$bg" "--run $dir/r "
wait "$bg"; rc=$?; bg=
stopped=$(sed -n 's/^stopped: at step \([0-9]*\) of 360 .*/\1/p' "$dir/r1.out")
[[ $rc -eq 3 && -n $stopped ]] && pass "SIGUSR1 through mpirun stops the run at step $stopped (exit 3)" \
  || { fail "stop: exit $rc"; show r1; }
grep -q -- "--run $dir/r --resume auto" "$dir/r1.out" && pass "the stop line names the run to resume" || fail "stop line: $(grep stopped "$dir/r1.out")"
run r2 1 "${long[@]}" --run "$dir/r" --resume auto
if [[ $rc -eq 0 && $(final_hash r2) == "$ref" ]] && grep -q "^resume: $dir/r/ckpt-$(printf %08d "${stopped:-0}").h5 at step $stopped " "$dir/r2.out"; then
  pass "--resume auto at P=1 continues the run's own checkpoint: the uninterrupted weights"
else
  fail "resume: exit $rc, $(final_hash r2) vs $ref"; show r2
fi
m=$dir/r/metrics.jsonl
types=$(records "$m" '" ".join(dict.fromkeys(r["type"] for r in recs if r["type"] not in ("step","epoch","checkpoint","best")))')
steps_ok=$(records "$m" '[r["step"] for r in recs if r["type"]=="step"] == list(range(10, 361, 10))')
epochs_ok=$(records "$m" '[r["epoch"] for r in recs if r["type"]=="epoch"] == list(range(1, 9))')
times_ok=$(records "$m" 'all(isinstance(r["time"], float) and r["time"] > 1.7e9 for r in recs) and [r["time"] for r in recs] == sorted(r["time"] for r in recs)')
resume_ok=$(records "$m" '[(r["step"], r["world_size"], r["written_by_world_size"]) for r in recs if r["type"]=="resume"] == [('"${stopped:-0}"', 1, 2)]')
if [[ $types == "start stop resume end" && $steps_ok == True && $epochs_ok == True && $times_ok == True && $resume_ok == True ]]; then
  pass "one metrics file: start, stop, resume (step $stopped, 2 -> 1 ranks), end; steps 10..360 and epochs 1..8 each once, wall-clock times in order"
else
  fail "metrics history: types '$types', steps $steps_ok, epochs $epochs_ok, times $times_ok, resume $resume_ok"
fi
if [[ $(ls "$dir/r" | grep -c tfevents) -eq 1 ]] && "$py" "$here/tfevents_check.py" "$dir/r" >"$dir/tb.out" 2>&1 \
   && grep -q "1 file_version record" "$dir/tb.out"; then
  pass "one TensorBoard file across the resume: $(cat "$dir/tb.out" | cut -c17-)"
else
  fail "TensorBoard file: $(cat "$dir/tb.out")"
fi
cp "$dir/r/events.out.tfevents.shardnet" "$dir/tbcopy"
mkdir "$dir/bad" && cp "$dir/r/metrics.jsonl" "$dir/bad/" && cp "$dir/tbcopy" "$dir/bad/events.out.tfevents.shardnet"
"$py" -c 'import sys; p=sys.argv[1]; d=bytearray(open(p,"rb").read()); d[len(d)//2] ^= 1; open(p,"wb").write(d)' "$dir/bad/events.out.tfevents.shardnet"
"$py" "$here/tfevents_check.py" "$dir/bad" >"$dir/tbbad.out" 2>&1 \
  && fail "the TensorBoard check passed a flipped bit" || pass "the TensorBoard check catches a flipped bit: $(cut -c1-80 "$dir/tbbad.out")"
if "$py" "$here/../scripts/plot.py" "$dir/r" --out "$dir/r.png" >"$dir/plot.out" 2>&1 && [[ -s $dir/r.png ]] \
   && grep -q "8 epochs, 36 step records, 1 resumes" "$dir/plot.out"; then
  pass "plot of the resumed history: $(cat "$dir/plot.out")"
else
  fail "plot: $(cat "$dir/plot.out")"
fi

# --- the best checkpoint and --keep 1 ----------------------------------------
best_epoch=$(records "$m" 'min((r["val_loss"], r["epoch"]) for r in recs if r["type"]=="epoch")[1]')
best_fp=$(records "$m" '[r["fingerprint"] for r in recs if r["type"]=="epoch" and r["epoch"]=='"$best_epoch"'][0]')
ckpts=$(ls "$dir/r" | grep -c '^ckpt-.*\.h5$')
if [[ $ckpts -eq 1 ]] && "$bin" verify "$dir/r/best.h5" >"$dir/vbest.out" 2>&1 \
   && grep -q "parameters sha256 $best_fp" "$dir/vbest.out" \
   && [[ $(records "$dir/r/best.json" 'recs[0]["epoch"]' 2>/dev/null || "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["epoch"])' "$dir/r/best.json") == "$best_epoch" ]]; then
  pass "best.h5 (epoch $best_epoch, lowest val loss) survives --keep 1 next to the one kept checkpoint and verifies"
else
  fail "best checkpoint: $ckpts ckpt files, best epoch $best_epoch"; cat "$dir/vbest.out"; cat "$dir/r/best.json"
fi
run pat 1 "${common[@]}" --epochs 12 --patience 2 --run "$dir/pat"
pe=$(records "$dir/pat/metrics.jsonl" 'recs[-1]["reason"]' 2>/dev/null)
be=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["epoch"])' "$dir/pat/best.json" 2>/dev/null)
ne=$(records "$dir/pat/metrics.jsonl" 'sum(r["type"]=="epoch" for r in recs)' 2>/dev/null)
if [[ $rc -eq 0 && $pe == early_stop && -n $be && $ne -eq $((be + 2)) ]] && grep -q '^early stop' "$dir/pat.out"; then
  pass "--patience 2 stops after $ne epochs (best: epoch $be)"
else
  fail "--patience: exit $rc, reason '$pe', best '$be', epochs '$ne'"; show pat
fi

# --- mismatched resume -------------------------------------------------------
run mis 2 "${long[@]}" --run "$dir/r" --resume auto --seed 7 --reduce float
if [[ $rc -eq 1 ]] && grep -q 'seed: checkpoint "42", now "7"' "$dir/mis.err" && grep -q 'reduce: checkpoint "exact", now "float"' "$dir/mis.err"; then
  pass "a resume with another seed and reduce is refused naming both: $(grep -o 'seed: .*' "$dir/mis.err" | cut -c1-90)"
else
  fail "mismatched resume: exit $rc"; show mis
fi
run mis2 2 "${long[@]}" --run "$dir/r" --resume auto --lr 0.5
if [[ $rc -eq 1 ]] && grep -q 'lr: checkpoint 0.9.*, now 0.5.* (give --change-schedule' "$dir/mis2.err"; then
  pass "a resume with another --lr is refused, pointing at --change-schedule"
else
  fail "schedule change without the flag: exit $rc"; show mis2
fi
run more 2 "${long[@]}" --run "$dir/r" --resume auto --epochs 9 --change-schedule
[[ $rc -eq 0 ]] && grep -q '405 steps (0 skipped)' "$dir/more.out" \
  && [[ $(records "$m" '[r["step"] for r in recs if r["type"]=="step"][-1]') == 400 ]] \
  && pass "--change-schedule --epochs 9 continues the run to step 405, same metrics file" \
  || { fail "--change-schedule: exit $rc"; show more; }

# --- one fingerprint ---------------------------------------------------------
ck=$dir/r/$(cat "$dir/r/latest")
fp=$(final_hash more)
"$bin" verify "$ck" >"$dir/v.out" 2>&1
"$bin" info --json "$ck" >"$dir/info.json" 2>&1
"$bin" info "$dir/r" >"$dir/info.out" 2>&1
"$bin" export "$ck" --format safetensors --data "$dir/fm.h5" --out "$dir/x/m.safetensors" >"$dir/x.out" 2>&1
ck_fp=$(records "$m" '[r["fingerprint"] for r in recs if r["type"]=="checkpoint"][-1]')
if [[ -n $fp && $ck_fp == "$fp" ]] && grep -q "parameters sha256 $fp" "$dir/v.out" \
   && [[ $("$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["fingerprint"], d["verify"])' "$dir/info.json") == "$fp OK" ]] \
   && grep -q "parameters sha256 $fp" "$dir/x.out" && grep -q "sha256 $fp" "$dir/info.out"; then
  pass "one fingerprint ${fp:0:16}... in the done line, metrics, verify, info and export"
else
  fail "fingerprints differ: done $fp, metrics $ck_fp"; cat "$dir/v.out" "$dir/x.out" "$dir/info.out" | tail -20
fi
grep -q "^  last record: end at step 405" "$dir/info.out" && grep -q "^  best (val_loss): epoch $best_epoch" "$dir/info.out" \
  && pass "info RUN: how it ended and its best checkpoint" || { fail "info RUN"; cat "$dir/info.out"; }

# --- output paths ------------------------------------------------------------
run deep 1 "${common[@]}" --epochs 1 --run "$dir/new/a/b/run" --scaling-report "$dir/new/rep/p"
[[ $rc -eq 0 && -f $dir/new/a/b/run/config.json && -s $dir/new/rep/p.json && -s $dir/new/rep/p.md ]] \
  && pass "missing parents of --run and --scaling-report are created" || { fail "missing parents: exit $rc"; show deep; }
run again 1 "${common[@]}" --epochs 1 --run "$dir/new/other" --scaling-report "$dir/new/rep/p"
[[ $rc -eq 1 ]] && grep -q -- "--scaling-report $dir/new/rep/p.md: the file exists and is not overwritten" "$dir/again.err" \
  && ! grep -q '^epoch\|^done' "$dir/again.out" \
  && pass "an existing --scaling-report is refused before training" || { fail "existing report: exit $rc"; show again; }
echo x >"$dir/afile"
run filedir 1 "${common[@]}" --epochs 1 --run "$dir/afile/run"
[[ $rc -eq 1 ]] && grep -q -- "--run $dir/afile/run: $dir/afile exists and is not a directory" "$dir/filedir.err" \
  && pass "a --run below a file is refused, naming the file" || { fail "--run below a file: exit $rc"; show filedir; }
run filerep 1 "${common[@]}" --epochs 1 --run "$dir/new/r3" --scaling-report "$dir/afile/p"
[[ $rc -eq 1 ]] && grep -q -- "--scaling-report $dir/afile/p.md: $dir/afile exists and is not a directory" "$dir/filerep.err" \
  && ! grep -q '^epoch' "$dir/filerep.out" \
  && pass "a --scaling-report below a file is refused before training" || { fail "report below a file: exit $rc"; show filerep; }
# A metrics file that cannot be written (it is /dev/full): the run trains,
# says so, and exits 1.
mkdir "$dir/full" && ln -s /dev/full "$dir/full/metrics.jsonl"
run fullm 1 "${common[@]}" --epochs 1 --run "$dir/full" --resume auto
[[ $rc -eq 1 ]] && grep -q "metrics file: write failed: No space left on device" "$dir/fullm.err" \
  && grep -q "could not be written (see above); exit 1" "$dir/fullm.err" \
  && pass "a metrics write that fails makes the exit status 1" || { fail "metrics write failure: exit $rc"; show fullm; }
"$bin" prepare --out "$dir/fm.h5" >"$dir/prep.out" 2>"$dir/prep.err"; rc=$?
[[ $rc -eq 1 ]] && grep -q -- "--out $dir/fm.h5: the file exists and is not overwritten; give --force" "$dir/prep.err" \
  && pass "prepare refuses an existing --out without --force" || { fail "prepare over an existing file: exit $rc"; cat "$dir/prep.err"; }
if grep -l '/\.[^/ ]*\.tmp\.' "$dir"/*.err >/dev/null 2>&1; then
  fail "a message names a hidden temporary file: $(grep -h '/\.[^/ ]*\.tmp\.' "$dir"/*.err | head -2)"
else
  pass "no message names a hidden temporary file"
fi
finish
