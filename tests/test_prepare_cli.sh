#!/usr/bin/env bash
# test_prepare_cli.sh - `shardnet prepare` exit codes AND messages.
#   test_prepare_cli.sh PATH/TO/shardnet
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect NAME STATUS STREAM PATTERN -- ARGS...: runs bin with ARGS, checks the
# exit status and that STREAM (out|err) matches the grep -E PATTERN.
expect() {
  local name=$1 want=$2 stream=$3 pattern=$4
  shift 5
  local got=0
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, want $want"; cat "$tmp/err"; fails=$((fails + 1)); return
  fi
  if ! grep -Eq -- "$pattern" "$tmp/$stream"; then
    echo "FAIL $name: std$stream lacks /$pattern/:"; cat "$tmp/$stream"; fails=$((fails + 1)); return
  fi
  echo "ok   $name"
}

expect help 0 out '^usage: shardnet prepare' -- prepare --help
expect bad-flag 2 err "^shardnet prepare: --frob: unknown option$" -- prepare --frob
expect stray-arg 2 err "^shardnet prepare: unexpected argument 'extra' \(prepare takes options only\)$" -- prepare extra
expect empty-classes 2 err "^shardnet prepare: --classes: 'a,,b' has an empty name \(1 to 256 non-empty names separated by commas\)$" -- prepare --classes 'a,,b'
expect many-classes 2 err '^shardnet prepare: --classes: more than 256 names \(' -- prepare --classes "$(seq -s, 0 256)"
expect missing-dir 1 err "shardnet prepare: $tmp/none: neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz found" \
  -- prepare --from "$tmp/none" --out "$tmp/o/x.h5"
[ ! -e "$tmp/o/x.h5" ] || { echo "FAIL missing-dir: output exists"; fails=$((fails + 1)); }

# A truncated gzip among the real files: message names the file, no output left.
mkdir -p "$tmp/cut"
cp /usr/share/datasets/fashion-mnist/*.gz "$tmp/cut/"
head -c 100000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz >"$tmp/cut/t10k-images-idx3-ubyte.gz"
expect truncated 1 err "t10k-images-idx3-ubyte.gz: .*truncated" -- prepare --from "$tmp/cut" --out "$tmp/cut/out.h5"
[ "$(ls "$tmp/cut" | wc -l)" -eq 4 ] || { echo "FAIL truncated: files left: $(ls "$tmp/cut")"; fails=$((fails + 1)); }

expect fashion 0 out "^prepare: train 60000, test 10000 samples of 1x28x28, 10 classes$" \
  -- prepare --out "$tmp/data/fm.h5"
grep -q "^prepare: classes: T-shirt/top, Trouser, .*, Ankle boot$" "$tmp/out" ||
  { echo "FAIL fashion: class names"; fails=$((fails + 1)); }
grep -q "^prepare: wrote $tmp/data/fm.h5 in " "$tmp/out" || { echo "FAIL fashion: wrote line"; fails=$((fails + 1)); }
[ -f "$tmp/data/fm.h5" ] || { echo "FAIL fashion: no output file"; fails=$((fails + 1)); }

expect bad-format 2 err "^shardnet prepare: --format: 'png' is not a choice \(auto\|idx\|images\|cifar10\)$" -- prepare --format png
expect bad-channels 2 err "^shardnet prepare: --channels: '2' is not a choice \(1\|3\)$" -- prepare --channels 2 --from "$tmp"
expect bad-size 2 err "^shardnet prepare: --size: '28' is not valid \(HxW with each side 1..16384, e.g. 28x28\)$" -- prepare --size 28
expect huge-size 2 err "^shardnet prepare: --size: 28x16385 is out of range \(HxW with each side 1..16384, e.g. 28x28\)$" -- prepare --size 28x16385
expect bad-on-bad 2 err "^shardnet prepare: --on-bad-image: 'ignore' is not a choice \(fail\|skip\)$" -- prepare --on-bad-image ignore
expect classes-images 2 err "^shardnet prepare: --classes: $tmp is read as images, whose class names come from the data \(--classes is for --format idx\)$" -- prepare --format images --from "$tmp" --classes a,b
expect images-option-idx 2 err "^shardnet prepare: --channels: $tmp is read as idx, not as an image folder \(--size, --resize, --channels and --on-bad-image are for --format images\)$" -- prepare --channels 3 --from "$tmp"
expect no-name 2 err "^shardnet prepare: --out: not given, and --from '/' has no name to take for it \(give --out FILE\)$" -- prepare --format cifar10 --from /
expect no-cifar 1 err "no data_batch_\*.bin files" -- prepare --format cifar10 --from "$tmp" --out "$tmp/c.h5"
expect top-level 0 out '^  prepare +convert IDX files' -- --help
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
