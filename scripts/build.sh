#!/usr/bin/env bash
# Installs the build dependencies (Debian packages), builds the pinned librdkafka once
# (scripts/librdkafka.sh, cached in ~/.cache/speedlayer) and builds speedlayer.
#   scripts/build.sh [BUILD_DIR] [extra cmake args...]
# With -DSPEEDLAYER_SYSTEM_RDKAFKA=ON among the cmake args it links Debian's librdkafka-dev
# 2.0.2 instead (installed here; no librdkafka build).
# The Dockerfile's build stage runs this same script.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$root/build}"
shift || true
read -ra deps_args <<<"${SPEEDLAYER_DEPS_MODE:-}"  # e.g. --test (scripts/run-tests.sh)
system_rdkafka=0
for arg in "$@"; do
  if [[ "${arg,,}" =~ ^-dspeedlayer_system_rdkafka(:bool)?=(.*)$ ]]; then
    case "${BASH_REMATCH[2]}" in on | 1 | true | yes | y) system_rdkafka=1 ;; *) system_rdkafka=0 ;; esac
  fi
done
if ((system_rdkafka)); then deps_args+=(--system-rdkafka); fi
bash "$root/scripts/install-deps.sh" "${deps_args[@]}"
if ((!system_rdkafka)); then bash "$root/scripts/librdkafka.sh" >/dev/null; fi
cmake -S "$root" -B "$build_dir" -G Ninja "$@" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)"
