#!/usr/bin/env bash
# test.sh - set up (packages, test packages + build) and run the whole test suite.
#
#   scripts/test.sh [meson test options...]    e.g. scripts/test.sh --suite ops
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$here/scripts/setup.sh" --test build
cd "$here"
meson test -C build --print-errorlogs "$@"
