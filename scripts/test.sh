#!/usr/bin/env bash
# test.sh - set up (packages, test packages + build) and run the whole test suite.
#
#   scripts/test.sh [meson test options...]    e.g. scripts/test.sh --suite ops
#
# Without options (what CI runs) it then builds shardnet a second time with
# AddressSanitizer and UndefinedBehaviorSanitizer (build-asan) and runs the
# 'malformed' suite there: every generated bad input again, and any
# sanitizer report fails it.  SHARDNET_NO_ASAN=1 skips that pass.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/scripts/setup.sh" --test build
cd "$here"
meson test -C build --print-errorlogs "$@"
if [[ $# -eq 0 && ${SHARDNET_NO_ASAN:-0} != 1 ]]; then
  # werror off: GCC's -Wformat-truncation gives false positives under the
  # sanitizers; the normal build keeps warnings as errors.
  [[ -f build-asan/build.ninja ]] ||
    meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined \
      -Db_lundef=false -Dwerror=false >/dev/null
  meson compile -C build-asan trainer/shardnet
  # Leaks are not errors here (Open MPI and HDF5 keep memory until exit);
  # UBSan reports are made fatal by the test's scan of the output.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --suite malformed --no-rebuild
fi
