# Installs the C/C++ package: headers, libfastrnn.a (fastrnn::fastrnn), libfastrnn_c.so
# (fastrnn::fastrnn_c) and the CMake package files, for find_package(fastrnn CONFIG).
# In the wheel (FASTRNN_PYTHON) everything lies inside the Python package, where
# `python -m fastrnn --cmakedir` (python/fastrnn/__main__.py) points: fastrnn/lib/cmake/fastrnn.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
if(FASTRNN_PYTHON)
  set(FASTRNN_INSTALL_INCLUDEDIR fastrnn/include)
  set(FASTRNN_INSTALL_LIBDIR fastrnn/lib)
else()
  set(FASTRNN_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
  set(FASTRNN_INSTALL_LIBDIR ${CMAKE_INSTALL_LIBDIR})
endif()
set(FASTRNN_INSTALL_CMAKEDIR ${FASTRNN_INSTALL_LIBDIR}/cmake/fastrnn)

set_target_properties(fastrnn_kernels PROPERTIES EXPORT_NAME fastrnn OUTPUT_NAME fastrnn)
install(TARGETS fastrnn_kernels fastrnn_c EXPORT fastrnnTargets
  ARCHIVE DESTINATION ${FASTRNN_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${FASTRNN_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${FASTRNN_INSTALL_INCLUDEDIR})
install(DIRECTORY cpp/include/fastrnn DESTINATION ${FASTRNN_INSTALL_INCLUDEDIR})
install(EXPORT fastrnnTargets NAMESPACE fastrnn:: DESTINATION ${FASTRNN_INSTALL_CMAKEDIR})

configure_package_config_file(cmake/fastrnnConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/fastrnnConfig.cmake
  INSTALL_DESTINATION ${FASTRNN_INSTALL_CMAKEDIR} NO_SET_AND_CHECK_MACRO)
# 0.x: a minor release may change the API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/fastrnnConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/fastrnnConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/fastrnnConfigVersion.cmake DESTINATION ${FASTRNN_INSTALL_CMAKEDIR})
