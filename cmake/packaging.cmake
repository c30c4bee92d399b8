# Install rules of the command (component cli) and the Debian package (CPack, `cpack -G DEB` in
# the build directory -> smallthinker_<version>_<arch>.deb: the command, libsmallthinker.so.0,
# the header, smallthinker.pc and the CMake package). The C API's own install rules (component
# capi) are in src/capi/CMakeLists.txt.
include(GNUInstallDirs)
find_package(Python3 COMPONENTS Interpreter)
if(TARGET smallthinker_cli)
  install(TARGETS smallthinker_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
endif()
if(TARGET smallthinker_cli AND NOT Python3_Interpreter_FOUND)
  message(WARNING "no python3: smallthinker(1) is not generated nor installed")
elseif(TARGET smallthinker_cli)
  # smallthinker(1), generated from the built command's --help (every subcommand's) at build
  # time, so the page says what this build's command does; gzipped without a timestamp.
  set(ST_MANPAGE ${PROJECT_BINARY_DIR}/man/smallthinker.1.gz)
  add_custom_command(OUTPUT ${ST_MANPAGE}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/gen_manpage.py ${ST_MANPAGE} --
            ${CMAKE_CROSSCOMPILING_EMULATOR} $<TARGET_FILE:smallthinker_cli>
    DEPENDS smallthinker_cli ${PROJECT_SOURCE_DIR}/scripts/gen_manpage.py
    COMMENT "smallthinker(1) from smallthinker --help" VERBATIM)
  add_custom_target(smallthinker_manpage ALL DEPENDS ${ST_MANPAGE})
  install(FILES ${ST_MANPAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT cli)
endif()

set(CPACK_PACKAGE_NAME smallthinker)
set(CPACK_PACKAGE_VENDOR "smallthinker")
set(CPACK_PACKAGE_CONTACT "smallthinker maintainers <smallthinker@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Inference engine for SmallThinker MoE models (command and C library)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL cli capi)
set(CPACK_DEB_COMPONENT_INSTALL OFF)  # one package with both components
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # smallthinker_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from dpkg-shlibdeps (libpcre2, liburing, ...)
# The shared library is registered with ld.so.cache on install and removal.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/cmake/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
