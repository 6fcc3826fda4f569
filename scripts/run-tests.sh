#!/usr/bin/env bash
# README command 2: install everything the tests need (Debian packages, librdkafka's pinned
# source from crates.io, built once by scripts/librdkafka.sh, the Kafka broker's jars from
# Maven Central, the Python interop packages from PyPI), build, and run the whole suite:
#   0. shellcheck on every shell script (.shellcheckrc), clang-format (.clang-format) on every
#      C++ source, clang-tidy (.clang-tidy, scripts/run-tidy.sh) on every non-test source,
#   1. unit and integration tests (CTest labels `unit`, `integration`; CTest starts and stops
#      the real Kafka brokers the integration tests need; the live page in headless Chromium),
#      each run once: a test that fails fails the command (no retries),
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, and the unit
#      tests and serve's integration tests under ThreadSanitizer,
#   3. every libFuzzer target for SPEEDLAYER_FUZZ_SECONDS (20) s each (scripts/run-fuzz.sh).
# SPEEDLAYER_SKIP_SANITIZERS=1 skips step 2, SPEEDLAYER_SKIP_FUZZ=1 step 3.
# Tests whose precondition this machine lacks fail instead of skipping:
# SPEEDLAYER_REQUIRE_CGROUP=1 (the default here; 0 to allow the skip) makes the producer's
# 128 MiB memory test fail when it cannot create a memory cgroup (run as root on a host or VM).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tests and benchmarks on explicitly: command 1 (run-demo.sh) configures the same build dir
# with them off, and CMake would keep that.
SPEEDLAYER_DEPS_MODE=--test bash "$root/scripts/build.sh" "$root/build" -DSPEEDLAYER_TESTS=ON \
  -DSPEEDLAYER_BENCH=ON
bash "$root/scripts/kafka-broker.sh" fetch
bash "$root/scripts/python-env.sh" >/dev/null

status=0
echo "== shellcheck"
(cd "$root" && git ls-files -z '*.sh' .ci/run | xargs -0 shellcheck -f gcc) || status=$?
echo "== clang-format"
(cd "$root" && git ls-files -z '*.cc' '*.h' | xargs -0 clang-format-19 --dry-run -Werror) ||
  status=$?
echo "== clang-tidy"
bash "$root/scripts/run-tidy.sh" "$root/build" || status=$?

export SPEEDLAYER_REQUIRE_CGROUP="${SPEEDLAYER_REQUIRE_CGROUP:-1}"
(cd "$root/build" && ctest --output-on-failure --timeout 1200) || status=$?

if [[ "${SPEEDLAYER_SKIP_SANITIZERS:-0}" != 1 ]]; then
  echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -S "$root" -B "$root/build-asan" -G Ninja -DSPEEDLAYER_SANITIZE=address,undefined \
    -DSPEEDLAYER_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
  # unit_tests: every executable of a `unit` test (cmake/speedlayer.cmake); nothing else.
  cmake --build "$root/build-asan" --parallel "$(nproc)" --target speedlayer unit_tests
  (cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest -L unit --output-on-failure) || status=$?

  # Every unit test, and serve's integration tests (serve has a processor, a changelog follower,
  # the HTTP threads and the stream publisher sharing state), with the speedlayer binary they
  # start built under TSan too.
  echo "== unit tests and serve's integration tests under ThreadSanitizer"
  cmake -S "$root" -B "$root/build-tsan" -G Ninja -DSPEEDLAYER_SANITIZE=thread \
    -DSPEEDLAYER_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
  tsan_tests='^Serve(Http)?Integration\.'
  cmake --build "$root/build-tsan" --parallel "$(nproc)" --target speedlayer unit_tests \
    serve_integration_test
  # tests/sanitizers/tsan.supp: librdkafka is not built with TSan (see the file).
  tsan_options="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/sanitizers/tsan.supp"
  (cd "$root/build-tsan" && export TSAN_OPTIONS="$tsan_options" &&
    ctest -L unit --output-on-failure && ctest -R "$tsan_tests" --no-tests=error --output-on-failure \
      --timeout 1800) ||
    status=$?
fi

if [[ "${SPEEDLAYER_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== fuzz targets (libFuzzer + ASan + UBSan)"
  bash "$root/scripts/run-fuzz.sh" || status=$?
fi
exit $status
