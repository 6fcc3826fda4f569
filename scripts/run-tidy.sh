#!/usr/bin/env bash
# Runs clang-tidy-19 (checks in .clang-tidy: bugprone, performance, a modernize subset) on every
# non-test C++ source under src/ and bench/, with the compile commands of a configured build
# directory (default: build/). Exits 1 on any finding (WarningsAsErrors: '*').
#   scripts/run-tidy.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "run-tidy: no $build/compile_commands.json (configure the build first)" >&2
  exit 2
fi
# -quiet drops the per-file banner; the regex takes sources, not *_test.cc (gtest's macros
# trip checks written for production code) and not the generated files in the build dir.
run-clang-tidy-19 -p "$build" -j "$(nproc)" -quiet -extra-arg=-Wno-unknown-warning-option \
  "^$root/(src|bench)/.*(?<!_test)\\.cc\$"
