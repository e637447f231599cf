# SPDX-License-Identifier: BSL-1.0
# Cross build for Windows x64 with MinGW-w64 GCC (Debian: g++-mingw-w64-x86-64-posix; tests run under
# wine64):
#   cmake -S . -B build-mingw -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/x86_64-w64-mingw32.cmake
#   cmake --build build-mingw && (cd build-mingw && ctest)
# The -posix compilers: std::thread and std::mutex need the winpthreads threading model.
# Executables are linked -static (otherwise wine stops with status 53: no libstdc++-6.dll).
# WINEPREFIX defaults to a prefix inside the build directory (a new one is about 700 MB and takes a few
# seconds the first time); scripts/test-all.sh warms it (wineboot) before ctest, as
# ../shared/xarch/RECIPE.md says a bare wineserver without it can hang ctest.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(EBB_TEST_STATIC_EXECUTABLES ON CACHE BOOL "Link ebb's test and example executables -static")

# wine64 directly (Debian's /usr/bin/wine looks for the 32-bit loader first and says so on stderr).
find_program(EBB_WINE64 NAMES wine64 PATHS /usr/lib/wine /usr/lib64/wine NO_CMAKE_FIND_ROOT_PATH)
if(NOT EBB_WINE64)
  set(EBB_WINE64 wine64)
endif()
if(NOT DEFINED ENV{WINEPREFIX})
  set(EBB_WINEPREFIX_ENV WINEPREFIX=${CMAKE_BINARY_DIR}/wineprefix)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR env WINEDEBUG=-all ${EBB_WINEPREFIX_ENV} EBB_TEST_EMULATOR=wine ${EBB_WINE64})

# Wine runs x86-64 code natively, but the fiber counts are still scaled by the default 8: each stack
# is committed in full (os/windows/memory.hpp), so 100,000 default fibers ask for 100 GB of commit
# (Windows' commit limit); under wine, at scale 1 the 100,000-fiber test failed to reserve a stack
# (ENOMEM; wine maps each stack as several Linux mappings, so vm.max_map_count is the likely bound, not
# confirmed). The scaled counts fit.
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
