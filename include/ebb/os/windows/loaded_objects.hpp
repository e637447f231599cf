// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/loaded_objects.hpp — other_runtime_runs_a_fiber on Windows (os/runtime_copies.hpp).
//
// Every module's process-wide objects are the one set in the process's named mapping
// (os/windows/process_objects.hpp) and every module reaches the thread state through the one TLS
// slot published there (os/windows/thread_state.hpp), so a process cannot hold two runtimes that
// disagree about which fiber runs: there is nothing to search for.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
EBB_RUNTIME_BEGIN
namespace os {

inline bool other_runtime_runs_a_fiber() noexcept { return false; }

}  // namespace os
EBB_RUNTIME_END
#endif  // defined(_WIN32)
