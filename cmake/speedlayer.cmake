# speedlayer_module(NAME SOURCES ... DEPS ...): one library target per src/ folder, sl_<name>.
function(speedlayer_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(sl_${name} STATIC ${M_SOURCES})
  target_include_directories(sl_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(sl_${name} PUBLIC ${M_DEPS})
endfunction()

# speedlayer_label_target(LABEL TARGET): TARGET builds a test of that CTest label; the custom
# target LABEL_tests (unit_tests, integration_tests) builds all of them, so a sanitizer build
# compiles only what it runs (scripts/run-tests.sh). GoogleTest cases are discovered when CTest
# runs, so before a build `ctest -N` cannot say which executables a label needs.
function(speedlayer_label_target label target)
  if(NOT TARGET ${label}_tests)
    add_custom_target(${label}_tests)
  endif()
  add_dependencies(${label}_tests ${target})
endfunction()

# speedlayer_test(NAME LABEL unit|integration SOURCES ... DEPS ... [FIXTURES ...])
# A GoogleTest executable whose cases become CTest tests with the given label.
# Integration tests name the broker fixture they need (kafka_single, kafka_cluster3); CTest
# starts the real broker before them and stops it after.
function(speedlayer_test name)
  cmake_parse_arguments(T "" "LABEL;TIMEOUT" "SOURCES;DEPS;FIXTURES" ${ARGN})
  if(NOT SPEEDLAYER_TESTS)
    return()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  # Tests use designated initializers that leave fields at their defaults on purpose.
  target_compile_options(${name} PRIVATE -Wno-missing-field-initializers)
  target_compile_definitions(${name} PRIVATE
    SPEEDLAYER_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SPEEDLAYER_BINARY_DIR="${PROJECT_BINARY_DIR}")
  set(props LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT}
    # One variable only: gtest_discover_tests splits property values at ";" (CMake 3.25).
    # Tests find the broker state in <build>/kafka (SPEEDLAYER_BINARY_DIR) by default.
    ENVIRONMENT "SPEEDLAYER_BIN=$<TARGET_FILE:speedlayer>")
  if(T_FIXTURES)
    list(APPEND props FIXTURES_REQUIRED "${T_FIXTURES}")
    # Broker tests share one broker: never run two of them at once.
    list(APPEND props RESOURCE_LOCK "${T_FIXTURES}")
  endif()
  speedlayer_label_target(${T_LABEL} ${name})
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 30 PROPERTIES ${props})
endfunction()
