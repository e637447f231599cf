// SPDX-License-Identifier: BSL-1.0
// ebb/this_fiber.hpp — what the running fiber can do to itself.
//
// These functions find "the fiber running on this thread" through the process-wide thread state, so
// they work for a fiber of any policy and from any shared library of the process.
//
// Thread migration: a fiber may yield on one thread and be resumed on another. Across a yield, do not
// keep a thread-local's address, a held mutex, or this thread's stack bounds: after the yield you may
// be on another thread. (ebb's own code never does: see runtime_v1::this_thread.)
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/os/runtime_copies.hpp"
#include "ebb/error.hpp"
#include "ebb/stack_stats.hpp"

#include <cstddef>
#include <string>

EBB_NAMESPACE_BEGIN
namespace this_fiber {

namespace detail {
[[noreturn]] EBB_NOINLINE inline void outside_fiber(const char* what) {
  // Perhaps on a fiber after all, one that another copy of the runtime runs.
  if (runtime_v1::os::other_runtime_runs_a_fiber())
    ebb::detail::misuse(fiber_errc::outside_fiber, std::string("this_fiber::") + what +
                                                       " called on a fiber this library's copy of ebb does "
                                                       "not know: " + runtime_v1::runtime_split_remedy);
  ebb::detail::misuse(fiber_errc::outside_fiber, std::string("this_fiber::") + what + " called outside a fiber");
}

inline runtime_v1::fiber_context& current(const char* what) {
  runtime_v1::fiber_context* c = runtime_v1::this_thread()->current;
#if EBB_CHECKS
  if (EBB_UNLIKELY(c == nullptr)) outside_fiber(what);
#else
  (void)what;
#endif
  return *c;
}
}  // namespace detail

// True when the caller runs on an ebb fiber.
inline bool in_fiber() noexcept { return runtime_v1::this_thread()->current != nullptr; }

// Suspend the running fiber; resume() returns true in the resumer. Returns when the fiber is resumed,
// possibly on another thread.
inline void yield() {
  runtime_v1::fiber_context& c = detail::current("yield()");
  if (EBB_UNLIKELY(c.unwind_requested))
    ebb::detail::fatal("fiber '%s' is being destroyed but caught ebb's forced unwind (catch (...) "
                       "without rethrow) and yielded again",
                       ebb::detail::display_name(c.name));
  runtime_v1::hooks::before_switch_to_caller(c, /*finishing=*/false);
  runtime_v1::arch::ebb_switch_context(&c.sp, c.caller_sp);
  runtime_v1::hooks::fiber_resumed(c);
  // Destruction resumes a suspended fiber only to unwind it. The exception is thrown by the fiber's
  // own code (ops), so a yield compiled without exceptions, inside a fiber created with them, unwinds
  // the fiber too instead of running on.
  if (EBB_UNLIKELY(c.unwind_requested)) c.ops->raise_forced_unwind(c);
}

// The running fiber's name ("" if none was given).
inline const char* name() { return detail::current("name()").name; }

inline ebb::stack_stats stack_stats() {
  runtime_v1::fiber_context& c = detail::current("stack_stats()");
  return c.ops->stats(c, runtime_v1::arch::stack_pointer());
}

// Bytes left between the stack pointer and the fiber's maximum size.
inline std::size_t remaining_stack() {
  runtime_v1::fiber_context& c = detail::current("remaining_stack()");
  char* sp = static_cast<char*>(runtime_v1::arch::stack_pointer());
  return sp > c.stack_limit ? static_cast<std::size_t>(sp - c.stack_limit) : 0;
}

// A shrink point from inside: the ShrinkPolicy sees the bytes in use now, and the pages below what
// it keeps (never closer than a safety margin to the stack pointer) go back to the OS.
inline std::size_t shrink_stack() {
  runtime_v1::fiber_context& c = detail::current("shrink_stack()");
  return c.ops->shrink(c, runtime_v1::arch::stack_pointer(), /*inside=*/true);
}

}  // namespace this_fiber
EBB_NAMESPACE_END
