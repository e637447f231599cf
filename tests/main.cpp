// SPDX-License-Identifier: BSL-1.0
// The one translation unit with the test runner's main(): compiled once, linked into every test
// binary (it includes nothing from ebb, so the checked and the lean binaries share it).
//
// Catch2 installs its own SIGSEGV/SIGBUS handler (and its own alternate signal stack) around every
// test case, in front of ebb's, and does not call ebb::try_handle_stack_fault: tripwire growth and
// overflow reports would never reach ebb. The tests need Catch2 without its signal handling.
#include "unit/ebb_catch_version.hpp"

#if EBB_CATCH2_MAJOR >= 3
// v3 is a compiled library, so CATCH_CONFIG_NO_POSIX_SIGNALS cannot be chosen here: Debian builds it
// with signal handling on. The handler lives in one object file of libCatch2.a; defining its four
// members here, as that file does when built without signals, keeps the linker from pulling it in.
#include <catch2/catch_session.hpp>
#include <catch2/internal/catch_fatal_condition_handler.hpp>

namespace Catch {
FatalConditionHandler::FatalConditionHandler() = default;
FatalConditionHandler::~FatalConditionHandler() = default;
void FatalConditionHandler::engage_platform() {}
void FatalConditionHandler::disengage_platform() noexcept {}
}  // namespace Catch

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
#else
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_NO_POSIX_SIGNALS
#include <catch2/catch.hpp>
#endif
