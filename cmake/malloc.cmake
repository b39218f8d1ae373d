# The allocator every executable of the project links (aiot, tests, benchmarks): AIOT_MALLOC.
#   jemalloc (default)  Debian's libjemalloc (libjemalloc-dev to build, libjemalloc2 at run time).
#                       The MQTT->Kafka bridge spends most of its producer thread in glibc's
#                       malloc/free without it (librdkafka frees each record's blocks in large
#                       batches on another thread): BENCHMARKS.md, "The allocator".
#   system              glibc's malloc.
# Sanitizer builds (AIOT_FUZZ, or -fsanitize= in the compile flags: the asan and fuzz presets) use
# `system` whatever is asked: ASan replaces malloc itself. Tests then run with the allocator that
# ships. `aiot version` reports the allocator the running binary really uses (base/allocator.h).
# Operators tune jemalloc with MALLOC_CONF (docs/operations.md).
set(AIOT_MALLOC jemalloc CACHE STRING "Allocator linked into every executable: jemalloc or system")
set_property(CACHE AIOT_MALLOC PROPERTY STRINGS jemalloc system)
if(NOT AIOT_MALLOC MATCHES "^(jemalloc|system)$")
  message(FATAL_ERROR "AIOT_MALLOC=${AIOT_MALLOC}: use jemalloc or system")
endif()

set(AIOT_MALLOC_EFFECTIVE ${AIOT_MALLOC})
if(AIOT_MALLOC STREQUAL "jemalloc"
   AND (AIOT_FUZZ OR "${CMAKE_CXX_FLAGS} ${CMAKE_C_FLAGS} ${CMAKE_EXE_LINKER_FLAGS}" MATCHES "-fsanitize="))
  message(STATUS "AIOT_MALLOC: sanitizer build, using the system allocator instead of jemalloc")
  set(AIOT_MALLOC_EFFECTIVE system)
endif()

add_library(aiot_malloc INTERFACE)
if(AIOT_MALLOC_EFFECTIVE STREQUAL "jemalloc")
  pkg_check_modules(JEMALLOC QUIET IMPORTED_TARGET jemalloc)
  if(JEMALLOC_FOUND)
    target_link_libraries(aiot_malloc INTERFACE PkgConfig::JEMALLOC)
  else()
    find_library(AIOT_JEMALLOC_LIBRARY NAMES jemalloc)
    if(NOT AIOT_JEMALLOC_LIBRARY)
      message(FATAL_ERROR
        "AIOT_MALLOC=jemalloc but libjemalloc was not found (pkg-config jemalloc, or libjemalloc.so). "
        "Install the Debian package libjemalloc-dev (scripts/setup.sh does; for arm64, "
        "scripts/cross-arm64.sh), or configure with -DAIOT_MALLOC=system to build with glibc's malloc.")
    endif()
    target_link_libraries(aiot_malloc INTERFACE ${AIOT_JEMALLOC_LIBRARY})
  endif()
endif()
message(STATUS "AIOT_MALLOC: ${AIOT_MALLOC_EFFECTIVE}")

# Links aiot_malloc into every executable defined under `dir` (called once, at the end of the
# top-level CMakeLists.txt, so that no add_executable has to remember it).
function(aiot_link_malloc dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type STREQUAL "EXECUTABLE")
      target_link_libraries(${t} PRIVATE aiot_malloc)
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    aiot_link_malloc(${sub})
  endforeach()
endfunction()
