#!/usr/bin/env bash
# quickstart.sh - the main job, from a fresh Debian 12 machine to a trained,
# evaluated LeNet:
#   1. install what is missing and build        (scripts/setup.sh)
#   2. prepare Fashion-MNIST as HDF5             (shardnet prepare)
#   3. train with mpirun, one rank per core      (shardnet train)
#   4. evaluate the final checkpoint             (shardnet eval)
#   5. export it for other runtimes              (shardnet export: ONNX, safetensors)
#
#   scripts/quickstart.sh [extra `shardnet train` options...]
# Environment: RANKS (default: the number of cores), RUN_DIR (default runs/quickstart).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
"$here/scripts/setup.sh" build
bin=$here/build/trainer/shardnet
ranks=${RANKS:-$(nproc)}
run=${RUN_DIR:-runs/quickstart}
mkdir -p "$run"

mpirun_opts=(-np "$ranks" --mca mpi_yield_when_idle 1)
[ "$(id -u)" -eq 0 ] && mpirun_opts+=(--allow-run-as-root)
[ "$ranks" -gt "$(nproc)" ] && mpirun_opts+=(--oversubscribe)

echo "== summary"
"$bin" summary
echo "== prepare"
# An existing file is kept when it is the current format (2: with checksums).
if h5dump -a /format_version data/fashion-mnist.h5 2>/dev/null | grep -q '(0): 2$'; then
  echo "data/fashion-mnist.h5 exists"
else
  "$bin" prepare
fi
echo "== train ($ranks ranks)"
mpirun "${mpirun_opts[@]}" "$bin" train --ckpt-dir "$run/checkpoints" \
  --metrics "$run/metrics.jsonl" "$@"
latest=$run/checkpoints/$(cat "$run/checkpoints/latest")
echo "== eval $latest"
mpirun "${mpirun_opts[@]}" "$bin" eval "$latest"
echo "== export"
"$bin" export "$latest" --format onnx
"$bin" export "$latest" --format safetensors
echo "== done: checkpoints and exports in $run/checkpoints, metrics in $run/metrics.jsonl"
