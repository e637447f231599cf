// SPDX-License-Identifier: BSL-1.0
// ebb/detail/install_once.hpp — work done once per process (installing a signal or terminate handler,
// registering fork()'s handlers, building a shared object) that a fork() cannot catch half done.
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
// object stays constant-initialised, which EBB_PROCESS_WIDE state objects must be. For the same
// reason ebb has no function-local static that needs a guard on a path a child may take: the guard,
// held by a thread initialising it when another forks, stays held in the child.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/spin_wait.hpp"
#include "ebb/os/fork.hpp"

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

// The registrations of fork()'s own handlers (pthread_atfork) cannot be made safe that way: until
// they are registered, no handler of ours runs around a fork to hold them. A child forked in the
// middle of one inherits it begun and not finished, and its own first call must then do it again,
// or its forks go unprotected (a throwaway program: 16 of 3,000 children forked while another thread
// registered never registered themselves), while in the process that began it every other thread
// must wait for it (they went on at once, unprotected). So the registration is marked with the id
// of the process whose thread makes it: a child sees its parent's id, not its own, and starts over;
// a thread of the same process waits. A child must not register twice either: the handlers are
// copied with the process, so if the parent's registration of them ended before the fork, the
// child's handler runs in the child and calls mark_done() before anything else can start over.
// (A process id is reused only once its process is gone: a descendant that got a dead ancestor's id
// and inherited that ancestor's unfinished registration would wait for ever. That takes two forks,
// one of them inside a registration, and the child between them never creating a fiber.)
struct registration_once {
  static constexpr long done = -1;
  std::atomic<long> owner{0};  // 0: not begun; `done`; or the id of the process registering

  template <class Register>
  void run(Register&& do_register) noexcept {
    if (EBB_LIKELY(owner.load(std::memory_order_acquire) == done)) return;
    spinner wait;
    for (;;) {
      long seen = owner.load(std::memory_order_acquire);
      if (seen == done) return;
      const long self = os::current_process_id();  // asked again each time: a fork may come between
      if (seen != self) {  // not begun, or begun in a parent process that forked before it finished
        if (!owner.compare_exchange_strong(seen, self, std::memory_order_acq_rel)) continue;
        do_register();
        owner.store(done, std::memory_order_release);
        return;
      }
      wait.pause();  // another thread of this process is registering
    }
  }

  // From the child handler of what was registered: that it runs proves the registration complete.
  void mark_done() noexcept { owner.store(done, std::memory_order_release); }
};

// EBB_PROCESS_WIDE objects are constant-initialised: no module's constructor runs to make one.
namespace install_once_check {
constexpr bool constant_initialisable() {
  install_once probe{};
  registration_once registration{};
  (void)probe;
  (void)registration;
  return true;
}
static_assert(constant_initialisable(), "ebb: install_once must stay constant-initialisable");
}  // namespace install_once_check

EBB_RUNTIME_END
