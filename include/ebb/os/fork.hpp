// SPDX-License-Identifier: BSL-1.0
// ebb/os/fork.hpp — handlers the system runs around fork(), where it has fork().
//
// detail/fork_safety.hpp takes every lock of the runtime before a fork and releases them on both
// sides, so that a child forked while other threads held them can still create fibers. Each system
// provides, in namespace ebb::runtime_v1::os:
//   void run_around_fork(void (*prepare)(), void (*in_parent)(), void (*in_child)())
//                            register the three, once per process
//   long current_process_id()  what tells a process from the parent it was forked from
// POSIX: pthread_atfork and getpid (posix/fork.hpp). Windows: no fork(), so nothing to register, and
// one process id serves.
#pragma once

#if defined(__unix__) || defined(__APPLE__)
#include "ebb/os/posix/fork.hpp"
#elif defined(_WIN32)
#include "ebb/config.hpp"
EBB_RUNTIME_BEGIN
namespace os {
// Windows has no fork(): a new process starts with no copy of another's threads or locks.
inline void run_around_fork(void (*)(), void (*)(), void (*)()) noexcept {}
inline long current_process_id() noexcept { return 1; }
}  // namespace os
EBB_RUNTIME_END
#else
#error "ebb: no fork handling for this system (see ebb/os/fork.hpp)"
#endif
