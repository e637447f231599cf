// SPDX-License-Identifier: BSL-1.0
// The one translation unit with Catch2's main(): compiled once, linked into every test binary
// (it includes nothing from ebb, so the checked and the lean binaries share it).
#define CATCH_CONFIG_MAIN
// Catch2 installs its own SIGSEGV handler around every test case, over ebb's, and does not call
// ebb::try_handle_stack_fault: tripwire growth and overflow reports would never reach ebb.
#define CATCH_CONFIG_NO_POSIX_SIGNALS
#include <catch2/catch.hpp>
