#!/usr/bin/env bash
# bench_threads.sh - two cores' worth of one job three ways, on the same
# data, B, m and epochs (epochs 2-3 of a 3-epoch run, img/s from the epoch
# lines), with one rank x one thread for scale:
#   workers   one rank, --threads 2: two micro-batch workers (train.c)
#   ranks     two ranks x --threads 1
#   onednn    one rank, --threads 2 --threading onednn: oneDNN splits each
#             primitive over the threads (what --threads did before the
#             workers; ONEDNN_BIN=OLD/shardnet runs a shardnet from before
#             them, commit 4fdb442, with plain --threads 2 instead)
# and at --micro-batch 256 (one micro-batch a step, so a second worker has
# nothing to do) workers against onednn at --threads 2.
# ROUNDS rounds (5 by default) of these runs back to back; each round's
# figures, peak memory per rank and final weights (sha256, first 12 hex
# digits) are printed, then the median over rounds of the ratios within a
# round (a shared machine's speed drifts over minutes).  Run it under the
# machine's CPU lock if it is shared.
#   scripts/bench_threads.sh [PATH/TO/shardnet]
#   (DATA=FILE.h5, ROUNDS=N, LIMIT=N training samples, 60000 by default)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(realpath "${1:-$here/build/trainer/shardnet}")
data=$(realpath "${DATA:-$here/data/fashion-mnist.h5}")
if [ -n "${ONEDNN_BIN:-}" ]; then
  onednn=("$(realpath "$ONEDNN_BIN")")
else
  onednn=("$bin" --threading onednn)
fi
rounds=${ROUNDS:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$out"
unset OMP_NUM_THREADS
mpi=(mpirun --bind-to none --mca mpi_yield_when_idle 1)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
train=(train --data "$data" --limit "${LIMIT:-60000}" --epochs 3 --batch 256 --no-eval --no-ckpt
       --log-every 1000000)
epoch_rate() { awk '/^epoch [0-9]+\/[0-9]+:/ { n++; if (n > 1) { for (i = 1; i <= NF; i++) if ($(i+1) == "img/s,") { s += $i; k++ } } } END { printf "%.0f", k ? s / k : 0 }' "$1"; }
final_hash() { sed -n 's/^done: .*final parameters sha256 \([0-9a-f]*\)$/\1/p' "$1" | cut -c1-12; }
peak_mb() { sed -n 's/^peak memory per rank: \([0-9.]*\) MB.*/\1/p' "$1"; }
fig() { echo "$(epoch_rate "$1") img/s ($(peak_mb "$1") MB, $(final_hash "$1"))"; }
ratio() { awk -v a="$(epoch_rate "$1")" -v b="$(epoch_rate "$2")" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "command: mpirun -np P shardnet ${train[*]/$data/DATA} [--micro-batch M] --threads T [--threading onednn]"
wr=() wo=() sc=() bo=()
for round in $(seq "$rounds"); do
  "${mpi[@]}" -np 1 "$bin" "${train[@]}" --threads 1 >one
  "${mpi[@]}" -np 1 "$bin" "${train[@]}" --threads 2 >workers
  "${mpi[@]}" -np 2 "$bin" "${train[@]}" --threads 1 >ranks
  "${mpi[@]}" -np 1 "${onednn[0]}" "${train[@]}" "${onednn[@]:1}" --threads 2 >onednn
  "${mpi[@]}" -np 1 "$bin" "${train[@]}" --micro-batch 256 --threads 2 >big-workers
  "${mpi[@]}" -np 1 "${onednn[0]}" "${train[@]}" "${onednn[@]:1}" --micro-batch 256 --threads 2 >big-onednn
  echo "round $round, m = 32: 1x1 $(fig one); workers 1x2 $(fig workers); ranks 2x1 $(fig ranks); onednn 1x2 $(fig onednn)"
  echo "round $round, m = 256: workers 1x2 $(fig big-workers); onednn 1x2 $(fig big-onednn)"
  wr+=("$(ratio workers ranks)") wo+=("$(ratio workers onednn)") sc+=("$(ratio workers one)")
  bo+=("$(ratio big-workers big-onednn)")
done
echo "median of $rounds rounds: workers/ranks $(median "${wr[@]}") (${wr[*]}), workers/onednn $(median "${wo[@]}") (${wo[*]}), workers/1x1 $(median "${sc[@]}") (${sc[*]}); m = 256 workers/onednn $(median "${bo[@]}") (${bo[*]})"
