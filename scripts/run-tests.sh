#!/usr/bin/env bash
# README command 2: install everything the tests need (Debian packages, librdkafka's pinned
# source from crates.io, built once by scripts/librdkafka.sh, the Kafka broker's jars from
# Maven Central, the Python interop packages from PyPI), build, and run the whole suite:
#   1. unit and integration tests (CTest labels `unit`, `integration`; CTest starts and stops
#      the real Kafka brokers the integration tests need),
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. every libFuzzer target for SPEEDLAYER_FUZZ_SECONDS (20) s each (scripts/run-fuzz.sh).
# SPEEDLAYER_SKIP_SANITIZERS=1 skips step 2, SPEEDLAYER_SKIP_FUZZ=1 step 3.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tests and benchmarks on explicitly: command 1 (run-demo.sh) configures the same build dir
# with them off, and CMake would keep that.
SPEEDLAYER_DEPS_MODE=--test bash "$root/scripts/build.sh" "$root/build" -DSPEEDLAYER_TESTS=ON \
  -DSPEEDLAYER_BENCH=ON
bash "$root/scripts/kafka-broker.sh" fetch
bash "$root/scripts/python-env.sh" >/dev/null

status=0
# A test that fails is run once more: a loaded CI machine can stretch timing-bound waits;
# a real failure fails twice and is reported.
(cd "$root/build" && ctest --output-on-failure --timeout 1200 --repeat until-pass:2) || status=$?

if [[ "${SPEEDLAYER_SKIP_SANITIZERS:-0}" != 1 ]]; then
  echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S "$root" -B "$root/build-asan" -G Ninja -DSPEEDLAYER_SANITIZE=address,undefined \
    -DSPEEDLAYER_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build "$root/build-asan" --parallel "$(nproc)"
  (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest -L unit --output-on-failure) || status=$?
fi

if [[ "${SPEEDLAYER_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzz targets (libFuzzer + ASan + UBSan)"
  bash "$root/scripts/run-fuzz.sh" || status=$?
fi
exit $status
