# SPDX-License-Identifier: BSL-1.0
# Cross build for 32-bit x86 Linux, System V i386 ABI (Debian: g++-i686-linux-gnu; tests run under
# qemu-i386):
#   cmake -S . -B build-i386 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i686-linux-gnu.cmake
#   cmake --build build-i386 && (cd build-i386 && ctest)
# Executables are linked -static. Why: a dynamically linked i386 program hangs in its first
# pthread_create under qemu-i386 7.2 (Debian 12's qemu-user; the dynamic loader's TLS setup for the new
# thread under emulation), and the build machine's kernel may have no 32-bit x86 support to run it
# natively either. Static executables run under qemu-i386 without QEMU_LD_PREFIX.
# Only ebb's own test and example executables are static (EBB_TEST_STATIC_EXECUTABLES: a link option of
# ebb_project_options): the shared-library tests (tests/shared_libs) need a dynamic program, so theirs
# stay dynamic and run with QEMU_LD_PREFIX; the one of them that starts threads cannot run here
# (docs/reliability.md, "Under emulation").
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER i686-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER i686-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/i686-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(EBB_TEST_STATIC_EXECUTABLES ON CACHE BOOL "Link ebb's test and example executables -static")

set(CMAKE_CROSSCOMPILING_EMULATOR env QEMU_LD_PREFIX=/usr/i686-linux-gnu EBB_TEST_EMULATOR=qemu-i386 qemu-i386)

include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
