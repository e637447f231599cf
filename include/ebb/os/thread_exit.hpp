// SPDX-License-Identifier: BSL-1.0
// ebb/os/thread_exit.hpp — per-thread clean-up that runs after every thread_local destructor.
//
// A thread_local with a destructor is destroyed in reverse order of construction, so a user's
// thread_local that owns fibers and was constructed before ebb's own per-thread state would free
// its stacks into state already destroyed. So ebb keeps its per-thread state trivially destructible
// and releases it from a callback the system runs after the C++ thread_local destructors.
//
// Each system provides, in namespace ebb::runtime_v1::os:
//   struct thread_exit_key   constant-initialisable, one per process per kind of clean-up (declared
//                            EBB_PROCESS_WIDE by its user)
//   bool run_at_thread_exit(thread_exit_key&, void (*at_exit)(void*), void* value)
//                            arrange at_exit(value) at the calling thread's exit; false if the system
//                            has no slot left (the caller then keeps no per-thread state)
// POSIX: a pthread key with a destructor (posix/thread_exit.hpp). Windows: an FlsAlloc callback
// (windows/thread_exit.hpp, which says what is known of its order).
#pragma once

#if defined(__unix__) || defined(__APPLE__)
#include "ebb/os/posix/thread_exit.hpp"
#elif defined(_WIN32)
#include "ebb/os/windows/thread_exit.hpp"
#else
#error "ebb: no thread-exit clean-up for this system (see ebb/os/thread_exit.hpp)"
#endif
