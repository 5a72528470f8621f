#!/usr/bin/env bash
# install.sh - `meson install` as a site would do it, into a temporary
# destdir: the installed shardnet runs, its man page (made from the --help
# texts) renders with `man -l` and documents every subcommand, bash
# completion completes subcommands and options, and the user scripts are
# under share/shardnet/.
#   tests/install.sh SHARDNET BUILD_DIR
set -u
build=${2:?usage: install.sh SHARDNET BUILD_DIR}
source "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

if ! meson install -C "$build" --no-rebuild --destdir "$dir/root" --quiet >"$dir/install.log" 2>&1; then
  fail "meson install --destdir"; sed 's/^/    | /' "$dir/install.log" | tail -20; finish; exit
fi
prefix=$(meson introspect "$build" --buildoptions |
  /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
root=$dir/root$prefix
bin=$root/bin/shardnet

[[ -x $bin ]] && pass "bin/shardnet installed" || fail "no executable $bin"
"$bin" --version >"$dir/version" 2>&1 && grep -q '^shardnet [0-9]' "$dir/version" &&
  pass "installed shardnet --version: $(head -1 "$dir/version")" ||
  { fail "installed shardnet --version"; sed 's/^/    | /' "$dir/version"; }

page=$root/share/man/man1/shardnet.1
if [[ ! -f $page ]]; then
  fail "no man page at share/man/man1/shardnet.1"
else
  MANWIDTH=100 man -l "$page" >"$dir/man.txt" 2>"$dir/man.err"
  [[ $? -eq 0 && -s $dir/man.txt ]] && pass "man -l renders the page" ||
    { fail "man -l"; sed 's/^/    | /' "$dir/man.err"; }
  # every subcommand of --help has its own section with its options
  cmds=$("$bin" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p')
  missing=""
  for c in $cmds; do
    grep -q "^   shardnet $c\$" "$dir/man.txt" || missing+=" $c"
    opt=$("$bin" "$c" --help | grep -o -- '--[a-z][a-z0-9-]*' | grep -v -- '--help' | head -1)
    [[ -z $opt ]] || grep -q -- "$opt" "$dir/man.txt" || missing+=" $c($opt)"
  done
  [[ -n $cmds && -z $missing ]] && pass "man page documents $(echo $cmds | wc -w) subcommands" ||
    fail "man page lacks:$missing"
fi

comp=$root/share/bash-completion/completions/shardnet
if [[ ! -f $comp ]]; then
  fail "no bash completion at share/bash-completion/completions/shardnet"
else
  # complete WORDS...: run the completion function on the words, the last
  # being the one under the cursor; prints COMPREPLY one per line.
  complete_words() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
             _shardnet; printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" "$bin" "$@"
  }
  [[ $(complete_words tr) == train ]] && pass "completion: 'tr' -> train" ||
    fail "completion of 'tr': $(complete_words tr | tr '\n' ' ')"
  got=$(complete_words train --ep | tr '\n' ' ')
  [[ $got == "--epochs " ]] && pass "completion: 'train --ep' -> --epochs" ||
    fail "completion of 'train --ep': '$got'"
  got=$(complete_words export --form | tr '\n' ' ')
  [[ $got == "--format " ]] && pass "completion: 'export --form' -> --format" ||
    fail "completion of 'export --form': '$got'"
  all=$(complete_words "" | wc -l)
  [[ $all -ge 7 ]] && pass "completion offers $all words at the subcommand" || fail "completion offers $all words"
fi

for f in share/shardnet/slurm/train.sbatch share/shardnet/plot.py share/shardnet/load_safetensors.py \
  share/shardnet/safetensors_strict.py share/shardnet/onnx_verify.py; do
  [[ -x $root/$f ]] || missing_script+=" $f"
done
[[ -z ${missing_script:-} ]] && pass "user scripts under share/shardnet/" || fail "not installed:${missing_script}"
finish
