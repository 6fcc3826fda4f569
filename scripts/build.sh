#!/usr/bin/env bash
# Installs the build dependencies (Debian packages) and builds speedlayer.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
# The Dockerfile's build stage runs this same script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$root/build}"
shift || true
bash "$root/scripts/install-deps.sh" ${SPEEDLAYER_DEPS_MODE:-}
cmake -S "$root" -B "$build_dir" -G Ninja "$@" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)"
