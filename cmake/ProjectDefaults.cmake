# How this project's own targets are built. Everything here is scoped to this project's directory
# tree: a parent project that adds it with add_subdirectory() or FetchContent gets no flag, no
# warning level and no build type from it.

if(DUBBO_REGISTRY_SANITIZE)
  if(NOT DUBBO_REGISTRY_SANITIZE MATCHES "^(address,undefined|address|undefined|thread)$")
    message(FATAL_ERROR "DUBBO_REGISTRY_SANITIZE must be one of: address,undefined | address | "
                        "undefined | thread (got '${DUBBO_REGISTRY_SANITIZE}')")
  endif()
  # Directory-wide, so that every object in a test binary is instrumented the same way.
  add_compile_options(-fsanitize=${DUBBO_REGISTRY_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${DUBBO_REGISTRY_SANITIZE})
  if(DUBBO_REGISTRY_SANITIZE MATCHES "undefined" AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_compile_options(-fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/sanitizer-ignorelist.txt)
  endif()
endif()

if(DUBBO_REGISTRY_BUILD_FUZZERS)
  # Coverage feedback for everything a fuzzer links, the libraries included.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# dubbo_target_defaults(<target>): the warning set our own code must build cleanly with (PRIVATE:
# never propagated to whoever links the target).
function(dubbo_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # Checks the GUARDED_BY / REQUIRES annotations of base/internal/mutex.h.
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
endfunction()

# dubbo_library(<target> <export-name> <source>...): one of the installed libraries. Its type
# follows BUILD_SHARED_LIBS. It is position-independent, compiled with hidden visibility (a shared
# build exports only what carries DUBBO_REGISTRY_EXPORT), versioned with SOVERSION
# <major>.<minor> (the package promises compatibility within a minor version), named
# libdubbo_<export-name>, and known as DubboRegistry::<export-name> both in this build and once
# installed. `include/` is its public include root.
function(dubbo_library target export_name)
  add_library(${target} ${ARGN})
  add_library(DubboRegistry::${export_name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${export_name}
    OUTPUT_NAME dubbo_${export_name}
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    # An installed shared library finds its siblings (libdubbo_nacos needs libdubbo_nacos_client)
    # wherever the prefix is: an executable's RUNPATH does not apply to its libraries' own needs.
    INSTALL_RPATH "$ORIGIN")
  target_compile_features(${target} PUBLIC cxx_std_17)
  if(BUILD_SHARED_LIBS AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # A call between two API functions of one library binds directly (and may inline) instead of
    # going through the PLT in case another library interposes the symbol, which nothing does.
    # (Clang assumes this already.)
    target_compile_options(${target} PRIVATE -fno-semantic-interposition)
  endif()
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  dubbo_target_defaults(${target})
  set_property(GLOBAL APPEND PROPERTY DUBBO_INSTALLED_TARGETS ${target})
endfunction()

# dubbo_internal_library(<target> <source>...): code several installed libraries share but none
# exports (base/, nacos-wire/). Always static and position-independent, with hidden visibility:
# each library links it privately and keeps its own copy. A static install still ships the archive,
# because the static libraries that use it need it at the final link.
function(dubbo_internal_library target)
  add_library(${target} STATIC ${ARGN})
  string(REGEX REPLACE "^dubbo_" "" export_name ${target})
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${export_name}
    OUTPUT_NAME ${target}
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_compile_features(${target} PUBLIC cxx_std_17)
  dubbo_target_defaults(${target})
  if(NOT BUILD_SHARED_LIBS)
    set_property(GLOBAL APPEND PROPERTY DUBBO_INSTALLED_TARGETS ${target})
  endif()
endfunction()
