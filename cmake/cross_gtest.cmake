# GoogleTest for a cross build: the host's libgtest is x86-64 and Debian's arm64 -dev packages
# would need multiarch, so build it from the source libgtest-dev ships in /usr/src/googletest.
# Provides the same imported names find_package(GTest) gives (GTest::gtest_main, GTest::gmock).
set(ST_GTEST_SOURCE /usr/src/googletest CACHE PATH "GoogleTest source tree for cross builds")
if(NOT EXISTS ${ST_GTEST_SOURCE}/CMakeLists.txt)
  message(FATAL_ERROR "cross build: no GoogleTest source at ${ST_GTEST_SOURCE}; install libgtest-dev "
                      "(scripts/install-deps.sh) or pass -DST_GTEST_SOURCE=<dir>")
endif()
set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
# The project's warning flags (and -Werror) are for our code, not GoogleTest's.
get_directory_property(st_saved_options COMPILE_OPTIONS)
set_directory_properties(PROPERTIES COMPILE_OPTIONS "")
add_subdirectory(${ST_GTEST_SOURCE} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL)
set_directory_properties(PROPERTIES COMPILE_OPTIONS "${st_saved_options}")
# GCC 12's -Wrestrict false positive inside libstdc++ string code, seen from gtest.cc.
target_compile_options(gtest PRIVATE -Wno-restrict)
foreach(t gtest gtest_main gmock gmock_main)
  if(NOT TARGET GTest::${t})
    add_library(GTest::${t} ALIAS ${t})
  endif()
endforeach()
