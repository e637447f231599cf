// SPDX-License-Identifier: BSL-1.0
// ebb/this_fiber.hpp — what the running fiber can do to itself.
//
// These functions find "the fiber running on this thread" through the process-wide thread state, so
// they work for a fiber of any policy and from any shared library of the process.
//
// Thread migration: a fiber may yield on one thread and be resumed on another. Across a yield, do not
// keep a thread-local's address, a held mutex, or this thread's stack bounds: after the yield you may
// be on another thread. Read thread-locals through ebb/thread_migration.hpp (on_this_thread,
// EBB_THREAD_LOCAL_ACCESSOR); keep per-fiber state in ebb::fiber_local. (ebb's own code never caches
// a thread-local: see runtime_v1::this_thread.)
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/direct_switch.hpp"
#include "ebb/detail/thread_stack_call.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/os/runtime_copies.hpp"
#include "ebb/error.hpp"
#include "ebb/stack_stats.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

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

// Switch to the resumer and come back, possibly on another thread. A fiber that yields while its
// destruction unwinds it (it caught the forced unwind and went on) is reported by the destruction,
// which is the resumer it comes back to (switch_protocol::unwind_suspended): that keeps the check off
// every yield.
inline void suspend(runtime_v1::fiber_context& c) {
  runtime_v1::hooks::before_switch_to_caller(c, /*finishing=*/false);
  runtime_v1::arch::ebb_switch_context(&c.sp, c.caller_sp);
  runtime_v1::hooks::fiber_resumed(c);
  // resume_with(fn), destruction's forced unwind, the end of a switch_to into this fiber.
  if (EBB_UNLIKELY(c.on_top != nullptr)) runtime_v1::run_on_top(c);
}
}  // namespace detail

// True when the caller runs on an ebb fiber.
inline bool in_fiber() noexcept { return runtime_v1::this_thread()->current != nullptr; }

// Suspend the running fiber; resume() returns true in the resumer. Returns when the fiber is resumed,
// possibly on another thread.
//
// Do not make the fiber reachable by another thread (a wait queue, a job list) before yield(): that
// thread may resume it while the resumer here is still finishing the switch — a race, reported as
// fiber_errc::already_running by checked builds when they see it, undefined in lean builds. Hand it
// over with yield_then() instead.
inline void yield() { detail::suspend(detail::current("yield()")); }

// Suspend the running fiber, then run f() on the resumer's side once the suspension is complete —
// Go's gopark(unlockf). From the moment f starts, resume() touches nothing of the fiber again, so f
// may hand it to another thread that resumes it at once:
//
//   ebb::this_fiber::yield_then([&]() noexcept { std::lock_guard<std::mutex> l(m); queue.push_back(self); });
//
// f runs inside resume(), on the resumer's thread and stack, before resume() returns true. It takes
// no arguments (the fiber's own handle is whatever the caller keeps: ebb::basic_fiber objects move
// and have policy-dependent types, so the fiber cannot name its owner itself) and must be noexcept
// (an exception would have no fiber to go to, and the resumer did not throw it). f is moved to the
// resumer's stack before it runs, so it may still use its own captures after publishing the fiber;
// what it captured by reference from the fiber's stack, though, may be gone once another thread has
// resumed the fiber.
template <class F>
void yield_then(F&& f) {
  using callable = std::remove_reference_t<F>;
  static_assert(std::is_invocable<std::decay_t<F>&>::value,
                "ebb::this_fiber::yield_then(f): f must be callable with no arguments");
  static_assert(std::is_nothrow_invocable<std::decay_t<F>&>::value,
                "ebb::this_fiber::yield_then(f): f must be noexcept (write the lambda as "
                "[&]() noexcept { ... }): it runs inside resume() after the fiber is suspended, where an "
                "exception would have nowhere to go");
  static_assert(std::is_nothrow_constructible<std::decay_t<F>, F&&>::value,
                "ebb::this_fiber::yield_then(f): f is moved (or copied) to the resumer's stack before it "
                "runs, and that must not throw");
  runtime_v1::fiber_context& c = detail::current("yield_then()");
  c.then_arg = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
  c.then_run = [](void* p) noexcept {
    std::decay_t<F> local(std::forward<F>(*static_cast<callable*>(p)));
    local();
  };
  detail::suspend(c);
}

// The running fiber suspends and `other` (suspended, or never started) runs in its place, on this
// thread, without passing through the resumer: `other` inherits the running fiber's resumer, so its
// next yield (or its end) returns to whoever resumed the fiber that switched, and that resume() then
// returns true. The fiber that switched is left suspended, resumable by anyone (and switch_to()
// returns when it is resumed, possibly on another thread). A job system's direct hand-off: a job that
// must wait starts the job it waits for without a trip through the scheduler.
// Misuse is a fiber_error: `other` running (already_running) or finished (already_finished), the
// running fiber itself (switch_to_self), empty (empty_fiber), pinned to another thread (wrong_thread).
template <class Fiber>
void switch_to(Fiber& other) {
  runtime_v1::fiber_context& self = detail::current("switch_to()");
  ebb::detail::switch_to(self, ebb::detail::fiber_access::context(other, "this_fiber::switch_to()"));
}

// Run fn() on the thread's own stack and return what it returns (or throw what it throws): for code
// that needs a deep native stack, or a stack the operating system and other libraries know (a
// graphics driver, a JIT, a library that checks its stack bounds). The fiber stays running and on
// this thread while fn runs; inside fn the thread has no current fiber (this_fiber:: calls report
// outside_fiber). Outside any fiber it simply calls fn(). "The thread's own stack" is the stack of the
// code that resumed the outermost ebb fiber on this thread (detail/thread_stack_call.hpp). Switch hooks
// (EBB_SWITCH_HOOKS) report the fiber left while fn runs, and entered again after.
template <class Fn>
std::invoke_result_t<Fn&> call_on_thread_stack(Fn&& fn) {
  static_assert(std::is_invocable<Fn&>::value,
                "ebb::this_fiber::call_on_thread_stack(fn): fn must be callable with no arguments");
  runtime_v1::fiber_context* self = runtime_v1::this_thread()->current;
  if (self == nullptr) return fn();
  using result_type = ebb::detail::thread_stack_result<std::remove_reference_t<Fn>>;
  result_type result;
  std::pair<std::remove_reference_t<Fn>*, result_type*> bound(std::addressof(fn), &result);
  ebb::detail::thread_stack_call call{&result_type::invoke, &bound};
  ebb::detail::run_on_thread_stack(*self, call);
  return result.take();
}

// The running fiber's id: unique in the process, never reused (basic_fiber::id()).
inline std::uint64_t id() { return detail::current("id()").id; }

// What fiber_options().user_data(p) gave the running fiber (nullptr if nothing).
inline void* user_data() { return detail::current("user_data()").user_data; }

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
