# Install rules: the libraries, their headers under one include root, the CMake package
# DubboRegistry (targets, config and version files), one pkg-config module per library, and a
# Debian package through CPack (`cpack -G DEB` in the build directory).
include(CMakePackageConfigHelpers)

set(DUBBO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/DubboRegistry)

get_property(dubbo_installed_targets GLOBAL PROPERTY DUBBO_INSTALLED_TARGETS)
install(TARGETS ${dubbo_installed_targets}
  EXPORT DubboRegistryTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

foreach(module registry-api cluster nacos-client nacos-registry naming-server)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/include/dubbo/registry/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dubbo/registry)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})

install(EXPORT DubboRegistryTargets
  NAMESPACE DubboRegistry::
  DESTINATION ${DUBBO_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/DubboRegistryConfig.cmake.in
  ${PROJECT_BINARY_DIR}/DubboRegistryConfig.cmake
  INSTALL_DESTINATION ${DUBBO_CMAKE_DIR})
# 0.2.x satisfies a request for 0.2 or 0.2.y (y <= x); another minor version does not.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/DubboRegistryConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/DubboRegistryConfig.cmake
  ${PROJECT_BINARY_DIR}/DubboRegistryConfigVersion.cmake
  DESTINATION ${DUBBO_CMAKE_DIR})

# pkg-config modules. They find the prefix from their own location (${pcfiledir}), so an install
# with `cmake --install --prefix` and an unpacked .deb work as well as the configured prefix.
# A plain `pkg-config --libs` links either install: a static install lists the internal archives
# and the system libraries the archives need in Libs and Requires (as Requires.private would pull
# in the system libraries' own static dependencies, which Debian does not ship); a shared install
# names its private dependencies only for `pkg-config --static`.
file(RELATIVE_PATH DUBBO_PC_RELATIVE_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
# dubbo_pkg_config(<module> <library> <description> <requires> <private requires> <internal libs>)
function(dubbo_pkg_config module library description requires private_requires internal_libs)
  set(PC_NAME ${module})
  set(PC_LIBRARY ${library})
  set(PC_DESCRIPTION ${description})
  if(BUILD_SHARED_LIBS)
    set(PC_REQUIRES ${requires})
    set(PC_REQUIRES_PRIVATE ${private_requires})
    set(PC_LIBS "")
  else()
    string(STRIP "${requires} ${private_requires}" PC_REQUIRES)
    set(PC_REQUIRES_PRIVATE "")
    set(PC_LIBS ${internal_libs})
  endif()
  configure_file(${CMAKE_CURRENT_FUNCTION_LIST_DIR}/dubbo.pc.in
    ${PROJECT_BINARY_DIR}/pkgconfig/${module}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${module}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()
dubbo_pkg_config(dubbo-registry dubbo_registry
  "Dubbo registry contracts: URL, Registry, FailbackRegistry" "" ""
  "-ldubbo_base")
dubbo_pkg_config(dubbo-cluster dubbo_cluster
  "Dubbo consumer cluster: provider directory, load balancers, failover, circuit breakers"
  "dubbo-registry" "" "-ldubbo_base")
dubbo_pkg_config(dubbo-nacos-client dubbo_nacos_client
  "Nacos naming client (v1 HTTP and 2.x/3.x gRPC)" "dubbo-registry"
  "libcurl libevent_core libevent_pthreads libevent_extra libnghttp2 zlib"
  "-ldubbo_nacos_wire -ldubbo_base")
dubbo_pkg_config(dubbo-nacos dubbo_nacos
  "NacosRegistry: the Dubbo registry over Nacos naming" "dubbo-registry dubbo-nacos-client" ""
  "-ldubbo_base")
dubbo_pkg_config(dubbo-naming-server dubbo_naming_server
  "Embeddable Nacos-compatible naming server (for tests)" "dubbo-registry"
  "libevent_core libevent_pthreads libnghttp2 zlib" "-ldubbo_nacos_wire -ldubbo_base")

# The Debian package: libraries, headers, CMake and pkg-config files in one -dev package.
set(CPACK_PACKAGE_NAME libdubbo-registry-dev)
set(CPACK_PACKAGE_VENDOR "dubbo-registry-cpp")
set(CPACK_PACKAGE_CONTACT "dubbo-registry-cpp maintainers <maintainers@dubbo-registry.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_LICENSE Apache-2.0)
# What building against the package needs: the libraries' own dependencies, with headers.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libcurl4-openssl-dev | libcurl-dev, libevent-dev, libnghttp2-dev, zlib1g-dev")
if(BUILD_SHARED_LIBS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
include(CPack)
