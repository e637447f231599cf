// SPDX-License-Identifier: BSL-1.0
// EBB_CATCH2_MAJOR: 2 or 3. The build system defines it from the Catch2 it found; without it (a cross
// build given only a directory holding catch2/catch.hpp) the headers that exist decide.
#pragma once

#if !defined(EBB_CATCH2_MAJOR)
#if defined(__has_include)
#if __has_include(<catch2/catch.hpp>)
#define EBB_CATCH2_MAJOR 2
#elif __has_include(<catch2/catch_test_macros.hpp>)
#define EBB_CATCH2_MAJOR 3
#endif
#endif
#endif
#if !defined(EBB_CATCH2_MAJOR)
#define EBB_CATCH2_MAJOR 2
#endif
