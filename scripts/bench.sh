#!/usr/bin/env bash
# bench.sh - the figures shardnet is held to, measured on this machine and
# printed as one table (benchmarks are not tests: nothing here fails on a
# slow machine).
#   op level     `shardnet bench`: one process, one thread, batch 128
#   training     P=1 and P=2 with the defaults (exact, micro-batch 32,
#                balanced), P=2 --reduce float, P=2 --balance off, P=2 at
#                micro-batches 16, 64, 128, and P=2 with rank 1 slowed to
#                60% (--test-slow 1:60) balanced and not: img/s, scaling,
#                exact vs float, balance on vs off, the default micro-batch
#                vs the best, peak memory per rank (epochs 2-3 of a 3-epoch
#                run; BENCH_ROUNDS rounds, 5 by default, of these runs back
#                to back: the best round's rates, the median of the rounds'
#                ratios, since a shared machine's figures swing by 2x over
#                minutes)
#   accuracy     10 epochs at P=2: classic with the textbook's defaults, and
#                modern with a tuned learning rate (skipped with --quick)
#   inference    `shardnet eval` of the test set at P=2
#
#   scripts/bench.sh [--quick]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
quick=0
[ "${1:-}" = --quick ] && quick=1
"$here/scripts/setup.sh" build >/dev/null
bin=$here/build/trainer/shardnet
# kept when this program reads it (format 2 or 3: with checksums), else made again
h5dump -a /format_version data/fashion-mnist.h5 2>/dev/null | grep -q '(0): [23]$' ||
  "$bin" prepare >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Training runs without --run make runs/<time> in the working directory:
# keep them in $out.
data=$here/data/fashion-mnist.h5
cd "$out"
unset OMP_NUM_THREADS
mpi=(mpirun --mca mpi_yield_when_idle 1)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
pinned=("${mpi[@]}" --bind-to none) # with taskset: one rank on a chosen core
mpi+=(--bind-to core)

rows=()
row() { rows+=("$(printf '| %-44s | %-22s | %s |' "$1" "$2" "$3")"); }

# Mean of the "N img/s" of epoch lines 2.. (the first epoch warms up).
epoch_rate() { awk '/^epoch [0-9]+\/[0-9]+:/ { n++; if (n > 1) { for (i = 1; i <= NF; i++) if ($(i+1) == "img/s,") { s += $i; k++ } } } END { printf "%.0f", k ? s / k : 0 }' "$1"; }
final_hash_of() { sed -n 's/^done: .*final parameters sha256 \([0-9a-f]*\)$/\1/p' "$1"; }
peak_mb() { sed -n 's/^peak memory per rank: \([0-9.]*\) MB.*/\1/p' "$1"; }
test_acc() { awk '/^epoch [0-9]+\/[0-9]+:/ { for (i = 1; i <= NF; i++) if ($i == "test") a = $(i+4) } END { print a }' "$1" | tr -d ','; }

echo "bench: op level (shardnet bench, 1 thread, batch 128, best of 3)" >&2
for arch in classic modern; do
  rate=0
  for i in 1 2 3; do
    OMP_NUM_THREADS=1 "$bin" bench --arch $arch --batch 128 --steps 300 >"$out/op-$arch"
    r=$(sed -n 's/.*: \([0-9]*\) img\/s.*/\1/p' "$out/op-$arch")
    [ "$r" -gt "$rate" ] && rate=$r
  done
  row "LeNet $arch step, 1 core, batch 128" "$rate img/s" "OMP_NUM_THREADS=1 shardnet bench --arch $arch --batch 128 --steps 300"
done

train=(train --data "$data" --epochs 3 --no-eval --no-ckpt --log-every 1000000)
rounds=${BENCH_ROUNDS:-5}
echo "bench: training throughput ($rounds rounds of 10 runs back to back)" >&2
# Each round runs the three configurations one after the other, so that the
# ratios compare runs made under the same load: this machine's speed drifts
# by up to 2x over minutes.  Rates: the best round; ratios: the median over
# rounds of the ratio within a round.
best_rate() { local b=0 r; for r in "$@"; do [ "$r" -gt "$b" ] && b=$r; done; echo "$b"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run() { # NAME NP ARGS...: $out/NAME.$round; prints the epoch rate
  local name=$1 np=$2
  shift 2
  if [ -n "${mpi_core:-}" ]; then # one rank, pinned to that core
    "${pinned[@]}" -np "$np" taskset -c "$mpi_core" "$bin" "$@" >"$out/$name.$round"
  else
    "${mpi[@]}" -np "$np" "$bin" "$@" >"$out/$name.$round"
  fi
  epoch_rate "$out/$name.$round"
}
# P=1 runs on core 0 (where mpirun binds it) and again on core 1: on a VM
# the two cores' speeds differ and drift (seen: 19,000 vs 28,000 img/s), and
# a P=2 step waits for the slower one.  Scaling is given against both: the
# P=1 run as launched, and the mean of the two cores.
nc=$(( $(nproc) - 1 ))
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
p1=() p1b=() p2=() p2f=() scale=() scale2=() ef=() onoff=() mdef=() slow_on=() slow_off=() slowr=()
same=yes
for round in $(seq "$rounds"); do
  a=$(run p1 1 "${train[@]}")
  a2=$(mpi_core=$nc run p1b 1 "${train[@]}")
  b=$(run p2 2 "${train[@]}")
  f=$(run p2f 2 "${train[@]}" --reduce float)
  off=$(run p2off 2 "${train[@]}" --balance off)
  best=$b bestm=32 rates="32:$b"
  for m in 16 64 128; do
    r=$(run "p2m$m" 2 "${train[@]}" --micro-batch "$m")
    rates+=" $m:$r"
    if [ "$r" -gt "$best" ]; then best=$r bestm=$m; fi
  done
  so=$(run slow-on 2 "${train[@]}" --test-slow 1:60)
  sf=$(run slow-off 2 "${train[@]}" --test-slow 1:60 --balance off)
  h=$(final_hash_of "$out/p2.$round")
  [ -n "$h" ] || same="no (no final hash in the P=2 output)"
  for name in p1 p1b p2off slow-on slow-off; do
    [ "$(final_hash_of "$out/$name.$round")" = "$h" ] || same=no
  done
  p1+=("$a") p1b+=("$a2") p2+=("$b") p2f+=("$f") slow_on+=("$so") slow_off+=("$sf")
  scale+=("$(ratio "$b" "$a")")
  scale2+=("$(awk -v a="$b" -v b="$a" -v c="$a2" 'BEGIN { printf "%.3f", 2 * a / (b + c) }')")
  ef+=("$(ratio "$b" "$f")")
  onoff+=("$(ratio "$b" "$off")")
  mdef+=("$(ratio "$b" "$best")")
  slowr+=("$(ratio "$so" "$sf")")
  echo "bench:   round $round: P=1 $a (core 0) $a2 (core $nc), P=2 $b, float $f, balance off $off;" \
       "micro-batch $rates (best $bestm); rank 1 at 60%: balanced $so, not $sf img/s" >&2
done
r1=$(best_rate "${p1[@]}") r1b=$(best_rate "${p1b[@]}") r2=$(best_rate "${p2[@]}") r2f=$(best_rate "${p2f[@]}")
for round in $(seq "$rounds"); do
  [ "$(epoch_rate "$out/p2.$round")" = "$r2" ] && cp "$out/p2.$round" "$out/p2"
done
row "train P=1, B=256, exact (core 0 / core $nc)" "$r1 / $r1b img/s" "mpirun -np 1 [taskset -c $nc] shardnet ${train[*]}"
row "train P=2, B=256, defaults (m 32, balanced)" "$r2 img/s" "mpirun -np 2 shardnet ${train[*]}"
row "train P=2, B=256, --reduce float" "$r2f img/s" "mpirun -np 2 shardnet ${train[*]} --reduce float"
row "scaling P=2 / P=1 on core 0 (exact)" "$(median "${scale[@]}")x" "median of $rounds rounds: ${scale[*]}"
row "scaling P=2 / mean of P=1 on each core" "$(median "${scale2[@]}")x" "median of $rounds rounds: ${scale2[*]}"
row "exact / float at P=2" "$(median "${ef[@]}")" "median of $rounds rounds: ${ef[*]}"
row "balance on / off at P=2" "$(median "${onoff[@]}")" "median of $rounds rounds: ${onoff[*]}"
row "default m=32 / best of m=16,32,64,128, P=2" "$(median "${mdef[@]}")" "median of $rounds rounds: ${mdef[*]}"
row "rank 1 at 60%: balanced (best round)" "$(best_rate "${slow_on[@]}") img/s" "mpirun -np 2 shardnet ${train[*]} --test-slow 1:60"
row "rank 1 at 60%: --balance off (best round)" "$(best_rate "${slow_off[@]}") img/s" "mpirun -np 2 shardnet ${train[*]} --test-slow 1:60 --balance off"
row "rank 1 at 60%: balanced / not" "$(median "${slowr[@]}")x" "median of $rounds rounds: ${slowr[*]}"
row "same final hash, every P=1/P=2 exact run" "$same" "P=1 (both cores), P=2 balanced, off, slowed"
row "peak memory per rank, P=2" "$(peak_mb "$out/p2") MB" "VmHWM, printed by shardnet train"
# LeNet on 1x28x28: forward 833,040 FLOP an image (conv1 235,200, conv2 480,000,
# fc 117,840); training = forward + backward-weights + backward-data without
# conv1's = 2,263,920 FLOP an image.  Peak: the FP32 FMA peak measured on this
# kind of machine, ~121 GFLOP/s per core (PEAK_GFLOPS_PER_CORE overrides).
peak=${PEAK_GFLOPS_PER_CORE:-121}
row "achieved, P=2 training" "$(awk -v r="$r2" -v p="$peak" -v c="$(nproc)" 'BEGIN { f = r * 2263920 / 1e9; printf "%.1f GFLOP/s, %.1f%% of peak", f, 100 * f / (c * p) }')" "2.26 MFLOP an image; peak $(nproc) x $peak GFLOP/s"
if [ $quick -eq 0 ]; then
  echo "bench: accuracy, 10 epochs at P=2 (about a minute each)" >&2
  "${mpi[@]}" -np 2 "$bin" train --data "$data" --quiet --run "$out/classic-ckpt" >"$out/classic"
  row "classic, textbook defaults, 10 epochs, P=2" "test acc $(test_acc "$out/classic")" "mpirun -np 2 shardnet train (lr 0.9, batch 256)"
  modern=(--arch modern --lr 0.2 --momentum 0.9 --schedule cosine --warmup 200 --normalize)
  "${mpi[@]}" -np 2 "$bin" train --data "$data" --quiet "${modern[@]}" --no-ckpt >"$out/modern"
  row "modern, tuned, 10 epochs, P=2" "test acc $(test_acc "$out/modern")" "mpirun -np 2 shardnet train ${modern[*]}"
  echo "bench: inference" >&2
  ckpt=$out/classic-ckpt/$(cat "$out/classic-ckpt/latest")
  rate=0
  for i in 1 2 3; do # 0.1 s a run: best of 3
    "${mpi[@]}" -np 2 "$bin" eval "$ckpt" --data "$data" >"$out/eval"
    r=$(sed -n 's/^inference: .* s, \([0-9]*\) img\/s.*/\1/p' "$out/eval")
    [ "$r" -gt "$rate" ] && rate=$r
  done
  row "inference, test set, P=2, best of 3" "$rate img/s" "mpirun -np 2 shardnet eval CHECKPOINT"
fi

# PyTorch on the same cores and data, when Debian's python3-torch is there.
# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are unset for it alone: this machine
# sets them for old OpenBLAS builds, and they slow a current one.
if /usr/bin/python3 -c 'import torch, h5py' 2>/dev/null; then
  echo "bench: PyTorch" >&2
  best=0 best_line=""
  for threads in $(nproc) 1; do
    line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$here/scripts/torch_lenet.py" \
           "$data" --threads "$threads" --steps 100)
    rate=$(sed -n 's/^torch: \([0-9]*\) img\/s.*/\1/p' <<<"$line")
    if [ "${rate:-0}" -gt "$best" ]; then best=$rate best_line=$line; fi
  done
  row "PyTorch LeNet classic, B=256, best of $(nproc) and 1 threads" "$best img/s" "scripts/torch_lenet.py data/fashion-mnist.h5 ${best_line#torch: $best img/s }"
  row "shardnet P=2 / PyTorch" "$(awk -v a="$r2" -v b="$best" 'BEGIN { printf "%.2fx", a / b }')" "from the rows above"
else
  row "PyTorch comparison" "skipped" "apt-get install python3-torch python3-h5py, then run again"
fi

echo
echo "shardnet bench, $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
printf '| %-44s | %-22s | %s |\n' "what" "figure" "command"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..24})" "---"
printf '%s\n' "${rows[@]}"
