#!/usr/bin/env bash
# setup.sh - make a fresh Debian 12 machine ready and build shardnet.
#
#   scripts/setup.sh [--test] [BUILD_DIR]      (default BUILD_DIR: build)
#
# Installs the Debian packages below when any is missing (apt-get update first;
# needs root or sudo), then configures and builds with meson.  Idempotent:
# a second run installs nothing and only rebuilds what changed.
# --test (used by scripts/test.sh) also installs TEST_PACKAGES.
set -euo pipefail

# (ocl-icd-opencl-dev: Debian's oneDNN CMake config requires OpenCL to be
# found, so meson's dependency('dnnl') fails without it.)
# The one list of Debian packages shardnet needs to build, run and test
# (python3 for the test scripts is part of Debian's base system).
PACKAGES=(
  build-essential meson ninja-build pkg-config cmake
  libopenmpi-dev openmpi-bin
  libdnnl-dev ocl-icd-opencl-dev
  libhdf5-dev hdf5-tools zlib1g-dev libssl-dev
  libcmocka-dev
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev
  dataset-fashion-mnist
)
# Cluster use: Slurm (batch script, srun --mpi=pmix) and munge for its auth.
PACKAGES+=(slurm-client slurmctld slurmd munge iproute2)

# Only for the tests: the runtimes that prove the exports (suite 'export'),
# matplotlib for scripts/plot.py (suite 'mpi'), h5py for scripts/bench.sh's
# PyTorch comparison (scripts/torch_lenet.py).  Run by /usr/bin/python3 (Debian's, not a pyenv python).  python3-torch is
# large (~800 MB installed).  onnxruntime itself comes from npm, pinned in
# package-lock.json (tests/export.sh runs `npm ci --ignore-scripts`); node and
# npm are taken as found when present (e.g. NodeSource's Node 20), else
# Debian's nodejs + npm are installed.
TEST_PACKAGES=(
  python3-onnx python3-torch python3-matplotlib python3-h5py
)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wanted=("${PACKAGES[@]}")
if [ "${1:-}" = "--test" ]; then
  shift
  wanted+=("${TEST_PACKAGES[@]}")
  command -v node >/dev/null && command -v npm >/dev/null || wanted+=(nodejs npm)
fi
build=${1:-build}

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cd "$here"
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release
fi
meson compile -C "$build"
echo "setup: built $here/$build/trainer/shardnet"
