// SPDX-License-Identifier: BSL-1.0
// Lets a cross compiler find Debian's header-only Catch2 v2 without -I/usr/include, which would
// drag the build machine's C library headers into the target build (cmake/toolchains/cross-common.cmake).
#include "/usr/include/catch2/catch.hpp"
