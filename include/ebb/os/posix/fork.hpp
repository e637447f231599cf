// SPDX-License-Identifier: BSL-1.0
// ebb/os/posix/fork.hpp — run_around_fork with pthread_atfork (os/fork.hpp says what for).
#pragma once

#include "ebb/config.hpp"

#include <pthread.h>

EBB_RUNTIME_BEGIN
namespace os {

// pthread_atfork fails only for lack of memory; the runtime then stays usable in the parent and a
// child forked while another thread held a lock would hang, as it would have without ebb's handlers.
inline void run_around_fork(void (*prepare)(), void (*in_parent)(), void (*in_child)()) noexcept {
  ::pthread_atfork(prepare, in_parent, in_child);
}

}  // namespace os
EBB_RUNTIME_END
