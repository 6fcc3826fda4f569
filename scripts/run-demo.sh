#!/usr/bin/env bash
# README command 1: install, build, and run the main job on the embedded default: the whole
# pipeline (generator -> router -> topics -> consumer) on librdkafka's in-process mock cluster.
# No Kafka, no cluster, nothing else to install. Extra arguments go to `speedlayer demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPEEDLAYER_DEPS_MODE='' bash "$root/scripts/build.sh" "$root/build" -DSPEEDLAYER_TESTS=OFF -DSPEEDLAYER_BENCH=OFF
exec "$root/build/src/app/speedlayer" demo "$@"
