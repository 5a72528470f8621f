# lib.sh - what the shell tests share: counting checks, showing a run's
# output, the final parameter hash of a run.  Source it; runs write
# $dir/NAME.out and $dir/NAME.err.  The closing line is the plain
# "N passed, M failed" that CI reads; finish's status is the test's.
passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
# skip WHAT: a case this machine cannot run (said, counted, not a failure).
skip() { skipped=$((skipped + 1)); echo "skipped: $*"; }
is_root() { [[ $(id -u) -eq 0 ]]; }
# show NAME [LINES]: the tail of a run's output, without the config line.
show() { sed 's/^/    | /' "$dir/$1.out" "$dir/$1.err" | grep -v '^    |   config' | tail -"${2:-25}"; }
# final_hash NAME: the fingerprint (SHA-256 of the parameters) of `shardnet
# train`'s "done:" line.
final_hash() { sed -n 's/^done: .*final parameters sha256 \([0-9a-f]*\)$/\1/p' "$dir/$1.out"; }
finish() {
  echo "$passed passed, $failed failed$([[ $skipped -eq 0 ]] || echo ", $skipped skipped")"
  [[ $failed -eq 0 ]]
}

# A train without --run makes a new runs/<time> in the working directory:
# work in $dir so that such runs land there (paths that meson gives relative
# to the build directory are made absolute first).
bin=$(realpath "$bin")
[[ -n ${dump:-} ]] && dump=$(realpath "$dump")
cd "$dir" || exit 1
