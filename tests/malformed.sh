#!/usr/bin/env bash
# malformed.sh - generated bad inputs of every class, each of which must end
# in a clear error with the promised exit status, never a crash, a hang, a
# sanitizer report or a changed input:
#   idx, gzip   broken IDX files and gzip streams for `shardnet prepare`
#               (tests/malformed_gen.py writes them)
#   dataset     HDF5 datasets: random byte flips, truncations, declared
#               shapes that overflowed or exhausted memory, no checksums
#   checkpoint  byte flips, truncations, non-files, consistent edits of
#               /state, enormous consistent dims, --resume auto skipping
#   cli         option values (exit 2), thread counts OpenMP cannot give
#   paths       outputs that are inputs under another name (./, symlinks,
#               hard links): refused, the input unchanged
# The same script runs against the ASan/UBSan build (scripts/test.sh); any
# sanitizer report fails the case there.
#   tests/malformed.sh PATH/TO/shardnet
set -u
bin=${1:?usage: malformed.sh PATH/TO/shardnet}
bin=$(realpath "$bin")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=/usr/bin/python3
dir=$(mktemp -d /tmp/shardnet-malformed.XXXXXX)
trap 'rm -rf "$dir"' EXIT
source "$here/lib.sh"
export OMP_NUM_THREADS=1
cd "$dir" || exit 1
declare -A tried=() clean=()

# case CLASS NAME WANT_STATUS PATTERN -- COMMAND...: the command exits with
# WANT_STATUS within 120 s (CASE_TIMEOUT) and says PATTERN; no sanitizer report, no signal.
case_() {
  local class=$1 name=$2 want=$3 pattern=$4
  shift 5
  tried[$class]=$((${tried[$class]:-0} + 1))
  timeout -s KILL "${CASE_TIMEOUT:-120}" "$@" >"$dir/last.out" 2>"$dir/last.err"
  local got=$?
  local text
  text=$(cat "$dir/last.out" "$dir/last.err")
  if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer' <<<"$text"; then
    fail "$class/$name: sanitizer report"; grep -m5 -E 'Sanitizer|runtime error' <<<"$text" | sed 's/^/    | /'
    return
  fi
  if [[ $got -ne $want ]]; then
    fail "$class/$name: exit $got, want $want"; tail -5 "$dir/last.err" | sed 's/^/    | /'; return
  fi
  if ! grep -qE -- "$pattern" <<<"$text"; then
    fail "$class/$name: output lacks /$pattern/"; tail -5 "$dir/last.err" | sed 's/^/    | /'; return
  fi
  clean[$class]=$((${clean[$class]:-0} + 1))
  pass "$class/$name ($(grep -m1 -oE -- "$pattern" <<<"$text" | head -c 70))"
}
sum() { sha256sum "$@" | cut -c1-64 | tr '\n' ' '; }

# ---- idx and gzip --------------------------------------------------------
$py "$here/malformed_gen.py" "$dir/gen" idx || { fail "generator"; finish; exit; }
declare -A want_idx=(
  [idx-magic]='wrong magic 0x00000802' [idx-zero-dim]='dimension 1 is 0'
  [idx-truncated]='truncated: the file has' [idx-trailing]='trailing data: the file has'
  [idx-header-only]='truncated: the header has 4 of 12' [idx-empty]='header has 0 of 4'
  [idx-count-mismatch]='has 128 images but .* 127 labels' [idx-label-range]='label 255 of sample 0'
  [idx-over-limit]='over the [0-9]+-byte limit' [idx-shape-differs]='28x28 images but .* 28x27'
  [idx-fifo]='not a regular file' [idx-devzero]='not a regular file' [idx-dir]='not a regular file'
  [gz-trailer-cut-large]='gzip trailer does not match' [gz-trailer-cut]='truncated'
  [gz-truncated]='truncated gzip stream in the data after' [gz-flipped]='CRC-32 does not match'
  [gz-bad-crc]='CRC-32 does not match|trailer does not match' [gz-garbage-after]='trailer does not match'
  [gz-honest-huge]='has 2000 images but .* 128 labels'
)
for name in "${!want_idx[@]}"; do
  class=idx; [[ $name == gz-* ]] && class=gzip
  before=$(cd "$dir/gen/$name" && for f in *; do [[ -f $f && ! -p $f && ! -L $f ]] && sum "$f"; done)
  case_ $class "$name" 1 "${want_idx[$name]}" -- "$bin" prepare --from "$dir/gen/$name" --out "$dir/out/$name.h5"
  after=$(cd "$dir/gen/$name" && for f in *; do [[ -f $f && ! -p $f && ! -L $f ]] && sum "$f"; done)
  [[ -e $dir/out/$name.h5 || $before != "$after" ]] && fail "$class/$name: output written or input changed"
  [[ -z $(ls -A "$dir/out" 2>/dev/null) ]] || { fail "$class/$name: left $(ls -A "$dir/out")"; rm -rf "$dir/out"; }
done
# The honest 2 GB declaration is refused from the headers: fast and small.
# (Peak RSS from Python's getrusage: GNU time is not in a minimal Debian.)
/usr/bin/python3 -c 'import resource, subprocess, sys
rc = subprocess.run(sys.argv[2:], stderr=subprocess.DEVNULL).returncode
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$dir/rss" "$bin" prepare --from "$dir/gen/gz-honest-huge" --out "$dir/x.h5"
rc=$?
rss=$(tail -1 "$dir/rss")
[[ $rc -eq 1 && $rss -lt 200000 ]] && pass "gzip/honest-huge: max RSS ${rss} KB" || fail "gzip/honest-huge: max RSS ${rss} KB"

# ---- a good dataset and checkpoint to break -----------------------------
"$bin" prepare --from "$dir/gen/good" --out "$dir/good.h5" >/dev/null || { fail "prepare good"; finish; exit; }
"$bin" train --data "$dir/good.h5" --epochs 1 --batch 64 --no-eval --run "$dir/ck" --quiet \
  >/dev/null 2>&1 || { fail "train good"; finish; exit; }
ck=$dir/ck/ckpt-00000008.h5
[[ -f $ck ]] || { fail "no checkpoint"; finish; exit; }
$py "$here/malformed_gen.py" "$dir/h5" h5 "$dir/good.h5" "$ck" || fail "h5 generator"

train=("$bin" train --epochs 1 --batch 64 --quiet --no-ckpt)
case_ dataset huge-sides 1 'outside what shardnet handles' -- "${train[@]}" --data "$dir/h5/ds-huge-sides.h5"
case_ dataset 65536-sides 1 'outside what shardnet handles' -- "${train[@]}" --data "$dir/h5/ds-65536.h5"
case_ dataset 17-channels 1 'outside what shardnet handles' -- "${train[@]}" --data "$dir/h5/ds-17-channels.h5"
case_ dataset no-checksums 1 'no Fletcher-32 checksums' -- "${train[@]}" --data "$dir/h5/ds-no-checksums.h5"
case_ dataset format-1 1 'without checksums written by an older' -- "${train[@]}" --data "$dir/h5/ds-format-1.h5"
case_ dataset missing-split 1 '/test: missing group' -- "${train[@]}" --data "$dir/h5/ds-missing-split.h5"
case_ dataset wrong-dtype 1 'expected uint8' -- "${train[@]}" --data "$dir/h5/ds-wrong-dtype.h5"
case_ dataset label-range 1 'label 200 of sample 100' -- "${train[@]}" --data "$dir/h5/ds-label-range.h5"
case_ dataset directory 1 'not a regular file' -- "${train[@]}" --data "$dir/gen"
case_ dataset devzero 1 'not a regular file' -- "${train[@]}" --data /dev/zero
mkfifo "$dir/fifo.h5"
case_ dataset fifo 1 'not a regular file' -- "${train[@]}" --data "$dir/fifo.h5"
size=$(stat -c %s "$dir/good.h5")
for cut in 100 4000 $((size / 2)) $((size - 1))
do
  head -c "$cut" "$dir/good.h5" >"$dir/cut.h5"
  case_ dataset "truncated-$cut" 1 'cannot open|damaged|checksum|failed' -- "${train[@]}" --data "$dir/cut.h5"
done
# Random byte flips anywhere (header, B-trees, attributes, pixels): a clear
# error, or - a byte HDF5 never reads (free space) - the very same run.
want_hash=$("$bin" train --data "$dir/good.h5" --epochs 1 --batch 64 --quiet --no-ckpt 2>/dev/null |
  sed -n 's/^done: .*hash \(0x[0-9a-f]*\)$/\1/p')
for seed in $(seq 1 ${FLIPS:-24}); do
  cp "$dir/good.h5" "$dir/flip.h5"
  at=$($py -c "import random; r = random.Random($seed); print(r.randrange($size))")
  $py -c "
f = open('$dir/flip.h5', 'r+b'); f.seek($at); b = f.read(1); f.seek($at); f.write(bytes([b[0] ^ 0x5a]))"
  tried[dataset]=$((${tried[dataset]:-0} + 1))
  timeout -s KILL 120 "$bin" train --data "$dir/flip.h5" --epochs 1 --batch 64 --quiet --no-ckpt \
    >"$dir/last.out" 2>"$dir/last.err"
  rc=$?
  got=$(sed -n 's/^done: .*hash \(0x[0-9a-f]*\)$/\1/p' "$dir/last.out")
  if grep -qE 'Sanitizer|runtime error:' "$dir/last.err"; then fail "dataset/flip@$at: sanitizer report"
  elif [[ $rc -eq 0 && $got == "$want_hash" ]]; then clean[dataset]=$((${clean[dataset]:-0} + 1)); pass "dataset/flip@$at: unused byte, same weights"
  elif [[ $rc -eq 1 && -s $dir/last.err ]] && grep -q "$dir/flip.h5\|/train\|/test" "$dir/last.err"; then
    clean[dataset]=$((${clean[dataset]:-0} + 1)); pass "dataset/flip@$at: $(grep -m1 -oE '(checksum|damaged|missing|cannot|wrong|not)[^;]{0,50}' "$dir/last.err" | head -1)"
  else fail "dataset/flip@$at: exit $rc, hash '$got' (want $want_hash)"; tail -3 "$dir/last.err" | sed 's/^/    | /'; fi
done

# ---- checkpoints --------------------------------------------------------
case_ checkpoint step-edit 1 'param_digest does not match the tensors and /state' -- "$bin" verify "$dir/h5/ck-step-edit.h5"
case_ checkpoint arch-edit 1 'param_digest does not match|shape' -- "$bin" verify "$dir/h5/ck-arch-edit.h5"
case_ checkpoint enormous 1 'forged header' -- "$bin" verify "$dir/h5/ck-enormous.h5"
case_ checkpoint enormous-eval 1 'forged header' -- "$bin" eval "$dir/h5/ck-enormous.h5" --data "$dir/good.h5"
case_ checkpoint enormous-export 1 'forged header' -- "$bin" export "$dir/h5/ck-enormous.h5" --format onnx --data "$dir/good.h5" --out "$dir/x.onnx"
case_ checkpoint verify-reports-all 1 "BAD .*ck-enormous.*OK .*ckpt-00000008|OK .*ckpt-00000008" -- "$bin" verify "$dir/h5/ck-enormous.h5" "$ck"
case_ checkpoint directory 1 'not a regular file' -- "$bin" verify "$dir/ck"
case_ checkpoint devzero 1 'not a regular file' -- "$bin" verify /dev/zero
case_ checkpoint fifo 1 'not a regular file' -- "$bin" verify "$dir/fifo.h5"
csize=$(stat -c %s "$ck")
for cut in 0 512 $((csize / 3)) $((csize - 8)); do
  head -c "$cut" "$ck" >"$dir/ckcut.h5"
  case_ checkpoint "truncated-$cut" 1 'not an HDF5 file|damaged|truncated|checksum' -- "$bin" verify "$dir/ckcut.h5"
done
for seed in $(seq 1 ${FLIPS:-24}); do
  cp "$ck" "$dir/ckflip.h5"
  at=$($py -c "import random; r = random.Random(1000 + $seed); print(r.randrange($csize))")
  $py -c "
f = open('$dir/ckflip.h5', 'r+b'); f.seek($at); b = f.read(1); f.seek($at); f.write(bytes([b[0] ^ 0x5a]))"
  if cmp -s "$dir/ckflip.h5" "$ck"; then continue; fi
  # every byte of a checkpoint is covered: a flip must be refused (or land
  # in free space HDF5 never reads, and then the file reads back the same)
  tried[checkpoint]=$((${tried[checkpoint]:-0} + 1))
  timeout -s KILL 60 "$bin" verify "$dir/ckflip.h5" >"$dir/last.out" 2>&1
  rc=$?
  if grep -qE 'Sanitizer|runtime error:' "$dir/last.out"; then fail "checkpoint/flip@$at: sanitizer report"
  elif [[ $rc -eq 1 ]] && grep -qE 'BAD .*(checksum|damaged|digest|missing|not|wrong|truncated)' "$dir/last.out"; then
    clean[checkpoint]=$((${clean[checkpoint]:-0} + 1)); pass "checkpoint/flip@$at: $(grep -m1 -oE '(checksum|damaged|digest|missing)[^;]{0,40}' "$dir/last.out" | head -1)"
  elif [[ $rc -eq 0 ]]; then clean[checkpoint]=$((${clean[checkpoint]:-0} + 1)); pass "checkpoint/flip@$at: unused byte"
  else fail "checkpoint/flip@$at: exit $rc"; tail -3 "$dir/last.out" | sed 's/^/    | /'; fi
done
# --resume auto skips a forged newest checkpoint and resumes the good one.
mkdir -p "$dir/ra" && cp "$ck" "$dir/ra/" && cp "$dir/h5/ck-enormous.h5" "$dir/ra/ckpt-00000009.h5"
case_ checkpoint resume-auto-skips 0 'skipping .*ckpt-00000009.h5: .*forged' -- \
  "$bin" train --data "$dir/good.h5" --epochs 1 --batch 64 --no-eval --run "$dir/ra" --resume auto
# Another dataset of the same shape: refused on resume.
mkdir -p "$dir/gen/other" && cp "$dir/gen/good/"* "$dir/gen/other/"
$py -c "
import gzip, sys
p = '$dir/gen/other/train-labels-idx1-ubyte.gz'
raw = bytearray(gzip.decompress(open(p, 'rb').read())); raw[8] = (raw[8] + 1) % 10
open(p, 'wb').write(gzip.compress(bytes(raw), mtime=0))"
"$bin" prepare --from "$dir/gen/other" --out "$dir/other.h5" >/dev/null
case_ checkpoint other-dataset 1 'data_sha256: checkpoint "[0-9a-f]*", now "[0-9a-f]*"' -- \
  "$bin" train --data "$dir/other.h5" --epochs 2 --batch 64 --no-eval --run "$dir/ck-other" --resume "$ck"

# ---- command line ---------------------------------------------------------
t="$bin train --data $dir/good.h5 --batch 64 --no-ckpt --quiet"
case_ cli limit-too-big 2 'exceeds the 512 training samples' -- $t --limit 5000
case_ cli limit-below-batch 2 'larger than the 63 training samples' -- $t --limit 63
case_ cli warmup 2 'must be below the 8 steps' -- $t --epochs 1 --warmup 64
case_ cli seed-blank 2 "--seed: ' -5' is not valid" -- $t --seed ' -5'
case_ cli seed-negative 2 "--seed: '-5' is not valid \\(an integer in 0..2\^64-1\\)" -- $t --seed -5
case_ cli threads-limit 2 '--threads: 2 is more than this process can run \(at most 1, set by .*OMP_THREAD_LIMIT' -- env OMP_THREAD_LIMIT=1 $t --threads 2
case_ cli threads-affinity 2 '--threads: 2 is more than .*at most 1, set by the CPU affinity' -- taskset -c 0 $t --threads 2
case_ cli threads-huge 2 '--threads: 100000 is out of range \(an integer in 1..1024\)' -- $t --threads 100000
case_ cli eval-threads-huge 2 '^shardnet eval: --threads: 100000 is out of range \(an integer in 1..1024\)$' -- "$bin" eval "$ck" --data "$dir/good.h5" --threads 100000
case_ cli eval-threads-limit 2 '^shardnet eval: --threads: 2 is more than this process can run \(at most 1, set by' -- env OMP_THREAD_LIMIT=1 "$bin" eval "$ck" --data "$dir/good.h5" --threads 2
case_ cli eval-batch-huge 2 '^shardnet eval: --batch: 100000 is out of range \(an integer in 1..4096\)$' -- "$bin" eval "$ck" --data "$dir/good.h5" --batch 100000
# eval takes its thread count as every computing command (threads.h) and says it.
case_ cli eval-omp-threads 0 '^inference: .*\(1 rank\(s\) x 2 thread\(s\), batch 128\)$' -- env OMP_NUM_THREADS=2 "$bin" eval "$ck" --data "$dir/good.h5"
case_ cli eval-threads-flag 0 '^inference: .*\(1 rank\(s\) x 1 thread\(s\), batch 128\)$' -- env OMP_NUM_THREADS=2 "$bin" eval "$ck" --data "$dir/good.h5" --threads 1
case_ cli bench-threads 2 '^shardnet bench: OMP_NUM_THREADS: 2 is more than this process can run \(at most 1' -- env OMP_NUM_THREADS=2 taskset -c 0 "$bin" bench --steps 1
case_ cli summary-huge 2 'outside the supported' -- "$bin" summary --input 1,1,2147483648,2147483648
case_ cli summary-small 2 'too small' -- "$bin" summary --input 1,1,8,8

# ---- paths: an output that is an input ----------------------------------
cp "$ck" "$dir/c.h5"
ln -s "$dir/ck" "$dir/cklink"
ln "$dir/c.h5" "$dir/c-hard.h5"
before=$(sum "$dir/c.h5" "$dir/good.h5")
ex="$bin export $dir/c.h5 --format onnx --data $dir/good.h5"
case_ paths export-dot 2 'is the same file as the checkpoint' -- $ex --out "$dir/./c.h5"
case_ paths export-slashes 2 'is the same file as the checkpoint' -- $ex --out "$dir//c.h5"
case_ paths export-hardlink 2 'is the same file as the checkpoint' -- $ex --out "$dir/c-hard.h5"
case_ paths export-symlink-dir 2 'is the same file as the checkpoint' -- \
  "$bin" export "$ck" --format onnx --data "$dir/good.h5" --out "$dir/cklink/ckpt-00000008.h5"
case_ paths export-data 2 'is the same file as --data' -- $ex --out "$dir/good.h5"
case_ paths train-run-data 2 'is the same file as --data' -- $t --run "$dir/./good.h5"
case_ paths train-report-ckpt 2 'under a checkpoint' -- "$bin" train --data "$dir/good.h5" --run "$dir/ck" --resume auto --scaling-report "$dir/cklink/ckpt-00000008"
case_ paths train-run-resume 2 'is the same file as --resume' -- $t --resume "$dir/c.h5" --run "$dir/c-hard.h5"
case_ paths train-report-baseline 2 'is the same file as --scaling-baseline' -- $t --scaling-report "$dir/base" --scaling-baseline "$dir/./base.json"
mkdir -p "$dir/pin" && cp "$dir/gen/good/"* "$dir/pin/"
case_ paths prepare-out-input 1 'exists and is not overwritten' -- \
  "$bin" prepare --from "$dir/pin" --out "$dir/pin/./train-labels-idx1-ubyte.gz"
case_ paths prepare-out-input-force 1 'is the same file as the input' -- \
  "$bin" prepare --from "$dir/pin" --out "$dir/pin/./train-labels-idx1-ubyte.gz" --force
after=$(sum "$dir/c.h5" "$dir/good.h5")
[[ $before == "$after" ]] && pass "paths: inputs unchanged" || fail "paths: an input changed"
"$bin" verify "$ck" >/dev/null && pass "paths: checkpoint verifies" || fail "paths: checkpoint damaged"

echo
echo "class        tried  clear error, nothing lost"
for c in idx gzip dataset checkpoint cli paths; do
  printf '%-12s %5d  %5d\n' "$c" "${tried[$c]:-0}" "${clean[$c]:-0}"
done
finish
