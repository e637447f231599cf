# SPDX-License-Identifier: BSL-1.0
# Included by the cross toolchain files of cmake/toolchains/ (not a toolchain file itself).
#
# Catch2: under a cross toolchain find_package(Catch2) does not find the build machine's package, and
# adding -I/usr/include would pull the build machine's C library headers into the target build. The
# shim directory holds catch2/catch.hpp, one line including Debian's single-header Catch2 v2 by
# absolute path (tests/CMakeLists.txt then makes an INTERFACE target of it and uses Catch.cmake).
set(EBB_CATCH2_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/../../tests/cross/catch2-shim
    CACHE PATH "A directory holding catch2/catch.hpp (Catch2 v2)")
# Emulation runs guest code 10-50x slower: the one setting that divides the iteration and fiber
# counts of the long tests (tests/unit/tool_support.hpp, test_support::scaled). Every test still runs.
set(EBB_TEST_SCALE 8 CACHE STRING "Divide the long tests' iteration and fiber counts by this (1: native)")
