# Module layering as each src/<module>/README.md states it on its "May depend on:" line, enforced.
#
# The allowed modules are the module itself plus every module named in backquotes in the first
# sentence of that line (`net`, `src/base`, `registry/http_api.h`, `aiot_base_signature`); "every
# module" allows all of them. Two checks:
#  - links: each aiot_library's direct links on aiot libraries (through INTERFACE libraries such as
#    aiot_ml) must be to allowed modules;
#  - includes: every #include "<module>/..." in src/<module>/ must name an allowed module (a target
#    also sees the headers of what its dependencies link PUBLIC, so the compiler alone lets some
#    through).
# Run at configure time (aiot_check_layering(), from the top-level CMakeLists.txt: a violation stops
# the configure) and as the `layering` ctest, which re-reads the READMEs and sources:
#   cmake -DAIOT_SOURCE_DIR=<repo> -DAIOT_LAYERING_LINKS=<build>/layering-links.txt -P cmake/layering.cmake

if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.25)
endif()

# Modules: the folders of src/ with a CMakeLists.txt or a README.md (each needs the README).
function(aiot_layering_modules src out)
  file(GLOB files RELATIVE ${src} ${src}/*/README.md ${src}/*/CMakeLists.txt)
  list(TRANSFORM files REPLACE "/[^/]*$" "")
  list(REMOVE_DUPLICATES files)
  set(${out} ${files} PARENT_SCOPE)
endfunction()

# The modules `module` may depend on (itself included), from its README.
function(aiot_layering_allowed src module out)
  set(readme ${src}/${module}/README.md)
  if(NOT EXISTS ${readme})
    message(FATAL_ERROR "layering: ${readme} is missing; every module states what it may depend on")
  endif()
  file(READ ${readme} text)
  string(FIND "${text}" "May depend on:" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "layering: ${readme} has no \"May depend on:\" line")
  endif()
  string(SUBSTRING "${text}" ${at} -1 text)
  string(REGEX MATCH "^May depend on:([^.]|\\.[^ \n])*" sentence "${text}")
  aiot_layering_modules(${src} modules)
  string(FIND "${sentence}" "every module" every)
  if(NOT every EQUAL -1)
    set(${out} ${modules} PARENT_SCOPE)
    return()
  endif()
  set(allowed ${module})
  string(REGEX MATCHALL "`[^`]+`" tokens "${sentence}")
  foreach(token ${tokens})
    string(REGEX REPLACE "^`(src/)?([^`]*)`$" "\\2" token "${token}")
    foreach(m ${modules})
      if(token MATCHES "^(${m}(/.*)?|aiot_${m}(_.*)?)$")
        list(APPEND allowed ${m})
      endif()
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES allowed)
  set(${out} ${allowed} PARENT_SCOPE)
endfunction()

# Checks the recorded links (lines "<library> <module>: <module>...") and the includes of every
# module; returns the violations, one per list item.
function(aiot_layering_violations src links_file out)
  set(violations)
  aiot_layering_modules(${src} modules)
  foreach(m ${modules})
    aiot_layering_allowed(${src} ${m} allowed_${m})
  endforeach()
  file(STRINGS ${links_file} links)
  foreach(line ${links})
    if(NOT line MATCHES "^([^ ]+) ([^ :]+):(.*)$")
      continue()
    endif()
    set(lib ${CMAKE_MATCH_1})
    set(m ${CMAKE_MATCH_2})
    separate_arguments(deps UNIX_COMMAND "${CMAKE_MATCH_3}")
    foreach(dep ${deps})
      string(REPLACE "=" ";" dep "${dep}")  # <target>=<module>
      list(GET dep 0 dep_target)
      list(GET dep 1 dep_module)
      if(NOT dep_module IN_LIST allowed_${m})
        list(APPEND violations
             "${lib} (src/${m}) links ${dep_target} (src/${dep_module}), which src/${m}/README.md's \"May depend on:\" line does not allow")
      endif()
    endforeach()
  endforeach()
  foreach(m ${modules})
    file(GLOB_RECURSE files RELATIVE ${src} ${src}/${m}/*.h ${src}/${m}/*.cc)
    foreach(file ${files})
      file(STRINGS ${src}/${file} includes REGEX "^#include \"[a-z_]+/")
      foreach(inc ${includes})
        string(REGEX REPLACE "^#include \"([a-z_]+)/.*" "\\1" inc_module "${inc}")
        if(inc_module IN_LIST modules AND NOT inc_module IN_LIST allowed_${m})
          list(APPEND violations
               "src/${file}: ${inc}: src/${m}/README.md's \"May depend on:\" line does not allow ${inc_module}")
        endif()
      endforeach()
    endforeach()
  endforeach()
  set(${out} ${violations} PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE)
  aiot_layering_violations(${AIOT_SOURCE_DIR}/src ${AIOT_LAYERING_LINKS} violations)
  if(violations)
    list(JOIN violations "\n  " text)
    message(FATAL_ERROR "layering:\n  ${text}")
  endif()
  return()
endif()

# The modules (AIOT_MODULE) an aiot link item stands for; INTERFACE libraries of the project are
# followed to what they link.
function(aiot_layering_link_modules item out)
  set(found)
  if(TARGET ${item})
    get_target_property(m ${item} AIOT_MODULE)
    get_target_property(type ${item} TYPE)
    get_target_property(imported ${item} IMPORTED)
    if(m)
      set(found "${item}=${m}")
    elseif(type STREQUAL "INTERFACE_LIBRARY" AND NOT imported)
      get_target_property(items ${item} INTERFACE_LINK_LIBRARIES)
      foreach(sub ${items})
        aiot_layering_link_modules(${sub} sub_found)
        list(APPEND found ${sub_found})
      endforeach()
    endif()
  endif()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

# Records every aiot_library's links on aiot libraries in build/layering-links.txt and checks them
# and the includes; a violation stops the configure.
function(aiot_check_layering)
  get_property(libraries GLOBAL PROPERTY AIOT_LIBRARIES)
  set(lines)
  foreach(lib ${libraries})
    get_target_property(m ${lib} AIOT_MODULE)
    get_target_property(items ${lib} LINK_LIBRARIES)
    set(deps)
    foreach(item ${items})
      aiot_layering_link_modules(${item} found)
      list(APPEND deps ${found})
    endforeach()
    list(REMOVE_DUPLICATES deps)
    list(JOIN deps " " deps)
    string(APPEND lines "${lib} ${m}: ${deps}\n")
  endforeach()
  set(links_file ${PROJECT_BINARY_DIR}/layering-links.txt)
  file(WRITE ${links_file} "${lines}")
  aiot_layering_modules(${AIOT_SRC_DIR} modules)
  foreach(m ${modules})
    set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                 ${AIOT_SRC_DIR}/${m}/README.md)
  endforeach()
  aiot_layering_violations(${AIOT_SRC_DIR} ${links_file} violations)
  if(violations)
    list(JOIN violations "\n  " text)
    message(FATAL_ERROR "layering:\n  ${text}")
  endif()
  if(AIOT_BUILD_TESTS)
    add_test(NAME layering
      COMMAND ${CMAKE_COMMAND} -DAIOT_SOURCE_DIR=${PROJECT_SOURCE_DIR}
              -DAIOT_LAYERING_LINKS=${links_file} -P ${PROJECT_SOURCE_DIR}/cmake/layering.cmake)
    set_tests_properties(layering PROPERTIES LABELS unit TIMEOUT 60)
  endif()
endfunction()
