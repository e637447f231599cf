// SPDX-License-Identifier: BSL-1.0
// ebb/detail/install_once.hpp — a process-wide install (a signal handler, a terminate handler) done
// once, that a fork() cannot catch half done.
//
// The obvious install-once is a compare-exchange from "not yet" to "being installed", the install,
// then a store of "installed", with losers spinning until they see it. fork() copies only the thread
// that calls it: a child forked while another thread was between the two states inherits "being
// installed" with nobody left to finish, and spins for ever at its first install. That hung children
// of the fork test at their first resume (the fault handler, docs/reliability.md), and did the same
// to a child whose first destruction of a suspended fiber installed the unwind report (1 hung child
// in about 600 trials of a throwaway program, natively).
//
// So the install runs under a lock, and fork()'s prepare handler takes that lock too
// (detail/fork_safety.hpp) and releases it on both sides: the fork then happens before an install
// starts or after it ended, never inside one, and the child finds either "not yet" (it installs by
// itself) or "installed". There is no "being installed" for a child to inherit.
//
// The lock is a spin lock (detail/spin_wait.hpp): an install is a system call or two and happens once
// per process, it needs no system type (the Windows build has no fork but compiles this), and the
// object stays constant-initialised, which EBB_PROCESS_WIDE state objects must be.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/spin_wait.hpp"

#include <atomic>

EBB_RUNTIME_BEGIN

struct install_once {
  std::atomic<bool> installed{false};
  spin_lock lock;  // held while installing, and by fork()'s prepare handler

  // Runs install() unless it ran already in this process (or in the parent before a fork); returns
  // once it has run, whichever thread ran it. After the first, one atomic load.
  template <class Install>
  EBB_ALWAYS_INLINE void run(Install&& install) noexcept {
    if (EBB_LIKELY(installed.load(std::memory_order_acquire))) return;
    lock.lock();
    if (!installed.load(std::memory_order_relaxed)) {
      install();
      installed.store(true, std::memory_order_release);
    }
    lock.unlock();
  }

  // fork()'s prepare handler takes the lock; its parent and child handlers release it.
  void hold_for_fork() noexcept { lock.lock(); }
  void release_after_fork() noexcept { lock.unlock(); }
};

// EBB_PROCESS_WIDE objects are constant-initialised: no module's constructor runs to make one.
namespace install_once_check {
constexpr bool constant_initialisable() {
  install_once probe{};
  (void)probe;
  return true;
}
static_assert(constant_initialisable(), "ebb: install_once must stay constant-initialisable");
}  // namespace install_once_check

EBB_RUNTIME_END
