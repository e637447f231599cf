// SPDX-License-Identifier: BSL-1.0
// ebb/os/runtime_copies.hpp — noticing a process that holds more than one copy of ebb's runtime.
//
// The process-wide state (the thread state, the pool, the registry, the fault handler) is one per
// process through os/process_wide.hpp; on ELF that is the dynamic linker binding every reference to
// the first definition in the global scope. A library loaded with dlopen(RTLD_LOCAL) while no loaded
// object has already put ebb's runtime in the global scope cannot bind to another library's copy: it
// gets its own. Two such libraries each run their own runtime, and a fiber that one created cannot be
// yielded, destroyed or shrunk by the other. That cannot be repaired after loading, so it is detected
// where it shows and reported with the remedy:
//   - this_fiber::... called where this copy sees no running fiber, while another copy does;
//   - a fiber destroyed by a copy other than the one that created it (its registry is elsewhere).
// Each system provides the search, other_runtime_runs_a_fiber(), run only on those error paths
// (Linux: os/linux/loaded_objects.hpp).
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/process_wide.hpp"

EBB_RUNTIME_BEGIN

// Its address names the copy of the runtime: one per process when every copy was merged, one per
// copy otherwise. Each fiber records the copy that created it.
EBB_PROCESS_WIDE(char, runtime_identity, {0});

inline constexpr const char* runtime_split_remedy =
    "this process holds two copies of ebb's runtime (a library that includes ebb was loaded with "
    "dlopen(RTLD_LOCAL) before any copy was in the global scope); load such libraries with "
    "dlopen(path, RTLD_NOW | RTLD_GLOBAL) (the first one suffices), or link one into the program";

EBB_RUNTIME_END

#if defined(__linux__)
#include "ebb/os/linux/loaded_objects.hpp"
#elif defined(_WIN32)
#include "ebb/os/windows/loaded_objects.hpp"
#else
#error "ebb: no search for other runtime copies on this system (see ebb/os/runtime_copies.hpp)"
#endif
