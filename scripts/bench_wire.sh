#!/usr/bin/env bash
# bench_wire.sh - exact vs float gradient all-reduce where the link is the
# limit: 3 simulated hosts x 1 rank over TCP, each host's link rate-limited
# with tc tbf (both directions), img/s of `shardnet train` with --reduce
# exact and --reduce float, alternated for BENCH_ROUNDS rounds (3 by
# default).  Prints every round and the best and median of each.  Needs root
# (network namespaces); a benchmark, not a test: nothing fails on a slow
# machine.  Run it alone (other load skews the figures): under the shared
# CPU lock on a shared machine.
#
# The hosts are scripts/netns.sh's, as in tests/multihost.sh, on
# 10.213.78.0/24.
#
#   scripts/bench_wire.sh [RATE [EPOCHS]]   RATE for tc (default 100mbit),
#                                           EPOCHS of the 60k set (default 1)
#   BENCH_ROUNDS=N  BENCH_ARGS="..." (extra train options, e.g. --arch modern)
#   BENCH_BIN=PATH  another shardnet binary (e.g. a build of an older commit)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BENCH_BIN:-$here/build/trainer/shardnet}
rate=${1:-100mbit}
epochs=${2:-1}
rounds=${BENCH_ROUNDS:-3}
extra=(${BENCH_ARGS:-})
if [[ $(id -u) -ne 0 ]]; then echo "bench_wire.sh: needs root (network namespaces)" >&2; exit 2; fi
[[ -x $bin ]] || { echo "bench_wire.sh: build first (meson compile -C build): no $bin" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset OMP_NUM_THREADS

subnet=10.213.78.0/24 net=10.213.78
pre=bw$$-
dir=$(mktemp -d)
source "$here/scripts/netns.sh"
trap 'netns_teardown; rm -rf "$dir"' EXIT

netns_setup || { echo "bench_wire.sh: cannot build the namespaces" >&2; exit 1; }
for h in h1 h2 h3; do
  # Each host's link: RATE out of the host, and RATE into it (the bridge
  # side's egress towards the host).
  tc -n "$pre$h" qdisc add dev eth0 root tbf rate "$rate" burst 64kb latency 100ms
  tc -n "${pre}br" qdisc add dev "v-$h" root tbf rate "$rate" burst 64kb latency 100ms
done
netns_rsh "$dir/rsh"
mpiflags=(--mca plm_rsh_agent "$dir/rsh" --mca plm_rsh_no_tree_spawn 1
  --mca btl tcp,self --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet"
  --bind-to none -x OMP_NUM_THREADS=1)

"$bin" prepare --out "$dir/fm.h5" >/dev/null
args=(--data "$dir/fm.h5" --epochs "$epochs" --batch 256 --micro-batch 64 --seed 42 --no-eval
  --quiet --no-ckpt --run "$dir/run" "${extra[@]}")
cmd="shardnet train ${args[*]}"
cmd=${cmd//$dir\//}
echo "bench_wire: 3 hosts x 1 rank, tc tbf $rate per host link each way; mpirun -np 3 --host h1,h2,h3 $cmd --reduce exact|float"

# One run: prints "IMG_PER_S HASH EXACT-LINE".
one() {
  rm -rf "$dir/run"
  netns_head timeout -s KILL 900 mpirun "${mpiflags[@]}" --host h1,h2,h3 -np 3 "$bin" train "${args[@]}" \
    --reduce "$1" >"$dir/out" 2>"$dir/err" || { cat "$dir/out" "$dir/err" >&2; return 1; }
  local r h w
  r=$(awk '/^epoch [0-9]+\/[0-9]+:/ { for (i = 1; i <= NF; i++) if ($(i+1) == "img/s,") { s += $i; k++ } } END { printf "%.0f", k ? s / k : 0 }' "$dir/out")
  h=$(sed -n 's/^done: .*sha256 \([0-9a-f]\{16\}\).*/\1/p' "$dir/out")
  w=$(sed -n 's/^exact reduce: //p' "$dir/out")
  echo "$r $h ${w:--}"
}
declare -a ex fl
for ((k = 1; k <= rounds; k++)); do
  read -r re he we < <(one exact)
  read -r rf hf _ < <(one float)
  ex+=("$re") fl+=("$rf")
  printf 'round %d: exact %6d img/s (%s; %s)   float %6d img/s (%s)   exact/float %.3f\n' \
    "$k" "$re" "$he" "$we" "$rf" "$hf" "$(awk -v a="$re" -v b="$rf" 'BEGIN { print a / b }')"
done
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "best %d, median %d", v[NR], v[int((NR + 1) / 2)] }'; }
echo "exact: $(stats "${ex[@]}") img/s"
echo "float: $(stats "${fl[@]}") img/s"
best_e=$(printf '%s\n' "${ex[@]}" | sort -n | tail -1)
best_f=$(printf '%s\n' "${fl[@]}" | sort -n | tail -1)
echo "exact/float (best rounds): $(awk -v a="$best_e" -v b="$best_f" 'BEGIN { printf "%.3f", a / b }')"
