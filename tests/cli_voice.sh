#!/usr/bin/env bash
# cli_voice.sh - every subcommand speaks with one voice (trainer/opts.h):
# a usage error is exactly two lines on stderr,
#   shardnet CMD: --opt: what is wrong (what is allowed)
#   Try 'shardnet CMD --help'.
# with nothing on stdout and exit status 2, for an unknown option, a
# missing value, a bad value, a prefix of an option (no abbreviations), a
# value given to a flag, an extra or a missing argument; `--help`, `-h` and
# `shardnet help CMD` print the same help on stdout with exit 0, and every
# help writes its defaults "(default: X)".
#   tests/cli_voice.sh PATH/TO/shardnet
set -u
bin=${1:?usage: cli_voice.sh PATH/TO/shardnet}
pass=0 fail=0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
unset OMP_NUM_THREADS

# One row per converted command, fields separated by ';':
#   command; an option with a value; a bad value; what that bad value says
#   (ending with what is allowed, in parentheses); a strict prefix of an
#   option; the option it is a prefix of; a flag (no value); an argument
#   list that is one too many; what that says; what a missing argument says.
# '-' marks a case the command does not have.
commands=(
  "train;epochs;0;0 is out of range (an integer in 1..1000000);epoch;epochs;quiet;extra;unexpected argument 'extra' (train takes options only);-"
  "summary;classes;1;1 is out of range (an integer in 2..256);clas;classes;-;extra;unexpected argument 'extra' (summary takes options only);-"
  "bench;layout;nchwc;'nchwc' is not a choice (nhwc|nchw);bat;batch;profile;extra;unexpected argument 'extra' (bench takes options only);-"
  "info;-;-;-;js;json;json;a b;unexpected argument 'b' (give one CHECKPOINT or RUN_DIR);missing argument (give one CHECKPOINT or RUN_DIR)"
  "verify;-;-;-;qui;quiet;quiet;-;-;missing argument (give one or more CHECKPOINT files)"
  "prepare;format;png;'png' is not a choice (auto|idx|images|cifar10);form;format;force;extra;unexpected argument 'extra' (prepare takes options only);-"
  "predict;top;0;0 is out of range (an integer in 1..256);to;top;json;-;-;missing argument (give a CHECKPOINT and one or more INPUTs)"
  "eval;batch;0;0 is out of range (an integer in 1..4096);bat;batch;force;a b;unexpected argument 'b' (give one CHECKPOINT);missing argument (give one CHECKPOINT)"
  "export;format;tflite;'tflite' is not a choice (onnx|safetensors);form;format;bake-normalization;a b;unexpected argument 'b' (give one CHECKPOINT);missing argument (give one CHECKPOINT)"
)

ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; shift; printf '  | %s\n' "$@"; fail=$((fail + 1)); }

# usage_error NAME CMD MESSAGE -- ARGS...: `shardnet ARGS` must print
# exactly "shardnet CMD: MESSAGE" and the Try line on stderr, nothing on
# stdout, and exit 2.
usage_error() {
  local name=$1 cmd=$2 msg=$3
  shift 4
  "$bin" "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  local want
  want=$(printf "shardnet %s: %s\nTry 'shardnet %s --help'." "$cmd" "$msg" "$cmd")
  if [[ $rc -eq 2 && ! -s $dir/out && $(cat "$dir/err") == "$want" ]]; then
    ok "$name"
  else
    bad "$name: exit $rc, want 2 and exactly:" "$want" "-- got stderr:" "$(head -5 "$dir/err")" \
      "-- stdout: $(head -c 200 "$dir/out")"
  fi
}

# helps NAME CMD: --help, -h and `help CMD` give the same text on stdout,
# exit 0, nothing on stderr, the usage line first, defaults as "(default: X)".
helps() {
  local name=$1 cmd=$2 form i=0
  for form in "$cmd --help" "$cmd -h" "help $cmd"; do
    # shellcheck disable=SC2086
    "$bin" $form >"$dir/help$i" 2>"$dir/herr$i"
    local rc=$?
    if [[ $rc -ne 0 || -s $dir/herr$i ]]; then
      bad "$name: 'shardnet $form' exit $rc" "$(head -3 "$dir/herr$i")"; return
    fi
    i=$((i + 1))
  done
  if ! cmp -s "$dir/help0" "$dir/help1" || ! cmp -s "$dir/help0" "$dir/help2"; then
    bad "$name: --help, -h and 'help $cmd' differ"; return
  fi
  if [[ $(head -1 "$dir/help0") != "usage: shardnet $cmd"* ]]; then
    bad "$name: help does not start with 'usage: shardnet $cmd'" "$(head -1 "$dir/help0")"; return
  fi
  if grep -nE '\(default [^:]|default is|defaults? to ' "$dir/help0" >"$dir/notation"; then
    bad "$name: a default not written '(default: X)'" "$(head -3 "$dir/notation")"; return
  fi
  ok "$name"
}

for row in "${commands[@]}"; do
  IFS=';' read -r cmd opt badv badmsg prefix meant flag extra extramsg missing <<<"$row"
  usage_error "$cmd: unknown option" "$cmd" "--no-such-option: unknown option" -- \
    "$cmd" --no-such-option
  usage_error "$cmd: unknown option with a value" "$cmd" "--no-such-option: unknown option" -- \
    "$cmd" --no-such-option=1
  usage_error "$cmd: a short option" "$cmd" "-x: unknown option (options are long, like --help)" -- \
    "$cmd" -x
  usage_error "$cmd: --$prefix is no abbreviation of --$meant" "$cmd" \
    "--$prefix: unknown option (did you mean --$meant?)" -- "$cmd" "--$prefix"
  if [[ $opt != - ]]; then
    allowed="(${badmsg##*(}"
    usage_error "$cmd: --$opt missing value" "$cmd" "--$opt: missing value $allowed" -- \
      "$cmd" "--$opt"
    usage_error "$cmd: --$opt followed by an option" "$cmd" "--$opt: missing value $allowed" -- \
      "$cmd" "--$opt" --help
    usage_error "$cmd: --$opt bad value" "$cmd" "--$opt: $badmsg" -- "$cmd" "--$opt" "$badv"
    usage_error "$cmd: --$opt=bad value" "$cmd" "--$opt: $badmsg" -- "$cmd" "--$opt=$badv"
  fi
  if [[ $flag != - ]]; then
    usage_error "$cmd: --$flag=yes" "$cmd" "--$flag: takes no value (got 'yes')" -- \
      "$cmd" "--$flag=yes"
  fi
  if [[ $extra != - ]]; then
    # shellcheck disable=SC2086
    usage_error "$cmd: extra argument" "$cmd" "$extramsg" -- "$cmd" $extra
  fi
  if [[ $missing != - ]]; then
    usage_error "$cmd: missing argument" "$cmd" "$missing" -- "$cmd"
  fi
  usage_error "$cmd: --help=1" "$cmd" "--help: takes no value" -- "$cmd" --help=1
  helps "$cmd: --help, -h, help $cmd" "$cmd"
done

# The commands that compute take their thread count one way (threads.h):
# --threads N, else OMP_NUM_THREADS, else 1; a bad count says the same.
# Each row: the command and the arguments it needs besides options (files
# that need not exist: the thread count is checked before any is read).
computing=("train" "bench" "predict c.h5 x.png" "eval c.h5")
threads_rule="an integer in 1..1024, or unset for 1 thread; --threads N overrides it"
for row in "${computing[@]}"; do
  read -r -a args <<<"$row"
  cmd=${args[0]}
  OMP_NUM_THREADS=4,2 usage_error "$cmd: bad OMP_NUM_THREADS" "$cmd" \
    "OMP_NUM_THREADS: '4,2' is not valid ($threads_rule)" -- "${args[@]}"
  usage_error "$cmd: --threads 0" "$cmd" "--threads: 0 is out of range (an integer in 1..1024)" -- \
    "${args[@]}" --threads 0
  OMP_THREAD_LIMIT=1 "$bin" "${args[@]}" --threads 2 >"$dir/out" 2>"$dir/err"
  rc=$?
  if [[ $rc -eq 2 ]] && grep -qx "shardnet $cmd: --threads: 2 is more than this process can run (at most 1, set by OpenMP's thread limit (OMP_THREAD_LIMIT))" "$dir/err"; then
    ok "$cmd: --threads above OMP_THREAD_LIMIT"
  else
    bad "$cmd: --threads 2 with OMP_THREAD_LIMIT=1: exit $rc" "$(head -3 "$dir/err")"
  fi
done
# bench says the count it ran with: the flag wins over the environment.
OMP_NUM_THREADS=2 "$bin" bench --threads 1 --steps 1 --batch 8 >"$dir/out" 2>"$dir/err" &&
  grep -q ' threads=1$' "$dir/out" && ok "bench: --threads 1 over OMP_NUM_THREADS=2" ||
  bad "bench --threads 1" "$(head -3 "$dir/out" "$dir/err")"
OMP_NUM_THREADS=2 "$bin" bench --steps 1 --batch 8 >"$dir/out" 2>"$dir/err" &&
  grep -q ' threads=2$' "$dir/out" && ok "bench: OMP_NUM_THREADS=2" ||
  bad "bench with OMP_NUM_THREADS=2" "$(head -3 "$dir/out" "$dir/err")"
"$bin" bench --steps 1 --batch 8 >"$dir/out" 2>"$dir/err" &&
  grep -q ' threads=1$' "$dir/out" && ok "bench: 1 thread by default" ||
  bad "bench by default" "$(head -3 "$dir/out" "$dir/err")"

# The top level: the same shape without a command name.
all=$("$bin" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' | paste -sd'|')
top() {
  local name=$1 want=$2
  shift 3
  "$bin" "$@" >"$dir/out" 2>"$dir/err"
  local rc=$?
  want=$(printf "%s\nTry 'shardnet --help'." "$want")
  if [[ $rc -eq 2 && ! -s $dir/out && $(cat "$dir/err") == "$want" ]]; then
    ok "$name"
  else
    bad "$name: exit $rc, want 2 and exactly:" "$want" "-- got:" "$(head -5 "$dir/err")"
  fi
}
# Every command that `shardnet --help` lists has a row in the table above.
for cmd in ${all//|/ }; do
  printf '%s\n' "${commands[@]}" | grep -q "^$cmd;" && ok "$cmd: has a row in the commands table" ||
    bad "$cmd: no row in the commands table (add one)"
done
top "no command" "shardnet: no command given (give one of $all)" --
top "unknown command" "shardnet: 'frobnicate' is not a command ($all)" -- frobnicate
top "a prefix of a command" "shardnet: 'tra' is not a command ($all)" -- tra
top "help of an unknown command" "shardnet: help: 'frobnicate' is not a command ($all)" -- \
  help frobnicate
top "help of two commands" "shardnet: help: unexpected argument 'eval' (give one command: $all)" -- \
  help train eval
"$bin" help >"$dir/h1" 2>&1 && "$bin" --help >"$dir/h2" 2>&1 && cmp -s "$dir/h1" "$dir/h2" &&
  grep -q '^  train ' "$dir/h1" && ok "'shardnet help' is 'shardnet --help'" ||
  bad "'shardnet help' differs from 'shardnet --help'"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
