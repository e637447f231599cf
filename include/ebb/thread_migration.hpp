// SPDX-License-Identifier: BSL-1.0
// ebb/thread_migration.hpp — reading thread-locals from a fiber that may move between threads.
//
// A fiber that yields on thread A may be resumed on thread B. A C++ compiler assumes a function runs on
// one thread from start to end, so it may compute the address of a thread_local once and keep it in a
// register (or a stack slot) across calls, including across this_fiber::yield(): after the fiber moved,
// `my_thread_local` then still names A's variable, and B reads or writes A's copy behind A's back. The
// same holds for functions declared `const`, such as glibc's pthread_self() (and so
// std::this_thread::get_id()): the result from before the yield may be reused. Nothing in the source
// shows it, and whether it happens depends on the compiler, the optimisation level and inlining.
//
// The remedy is to reach the thread-local through a call the compiler cannot see into: not inlined, not
// analysed across (GCC's noipa), and containing an assembly statement that may touch any memory, so
// two calls cannot be merged into one. Each call then computes the address on the thread that makes it.
//
//     thread_local int worker_id = -1;
//     EBB_THREAD_LOCAL_ACCESSOR(current_worker_id, worker_id)    // defines int& current_worker_id()
//
//     int before = current_worker_id();
//     ebb::this_fiber::yield();                                   // may come back on another thread
//     int after = current_worker_id();                            // the thread it runs on now
//     auto tid = ebb::on_this_thread([] { return std::this_thread::get_id(); });
//
// The reference an accessor returns is the current thread's variable: use it at once, and do not keep
// it (or a pointer to it) across a yield. Per-fiber state belongs in ebb::fiber_local (fiber_local.hpp),
// which needs none of this; fiber_options().pin_to_thread(true) is the other way out for code that
// cannot be changed.
#pragma once

#include "ebb/config.hpp"

#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN

// fn(), called through an opaque frame: the thread-locals fn touches, and the `const` functions it
// calls, are those of the thread running the caller now. Returns what fn returns (a reference to a
// thread-local is the current thread's: use it before the next yield).
template <class Fn>
EBB_OPAQUE std::invoke_result_t<Fn&> on_this_thread(Fn&& fn) {
  static_assert(std::is_invocable<Fn&>::value, "ebb::on_this_thread(fn): fn must be callable with no arguments");
  __asm__ volatile("" ::: "memory");
  return fn();
}

EBB_NAMESPACE_END

// Defines `auto& name()`, returning the calling thread's `variable` (a thread_local visible where the
// macro is used) through an opaque frame; at namespace scope, no semicolon needed. Each call computes
// the address afresh, so it stays right across yields after which the fiber moved.
#define EBB_THREAD_LOCAL_ACCESSOR(name, variable) \
  EBB_OPAQUE inline auto& name() {                \
    __asm__ volatile("" ::: "memory");            \
    return (variable);                            \
  }
