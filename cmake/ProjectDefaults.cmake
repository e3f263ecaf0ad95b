# Project-wide compile settings: warnings as errors on our own targets, sanitizers on everything.

if(SANITIZE)
  if(NOT SANITIZE MATCHES "^(address,undefined|address|undefined|thread)$")
    message(FATAL_ERROR "SANITIZE must be one of: address,undefined | address | undefined | thread (got '${SANITIZE}')")
  endif()
  # Applied globally so that every object in a test binary is instrumented the same way.
  add_compile_options(-fsanitize=${SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${SANITIZE})
  if(SANITIZE MATCHES "undefined" AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_compile_options(-fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/sanitizer-ignorelist.txt)
  endif()
endif()

if(BUILD_FUZZERS)
  # Coverage feedback for everything a fuzzer links, the libraries included.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# dubbo_target_defaults(<target>): the warning set our own code must build cleanly with.
function(dubbo_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # Checks the GUARDED_BY / REQUIRES annotations in src/internal/thread_annotations.h.
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
endfunction()
