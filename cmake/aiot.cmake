# One helper per kind of target. Explicit source lists; includes rooted at src/.

set(AIOT_SRC_DIR ${PROJECT_SOURCE_DIR}/src)

function(aiot_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(AIOT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Per-module include roots. src/ is never an include directory: module M's headers are reachable
# only as build/inc/M/M -> src/M, the INTERFACE include directory of M's libraries, so a target
# that does not link a library of M cannot #include "M/...". Generated headers of M go to
# build/gen/M/M/... (aiot_module_gen_dir) and are exposed the same way.
function(aiot_include_root name dir out)
  set(root ${PROJECT_BINARY_DIR}/inc/${name})
  set(link ${root}/${name})
  if(IS_SYMLINK ${link})
    file(READ_SYMLINK ${link} target)
    if(NOT target STREQUAL "${dir}")
      file(REMOVE ${link})
    endif()
  endif()
  if(NOT EXISTS ${link})
    file(MAKE_DIRECTORY ${root})
    file(CREATE_LINK ${dir} ${link} SYMBOLIC)
  endif()
  set(${out} ${root} PARENT_SCOPE)
endfunction()

function(aiot_module_include_root module out)
  aiot_include_root(${module} ${AIOT_SRC_DIR}/${module} root)
  set(${out} ${root} PARENT_SCOPE)
endfunction()

# The module (first folder under src/) of the calling CMakeLists.txt.
function(aiot_current_module out)
  file(RELATIVE_PATH rel ${AIOT_SRC_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  if(rel MATCHES "^\\.\\." OR rel STREQUAL "")
    message(FATAL_ERROR "${CMAKE_CURRENT_SOURCE_DIR} is not in a module under src/")
  endif()
  string(REGEX REPLACE "/.*" "" module ${rel})
  set(${out} ${module} PARENT_SCOPE)
endfunction()

# build/gen/<module>: where a module writes generated headers (as <module>/...); its libraries
# expose it like the include root.
function(aiot_module_gen_dir module out)
  set(${out} ${PROJECT_BINARY_DIR}/gen/${module} PARENT_SCOPE)
endfunction()

# aiot_library(NAME SOURCES ... DEPS ...): a static library of the module whose folder calls it.
# It exposes that module's headers only; DEPS (linked PUBLIC) must be allowed by the module's
# README "May depend on:" line (cmake/layering.cmake checks at configure time).
function(aiot_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  aiot_current_module(module)
  aiot_module_include_root(${module} root)
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${root})
  target_link_libraries(${name} PUBLIC ${A_DEPS})
  set_target_properties(${name} PROPERTIES AIOT_MODULE ${module})
  set_property(GLOBAL APPEND PROPERTY AIOT_LIBRARIES ${name})
  aiot_warnings(${name})
endfunction()

# aiot_test(NAME SOURCES ... DEPS ... [LABEL unit|integration|e2e] [TIMEOUT s])
# NAME is an OBJECT library (target_compile_definitions(NAME ...) etc. work on it) linked into one
# GoogleTest executable per area (the folder under src/ or tests/), label and timeout:
# <area>_<label>_tests, or <area>_<label>_<timeout>s_tests when TIMEOUT is not the default 300. Each
# GoogleTest test is a ctest of that name with that label and timeout, discovered when ctest runs
# (not at build time). A test file must therefore keep its helpers in an anonymous namespace: the
# other test files of its area and label share the executable.
# With AIOT_TEST_UNITY (the default) the test files of one folder that go into one executable are
# compiled together, AIOT_TEST_UNITY_BATCH files per translation unit (a unity build: the
# GoogleTest, Asio and Beast headers and their instantiations once per batch, not once per file),
# by one object library <executable>_<folder>_unity that takes the sources, compile definitions,
# include directories, options, links and dependencies of every NAME of that folder and
# executable (NAME itself is then built only when asked for by name, file by file). So helpers in
# the anonymous namespaces of two test files of one folder and executable must not share a name
# either (give them distinct names, or one shared test header). -DAIOT_TEST_UNITY=OFF builds file
# by file (a one-file edit then recompiles one file, not its batch).
# Header-only test support (tests/support/testing.h: WaitFor, AIOT_SKIP_WITHOUT_PEER), linked by
# every aiot_test; its include root exposes tests/ only (as "tests/...").
option(AIOT_TEST_UNITY "Compile the test files of one folder and executable as unity batches" ON)
set(AIOT_TEST_UNITY_BATCH 6 CACHE STRING "Test files per unity translation unit (AIOT_TEST_UNITY)")

if(NOT TARGET aiot_test_support)
  add_library(aiot_test_support INTERFACE)
  aiot_include_root(tests ${PROJECT_SOURCE_DIR}/tests aiot_tests_root)
  target_include_directories(aiot_test_support INTERFACE ${aiot_tests_root})
endif()

# GoogleTest and GoogleMock precompiled once (g++), reused by every test object library.
function(aiot_test_pch)
  if(TARGET aiot_test_pch OR NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    return()
  endif()
  set(src ${PROJECT_BINARY_DIR}/aiot_test_pch.cc)
  if(NOT EXISTS ${src})
    file(WRITE ${src} "// The translation unit that builds the GoogleTest precompiled header.\n")
  endif()
  add_library(aiot_test_pch OBJECT ${src})
  target_link_libraries(aiot_test_pch PRIVATE GTest::gtest GTest::gmock)
  target_precompile_headers(aiot_test_pch PRIVATE <gtest/gtest.h> <gmock/gmock.h>)
  aiot_warnings(aiot_test_pch)
  aiot_test_ccache_pch(aiot_test_pch)
endfunction()

# ccache caches compiles that use a precompiled header only with this sloppiness.
function(aiot_test_ccache_pch target)
  if(CCACHE_PROGRAM)
    set_target_properties(${target} PROPERTIES CXX_COMPILER_LAUNCHER
      "${CMAKE_COMMAND};-E;env;CCACHE_SLOPPINESS=pch_defines,time_macros;${CCACHE_PROGRAM}")
  endif()
endfunction()

# The area of the calling CMakeLists.txt: src/mqtt/broker -> mqtt, tests/mqtt -> mqtt.
function(aiot_test_area out)
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  string(REGEX REPLACE "^(src|tests)/" "" rel "${rel}")
  string(REGEX REPLACE "/.*" "" area "${rel}")
  set(${out} ${area} PARENT_SCOPE)
endfunction()

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
  aiot_test_area(area)
  set(exe ${area}_${A_LABEL}_tests)
  if(NOT A_TIMEOUT EQUAL 300)
    set(exe ${area}_${A_LABEL}_${A_TIMEOUT}s_tests)
  endif()
  add_library(${name} OBJECT ${A_SOURCES})
  target_link_libraries(${name} PUBLIC ${A_DEPS} aiot_test_support GTest::gtest GTest::gmock)
  aiot_warnings(${name})
  aiot_test_pch()
  if(TARGET aiot_test_pch)
    target_precompile_headers(${name} REUSE_FROM aiot_test_pch)
    aiot_test_ccache_pch(${name})
  endif()
  if(NOT TARGET ${exe})
    add_executable(${exe})
    target_link_libraries(${exe} PRIVATE GTest::gtest_main)
    aiot_warnings(${exe})
    gtest_discover_tests(${exe}
      PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT}
                 ENVIRONMENT "AIOT_SOURCE_DIR=${PROJECT_SOURCE_DIR};AIOT_BINARY_DIR=${PROJECT_BINARY_DIR}"
      DISCOVERY_MODE PRE_TEST
      DISCOVERY_TIMEOUT 60)
  endif()
  if(AIOT_TEST_UNITY)
    aiot_test_unity_add(${name} ${exe})
  else()
    target_link_libraries(${exe} PRIVATE ${name})
  endif()
endfunction()

# Puts test object library `name` into the unity group of its folder and executable; the group's
# object library is made when the folder's CMakeLists.txt is done (so that what the folder sets on
# `name` after aiot_test() is seen).
function(aiot_test_unity_add name exe)
  set_target_properties(${name} PROPERTIES EXCLUDE_FROM_ALL ON)
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  string(MAKE_C_IDENTIFIER "${exe}_${rel}_unity" group)
  get_property(groups DIRECTORY PROPERTY AIOT_TEST_UNITY_GROUPS)
  if(NOT group IN_LIST groups)
    set_property(DIRECTORY APPEND PROPERTY AIOT_TEST_UNITY_GROUPS ${group})
    # A deferred call's arguments are evaluated when it runs: pass the values, not the variables.
    cmake_language(EVAL CODE "cmake_language(DEFER CALL aiot_test_unity_group [[${group}]] [[${exe}]])")
  endif()
  set_property(DIRECTORY APPEND PROPERTY AIOT_TEST_UNITY_MEMBERS_${group} ${name})
endfunction()

# The object library of one unity group: the union of its members' sources and settings.
function(aiot_test_unity_group group exe)
  get_property(members DIRECTORY PROPERTY AIOT_TEST_UNITY_MEMBERS_${group})
  set(props COMPILE_DEFINITIONS INCLUDE_DIRECTORIES COMPILE_OPTIONS LINK_LIBRARIES
            MANUALLY_ADDED_DEPENDENCIES)
  set(sources "")
  foreach(prop ${props})
    set(all_${prop} "")
  endforeach()
  foreach(m ${members})
    get_target_property(s ${m} SOURCES)
    list(APPEND sources ${s})
    foreach(prop ${props})
      get_target_property(v ${m} ${prop})
      if(v)
        list(APPEND all_${prop} ${v})
      endif()
    endforeach()
  endforeach()
  foreach(prop ${props})
    list(REMOVE_DUPLICATES all_${prop})
  endforeach()
  aiot_test_unity_check_definitions("${group}" "${all_COMPILE_DEFINITIONS}")
  add_library(${group} OBJECT ${sources})
  set_target_properties(${group} PROPERTIES
    COMPILE_DEFINITIONS "${all_COMPILE_DEFINITIONS}"
    INCLUDE_DIRECTORIES "${all_INCLUDE_DIRECTORIES}"
    COMPILE_OPTIONS "${all_COMPILE_OPTIONS}"
    UNITY_BUILD ON UNITY_BUILD_MODE BATCH UNITY_BUILD_BATCH_SIZE ${AIOT_TEST_UNITY_BATCH})
  target_link_libraries(${group} PUBLIC ${all_LINK_LIBRARIES})
  if(all_MANUALLY_ADDED_DEPENDENCIES)
    add_dependencies(${group} ${all_MANUALLY_ADDED_DEPENDENCIES})
  endif()
  if(TARGET aiot_test_pch)
    target_precompile_headers(${group} REUSE_FROM aiot_test_pch)
    aiot_test_ccache_pch(${group})
  endif()
  target_link_libraries(${exe} PRIVATE ${group})
endfunction()

# Two members of one group that define one macro differently cannot share a translation unit.
function(aiot_test_unity_check_definitions group defs)
  set(seen "")
  foreach(d ${defs})
    string(REGEX REPLACE "=.*" "" macro "${d}")
    if(macro IN_LIST seen)
      message(FATAL_ERROR "${group}: ${macro} is defined differently by two of its test object "
                          "libraries; give them one value, or build this folder with "
                          "-DAIOT_TEST_UNITY=OFF")
    endif()
    list(APPEND seen ${macro})
  endforeach()
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

# The fuzz build (AIOT_FUZZ=ON) instruments everything it compiles, C and C++, libraries
# included: libFuzzer's coverage counters (fuzzer-no-link), AddressSanitizer and UBSan. Without
# them in the libraries the fuzzer saw only its target's own file (the cron fuzzer: coverage 57
# before, 414 after, 60 s each) and a bug in a library crashed nothing. UB aborts (no recovery),
# so libFuzzer keeps the input. Called once from the top-level CMakeLists.txt, after find_package.
function(aiot_fuzz_instrument)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endfunction()

# aiot_fuzz(NAME SOURCES ... DEPS ... CORPUS dir [RUNS n]): libFuzzer target (clang, AIOT_FUZZ=ON).
# Also registered as a ctest (label fuzz, cmake/fuzz-ctest.sh): by default deterministic and
# bounded (-seed=1, n executions over a fresh scratch corpus and the seed corpus), so the same tree
# gives the same result on every machine; n is RUNS, else AIOT_FUZZ_RUNS_<NAME> of
# cmake/fuzz-runs.cmake (calibrated to about 8-10 s per target), else AIOT_FUZZ_RUNS_DEFAULT. With
# AIOT_FUZZ_SECONDS=S in its environment the ctest explores for S seconds instead (scripts/fuzz.sh).
include(${CMAKE_CURRENT_LIST_DIR}/fuzz-runs.cmake)
function(aiot_fuzz name)
  if(NOT AIOT_FUZZ)
    return()
  endif()
  cmake_parse_arguments(A "" "CORPUS;RUNS" "SOURCES;DEPS" ${ARGN})
  if(NOT A_RUNS)
    if(DEFINED AIOT_FUZZ_RUNS_${name})
      set(A_RUNS ${AIOT_FUZZ_RUNS_${name}})
    else()
      set(A_RUNS ${AIOT_FUZZ_RUNS_DEFAULT})
    endif()
  endif()
  add_executable(${name} ${A_SOURCES})
  # A fuzz target may compile its module's sources itself (sim_control_fuzz): its own module's
  # headers are reachable, as for the module's libraries.
  aiot_current_module(module)
  aiot_module_include_root(${module} root)
  target_include_directories(${name} PRIVATE ${root})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(work ${PROJECT_BINARY_DIR}/fuzz-corpus/${name})
  add_test(NAME ${name}
    COMMAND sh ${PROJECT_SOURCE_DIR}/cmake/fuzz-ctest.sh $<TARGET_FILE:${name}> ${work} ${A_RUNS}
            ${A_CORPUS})
  # Exploration (AIOT_FUZZ_SECONDS) may ask for more than the default timeout.
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 86400)
  set_property(GLOBAL APPEND PROPERTY AIOT_FUZZ_TARGETS ${name})
endfunction()
