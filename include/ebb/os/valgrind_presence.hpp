// SPDX-License-Identifier: BSL-1.0
// ebb/os/valgrind_presence.hpp — whether the program runs under Valgrind.
//
// Only a build that asked for Valgrind's client requests (EBB_VALGRIND=1, config.hpp) can tell; every
// other build answers no. ebb asks where Valgrind does not carry out what the code relies on:
// PAGEMAP_SCAN and process_madvise, which it does not know (os/linux/pagemap_scan.hpp,
// os/linux/pass_memory.hpp), and tripwire growth, which retries a faulting instruction after the
// fault handler changed the page's protection (detail/tool_hooks.hpp).
#pragma once

#include "ebb/config.hpp"

#if EBB_VALGRIND
#include <valgrind/valgrind.h>
#endif

EBB_RUNTIME_BEGIN
namespace os {

inline bool running_on_valgrind() noexcept {
#if EBB_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

}  // namespace os
EBB_RUNTIME_END
