#!/usr/bin/env bash
# Builds the libFuzzer targets (cmake/fuzz.cmake: one per parser) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer in build-fuzz/, and runs each for SPEEDLAYER_FUZZ_SECONDS
# (default 20) seconds.
#   scripts/run-fuzz.sh [TARGET...]       # default: every target; e.g. routes_fuzz units_fuzz
# Each target starts from its checked-in corpus (src/<module>/fuzz/<name>/seeds and
# regressions), copied into build-fuzz/<target>/corpus, where libFuzzer keeps what it finds:
# nothing generated is written into the source tree, except this: an input that crashes a
# target is copied into that target's regressions/ directory (commit it with the fix; the unit
# tests replay every file there), and the script exits 1 once all targets have run.
# Environment: SPEEDLAYER_FUZZ_SECONDS, SPEEDLAYER_FUZZ_CXX (default clang++-19: Debian 12's
# clang 14-16 leave libstdc++'s <expected> empty, so nothing here compiles with them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
seconds="${SPEEDLAYER_FUZZ_SECONDS:-20}"
cxx="${SPEEDLAYER_FUZZ_CXX:-clang++-19}"

bash "$root/scripts/install-deps.sh" --test  # clang-19 and its libFuzzer runtime
echo "== fuzz targets: configure and build ($cxx, libFuzzer + ASan + UBSan) in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DSPEEDLAYER_FUZZ=ON \
  -DSPEEDLAYER_TESTS=OFF -DSPEEDLAYER_BENCH=OFF -DSPEEDLAYER_SANITIZE=address,undefined \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

# "name<TAB>corpus directory" per target, written by the configure (cmake/fuzz.cmake).
declare -A corpus_of=()
names=()
while IFS=$'\t' read -r name corpus; do
  corpus_of[$name]="$corpus"
  names+=("$name")
done <"$build/fuzz-targets.txt"
if (($# > 0)); then
  for name in "$@"; do
    [[ -n "${corpus_of[$name]:-}" ]] || { echo "run-fuzz: no fuzz target '$name' (have: ${names[*]})" >&2; exit 2; }
  done
  names=("$@")
fi
build_start=$SECONDS
cmake --build "$build" --parallel "$(nproc)" --target "${names[@]}"
echo "== built in $((SECONDS - build_start)) s"

# Stack traces with function names and lines: llvm-symbolizer when installed, else binutils'
# addr2line (clang-19 comes without a symbolizer).
symbolizer="$(command -v llvm-symbolizer-19 || command -v llvm-symbolizer || command -v addr2line || true)"
sanitizer_options="external_symbolizer_path=$symbolizer"

# The value of libFuzzer's final stats line "stat::NAME: VALUE" (-print_final_stats=1) in a
# log, or 0.
final_stat() { awk -v k="stat::$2:" '$1 == k { v = $2 } END { print v + 0 }' "$1"; }
# The edge coverage ("cov: N") of the last status line of a log that matches a pattern, or -.
coverage_at() {
  local n
  n=$({ grep -E "$2" "$1" || true; } | sed -nE 's/.* cov: ([0-9]+).*/\1/p' | tail -n 1)
  echo "${n:--}"
}

status=0
rows=()
for name in "${names[@]}"; do
  exe="$(find "$build/src" -type f -name "$name" -perm -u+x | head -n 1)"
  source_corpus="${corpus_of[$name]}"
  work="$build/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  rm -f "$work/artifacts/"*
  # The checked-in inputs join what earlier runs found (dot files and READMEs are no inputs).
  find "$source_corpus/seeds" "$source_corpus/regressions" -maxdepth 1 -type f \
    ! -name '.*' ! -name 'README*' -exec cp -f -t "$work/corpus" {} +
  log="$work/fuzz.log"
  echo "== $name: ${seconds}s from $(find "$work/corpus" -type f | wc -l) corpus inputs (log: $log)"
  start_ns=$(date +%s%N)
  rc=0
  (cd "$work" && ASAN_OPTIONS="detect_leaks=1:$sanitizer_options" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:$sanitizer_options" \
    "$exe" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
    -artifact_prefix="$work/artifacts/" "$work/corpus") >"$log" 2>&1 || rc=$?
  elapsed_ns=$(($(date +%s%N) - start_ns))
  units=$(final_stat "$log" number_of_executed_units)
  per_sec=$(awk -v u="$units" -v ns="$elapsed_ns" 'BEGIN { printf "%d", (ns > 0 ? u / (ns / 1e9) : 0) }')
  coverage="$(coverage_at "$log" 'INITED') -> $(coverage_at "$log" ' cov: ')"
  new_units=$(final_stat "$log" new_units_added)
  if ((rc == 0)); then
    result=ok
  else
    status=1
    result="FAILED (exit $rc)"
    # What libFuzzer saved: crash-*, leak-*, timeout-*, oom-* (named by the input's SHA-1).
    for artifact in "$work/artifacts/"*; do
      [[ -f "$artifact" ]] || continue
      kept="$source_corpus/regressions/$(basename "$artifact")"
      cp -f "$artifact" "$kept"
      result="FAILED: ${kept#"$root/"}"
      echo "run-fuzz: $name: input saved as $kept" >&2
    done
    echo "---- $name: end of $log" >&2
    { grep -E 'fuzz property failed|internal error|ERROR: |SUMMARY: |runtime error' "$log" || true; } | head -n 20 >&2
    tail -n 40 "$log" >&2
    echo "----" >&2
  fi
  rows+=("$(printf '%-22s %10s %16s %9s  %s' "$name" "$per_sec" "$coverage" "$new_units" "$result")")
done

echo "== fuzz summary (${seconds}s per target, $(nproc) cores; coverage: edges after the seeds -> at the end)"
printf '%-22s %10s %16s %9s  %s\n' target "exec/s" coverage "new units" result
printf '%s\n' "${rows[@]}"
exit $status
