# dubbo_check_parent_untouched(<build type before adding DubboRegistry>): fails the configure step
# when adding DubboRegistry changed the parent's build: its build type, its compile options, or
# built DubboRegistry's tests, benchmarks or demos. It also adds a target with a warning that only
# builds while no -Werror reached the parent.
function(dubbo_check_parent_untouched build_type_before)
  if(NOT "${CMAKE_BUILD_TYPE}" STREQUAL "${build_type_before}")
    message(FATAL_ERROR "DubboRegistry changed the parent's CMAKE_BUILD_TYPE to '${CMAKE_BUILD_TYPE}'")
  endif()
  get_directory_property(options COMPILE_OPTIONS)
  if(options)
    message(FATAL_ERROR "DubboRegistry set compile options on the parent: ${options}")
  endif()
  foreach(target url_test demo-provider url_bench)
    if(TARGET ${target})
      message(FATAL_ERROR "DubboRegistry built '${target}' inside a parent project")
    endif()
  endforeach()
  if(NOT TARGET DubboRegistry::nacos OR NOT TARGET DubboRegistry::cluster
     OR NOT TARGET DubboRegistry::naming_server)
    message(FATAL_ERROR "DubboRegistry's targets are missing")
  endif()
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/warns.cc
       "#include \"dubbo/registry/version.h\"\nint main() { int unused; return 0; }\n")
  add_executable(parent_warning_check ${CMAKE_CURRENT_BINARY_DIR}/warns.cc)
  target_compile_options(parent_warning_check PRIVATE -Wall)
  target_link_libraries(parent_warning_check PRIVATE DubboRegistry::registry)
endfunction()
