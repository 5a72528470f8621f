#!/usr/bin/env bash
# readme.sh - every command README.md shows is run, here or by a named test,
# so the README cannot drift from the program.
#   tests/readme.sh SHARDNET SOURCE_ROOT
# Fenced blocks of README.md, by their info string:
#   sh                        run here, in README order, in one bash (set -e,
#                             pipefail) in a scratch directory that looks like
#                             the source tree after scripts/quickstart.sh
#                             (scripts/, build/install/bin/shardnet,
#                             build/install/share/bash-completion/...)
#   sh covered-by:tests/X.sh  run by that test instead: it must be a shell test
#                             registered in tests/meson.build, and the program
#                             each line starts (mpirun, sbatch, node, ...) must
#                             appear in it; covered-by:ci is .ci/run's
#                             scripts/test.sh; covered-by:fresh-machine is
#                             accepted for scripts/quickstart.sh alone (it
#                             installs packages and trains 10 epochs on the
#                             full data: run by hand on a fresh Debian 12
#                             before a release, not by a test)
#   python                    run here with /usr/bin/python3 after the sh blocks
#                             before it (skipped, and said, without python3-torch,
#                             python3-h5py and python3-onnx), and checked by
#                             pyflakes (python3-pyflakes): no unused imports,
#                             no undefined names
#   text                      output; no line may start with a shell prompt "$ "
# A fence with no info string or another one fails the test, and so does an
# inline `shardnet ...` or `mpirun ...` whose command is in no sh block.
# Small data: every `shardnet train` gets `--limit README_LIMIT` (default
# 8192 training samples) added; under Open MPI mpirun gets --oversubscribe and
# mpi_yield_when_idle, so that the blocks also run on one core.
# README=FILE tests another file (the self-check below uses it).
set -u
bin=$1
src=$(realpath "${2:?usage: readme.sh SHARDNET SOURCE_ROOT}")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
limit=${README_LIMIT:-8192}
py=/usr/bin/python3

# parse README OUT: writes OUT/blocks (kind line file per block) and OUT/NNN.*;
# prints what is wrong with the README's fences and exits 1 if anything is.
parse() {
  "$py" - "$1" "$2" "$src" <<'EOF'
import os, re, sys
readme, out, src = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
lines = open(readme, encoding="utf-8").read().split("\n")
errors, blocks, i = [], [], 0
registered = open(os.path.join(src, "tests/meson.build")).read()
sh_text = []
while i < len(lines):
    m = re.match(r"^(`{3,})(.*)$", lines[i])
    if not m:
        i += 1
        continue
    fence, info, start = m.group(1), m.group(2).strip(), i + 1
    body = []
    i += 1
    while i < len(lines) and not lines[i].startswith(fence):
        body.append(lines[i])
        i += 1
    i += 1
    words = info.split()
    where = f"{os.path.basename(readme)}:{start}"
    if not words or words[0] not in ("sh", "python", "text"):
        errors.append(f"{where}: a fenced block marked {info!r}: mark it sh (run by tests/readme.sh), "
                      "'sh covered-by:tests/NAME.sh', python or text")
        continue
    kind = words[0]
    cover = [w[len("covered-by:"):] for w in words[1:] if w.startswith("covered-by:")]
    if kind == "text":
        for n, l in enumerate(body):
            if l.startswith("$ "):
                errors.append(f"{where}: line {start + n + 1} shows a command in a text block: put it in a sh block")
        continue
    if kind == "sh":
        sh_text.append("\n".join(body))
    if cover:
        t = cover[0]
        if t == "fresh-machine":
            bad = [l for l in body if l.split("#")[0].strip() and not l.startswith("scripts/quickstart.sh")]
            if bad:
                errors.append(f"{where}: covered-by:fresh-machine is for scripts/quickstart.sh alone, not {bad[0]!r}")
            continue
        if t == "ci":
            test_file = os.path.join(src, ".ci/run")
            ok = os.path.exists(test_file) and "scripts/test.sh" in open(test_file).read()
        else:
            test_file = os.path.join(src, t)
            name = re.sub(r"^tests/|\.sh$", "", t)
            ok = (t.startswith("tests/") and os.path.isfile(test_file)
                  and re.search(r"\['%s'," % re.escape(name), registered) is not None)
        if not ok:
            errors.append(f"{where}: covered-by:{t} is not a test that runs (a tests/NAME.sh in "
                          "tests/meson.build's shell_tests, or ci)")
            continue
        test_text = open(test_file).read()
        if t == "ci":
            test_text += open(os.path.join(src, "scripts/test.sh")).read()
        for n, l in enumerate(body):
            l = l.split("#")[0].strip()
            if not l or l.startswith("--"):
                continue
            prog = next((w for w in l.split() if "=" not in w), "")
            if prog and os.path.basename(prog) not in test_text:
                errors.append(f"{where}: line {start + n + 1}: {prog} does not occur in {t}, "
                              "which is said to cover it")
        continue
    path = os.path.join(out, "%03d.%s" % (len(blocks), "py" if kind == "python" else "sh"))
    open(path, "w").write("\n".join(body) + "\n")
    blocks.append((kind, start, path))
# inline commands must be in a sh block: compare up to the first placeholder
all_sh = "\n".join(sh_text)
for n, l in enumerate(lines):
    for span in re.findall(r"`([^`]+)`", l):
        if not re.match(r"^(shardnet|mpirun) ", span):
            continue
        prefix = []
        for w in span.split():
            if re.search(r"[A-Z]{1,}[A-Z_]*$", w) and not w.startswith("-"):
                break
            prefix.append(w)
        if " ".join(prefix) not in all_sh:
            errors.append(f"{os.path.basename(readme)}:{n + 1}: `{span}` is in no sh block")
with open(os.path.join(out, "blocks"), "w") as f:
    for kind, start, path in blocks:
        f.write(f"{kind} {start} {path}\n")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF
}

# drive OUT: the script that runs OUT's blocks in order, in the current
# directory, marking each with "== README line N".
drive() {
  {
    echo 'set -eo pipefail'
    echo "export PATH=$(dirname "$bin"):\$PATH"
    if [[ $mpi_kind == openmpi ]]; then
      echo 'mpirun() { command mpirun --oversubscribe --mca mpi_yield_when_idle 1 "$@"; }'
    fi
    while read -r kind line file; do
      echo "echo '== README line $line ($kind)'"
      if [[ $kind == sh ]]; then
        sed "s/\\bshardnet train\\b/shardnet train --limit $limit/g" "$file" >"$file.run"
        echo "source $file.run"
      elif [[ ${python_ok:-0} == 1 ]]; then
        echo "$py $file"
      else
        echo "echo 'skipped: python block (needs python3-torch, python3-h5py, python3-onnx)'"
      fi
    done <"$1/blocks"
    echo "echo '== README done'"
  } >"$1/driver.sh"
}

"$py" -c 'import torch, h5py, onnx' 2>/dev/null && python_ok=1 || python_ok=0

# Self-check: a failing command, a bare fence, a false covered-by and an
# inline command in no block must each fail.
mkdir -p "$dir/self" && cd "$dir/self" || exit 1
printf '```sh\nshardnet --version\nshardnet verify no-such-file.h5\necho not reached\n```\n' >bad-cmd.md
if parse bad-cmd.md "$dir/self/p1" >parse.out && drive "$dir/self/p1" &&
   ! bash "$dir/self/p1/driver.sh" >run.out 2>&1 && ! grep -q 'not reached' run.out; then
  pass "self-check: a failing README command fails the run"
else
  fail "self-check: a failing README command did not fail the run"; sed 's/^/    | /' parse.out run.out
fi
for c in 'bare:```\nshardnet --version\n```' 'cover:```sh covered-by:tests/nosuch.sh\nshardnet --version\n```' \
         'inline:see `shardnet frobnicate --now`\n```sh\nshardnet --version\n```' \
         'prompt:```text\n$ shardnet --version\n```' \
         'unrelated:```sh covered-by:tests/slurm.sh\nfrobnicate --now\n```'; do
  printf "${c#*:}\n" >"${c%%:*}.md"
  if parse "${c%%:*}.md" "$dir/self/${c%%:*}" >"${c%%:*}.out"; then
    fail "self-check: the parser accepted the ${c%%:*} case"
  else
    pass "self-check: the parser refuses the ${c%%:*} case: $(head -1 "${c%%:*}.out")"
  fi
done

# The README itself, in a scratch tree.
work=$dir/work
mkdir -p "$work/build/install/bin" "$work/build/install/share/bash-completion/completions"
ln -s "$src/scripts" "$work/scripts"
ln -s "$bin" "$work/build/install/bin/shardnet"
ln -s "$src/scripts/shardnet.bash-completion" "$work/build/install/share/bash-completion/completions/shardnet"
readme=${README:-$src/README.md}
if ! parse "$readme" "$dir/blocks" >"$dir/parse.out"; then
  while read -r l; do fail "$l"; done <"$dir/parse.out"
else
  pass "every fenced block is run here or by a registered test ($(wc -l <"$dir/blocks/blocks") blocks run here)"
fi
# The Python examples: nothing unused, nothing undefined.
py_blocks=$(awk '$1 == "python" { print $3 }' "$dir/blocks/blocks" 2>/dev/null)
if [[ -n $py_blocks ]]; then
  if ! "$py" -m pyflakes --version >/dev/null 2>&1; then
    skip "pyflakes on the python blocks (apt-get install python3-pyflakes)"
  elif "$py" -m pyflakes $py_blocks >"$dir/pyflakes.out" 2>&1; then
    pass "pyflakes finds nothing in the $(wc -w <<<"$py_blocks") python blocks"
  else
    fail "pyflakes on the python blocks:"
    # block file:LINE:COL: message -> README.md:line: message
    awk 'NR == FNR { if ($1 == "python") start[$3] = $2; next }
         { split($0, f, ":"); msg = $0; sub(/^[^:]*:[0-9]+:[0-9]+: */, "", msg)
           print "    | README.md:" start[f[1]] + f[2] ": " msg }' "$dir/blocks/blocks" "$dir/pyflakes.out"
  fi
fi
if [[ -f $dir/blocks/blocks ]]; then
  drive "$dir/blocks"
  cd "$work" || exit 1
  bash "$dir/blocks/driver.sh" >"$dir/run.out" 2>&1
  rc=$?
  cd "$dir" || exit 1
  last=$(grep '^== README' "$dir/run.out" | tail -1)
  if [[ $rc -eq 0 && $last == "== README done" ]]; then
    pass "every sh and python block ran ($(grep -c '^== README line' "$dir/run.out") blocks, limit $limit samples)"
    grep -E '^(== README line|done:|skipped:)' "$dir/run.out" | sed 's/^/    | /'
    skipped=$((skipped + $(grep -c '^skipped:' "$dir/run.out")))
    # The files the README's walkthrough names, where it says they are.
    if [[ -z ${README:-} ]]; then
      missing=""
      for f in config.json latest 'ckpt-*.h5' best.h5 best.json metrics.jsonl \
               events.out.tfevents.shardnet curves.png best.onnx best.safetensors; do
        compgen -G "$work/runs/demo/$f" >/dev/null || missing+=" $f"
      done
      [[ -z $missing ]] && pass "runs/demo holds every file the README names" ||
        fail "runs/demo lacks what the README names:$missing"
    fi
  else
    fail "a README block failed (exit $rc) at ${last#== }:"
    sed 's/^/    | /' "$dir/run.out" | grep -v '^    |   config' | tail -30
  fi
fi
finish
