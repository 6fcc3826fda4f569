# libFuzzer targets, one per parser (issue 13): src/<module>/<name>_fuzz.cc defines
# LLVMFuzzerTestOneInput; its corpus is checked in beside it:
#   src/<module>/fuzz/<name>/seeds/        small realistic inputs to start from
#   src/<module>/fuzz/<name>/regressions/  inputs that once crashed: replayed by the unit tests
#   src/<module>/fuzz/<name>/pending/      crashers of bugs not fixed yet: kept, not replayed
#
# speedlayer_fuzz_target(NAME SOURCES ... DEPS ... [PROVIDER])
#   SPEEDLAYER_FUZZ=ON (clang only): NAME, a libFuzzer executable (scripts/run-fuzz.sh builds and
#     runs every one), plus NAME_replay, the corpus run once through it (CTest, label unit).
#   SPEEDLAYER_TESTS=ON otherwise (the ordinary gcc build): NAME_replay, a CTest test labelled
#     unit that feeds every file of seeds/ and regressions/ through LLVMFuzzerTestOneInput with
#     src/core/fuzz_replay_main.cc: a crash, a sanitizer report or a failed check fails it. So
#     the unit tests, and their AddressSanitizer run in run-tests.sh, replay the corpus.
#   PROVIDER: the source includes clang's <fuzzer/FuzzedDataProvider.h>. A gcc build takes a
#     copy of it from an installed clang (only that header: clang's resource directory would
#     shadow gcc's own intrinsics headers); without clang that one replay test is left out.
# Every call appends "NAME<TAB>corpus directory" to <build>/fuzz-targets.txt, the list
# run-fuzz.sh works through.

set(SPEEDLAYER_FUZZ_MANIFEST ${PROJECT_BINARY_DIR}/fuzz-targets.txt)
file(WRITE ${SPEEDLAYER_FUZZ_MANIFEST} "")  # rewritten by every configure: no stale targets

if(SPEEDLAYER_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SPEEDLAYER_FUZZ=ON needs clang's libFuzzer, not "
      "${CMAKE_CXX_COMPILER_ID}: configure with CXX=clang++-19 (scripts/run-fuzz.sh does)")
  endif()
  # Coverage feedback from every library the targets call, not only from the targets.
  add_compile_options(-fsanitize=fuzzer-no-link)
  # A sanitizer report must end the run (a crash libFuzzer saves), not just print and go on.
  if(SPEEDLAYER_SANITIZE)
    add_compile_options(-fno-sanitize-recover=all)
  endif()
else()
  file(GLOB _sl_fuzz_provider_candidates
    /usr/lib/llvm-*/lib/clang/*/include/fuzzer/FuzzedDataProvider.h)
  if(_sl_fuzz_provider_candidates)
    list(SORT _sl_fuzz_provider_candidates COMPARE NATURAL ORDER DESCENDING)
    list(GET _sl_fuzz_provider_candidates 0 _sl_fuzz_provider)
    configure_file(${_sl_fuzz_provider}
      ${PROJECT_BINARY_DIR}/fuzz-include/fuzzer/FuzzedDataProvider.h COPYONLY)
    set(SPEEDLAYER_FUZZ_PROVIDER_DIR ${PROJECT_BINARY_DIR}/fuzz-include)
  endif()
endif()

function(speedlayer_fuzz_target name)
  cmake_parse_arguments(F "PROVIDER" "" "SOURCES;DEPS" ${ARGN})
  string(REGEX REPLACE "_fuzz$" "" corpus_name ${name})
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${corpus_name})
  if(NOT IS_DIRECTORY ${corpus}/seeds)
    message(FATAL_ERROR "speedlayer_fuzz_target(${name}): ${corpus}/seeds is missing")
  endif()

  if(SPEEDLAYER_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE ${F_DEPS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    file(APPEND ${SPEEDLAYER_FUZZ_MANIFEST} "${name}\t${corpus}\n")
    if(SPEEDLAYER_TESTS)
      # -runs=0: run each corpus file once, no fuzzing.
      add_test(NAME ${name}_replay COMMAND ${name} -runs=0 ${corpus}/seeds ${corpus}/regressions)
      set_tests_properties(${name}_replay PROPERTIES LABELS unit TIMEOUT 120)
      speedlayer_label_target(unit ${name})
    endif()
    return()
  endif()

  if(NOT SPEEDLAYER_TESTS)
    return()
  endif()
  if(F_PROVIDER AND NOT SPEEDLAYER_FUZZ_PROVIDER_DIR)
    message(STATUS "${name}_replay left out: no clang's fuzzer/FuzzedDataProvider.h "
      "(scripts/install-deps.sh --test installs clang-19)")
    return()
  endif()
  if(NOT TARGET sl_fuzz_replay_main)
    add_library(sl_fuzz_replay_main STATIC ${PROJECT_SOURCE_DIR}/src/core/fuzz_replay_main.cc)
  endif()
  add_executable(${name}_replay ${F_SOURCES})
  target_link_libraries(${name}_replay PRIVATE ${F_DEPS} sl_fuzz_replay_main)
  if(F_PROVIDER)
    target_include_directories(${name}_replay PRIVATE ${SPEEDLAYER_FUZZ_PROVIDER_DIR})
  endif()
  add_test(NAME ${name}_replay
    COMMAND ${name}_replay ${corpus}/seeds ${corpus}/regressions)
  set_tests_properties(${name}_replay PROPERTIES LABELS unit TIMEOUT 120)
  speedlayer_label_target(unit ${name}_replay)
endfunction()
