# `cmake --install` puts the library, headers and a CMake package so that downstream code does
#   find_package(regionlm REQUIRED)
#   target_link_libraries(app PRIVATE regionlm::regionlm)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS regionlm EXPORT regionlmTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/regionlm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT regionlmTargets NAMESPACE regionlm::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/regionlm)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/regionlmConfig.cmake.in
  ${PROJECT_BINARY_DIR}/regionlmConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/regionlm)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/regionlmConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/regionlmConfig.cmake
              ${PROJECT_BINARY_DIR}/regionlmConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/regionlm)
