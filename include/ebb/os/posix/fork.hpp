// SPDX-License-Identifier: BSL-1.0
// ebb/os/posix/fork.hpp — run_around_fork with pthread_atfork (os/fork.hpp says what for).
#pragma once

#include "ebb/config.hpp"

#include <pthread.h>
#include <unistd.h>

EBB_RUNTIME_BEGIN
namespace os {

// pthread_atfork fails only for lack of memory; the runtime then stays usable in the parent and a
// child forked while another thread held a lock would hang, as it would have without ebb's handlers.
inline void run_around_fork(void (*prepare)(), void (*in_parent)(), void (*in_child)()) noexcept {
  ::pthread_atfork(prepare, in_parent, in_child);
}

// A system call each time (glibc stopped caching it): it is asked only while a registration is in
// progress (detail/install_once.hpp, registration_once).
inline long current_process_id() noexcept { return static_cast<long>(::getpid()); }

}  // namespace os
EBB_RUNTIME_END
