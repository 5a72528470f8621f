#!/usr/bin/env bash
# channels.sh - per-channel normalisation, the self-describing dataset file,
# `eval --predictions` and exports without the dataset, on real files:
#   - a 3-channel file (tests/make_dataset, through dataset_write):
#     channel_mean/channel_std equal numpy's mean and population std of
#     /train/images / 255 per channel (h5py); pixel_mean/pixel_std are the
#     whole-file values;
#   - `shardnet prepare` on Fashion-MNIST: `h5dump -A` shows axis_order,
#     pixel_scale, class_names, source_format "idx", source_path,
#     source_fingerprint (= SHA-256 of the source digests), created_by,
#     created_utc (ISO 8601 UTC);
#   - train --normalize on 2 ranks: the checkpoint's norm_mean/norm_std are
#     the file's per-channel values;
#   - eval --predictions: one row per test sample, labels = the file's,
#     the predicted class = the argmax of the row's probabilities, rows sum
#     to 1, the same file at P=1 and P=2, the accuracy = eval's; an existing
#     file refused (1) unless --force; an input as output refused (2);
#   - export --bake-normalization: onnxruntime on raw x/255 of the same test
#     samples predicts what the CSV says (probabilities within 1e-5), and the
#     golden batch passes, while the unbaked export fed the same raw inputs
#     is caught; --bake-normalization with safetensors is a usage
#     error;
#   - export with the data file removed: exit 0, "synthetic" on stderr and in
#     the metadata, the golden batch passes onnxruntime and PyTorch.
#   channels.sh PATH/TO/shardnet PATH/TO/make_dataset
set -uo pipefail
bin=$(realpath "${1:?usage: channels.sh PATH/TO/shardnet PATH/TO/make_dataset}")
make=$(realpath "${2:?usage: channels.sh PATH/TO/shardnet PATH/TO/make_dataset}")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=/usr/bin/python3 # Debian's python3-h5py, -onnx and -torch, not a pyenv python
export OMP_NUM_THREADS=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
run() { run_cmd "$@"; }

"$py" -c "import h5py, numpy, onnx, torch" 2>/dev/null || { fail "$py cannot import h5py, numpy, onnx, torch"; finish; exit; }
if [[ ! -f $root/node_modules/onnxruntime-node/package.json ]]; then
  (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund) >"$dir/npm.out" 2>&1 \
    || { fail "npm ci --ignore-scripts"; tail -5 "$dir/npm.out"; finish; exit; }
fi

# ---- per-channel statistics against numpy --------------------------------
run make "$make" "$dir/rgb.h5" 3 32 32 800 200 4
expect_ok make "make_dataset: a 3x32x32 file, 800+200 samples, 4 classes" "800+200 samples 3x32x32"
run stats "$py" - "$dir/rgb.h5" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x = f["/train/images"][...].astype(np.float64) / 255.0
    a = f.attrs
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))  # population std (ddof=0)
    got_mean, got_std = a["channel_mean"], a["channel_std"]
    assert got_mean.shape == (3,) and got_std.shape == (3,), (got_mean.shape, got_std.shape)
    assert np.allclose(got_mean, mean, rtol=0, atol=1e-12), (got_mean, mean)
    assert np.allclose(got_std, std, rtol=0, atol=1e-12), (got_std, std)
    assert len(set(np.round(mean, 6))) == 3, "the channels should differ"
    assert abs(a["pixel_mean"] - x.mean()) < 1e-12 and abs(a["pixel_std"] - x.std()) < 1e-12
    assert int(a["format_version"]) == 3
    print("numpy per channel: mean", np.round(mean, 6), "std", np.round(std, 6), "match")
EOF
expect_ok stats "channel_mean/channel_std = numpy's per-channel mean and population std (1e-12)" "match"

# ---- h5dump -A shows the descriptive attributes --------------------------
run prepare "$bin" prepare --out "$dir/fm.h5"
expect_ok prepare "prepare Fashion-MNIST"
h5dump -A "$dir/fm.h5" >"$dir/dump.out" 2>&1
attr() { # NAME: the first DATA line of attribute NAME in h5dump -A
  awk -v n="ATTRIBUTE \"$1\"" 'index($0, n) { on = 1 } on && /\(0\)/ { print; exit }' "$dir/dump.out"
}
want_fp=$(awk '/ATTRIBUTE "source_sha256"/ { on = 1 } on { print } on && /^   }/ { exit }' "$dir/dump.out" \
  | grep -o '"[0-9a-f]\{64\}"' | tr -d '"' | sha256sum | cut -c1-64)
ok=1
for want in 'axis_order.*"N,C,H,W"' 'pixel_scale.*"uint8 0..255; the model reads x/255"' \
    'source_format.*"idx"' 'source_path.*"/usr/share/datasets/fashion-mnist"' \
    "source_fingerprint.*\"$want_fp\"" 'created_by.*"shardnet [0-9]' \
    'created_utc.*"20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z"' \
    'class_names.*"T-shirt/top"' 'channel_mean.*0\.286' 'format_version.*3'; do
  name=${want%%.\**}
  line=$(attr "$name")
  grep -q -- "${want#*.\*}" <<<"$line" || { ok=0; fail "h5dump -A: attribute $name: '$line' does not match /${want#*.\*}/"; }
done
[[ $ok -eq 1 ]] && pass "h5dump -A shows axis_order, pixel_scale, source format/path/fingerprint, created_by, created_utc, class_names, channel_mean (created $(attr created_utc | grep -o '"[^"]*"'))"
now=$(date -u +%s)
made=$(date -u -d "$(attr created_utc | grep -o '20[^"]*' | sed 's/T/ /; s/Z//')" +%s 2>/dev/null || echo 0)
(( made <= now && now - made < 3600 )) && pass "created_utc is the time of writing ($((now - made)) s ago)" \
  || fail "created_utc $(attr created_utc) is not within the last hour"

# ---- train --normalize on 2 ranks: the checkpoint carries the file's values
run train "${mpi[@]}" -np 2 "$bin" train --data "$dir/rgb.h5" --batch 32 --micro-batch 16 --epochs 3 --lr 0.05 \
  --momentum 0.9 --normalize --no-eval --quiet --run "$dir/run"
expect_ok train "train --normalize on the 3-channel file, 2 ranks" "^done:"
ck=$dir/run/$(cat "$dir/run/latest" 2>/dev/null)
run norm "$py" - "$dir/rgb.h5" "$ck" <<'EOF'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as d, h5py.File(sys.argv[2], "r") as c:
    s = c["/state"].attrs
    for k, want in (("norm_mean", d.attrs["channel_mean"]), ("norm_std", d.attrs["channel_std"])):
        got = np.asarray(s[k])[:3]
        assert np.array_equal(got, want), (k, got, want)
    print("checkpoint norm_mean/norm_std = the file's channel_mean/channel_std:", np.asarray(s["norm_mean"])[:3])
EOF
expect_ok norm "the checkpoint's per-channel mean/std are the dataset's, bit for bit" "= the file's"

# ---- eval --predictions ---------------------------------------------------
run eval1 "$bin" eval --data "$dir/rgb.h5" "$ck" --predictions "$dir/p1.csv"
expect_ok eval1 "eval --predictions writes the CSV" "predictions: 200 test samples written to $dir/p1.csv"
run eval2 "${mpi[@]}" -np 2 "$bin" eval --data "$dir/rgb.h5" "$ck" --predictions "$dir/sub/p2.csv"
expect_ok eval2 "eval --predictions on 2 ranks (a missing directory created)" "predictions: 200"
cmp -s "$dir/p1.csv" "$dir/sub/p2.csv" && pass "the CSV is the same file at P=1 and P=2" \
  || fail "the CSV differs between P=1 and P=2"
correct=$(sed -n 's/^test loss .* accuracy [0-9.]* (\([0-9]*\)\/200)$/\1/p' "$dir/eval1.out")
run csv "$py" - "$dir/p1.csv" "$dir/rgb.h5" "${correct:-x}" <<'EOF'
import csv, sys, h5py, numpy as np
rows = list(csv.reader(open(sys.argv[1], newline="")))
with h5py.File(sys.argv[2], "r") as f:
    labels = f["/test/labels"][...]
    names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["class_names"]]
assert rows[0] == ["index", "label", "label_name", "predicted", "predicted_name"] + names, rows[0]
body = rows[1:]
assert len(body) == len(labels) == 200, (len(body), len(labels))
p = np.array([[float(v) for v in r[5:]] for r in body])
assert [int(r[0]) for r in body] == list(range(200))
assert [int(r[1]) for r in body] == labels.tolist(), "label column != /test/labels"
assert all(r[2] == names[int(r[1])] and r[4] == names[int(r[3])] for r in body)
pred = np.array([int(r[3]) for r in body])
assert (p.argmax(axis=1) == pred).all(), "predicted != argmax of the probabilities"
s = p.sum(axis=1)
assert np.abs(s - 1).max() < 1e-6, s
assert (p >= 0).all() and (p <= 1).all()
hits = int((pred == labels).sum())
assert str(hits) == sys.argv[3], f"{hits} correct in the CSV, eval says {sys.argv[3]}"
print(f"CSV: 200 rows, argmax = predicted, max |sum - 1| {np.abs(s - 1).max():.1e}, {hits} correct as eval")
EOF
expect_ok csv "the CSV: header with class names (one holds a comma), 200 rows, labels, argmax = predicted, sums 1, accuracy = eval's" "correct as eval"
before=$(sha256sum <"$dir/p1.csv")
run exists "$bin" eval --data "$dir/rgb.h5" "$ck" --predictions "$dir/p1.csv"
expect_fail exists 1 "--predictions $dir/p1.csv: the file exists and is not overwritten; give --force" \
  "an existing --predictions file is refused"
[[ $(sha256sum <"$dir/p1.csv") == "$before" ]] && pass "the refused file is untouched" || fail "p1.csv changed"
run force "$bin" eval --data "$dir/rgb.h5" "$ck" --predictions "$dir/p1.csv" --force
expect_ok force "--force replaces it" "predictions: 200"
run input "$bin" eval --data "$dir/rgb.h5" "$ck" --predictions "$ck"
expect_fail input 2 "is the same file as the checkpoint" "the checkpoint as --predictions is refused"

# ---- baked normalisation: onnxruntime on raw x/255 = eval --predictions ---
run bake "$bin" export "$ck" --format onnx --bake-normalization --out "$dir/baked.onnx"
expect_ok bake "export --bake-normalization (data from the checkpoint's record)" "normalisation baked in"
grep -q "golden batch from $dir/rgb.h5, the dataset the checkpoint's run recorded" "$dir/bake.err" \
  && pass "the golden batch came from the recorded dataset, said on stderr" || { fail "no recorded-dataset note"; show bake; }
"$py" -c '
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    (f["/test/images"][...].astype(np.float32) / np.float32(255)).astype("<f4").tofile(sys.argv[2])
' "$dir/rgb.h5" "$dir/raw.f32"
run ort node "$root/scripts/onnx_check.mjs" "$dir/baked.onnx" --inputs "$dir/raw.f32" --predictions "$dir/p1.csv"
expect_ok ort "onnxruntime on raw x/255 predicts what eval --predictions wrote (200 samples) and passes the golden batch" \
  "same predicted class 200/200"
sed -n 's/^\(golden\|predictions\)/    \1/p' "$dir/ort.out"
# The control: the same check on the plain export (which expects normalised
# input) fed the same raw x/255 must fail, or the check above proves nothing.
run plain "$bin" export "$ck" --format onnx --out "$dir/plain.onnx"
run ort-plain node "$root/scripts/onnx_check.mjs" "$dir/plain.onnx" --inputs "$dir/raw.f32" --predictions "$dir/p1.csv"
[[ $rc -eq 1 ]] && grep -q "predictions: max |probability diff|" "$dir/ort-plain.err" \
  && pass "control: the export without baking, fed raw x/255, disagrees ($(grep -o 'max |probability diff| [^ ]*' "$dir/ort-plain.err"))" \
  || { fail "control: the unbaked export fed raw inputs was not caught (exit $rc)"; show ort-plain; }
run meta "$py" - "$dir/baked.onnx" <<'EOF'
import json, sys, onnx
m = onnx.load(sys.argv[1])
meta = {p.key: p.value for p in m.metadata_props}
assert meta["shardnet.normalization"] == "baked", meta["shardnet.normalization"]
assert "value = pixel / 255" in meta["shardnet.input"], meta["shardnet.input"]
assert len(json.loads(meta["shardnet.input_mean"])) == 3
ops = [n.op_type for n in m.graph.node][:4]
assert ops == ["Constant", "Constant", "Sub", "Div"], ops
onnx.checker.check_model(m, full_check=True)
print("baked metadata and first nodes ok:", ops)
EOF
expect_ok meta "the baked export says its input is pixel / 255 and starts with Sub/Div (check_model passes)" "ok"
run bake-st "$bin" export "$ck" --format safetensors --bake-normalization --out "$dir/x.safetensors"
expect_fail bake-st 2 "^shardnet export: --bake-normalization: only for --format onnx (safetensors holds the tensors only)$" "--bake-normalization with safetensors is a usage error"

# ---- export with the data file removed ------------------------------------
mv "$dir/rgb.h5" "$dir/rgb.away"
run syn "$bin" export "$ck" --format onnx --out "$dir/syn.onnx"
expect_ok syn "export with the data file removed: exit 0" "golden batch of 8 synthetic images"
grep -q "cannot open.*synthetic images" "$dir/syn.err" && pass "stderr says why and that the golden batch is synthetic: $(cut -c1-160 "$dir/syn.err")" \
  || { fail "no synthetic note on stderr"; show syn; }
run syn-ort node "$root/scripts/onnx_check.mjs" "$dir/syn.onnx"
expect_ok syn-ort "onnxruntime passes the synthetic golden batch" "golden batch at batch 1: 8 images"
run syn-st "$bin" export "$ck" --format safetensors --out "$dir/syn.safetensors"
expect_ok syn-st "safetensors export without the data file" "synthetic images"
run syn-torch "$py" "$root/scripts/load_safetensors.py" "$dir/syn.safetensors"
expect_ok syn-torch "PyTorch passes the synthetic golden batch" "golden batch: 8 images"
run syn-meta "$py" - "$dir/syn.onnx" <<'EOF'
import json, sys, onnx
meta = {p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}
g = json.loads(meta["shardnet.golden"])
assert g["synthetic"] is True and g["split"] == "synthetic" and g["dataset"] == "synthetic", g["dataset"]
assert meta["shardnet.golden_source"].startswith("synthetic:"), meta["shardnet.golden_source"]
print("metadata says synthetic:", meta["shardnet.golden_source"])
EOF
expect_ok syn-meta "the metadata says the golden batch is synthetic" "says synthetic"
run syn-data "$bin" export "$ck" --format onnx --data "$dir/rgb.h5" --out "$dir/e.onnx"
expect_fail syn-data 1 "rgb.h5: cannot open" "an explicit --data that is missing is still an error"
finish
