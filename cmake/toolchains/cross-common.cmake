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
# 16 for every qemu target (it was 8 for the 64-bit ones until 2026-12-05, when CI's hour on a slower
# host needed it: docs/reliability.md). The 32-bit targets need 16 anyway, so that the fibers kept
# alive at once fit the 4 GiB address space with room to spare: 100,000 / 16 = 6,250 suspended
# default fibers reserve 1.7 GiB (276 KiB each: a 256 KiB stack, its guard and slab rounding), where
# 12,500 would take 3.3 GiB of the 15,150 reservations that fit.
if(NOT DEFINED EBB_CROSS_TEST_SCALE)
  set(EBB_CROSS_TEST_SCALE 16)
endif()
set(EBB_TEST_SCALE ${EBB_CROSS_TEST_SCALE} CACHE STRING "Divide the long tests' iteration and fiber counts by this (1: native)")
