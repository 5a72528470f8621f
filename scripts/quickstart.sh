#!/usr/bin/env bash
# quickstart.sh - the main job, from a fresh Debian 12 machine to a trained,
# evaluated LeNet:
#   1. install what is missing, build, install  (scripts/setup.sh: build/install/bin/shardnet)
#   2. prepare Fashion-MNIST as HDF5             (shardnet prepare)
#   3. train with mpirun, one rank per core      (shardnet train)
#   4. evaluate the final checkpoint             (shardnet eval)
#   5. export it for other runtimes              (shardnet export: ONNX, safetensors)
#
#   scripts/quickstart.sh [extra `shardnet train` options...]
# Environment: RANKS (default: the number of cores), RUN_DIR (default a new
# runs/quickstart-YYYYmmdd-HHMMSS: a run directory is never reused),
# SHARDNET_MPI (scripts/setup.sh).  Works with Open MPI's mpirun and MPICH's mpiexec.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
"$here/scripts/setup.sh" build
export PATH=$here/build/install/bin:$PATH
bin=shardnet
ranks=${RANKS:-$(nproc)}
run=${RUN_DIR:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}

mpirun_opts=(-np "$ranks")
if mpirun --version 2>&1 | grep -q 'Open MPI'; then
  mpirun_opts+=(--mca mpi_yield_when_idle 1)
  [ "$(id -u)" -eq 0 ] && mpirun_opts+=(--allow-run-as-root)
  [ "$ranks" -gt "$(nproc)" ] && mpirun_opts+=(--oversubscribe)
fi

echo "== summary"
"$bin" summary
echo "== prepare"
# An existing file is kept when this program reads it (format 2 or 3: with checksums).
if h5dump -a /format_version data/fashion-mnist.h5 2>/dev/null | grep -q '(0): [23]$'; then
  echo "data/fashion-mnist.h5 exists"
else
  "$bin" prepare
fi
echo "== train ($ranks ranks)"
mpirun "${mpirun_opts[@]}" "$bin" train --run "$run" "$@"
latest=$run/$(cat "$run/latest")
echo "== eval $latest"
mpirun "${mpirun_opts[@]}" "$bin" eval "$latest"
echo "== export"
"$bin" export "$latest" --format onnx
"$bin" export "$latest" --format safetensors
echo "== done: checkpoints, exports, metrics and TensorBoard events in $run (shardnet info $run)"
