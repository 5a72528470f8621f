#!/usr/bin/env bash
# export.sh - `shardnet export` proven by real runtimes, for both archs:
#   - onnxruntime (npm onnxruntime-node, pinned in package-lock.json; this
#     script runs `npm ci --ignore-scripts` when node_modules is missing) runs
#     the ONNX export on the whole Fashion-MNIST test set at batch 64 and the
#     first 500 images at batch 1, plus the embedded golden batch at batch 8
#     and 1: logits within 1e-4 of shardnet's, same argmax, and as many
#     correct predictions as `shardnet eval` counts;
#   - Debian's python3-onnx: check_model(full_check=True), strict shape
#     inference, output (N, 10), IR 7 / opset 13, parameter digest;
#   - safetensors: the strict format parser (scripts/safetensors_strict.py)
#     and load_state_dict(strict=True) into the textbook nn.Sequential LeNet
#     in PyTorch (Debian python3-torch), logits within 1e-4 on the golden
#     batch and the whole test set;
#   - metadata: class names, normalisation = the checkpoint's, source
#     checkpoint SHA-256 = sha256sum of the file;
#   - a flipped weight byte: a high (sign/exponent) byte is caught by the
#     golden-batch check of both checkers, a low mantissa byte by the digest;
#   - errors: unknown format (2), corrupt / missing checkpoint (1), missing
#     or read-only output directory, full disk (1): no output file, no
#     temporary file, an existing output untouched.
#   export.sh PATH/TO/shardnet PATH/TO/export_dump
set -uo pipefail
bin=${1:?usage: export.sh PATH/TO/shardnet PATH/TO/export_dump}
dump=${2:?usage: export.sh PATH/TO/shardnet PATH/TO/export_dump}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=/usr/bin/python3 # Debian's python3-onnx and python3-torch, not a pyenv python
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
dir=$(mktemp -d)
cleanup() {
  for m in "$dir/ro" "$dir/full"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  rm -rf "$dir"
}
trap cleanup EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run() { run_cmd "$@"; }
finish() {
  echo "$passed passed, $failed failed$([[ $skipped -eq 0 ]] || echo ", $skipped skipped")"
  [[ $failed -eq 0 ]]
  exit
}

# The runtimes.  A missing one is a failure, never a skip.
for mod in onnx torch; do
  "$py" -c "import $mod" 2>/dev/null || { fail "$py cannot import $mod (scripts/test.sh installs TEST_PACKAGES)"; finish; }
done
if [[ ! -f $root/node_modules/onnxruntime-node/package.json ]]; then
  (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund) >"$dir/npm.out" 2>&1 \
    || { fail "npm ci --ignore-scripts"; tail -5 "$dir/npm.out"; finish; }
fi
ortv=$(node -p "require('$root/node_modules/onnxruntime-node/package.json').version")
want=$(node -p "require('$root/package-lock.json').packages['node_modules/onnxruntime-node'].version")
[[ $ortv == "$want" ]] && pass "onnxruntime-node $ortv installed, as pinned in package-lock.json" \
  || fail "onnxruntime-node $ortv installed, lockfile pins $want"

"$bin" prepare --out "$dir/fm.h5" >/dev/null 2>&1 || { fail "prepare"; finish; }
# classic: the textbook's sigmoid net learns in a few epochs with momentum and
# --normalize (so the export carries a real mean/std); modern: plain x/255.
run train-classic "$bin" train --data "$dir/fm.h5" --limit 6400 --batch 32 --epochs 3 --lr 0.1 \
  --momentum 0.9 --normalize --no-eval --quiet --run "$dir/classic"
[[ $rc -eq 0 ]] || { fail "train classic"; show train-classic; finish; }
run train-modern "$bin" train --data "$dir/fm.h5" --limit 6400 --batch 64 --epochs 2 --arch modern \
  --lr 0.01 --momentum 0.9 --no-eval --quiet --run "$dir/modern"
[[ $rc -eq 0 ]] || { fail "train modern"; show train-modern; finish; }

for arch in classic modern; do
  ck=$dir/$arch/$(cat "$dir/$arch/latest")
  base=${ck%.h5}
  run "x-$arch-onnx" "$bin" export "$ck" --format onnx --data "$dir/fm.h5"
  expect_ok "x-$arch-onnx" "$arch: export --format onnx writes CHECKPOINT.onnx by default" "wrote $base.onnx (onnx)"
  run "x-$arch-st" "$bin" export "$ck" --format safetensors --data "$dir/fm.h5" --out "$dir/$arch.safetensors"
  expect_ok "x-$arch-st" "$arch: export --format safetensors --out FILE" "wrote $dir/$arch.safetensors"
  onnx=$base.onnx st=$dir/$arch.safetensors

  run "eval-$arch" "$bin" eval --data "$dir/fm.h5" "$ck"
  correct=$(sed -n 's/^test loss .* accuracy [0-9.]* (\([0-9]*\)\/10000)$/\1/p' "$dir/eval-$arch.out")
  [[ -n $correct ]] || { fail "$arch: shardnet eval"; show "eval-$arch"; continue; }
  run "dump-$arch" "$dump" "$ck" "$dir/fm.h5" "$dir/$arch-test"
  expect_ok "dump-$arch" "$arch: export_dump wrote the 10000 test images and shardnet's logits" "^10000 1 28 28 10$"
  t=$dir/$arch-test

  run "ort-$arch" node "$root/scripts/onnx_check.mjs" "$onnx" --inputs "$t.images.f32" \
    --logits "$t.logits.f32" --labels "$t.labels.u8" --batch 64 --batch1 500
  expect_ok "ort-$arch" "$arch: onnxruntime on the whole test set (batch 64) and 500 images (batch 1)" \
    "test set at batch 64: 10000 images, .* same argmax 10000/10000, onnxruntime correct $correct/10000"
  sed -n 's/^\(golden\|test set\)/    \1/p' "$dir/ort-$arch.out"
  grep -q "golden batch at batch 1: 8 images" "$dir/ort-$arch.out" && grep -q "test set at batch 1: 500 images" "$dir/ort-$arch.out" \
    && pass "$arch: onnxruntime at batch 1 too (golden batch and 500 test images), shardnet eval counts $correct correct" \
    || fail "$arch: batch-1 runs missing"

  run "onnx-$arch" "$py" "$root/scripts/onnx_verify.py" "$onnx"
  expect_ok "onnx-$arch" "$arch: python3-onnx check_model(full_check) + strict shape inference, logits (N, 10)" \
    "images \['N', 1, 28, 28\] -> logits \['N', 10\] (inferred)"

  run "strict-$arch" "$py" "$root/scripts/safetensors_strict.py" "$st"
  expect_ok "strict-$arch" "$arch: safetensors passes the strict format parser" "OK .*: 10 tensors"
  run "torch-$arch" "$py" "$root/scripts/load_safetensors.py" "$st" --inputs "$t.images.f32" \
    --logits "$t.logits.f32" --labels "$t.labels.u8"
  expect_ok "torch-$arch" "$arch: PyTorch load_state_dict(strict=True), whole test set within 1e-4, $correct correct" \
    "test set: 10000 images, .* same argmax 10000/10000, PyTorch correct $correct/10000"
  sed -n 's/^\(golden\|test set\)/    \1/p' "$dir/torch-$arch.out"

  # Metadata: what the model expects, where it came from.
  run "meta-$arch" "$py" -c '
import hashlib, json, sys
sys.path.insert(0, sys.argv[5] + "/scripts")
import onnx, safetensors_strict
onnx_path, st_path, ck, arch = sys.argv[1:5]
m = {p.key: p.value for p in onnx.load(onnx_path).metadata_props}
s = safetensors_strict.read(st_path)[0]
digest = hashlib.sha256(open(ck, "rb").read()).hexdigest()
want_mean = [0.0] if arch == "modern" else None
for name, meta in (("onnx", m), ("safetensors", s)):
    assert meta["shardnet.arch"] == arch, meta["shardnet.arch"]
    assert json.loads(meta["shardnet.classes"])[9] == "Ankle boot", meta["shardnet.classes"]
    assert meta["shardnet.source_checkpoint_sha256"] == digest, "checkpoint digest"
    mean, std = json.loads(meta["shardnet.input_mean"]), json.loads(meta["shardnet.input_std"])
    if arch == "modern":
        assert (mean, std) == ([0.0], [1.0]), (mean, std)
    else:
        assert 0.2 < mean[0] < 0.4 and 0.25 < std[0] < 0.45, (mean, std)
    assert json.loads(meta["shardnet.golden"])["count"] == 8
    print(name, "metadata ok: mean", mean, "std", std, "checkpoint sha256", digest[:16])
assert s["format"] == "pt"
' "$onnx" "$st" "$ck" "$arch" "$root"
  expect_ok "meta-$arch" "$arch: metadata (classes, normalisation, checkpoint sha256) in both files" "safetensors metadata ok"
done

# A flipped weight byte.  flip FILE OUT FLOAT_BYTE: XOR 0xff on byte FLOAT_BYTE
# of the first float of 0.weight (conv1.weight), located in the file as is.
flip() {
  "$py" -c '
import json, struct, sys
path, out, byte = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = bytearray(open(path, "rb").read())
if path.endswith(".onnx"):
    import onnx
    raw = next(t.raw_data for t in onnx.load(path).graph.initializer if t.doc_string.endswith(" 0.weight"))
    at = data.find(raw)
    assert at > 0 and data.find(raw, at + 1) < 0
else:
    (n,) = struct.unpack("<Q", data[:8])
    at = 8 + n + json.loads(data[8:8 + n])["0.weight"]["data_offsets"][0]
data[at + byte] ^= 0xFF
open(out, "wb").write(data)
' "$1" "$2" "$3"
}
onnx=$dir/classic/$(sed 's/\.h5$/.onnx/' "$dir/classic/latest") st=$dir/classic.safetensors
flip "$onnx" "$dir/hi.onnx" 3 && flip "$st" "$dir/hi.safetensors" 3 \
  && flip "$onnx" "$dir/lo.onnx" 0 && flip "$st" "$dir/lo.safetensors" 0 || fail "flipping bytes"
run ort-hi node "$root/scripts/onnx_check.mjs" "$dir/hi.onnx"
expect_fail ort-hi 1 "FAIL: golden batch at batch 8: max |logit diff|" "ONNX, flipped high byte of a weight: onnxruntime golden check fails"
run torch-hi "$py" "$root/scripts/load_safetensors.py" "$dir/hi.safetensors"
expect_fail torch-hi 1 "FAIL: golden batch: max |logit diff|" "safetensors, flipped high byte: PyTorch golden check fails"
run onnx-lo "$py" "$root/scripts/onnx_verify.py" "$dir/lo.onnx"
expect_fail onnx-lo 1 "FAIL: params sha256" "ONNX, flipped low mantissa byte: the parameter digest check fails"
run torch-lo "$py" "$root/scripts/load_safetensors.py" "$dir/lo.safetensors"
expect_fail torch-lo 1 "FAIL: params sha256" "safetensors, flipped low mantissa byte: the parameter digest check fails"
run strict-hi "$py" "$root/scripts/safetensors_strict.py" "$dir/hi.safetensors"
[[ $rc -eq 0 ]] && pass "the strict parser alone accepts the flipped file (format intact): the proof is the golden batch" \
  || { fail "strict parser on a well-formed flipped file: exit $rc"; show strict-hi; }

# Broken safetensors: the strict parser names the rule.
"$py" -c '
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read()); (n,) = struct.unpack("<Q", d[:8])
open(sys.argv[2] + "/trunc.safetensors", "wb").write(d[:-4])
h = d[8:8 + n].rstrip(b" ")
open(sys.argv[2] + "/unpadded.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b" " + d[8 + n:])
' "$st" "$dir"
run strict-trunc "$py" "$root/scripts/safetensors_strict.py" "$dir/trunc.safetensors"
expect_fail strict-trunc 1 "tensors cover .* bytes, the data area has" "strict parser: a truncated file"
run strict-pad "$py" "$root/scripts/safetensors_strict.py" "$dir/unpadded.safetensors"
expect_fail strict-pad 1 "is not a multiple of 8" "strict parser: a header not padded to 8 bytes"

# Errors of shardnet export.
ck=$dir/classic/$(cat "$dir/classic/latest")
run e-help "$bin" export --help
expect_ok e-help "export --help" "usage: shardnet export CHECKPOINT --format onnx|safetensors"
run e-format "$bin" export "$ck" --format tflite --data "$dir/fm.h5" --out "$dir/e.out"
expect_fail e-format 2 "shardnet export: --format: 'tflite' is not a choice (onnx|safetensors)" "unknown format"
run e-noformat "$bin" export "$ck" --data "$dir/fm.h5"
expect_fail e-noformat 2 "shardnet export: --format: not given (onnx|safetensors; it is required)" "no --format"
run e-missing "$bin" export "$dir/nope.h5" --format onnx --data "$dir/fm.h5" --out "$dir/e.onnx"
expect_fail e-missing 1 "nope.h5" "missing checkpoint"
cp "$ck" "$dir/corrupt.h5"
h5dump -d /params/fc1.weight -b LE -o "$dir/fc1.bin" "$ck" >/dev/null 2>&1
"$py" -c '
import sys
p = sys.argv[1]; d = bytearray(open(p, "rb").read()); w = open(sys.argv[2], "rb").read()
at = d.find(w)
assert at > 0, "fc1.weight bytes not found"
d[at + 1001] ^= 0x10
open(p, "wb").write(d)
' "$dir/corrupt.h5" "$dir/fc1.bin" || fail "could not corrupt fc1.weight in the checkpoint"
run e-corrupt "$bin" export "$dir/corrupt.h5" --format onnx --data "$dir/fm.h5" --out "$dir/e.onnx"
expect_fail e-corrupt 1 "fc1.weight" "corrupt checkpoint (one flipped bit in fc1.weight) is refused, naming the tensor"
[[ ! -e $dir/e.onnx ]] && pass "no output file after a refused checkpoint" || fail "e.onnx exists after a refused checkpoint"
cp "$st" "$dir/keep.safetensors"
before=$(sha256sum <"$dir/keep.safetensors")
run e-exists "$bin" export "$ck" --format safetensors --data "$dir/fm.h5" --out "$dir/keep.safetensors"
expect_fail e-exists 1 "--out $dir/keep.safetensors: the file exists and is not overwritten; give --force" \
  "an existing output is refused without --force"
run e-keep "$bin" export "$dir/corrupt.h5" --format safetensors --data "$dir/fm.h5" --out "$dir/keep.safetensors" --force
[[ $rc -eq 1 && $(sha256sum <"$dir/keep.safetensors") == "$before" ]] \
  && pass "a failed export (--force) leaves an existing output file untouched" || fail "existing output changed (exit $rc)"
run e-force "$bin" export "$ck" --format safetensors --data "$dir/fm.h5" --out "$dir/keep.safetensors" --force
expect_ok e-force "--force replaces an existing output" "wrote $dir/keep.safetensors"
run e-nodir "$bin" export "$ck" --format onnx --data "$dir/fm.h5" --out "$dir/no/such/dir/m.onnx"
[[ $rc -eq 0 && -s $dir/no/such/dir/m.onnx ]] && pass "missing output directories are created" \
  || { fail "export into missing directories: exit $rc"; show e-nodir; }
echo x >"$dir/plainfile"
run e-notdir "$bin" export "$ck" --format onnx --data "$dir/fm.h5" --out "$dir/plainfile/sub/m.onnx"
expect_fail e-notdir 1 "--out $dir/plainfile/sub/m.onnx: $dir/plainfile exists and is not a directory" \
  "a parent that is a file is refused, naming it"
run e-nodata "$bin" export "$ck" --format onnx --data "$dir/none.h5" --out "$dir/e.onnx"
expect_fail e-nodata 1 "none.h5" "dataset for the golden batch missing"
[[ ! -e $dir/e.onnx ]] && pass "no output file after a missing dataset" || fail "e.onnx exists"
# Root ignores file modes: a read-only mount and a full disk are the honest tests.
mkdir -p "$dir/ro" "$dir/full"
if ! is_root; then
  skip "read-only and full-disk output: mounting a tmpfs needs root"
elif mount -t tmpfs -o ro,size=1m tmpfs "$dir/ro" 2>/dev/null && mount -t tmpfs -o size=64k tmpfs "$dir/full" 2>/dev/null; then
  run e-ro "$bin" export "$ck" --format onnx --data "$dir/fm.h5" --out "$dir/ro/m.onnx"
  expect_fail e-ro 1 "Read-only file system" "read-only output directory"
  run e-full "$bin" export "$ck" --format safetensors --data "$dir/fm.h5" --out "$dir/full/m.safetensors"
  expect_fail e-full 1 "No space left on device" "full disk while writing (64 KiB tmpfs, 283 KB export)"
  [[ -z $(ls -A "$dir/full") ]] && pass "full disk: no partial file and no temporary file left" \
    || fail "full disk left: $(ls -A "$dir/full")"
else
  fail "cannot mount tmpfs (needs root) for the read-only and full-disk cases"
fi
finish
