# Installable, exported package: a service does find_package(txcoord) and links txcoord::<lib>.
include(CMakePackageConfigHelpers)
set(TXC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/txcoord)
install(EXPORT txcoordTargets NAMESPACE txcoord:: DESTINATION ${TXC_CMAKE_DIR})
configure_package_config_file(cmake/txcoordConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/txcoordConfig.cmake INSTALL_DESTINATION ${TXC_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/txcoordConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/txcoordConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/txcoordConfigVersion.cmake
        DESTINATION ${TXC_CMAKE_DIR})
