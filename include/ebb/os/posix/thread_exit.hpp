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

#include <atomic>

#include <pthread.h>
#include <sched.h>

EBB_RUNTIME_BEGIN
namespace os {

struct thread_exit_key {
  std::atomic<int> state{0};  // 0: not created, 1: being created, 2: ready, 3: creation failed
  pthread_key_t key{};
};

// Arrange for at_exit(value) to run when the calling thread exits. The key is created the first time,
// with at_exit as its destructor (one per process: `exit_key` is a process-wide object). False if the
// system has no key left; the caller then keeps no per-thread state.
inline bool run_at_thread_exit(thread_exit_key& exit_key, void (*at_exit)(void*), void* value) noexcept {
  int state = exit_key.state.load(std::memory_order_acquire);
  if (state != 2) {
    int expected = 0;
    if (exit_key.state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      exit_key.state.store(::pthread_key_create(&exit_key.key, at_exit) == 0 ? 2 : 3, std::memory_order_release);
    }
    while ((state = exit_key.state.load(std::memory_order_acquire)) == 1) ::sched_yield();
    if (state != 2) return false;
  }
  return ::pthread_setspecific(exit_key.key, value) == 0;
}

}  // namespace os
EBB_RUNTIME_END
