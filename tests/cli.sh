#!/usr/bin/env bash
# cli.sh - the shardnet binary's command line: help, usage errors, exit
# codes, and the textbook's layer summary printed by `shardnet summary`.
#   tests/cli.sh PATH/TO/shardnet
set -u
bin=${1:?usage: cli.sh PATH/TO/shardnet}
pass=0 fail=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# check NAME WANT_STATUS PATTERN_IN_OUTPUT -- COMMAND...
check() {
  local name=$1 want=$2 pattern=$3
  shift 4
  "$@" >"$out" 2>"$err"
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL $name: exit $got, want $want"; sed 's/^/  | /' "$err" | head -5; fail=$((fail + 1)); return
  fi
  if ! cat "$out" "$err" | grep -qE -- "$pattern"; then
    echo "FAIL $name: output lacks /$pattern/"; cat "$out" "$err" | sed 's/^/  | /' | head -8
    fail=$((fail + 1)); return
  fi
  echo "ok   $name"; pass=$((pass + 1))
}

check "help lists commands"       0 '^  summary '             -- "$bin" --help
check "no command"                2 "^shardnet: no command given \(give one of prepare\|summary\|" -- "$bin"
check "unknown command"           2 "^shardnet: 'frobnicate' is not a command \(prepare\|" -- "$bin" frobnicate
check "version"                   0 '^shardnet [0-9]+\.[0-9]+' -- "$bin" --version
check "version: oneDNN"           0 '^oneDNN 2\.[0-9]+\.[0-9]+ \(CPU ISA ' -- "$bin" --version
check "version: HDF5"             0 '^HDF5 1\.[0-9]+\.[0-9]+$' -- "$bin" --version
check "version: MPI"              0 '^MPI: (Open MPI v|MPICH )[0-9]' -- "$bin" --version
check "summary --help"            0 'usage: shardnet summary' -- "$bin" summary --help
check "summary unknown flag"      2 "^shardnet summary: --bogus: unknown option$" -- "$bin" summary --bogus
check "summary bad input shape"   2 '--input: .1,2,3. is not valid \(four positive integers N,C,H,W\)'  -- "$bin" summary --input 1,2,3
check "summary bad arch"          2 "--arch: 'lenet5' is not a choice \(classic\|modern\)" -- "$bin" summary --arch lenet5
check "summary too small input"   2 'too small'               -- "$bin" summary --input 1,1,8,8
check "summary huge input"        2 'outside the supported'   -- "$bin" summary --input 1,1,2147483648,2147483648
check "bench bad batch"           2 '--batch: 0 is out of range \(an integer in 1..4096\)'         -- "$bin" bench --batch 0
check "predict --help"           0 'usage: shardnet predict' -- "$bin" predict --help
check "help lists predict"        0 '^  predict +top-k classes' -- "$bin" --help
check "predict needs an input"    2 '^shardnet predict: missing argument \(give a CHECKPOINT and one or more INPUTs\)$' -- "$bin" predict c.h5
check "predict unknown flag"      2 "^shardnet predict: --bogus: unknown option$" -- "$bin" predict --bogus c.h5 x.png
check "predict bad --split"       2 "^shardnet predict: --split: 'val' is not a choice \(train\|test\)$" -- "$bin" predict --split val c.h5 x.png
check "predict bad --rows"        2 "^shardnet predict: --rows: '5-2' is not valid \(all, or rows N and ranges A-B with A <= B, separated by commas, e.g. 0,5,10-19\)$" -- "$bin" predict --rows 5-2 c.h5 x.png
check "predict missing checkpoint" 1 "checkpoint '/nonexistent/c.h5': cannot open" -- "$bin" predict /nonexistent/c.h5 x.png
check "verify --help"             0 'usage: shardnet verify'  -- "$bin" verify --help
check "verify unknown flag"       2 "^shardnet verify: --bogus: unknown option$" -- "$bin" verify --bogus
check "verify needs a file"       2 '^shardnet verify: missing argument \(give one or more CHECKPOINT files\)$'     -- "$bin" verify
check "verify missing file"       1 "BAD checkpoint '/nonexistent/c.h5': cannot open: No such file" -- "$bin" verify /nonexistent/c.h5
check "verify not HDF5"           1 "checkpoint '$0': not an HDF5 file" -- "$bin" verify "$0"

# The textbook's table for X of shape (256, 3, 28, 28), row by row.
"$bin" summary --input 256,3,28,28 >"$out" 2>"$err"
want='Conv2d (256, 6, 28, 28)
Sigmoid (256, 6, 28, 28)
AvgPool2d (256, 6, 14, 14)
Conv2d (256, 16, 10, 10)
Sigmoid (256, 16, 10, 10)
AvgPool2d (256, 16, 5, 5)
Flatten (256, 400)
Linear (256, 120)
Sigmoid (256, 120)
Linear (256, 84)
Sigmoid (256, 84)
Linear (256, 10)'
got=$(awk '$1 ~ /^[0-9]+$/ { sub(/^[0-9]+ +/, ""); sub(/ +[0-9]+$/, ""); gsub(/  +/, " "); print }' "$out")
if [ "$got" = "$want" ]; then
  echo "ok   summary matches the textbook's table"; pass=$((pass + 1))
else
  echo "FAIL summary table:"; diff <(echo "$want") <(echo "$got") | sed 's/^/  | /'; fail=$((fail + 1))
fi
check "summary parameter count"   0 'Total learnable parameters: 61706 ' -- "$bin" summary
check "modern summary"            0 'MaxPool2d'                -- "$bin" summary --arch modern

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
