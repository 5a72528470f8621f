#!/usr/bin/env bash
# setup.sh - make a fresh Debian 12 machine ready, build shardnet and install
# it into a prefix.
#
#   scripts/setup.sh [--test] [--prefix DIR] [BUILD_DIR]     (default BUILD_DIR: build)
#   scripts/setup.sh --print-packages [--test]
#
# Installs the Debian packages below when any is missing (apt-get update first;
# needs root or sudo), configures and builds with meson, then `meson install`s
# into DIR (default BUILD_DIR/install: bin/shardnet, the man page, bash
# completion, share/shardnet/ scripts; nothing outside the checkout).  Idempotent:
# a second run installs nothing and only rebuilds what changed.
# --test (used by scripts/test.sh) also installs TEST_PACKAGES.
# --print-packages prints the package list (with --test: and the test packages).
#
# Environment: SHARDNET_MPI picks the MPI: openmpi (default), mpich (Debian's
# MPICH, Hydra's mpiexec), or none (install no MPI: use the one meson finds,
# e.g. a site's module).
set -euo pipefail

# The Debian packages shardnet needs to build and run (libjansson-dev: JSON
# for metrics, config.json, shardnet info; libpng-dev, libjpeg62-turbo-dev: image
# folders for `shardnet prepare` and `shardnet predict`).
PACKAGES=(
  build-essential meson ninja-build pkg-config help2man
  libdnnl-dev
  libhdf5-dev hdf5-tools zlib1g-dev libssl-dev libjansson-dev
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev
  libpng-dev libjpeg62-turbo-dev
  dataset-fashion-mnist
)
# The MPI (SHARDNET_MPI=mpich swaps in libmpich-dev mpich).
PACKAGES+=(libopenmpi-dev openmpi-bin)

# Only for the tests: cmocka; the runtimes that prove the exports (suite
# 'export'); protobuf and crc32c for the independent TensorBoard-file reader
# (tests/tfevents_check.py); matplotlib for scripts/plot.py (suite 'mpi');
# h5py for scripts/bench.sh's PyTorch comparison; Pillow (python3-pil) to make and
# check the test images of tests/images.sh; a real one-node Slurm with
# munge (suite 'cluster': the daemons are for the tests, a user who trains
# gets none); iproute2 for the simulated hosts; man-db for the man page.
# Run by /usr/bin/python3 (Debian's, not a pyenv python).  python3-torch is
# large (~800 MB installed).  onnxruntime itself comes from npm, pinned in
# package-lock.json (tests/export.sh runs `npm ci --ignore-scripts`); node and
# npm are taken as found when present, else Debian's nodejs + npm are installed.
TEST_PACKAGES=(
  libcmocka-dev
  python3-onnx python3-torch python3-matplotlib python3-h5py
  python3-protobuf python3-crc32c python3-pyflakes python3-pil
  slurm-client slurmctld slurmd munge iproute2 man-db
)

case ${SHARDNET_MPI:-openmpi} in
  openmpi) ;;
  mpich) PACKAGES=("${PACKAGES[@]/libopenmpi-dev/libmpich-dev}")
         PACKAGES=("${PACKAGES[@]/openmpi-bin/mpich}") ;;
  none) PACKAGES=("${PACKAGES[@]/libopenmpi-dev/}")
        PACKAGES=("${PACKAGES[@]/openmpi-bin/}") ;;
  *) echo "setup: SHARDNET_MPI must be openmpi, mpich or none, not '$SHARDNET_MPI'" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
test=0 print=0 prefix="" build=build
while [ $# -gt 0 ]; do
  case $1 in
    --test) test=1 ;;
    --print-packages) print=1 ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "setup: unknown option '$1' (see scripts/setup.sh --help)" >&2; exit 2 ;;
    *) build=$1 ;;
  esac
  shift
done
wanted=()
for p in "${PACKAGES[@]}"; do [ -n "$p" ] && wanted+=("$p"); done
if [ $test = 1 ]; then
  wanted+=("${TEST_PACKAGES[@]}")
  if [ $print = 0 ]; then
    command -v node >/dev/null && command -v npm >/dev/null || wanted+=(nodejs npm)
  fi
fi
if [ $print = 1 ]; then
  echo "${wanted[*]}"
  exit 0
fi

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
prefix=${prefix:-$here/$build/install}
case $prefix in /*) ;; *) prefix=$PWD/$prefix ;; esac
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release --prefix "$prefix"
elif [ "$(meson introspect "$build" --buildoptions | python3 -c \
        'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')" != "$prefix" ]; then
  meson configure "$build" --prefix "$prefix"
fi
meson compile -C "$build"
meson install -C "$build" --quiet
echo "setup: installed shardnet into $prefix (add $prefix/bin to PATH)"
