// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fork_safety.hpp — the child of a fork() can use fibers.
//
// fork() copies one thread; every lock another thread held at that instant stays held in the child
// forever. The registry's shard locks and pass mutex and the pool's locks are taken by passes and by
// every fiber creation and destruction, so a pre-forking server whose other threads run fibers would
// fork children that hang at their first fiber. Handlers run around fork() (os/fork.hpp) take them
// all before the fork (in the order every other path takes them) and release them on both sides.
// They also hold the once-per-process installs (detail/install_once.hpp), so that no child inherits
// an install another thread had begun and not finished.
#pragma once

#include "ebb/allocators/thread_stack_cache.hpp"
#include "ebb/config.hpp"
#include "ebb/os/fork.hpp"
#include "ebb/os/memory.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/os/stack_fault.hpp"
#include "ebb/detail/install_once.hpp"
#include "ebb/detail/registry_shards.hpp"
#include "ebb/detail/unwind_report.hpp"

#include <atomic>

EBB_RUNTIME_BEGIN

struct fork_handlers_state {
  registration_once registration;
};
EBB_PROCESS_WIDE(fork_handlers_state, process_fork_handlers, {});

inline void lock_for_fork() noexcept {
  // The installs first. Installing takes no other lock of ours, and neither install is reached with
  // one held: the fault handler's at a thread's first resume, the unwind report's at a destruction
  // of a suspended fiber, after unregister_fiber has let its shard lock go (fiber.hpp, destroy).
#if !defined(_WIN32)
  os::process_fault_handler.install.hold_for_fork();
#endif
  process_unwind_report.install.hold_for_fork();
  registry_state& registry = process_registry();
  registry.pass_mutex.lock();
  for (auto& shard : registry.shards) shard.lock();
  lock_pool_for_fork();
}

inline void unlock_after_fork(bool in_child) noexcept {
  if (in_child) process_fork_handlers.registration.mark_done();  // these handlers came with the process
  unlock_pool_after_fork(in_child);
  registry_state& registry = process_registry();
  for (auto& shard : registry.shards) shard.unlock();
  registry.pass_mutex.unlock();
  process_unwind_report.install.release_after_fork();
#if !defined(_WIN32)
  os::process_fault_handler.install.release_after_fork();
#endif
}


// Once per process, before the first fiber: later forks leave the child usable.
// Threads that come while another registers wait for it; a child forked in the middle registers
// again (detail/install_once.hpp, registration_once).
inline void ensure_fork_handlers() noexcept {
  process_fork_handlers.registration.run([]() noexcept {
    // Now, not later under the pool's locks: on Linux what the residency queries open registers an
    // atfork handler of its own, which waits for glibc's atfork lock, which a fork in progress holds
    // while our prepare handler waits for the pool's locks.
    os::prepare_residency_queries();
    os::run_around_fork(&lock_for_fork, [] { unlock_after_fork(false); }, [] { unlock_after_fork(true); });
  });
}

EBB_RUNTIME_END
