# SPDX-License-Identifier: BSL-1.0
# Cross build for AArch64 Linux (Debian: g++-aarch64-linux-gnu; tests run under qemu-user):
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 && (cd build-aarch64 && ctest)
# ctest (and catch_discover_tests, which lists the tests by running the binary) prefix every test
# command with CMAKE_CROSSCOMPILING_EMULATOR. No binfmt registration or dpkg --add-architecture is
# needed: -L points qemu's loader at the cross toolchain's target libraries.
#
# Page size: -DEBB_QEMU_PAGE_SIZE=65536 runs every test with `qemu-aarch64 -p 65536`, so the guest sees
# 64 KiB pages (sysconf(_SC_PAGESIZE) answers 65536), as on AArch64 kernels built with 64 KiB pages.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(EBB_QEMU_PAGE_SIZE "" CACHE STRING "Guest page size for qemu-aarch64 -p (empty: qemu's default, 4096)")
# Through the environment rather than -L/-p, so that a test that re-executes its own binary in a child
# process (tests/unit/child_process.hpp) starts qemu with the same settings: it prepends
# EBB_TEST_EMULATOR, and qemu reads QEMU_LD_PREFIX (-L) and QEMU_PAGESIZE (-p) from the environment.
set(CMAKE_CROSSCOMPILING_EMULATOR env QEMU_LD_PREFIX=/usr/aarch64-linux-gnu EBB_TEST_EMULATOR=qemu-aarch64)
if(EBB_QEMU_PAGE_SIZE)
  list(APPEND CMAKE_CROSSCOMPILING_EMULATOR QEMU_PAGESIZE=${EBB_QEMU_PAGE_SIZE})
  # qemu 7.2 with a page size above 4096 faults SVE loads (glibc's memcpy) from memory that ld.so
  # hands out past the end of its segment, such as the main thread's TLS: no SVE with larger pages
  # (docs/reliability.md, "Issue 11").
  if(EBB_QEMU_PAGE_SIZE GREATER 4096)
    list(APPEND CMAKE_CROSSCOMPILING_EMULATOR QEMU_CPU=max,sve=off)
  endif()
endif()
list(APPEND CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)

# Shared by every cross toolchain file (tests/cross/README.md): Catch2 through the shim, and the tests
# scaled for emulation.
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
