#!/usr/bin/env bash
# bench_threads.sh - two cores' worth of one job three ways, same data, B,
# m and epochs (epochs 2-3 of a 3-epoch run, img/s from the epoch lines),
# with one rank x one thread for scale:
#   workers   one rank, --threads 2: two micro-batch workers (train.c)
#   ranks     two ranks x --threads 1
#   onednn    one rank, --threads 2 of ONEDNN_BIN, a shardnet from before the
#             workers (commit 4fdb442), where oneDNN splits each primitive
#             over the threads
# ROUNDS rounds (3 by default) of the four back to back, each round's
# figures, peak memory per rank and the final weights' sha256 (first 12
# hex digits) printed.  Run it under the machine's CPU lock if shared.
#   ONEDNN_BIN=OLD/shardnet scripts/bench_threads.sh [PATH/TO/shardnet]
#   (DATA=FILE.h5, ROUNDS=N, LIMIT=N training samples, 19200 by default)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(realpath "${1:-$here/build/trainer/shardnet}")
data=$(realpath "${DATA:-$here/data/fashion-mnist.h5}")
rounds=${ROUNDS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$out"
unset OMP_NUM_THREADS
mpi=(mpirun --bind-to none --mca mpi_yield_when_idle 1)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
train=(train --data "$data" --limit "${LIMIT:-19200}" --epochs 3 --batch 256 --micro-batch 32
       --no-eval --no-ckpt --log-every 1000000)
epoch_rate() { awk '/^epoch [0-9]+\/[0-9]+:/ { n++; if (n > 1) { for (i = 1; i <= NF; i++) if ($(i+1) == "img/s,") { s += $i; k++ } } } END { printf "%.0f", k ? s / k : 0 }' "$1"; }
final_hash() { sed -n 's/^done: .*final parameters sha256 \([0-9a-f]*\)$/\1/p' "$1" | cut -c1-12; }
peak_mb() { sed -n 's/^peak memory per rank: \([0-9.]*\) MB.*/\1/p' "$1"; }
onednn_bin=$(realpath "${ONEDNN_BIN:?give ONEDNN_BIN=PATH, a shardnet built at commit 4fdb442}")
echo "command: mpirun -np P shardnet ${train[*]/$data/DATA} --threads T"
for round in $(seq "$rounds"); do
  "${mpi[@]}" -np 1 "$bin" "${train[@]}" --threads 1 >"$out/one"
  "${mpi[@]}" -np 1 "$bin" "${train[@]}" --threads 2 >"$out/workers"
  "${mpi[@]}" -np 2 "$bin" "${train[@]}" --threads 1 >"$out/ranks"
  "${mpi[@]}" -np 1 "$onednn_bin" "${train[@]}" --threads 2 >"$out/onednn"
  printf 'round %d: 1x1 %s img/s (%s MB, %s); workers 1x2 %s img/s (%s MB, %s); ranks 2x1 %s img/s (%s MB/rank, %s); onednn 1x2 %s img/s (%s MB, %s)\n' \
    "$round" "$(epoch_rate one)" "$(peak_mb one)" "$(final_hash one)" \
    "$(epoch_rate workers)" "$(peak_mb workers)" "$(final_hash workers)" \
    "$(epoch_rate ranks)" "$(peak_mb ranks)" "$(final_hash ranks)" \
    "$(epoch_rate onednn)" "$(peak_mb onednn)" "$(final_hash onednn)"
done
