# One helper per kind of target. Explicit source lists; includes rooted at src/.

set(AIOT_SRC_DIR ${PROJECT_SOURCE_DIR}/src)

function(aiot_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(AIOT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# aiot_library(NAME SOURCES ... DEPS ...)
function(aiot_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${AIOT_SRC_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  aiot_warnings(${name})
endfunction()

# aiot_test(NAME SOURCES ... DEPS ... [LABEL unit|integration|e2e] [TIMEOUT s])
# Header-only test support (tests/support/testing.h: WaitFor, AIOT_SKIP_WITHOUT_PEER), linked by
# every aiot_test.
if(NOT TARGET aiot_test_support)
  add_library(aiot_test_support INTERFACE)
  target_include_directories(aiot_test_support INTERFACE ${PROJECT_SOURCE_DIR})
endif()

function(aiot_test name)
  if(NOT AIOT_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT A_LABEL)
    set(A_LABEL unit)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} aiot_test_support GTest::gtest GTest::gmock
                                        GTest::gtest_main)
  aiot_warnings(${name})
  gtest_discover_tests(${name}
    PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT}
               ENVIRONMENT "AIOT_SOURCE_DIR=${PROJECT_SOURCE_DIR};AIOT_BINARY_DIR=${PROJECT_BINARY_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()

# aiot_bench(NAME SOURCES ... DEPS ...): Google Benchmark program, not run by ctest.
function(aiot_bench name)
  if(NOT AIOT_BUILD_BENCH)
    return()
  endif()
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} benchmark::benchmark benchmark::benchmark_main)
  aiot_warnings(${name})
endfunction()

# aiot_fuzz(NAME SOURCES ... DEPS ... CORPUS dir): libFuzzer target (clang, AIOT_FUZZ=ON).
# Also registered as a ctest (label fuzz) that runs for a bounded time over the corpus.
function(aiot_fuzz name)
  if(NOT AIOT_FUZZ)
    return()
  endif()
  cmake_parse_arguments(A "" "CORPUS;SECONDS" "SOURCES;DEPS" ${ARGN})
  if(NOT A_SECONDS)
    set(A_SECONDS 20)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(work ${PROJECT_BINARY_DIR}/fuzz-corpus/${name})
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
            sh -c "mkdir -p ${work} && $<TARGET_FILE:${name}> -max_total_time=${A_SECONDS} -rss_limit_mb=2048 ${work} ${A_CORPUS}")
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  set_property(GLOBAL APPEND PROPERTY AIOT_FUZZ_TARGETS ${name})
endfunction()
