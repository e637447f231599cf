// SPDX-License-Identifier: BSL-1.0
// ebb/os/posix/thread_exit.hpp — run_at_thread_exit with a pthread key (os/thread_exit.hpp says why
// it must run after every thread_local destructor).
//
// glibc runs pthread key destructors after all C++ thread_local destructors (start_thread:
// __call_tls_dtors, then __nptl_deallocate_tsd), which is the order ebb needs. Whatever runs after
// that (another key's destructor) finds the state closed and must not reopen it. The main thread runs
// no key destructors: what it holds at exit() stays with the process.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/fork.hpp"

#include <atomic>

#include <pthread.h>
#include <sched.h>

EBB_RUNTIME_BEGIN
namespace os {

// The key is created once per process, by whichever thread gets there first, and the others wait for
// it. The state does not say "being created" but which process is creating it: fork() copies only the
// thread that calls it, so a child forked while another thread was creating the key would inherit
// "being created" with nobody left to finish, and wait for ever at its first fiber (seen: the fork race
// test's child hung in here). A child sees its parent's id instead and creates a key of its own (the
// parent's, if its pthread_key_create had returned before the fork, stays unused in the child: one
// key of the process's 1024). detail/install_once.hpp's registration_once does the same for fork()'s
// handlers; this header, below detail/, keeps its own copy of the rule.
struct thread_exit_key {
  static constexpr long ready = -1;
  static constexpr long failed = -2;  // the system had no key left
  std::atomic<long> state{0};         // 0: not created; `ready`; `failed`; or the creating process's id
  pthread_key_t key{};
};

// Arrange for at_exit(value) to run when the calling thread exits. The key is created the first time,
// with at_exit as its destructor (one per process: `exit_key` is a process-wide object). False if the
// system has no key left; the caller then keeps no per-thread state.
inline bool run_at_thread_exit(thread_exit_key& exit_key, void (*at_exit)(void*), void* value) noexcept {
  long state = exit_key.state.load(std::memory_order_acquire);
  while (state != thread_exit_key::ready) {
    if (state == thread_exit_key::failed) return false;
    const long self = current_process_id();
    if (state != self) {  // not begun, or begun in a parent process that forked before it ended
      if (!exit_key.state.compare_exchange_strong(state, self, std::memory_order_acq_rel)) continue;
      state = ::pthread_key_create(&exit_key.key, at_exit) == 0 ? thread_exit_key::ready : thread_exit_key::failed;
      exit_key.state.store(state, std::memory_order_release);
      continue;
    }
    ::sched_yield();  // another thread of this process is creating it
    state = exit_key.state.load(std::memory_order_acquire);
  }
  return ::pthread_setspecific(exit_key.key, value) == 0;
}

}  // namespace os
EBB_RUNTIME_END
