# SPDX-License-Identifier: BSL-1.0
# Cross build for 32-bit ARM Linux, hard-float AAPCS (Debian armhf: g++-arm-linux-gnueabihf; tests run
# under qemu-arm):
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm-linux-gnueabihf.cmake
#   cmake --build build-armhf && (cd build-armhf && ctest)
# Debian's armhf compiler generates Thumb-2 by default (-march=armv7-a+fp -mthumb): the suite runs in
# Thumb. The ARM instruction set is tested too: tests/CMakeLists.txt adds ebb_tests_arm_state (the
# arch contract, the basics and the exceptions built with -marm and linked with the Thumb Catch2 main,
# so ARM-state and Thumb-state units interwork in one program).
# Emulator settings through the environment, as in aarch64-linux-gnu.cmake (re-executed children too).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# GCC notes on every std::pair<.., double>-like argument that its passing changed in GCC 7.1 (-Wpsabi):
# an informational note about old binaries, which -Werror would turn into a failure.
set(CMAKE_CXX_FLAGS_INIT -Wno-psabi)

set(CMAKE_CROSSCOMPILING_EMULATOR env QEMU_LD_PREFIX=/usr/arm-linux-gnueabihf EBB_TEST_EMULATOR=qemu-arm
    qemu-arm)

include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
