# SPDX-License-Identifier: BSL-1.0
# Cross build for RISC-V 64 Linux, lp64d (Debian: g++-riscv64-linux-gnu; tests run under qemu-riscv64):
#   cmake -S . -B build-riscv64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/riscv64-linux-gnu.cmake
#   cmake --build build-riscv64 && (cd build-riscv64 && ctest)
# As aarch64-linux-gnu.cmake: the emulator's settings go through the environment (QEMU_LD_PREFIX for
# the target's dynamic loader and libraries), so a test that re-executes its own binary in a child
# process (tests/unit/child_process.hpp, through EBB_TEST_EMULATOR) runs it under qemu as well.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR riscv64)
set(CMAKE_C_COMPILER riscv64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER riscv64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/riscv64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR env QEMU_LD_PREFIX=/usr/riscv64-linux-gnu EBB_TEST_EMULATOR=qemu-riscv64
    qemu-riscv64)

include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
