#!/usr/bin/env bash
# bench_data.sh - time `shardnet prepare` on the real Fashion-MNIST and a
# rank's load of the training set (the same at every P: any rank may be
# given any micro-batch).
#   scripts/bench_data.sh [BUILD_DIR]     (default build; output in a temp dir)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$here/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3; do
  "$build/trainer/shardnet" prepare --force --out "$tmp/fm.h5" | tail -1
done
"$build/tests/bench_loader" "$tmp/fm.h5"
