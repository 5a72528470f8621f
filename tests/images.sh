#!/usr/bin/env bash
# images.sh - your own data in, predictions out, on real files:
#   - an image folder of 375 generated PNG and JPEG files (gray and RGB, one
#     .txt among them) converts; the dataset's pixels equal Pillow's decoding
#     of every file (RGB, --channels 1 by luma, --resize within one level),
#     an all-gray folder becomes 1 channel;
#   - bad images (CMYK, empty, RGBA, text, truncated PNG and JPEG, wrong size)
#     stop prepare naming the file, or are each named and counted with
#     --on-bad-image skip; layout mistakes are named;
#   - the folder's dataset trains for an epoch on 2 ranks, and `predict`
#     agrees with `eval` on every test row (confusion matrix, accuracy,
#     loss), and gives the image files the same probabilities as their rows;
#   - a tiny CIFAR-10-format directory converts (every record and the class
#     names checked) and trains on 2 ranks; a truncated batch is named;
#   - predict's refusals: wrong size, bad --top/--rows, not an image.
#   images.sh PATH/TO/shardnet
set -uo pipefail
bin=${1:?usage: images.sh PATH/TO/shardnet}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gen=("/usr/bin/python3" "$here/images_gen.py")
export OMP_NUM_THREADS=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$here/lib.sh"

# run NAME ARGS...: shardnet ARGS -> $dir/NAME.{out,err}, status in $rc
run() {
  local name=$1
  shift
  timeout 300 "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  rc=$?
}
# expect NAME STATUS STREAM PATTERN: the last run's status and a grep -E match
expect() {
  if [[ $rc -eq $2 ]] && grep -Eq -- "$4" "$dir/$1.$3"; then
    pass "$1"
  else
    fail "$1: exit $rc (want $2), std$3 should match /$4/"
    show "$1"
  fi
}
# py NAME ARGS...: images_gen.py ARGS, a check that passes or fails
py() {
  local name=$1
  shift
  if "${gen[@]}" "$@" >"$dir/$name.out" 2>&1; then
    pass "$name: $(tail -1 "$dir/$name.out")"
  else
    fail "$name"
    sed 's/^/    | /' "$dir/$name.out" | tail -8
  fi
}

"${gen[@]}" folder "$dir/f" 100 25 || exit 1
"${gen[@]}" folder "$dir/g" 20 5 gray || exit 1
"${gen[@]}" bad "$dir/bad" >"$dir/bad.list" || exit 1
"${gen[@]}" cifar "$dir/c" 300 60 || exit 1
echo "made $(find "$dir/f" -type f | wc -l) files in f/, $(wc -l <"$dir/bad.list") bad ones in bad/"

# ---- image folders ----
run prep prepare --from "$dir/f" --out "$dir/f.h5"
expect prep 0 out '^prepare: train 300, test 75 samples of 3x28x28, 3 classes$'
grep -q '^prepare: classes: circle, cross, stripes$' "$dir/prep.out" &&
  grep -q '^prepare: skipped 0 bad image(s), ignored 1 file(s) without' "$dir/prep.out" &&
  pass "prep: sorted class names, the .txt ignored and counted" || fail "prep: summary lines"
py pixels-rgb check "$dir/f.h5" "$dir/f" 3
# the file says where it came from (h5dump -A shows the root attributes)
attr_is() { h5dump -a "/$2" "$1" 2>/dev/null | grep -q "\"$3\""; }
attr_is "$dir/f.h5" source_format images && attr_is "$dir/f.h5" source_path "$dir/f" &&
  pass "prep: source_format images, source_path the folder" || fail "prep: source attributes"
run prep1 prepare --from "$dir/f" --out "$dir/f1.h5" --channels 1
expect prep1 0 out 'samples of 1x28x28, 3 classes$'
py pixels-gray check "$dir/f1.h5" "$dir/f" 1
run prepr prepare --from "$dir/f" --out "$dir/fr.h5" --size 20x36 --resize
expect prepr 0 out 'samples of 3x20x36, 3 classes$'
py pixels-resized check "$dir/fr.h5" "$dir/f" 3 20x36
run prepdef prepare --from "$dir/f/"
expect prepdef 0 out "^prepare: wrote data/f.h5 in "
cmp -s <(h5dump -d /train/images "$dir/data/f.h5" | tail -n +3) <(h5dump -d /train/images "$dir/f.h5" | tail -n +3) &&
  pass "prepdef: data/<folder name>.h5 by default, the same pixels" || fail "prepdef: pixels differ"
run prepg prepare --from "$dir/g" --out "$dir/g.h5"
expect prepg 0 out '^prepare: train 60, test 15 samples of 1x28x28, 3 classes$'
py pixels-all-gray check "$dir/g.h5" "$dir/g" 1

# ---- bad images and layouts ----
run badfail prepare --from "$dir/bad" --out "$dir/bad.h5"
expect badfail 1 err "^shardnet prepare: $dir/bad/train/cross/cmyk.jpg: CMYK JPEG.*--on-bad-image skip"
[[ ! -e $dir/bad.h5 ]] && pass "badfail: no output written" || fail "badfail: output exists"
run badskip prepare --from "$dir/bad" --out "$dir/bad.h5" --on-bad-image skip
expect badskip 0 out '^prepare: skipped 7 bad image\(s\)'
declare -A why=([cmyk.jpg]='CMYK JPEG' [empty.jpeg]='empty file, not an image'
  [rgba.png]='alpha channel' [text.png]='not a PNG or JPEG image'
  [truncated.jpg]='damaged JPEG' [truncated.png]='file ends early'
  [wide.png]='image is 28x30 \(HxW\), expected 28x28')
named=0
while read -r f; do
  grep -Eq "^shardnet prepare: skipped $f: .*${why[$(basename "$f")]}" "$dir/badskip.err" &&
    named=$((named + 1))
done <"$dir/bad.list"
[[ $named -eq 7 ]] && pass "badskip: each of the 7 bad files named with its reason" ||
  { fail "badskip: $named of 7 named"; show badskip; }
expect badskip 0 out '^prepare: train 12, test 6 samples of 3x28x28'
mkdir -p "$dir/m/train/a" "$dir/m/train/b" "$dir/m/test/a" "$dir/m/test/c"
run classes prepare --from "$dir/m" --out "$dir/m.h5"
expect classes 1 err "m/train has class 'b' but $dir/m/test has not"
mkdir -p "$dir/n/train/a"
run notest prepare --from "$dir/n" --format images --out "$dir/n.h5"
expect notest 1 err "n/test: cannot open directory: No such file or directory \(an image folder holds"
run sizeonly prepare --from "$dir/f" --out "$dir/x.h5" --resize
expect sizeonly 2 err '^shardnet prepare: --resize: no --size to resample to \(give --size HxW with it\)$'
run sizeidx prepare --out "$dir/x.h5" --size 28x28
expect sizeidx 2 err '^shardnet prepare: --size: /usr/share/datasets/fashion-mnist is read as idx, not as an image folder \('

# ---- train on 2 ranks, predict, eval ----
timeout 600 "${mpi[@]}" -np 2 "$bin" train --data "$dir/f.h5" --epochs 1 --batch 16 \
  --micro-batch 8 --run "$dir/run" --normalize --arch modern --lr 0.005 >"$dir/train.out" 2>"$dir/train.err"
rc=$?
expect train 0 out "^done: 18 steps"
ckpt=$dir/run/ckpt-00000018.h5
run eval eval --data "$dir/f.h5" "$ckpt"
expect eval 0 out '^test loss [0-9.]+  accuracy [0-9.]+ \([0-9]+/75\)'
run predall predict "$ckpt" "$dir/f.h5" --rows all --top 3 --json
expect predall 0 out '"predictions"'
py predict-agrees-with-eval agree "$dir/predall.out" "$dir/eval.out"
mapfile -t files < <(cd "$dir" && find f/test -type f | LC_ALL=C sort)
(cd "$dir" && timeout 120 "$bin" predict "$ckpt" "${files[@]}" --top 3 --json) >"$dir/predfiles.out" 2>"$dir/predfiles.err"
rc=$?
expect predfiles 0 out '"input": "f/test/circle/img0000.png"'
py files-same-as-rows same "$dir/predall.out" "$dir/predfiles.out"
run table predict "$ckpt" "$dir/f/test/cross/img0001.png" --rows 3 "$dir/f.h5"
expect table 0 out "^$dir/f.h5:test\[3\] +circle +1  [a-z]+ +0\.[0-9]{6}$"
grep -Eq "^$dir/f/test/cross/img0001.png +- +3  [a-z]+ +0\.[0-9]{6}$" "$dir/table.out" &&
  pass "table: an image file, 3 rows (default --top 5 cut to the 3 classes)" || { fail "table"; show table; }

run wide predict "$ckpt" "$dir/bad/train/cross/wide.png"
expect wide 1 err "wide.png: image is 28x30 \(HxW\), expected 28x28 .*--resize.*the model's input is 3x28x28"
run wideok predict "$ckpt" "$dir/bad/train/cross/wide.png" --resize --top 1
expect wideok 0 out 'wide.png +- +1  '
run notimage predict "$ckpt" "$dir/bad/train/cross/text.png"
expect notimage 1 err 'text.png: .*not a PNG, JPEG or HDF5 file either'
run top0 predict --top 0 "$ckpt" "$dir/f.h5"
expect top0 2 err '^shardnet predict: --top: 0 is out of range \(an integer in 1..256\)$'
run top4 predict --top 4 "$ckpt" "$dir/f.h5"
expect top4 2 err "^shardnet predict: --top: 4 is more than the 3 classes of $ckpt \\(an integer in 1..3\\)$"
run rows predict --rows 5-2 "$ckpt" "$dir/f.h5"
expect rows 2 err "^shardnet predict: --rows: '5-2' is not valid \\(all, or rows N and ranges A-B with A <= B, separated by commas, e.g. 0,5,10-19\\)$"
run row75 predict --rows 75 "$ckpt" "$dir/f.h5"
expect row75 1 err 'f.h5: row 75 asked for \(--rows\), but it has 75 test rows'
run graymodel predict "$ckpt" "$dir/g.h5"
expect graymodel 1 err 'g.h5: samples are 1x28x28, the model.s input is 3x28x28'

# ---- CIFAR-10 ----
run cifar prepare --from "$dir/c" --out "$dir/c.h5"
expect cifar 0 out '^prepare: train 300, test 60 samples of 3x32x32, 10 classes$'
grep -q '^prepare: classes: class-0, class-1, .*, class-9$' "$dir/cifar.out" &&
  pass "cifar: class names from batches.meta.txt" || fail "cifar: class names"
py cifar-records check-cifar "$dir/c.h5" "$dir/c"
# the per-channel line of the report is the file's channel_mean/channel_std
if /usr/bin/python3 - "$dir/c.h5" "$dir/cifar.out" <<'PY'
import re, sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    want = list(f.attrs["channel_mean"]) + list(f.attrs["channel_std"])
line = [l for l in open(sys.argv[2]) if l.startswith("prepare: per channel")][0]
got = [float(x) for x in re.findall(r"\d+\.\d+", line)]
sys.exit(0 if len(got) == 6 and all(abs(a - b) < 1e-6 for a, b in zip(got, want)) else 1)
PY
then pass "cifar: the per-channel mean/std line equals the file's channel_mean/channel_std"
else fail "cifar: per-channel line"; fi
attr_is "$dir/c.h5" source_format cifar10 && attr_is "$dir/c.h5" source_path "$dir/c" &&
  pass "cifar: source_format cifar10, source_path the directory" || fail "cifar: source attributes"
timeout 600 "${mpi[@]}" -np 2 "$bin" train --data "$dir/c.h5" --epochs 1 --batch 20 \
  --micro-batch 10 --run "$dir/crun" >"$dir/ctrain.out" 2>"$dir/ctrain.err"
rc=$?
expect ctrain 0 out '^done: 15 steps'
mkdir "$dir/c2"
cp "$dir/c"/data_batch_*.bin "$dir/c2/"
head -c 10000 "$dir/c/test_batch.bin" >"$dir/c2/test_batch.bin"
run cifarcut prepare --from "$dir/c2" --out "$dir/c2.h5"
expect cifarcut 1 err "c2/test_batch.bin: 10000 bytes is not a whole number of 3073-byte CIFAR-10 records"
printf '\x0c' | dd of="$dir/c2/data_batch_1.bin" bs=1 seek=3073 conv=notrunc status=none
cp "$dir/c/test_batch.bin" "$dir/c2/"
run cifarlabel prepare --from "$dir/c2" --out "$dir/c2.h5"
expect cifarlabel 1 err "data_batch_1.bin: record 1 has label 12, not below the 10 classes of CIFAR-10"
finish
