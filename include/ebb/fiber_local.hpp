// SPDX-License-Identifier: BSL-1.0
// ebb/fiber_local.hpp — ebb::fiber_local<T>: one T per fiber, as thread_local gives one per thread.
//
//     static ebb::fiber_local<request_log> log;   // usually a static: see "Lifetime" below
//     log->add("parsed header");                  // this fiber's request_log, made on first use
//
// Each fiber that calls get() gets its own T, value-initialised (T()) on its first call in that fiber
// and destroyed when the fiber is destroyed (finished, never started, unwound or abandoned), on the
// thread that destroys it. Outside any fiber (including inside this_fiber::call_on_thread_stack) get()
// gives the calling thread's own T, destroyed when the thread exits (the main thread's: never).
//
// A value belongs to its fiber, not to a thread: it follows the fiber when it is resumed on another
// thread. The reference get() returns stays valid as long as the fiber (or thread) lives.
//
// Lifetime: the object itself is a key. Its constructor is constexpr (a static fiber_local needs no
// dynamic initialisation and so has no initialisation-order problem) and its slot is taken on first use
// and never reused by another fiber_local. Destroying a fiber_local while fibers still hold values for
// it is allowed: each value is destroyed with its fiber as usual. Creating fiber_local objects without
// bound (one per request, say) makes every table as long as the highest slot in use: don't.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/fiber_locals.hpp"

#include <atomic>
#include <cstddef>
#include <type_traits>

EBB_NAMESPACE_BEGIN

template <class T>
class fiber_local {
  static_assert(std::is_default_constructible<T>::value,
                "ebb::fiber_local<T>: T must be default-constructible (each fiber's value starts as T())");
  static_assert(std::is_nothrow_destructible<T>::value, "ebb::fiber_local<T>: T's destructor must not throw");
  static_assert(!std::is_reference<T>::value && !std::is_const<T>::value,
                "ebb::fiber_local<T>: T must be a non-const object type");

 public:
  constexpr fiber_local() noexcept = default;
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;

  // The running fiber's T (the calling thread's outside fibers), made on first use. May throw what
  // T() throws, or std::bad_alloc; a later call tries again.
  // The fast path: the thread state, the current fiber, its table, the capacity and the entry.
  T& get() const {
    runtime_v1::fiber_context* c = runtime_v1::this_thread()->current;
    if (EBB_LIKELY(c != nullptr)) {
      const std::size_t slot = slot_.load(std::memory_order_relaxed);
      if (auto* t = static_cast<runtime_v1::local_table*>(c->locals); EBB_LIKELY(t != nullptr && slot < t->capacity))
        if (void* v = t->entries()[slot].value; EBB_LIKELY(v != nullptr)) return *static_cast<T*>(v);
      return *static_cast<T*>(runtime_v1::make_local(c->locals, slot_, &make_value, &destroy_value));
    }
    return *static_cast<T*>(runtime_v1::thread_local_value(slot_, &make_value, &destroy_value));
  }
  T& operator*() const { return get(); }
  T* operator->() const { return &get(); }

 private:
  static void* make_value() { return new T(); }
  static void destroy_value(void* p) noexcept { delete static_cast<T*>(p); }

  // 0 until first use (see detail/fiber_locals.hpp).
  mutable std::atomic<std::size_t> slot_{0};
};

EBB_NAMESPACE_END
