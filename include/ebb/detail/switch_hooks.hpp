// SPDX-License-Identifier: BSL-1.0
// ebb/detail/switch_hooks.hpp — telling a profiler or tracer which fiber each thread runs.
//
// The model is a tracer's (Tracy's fibers, Perfetto's tracks): a thread runs one fiber at a time, or
// none (its own stack). Every change of that is one report, from the fiber that stops (on_leave) to
// the one that starts (on_enter), either of which may be "none". Reports come from where the thread
// state's current fiber changes, all on the thread where it changes:
//
//   resumer, before its switch into c:      leave(parent), enter(c)   basic_fiber::switch_in
//   resumer, after c came back:             leave(c), enter(parent)   (yield, yield_then, finish,
//                                                                      exception, forced unwind)
//   resumer, after b came back instead:     leave(b), enter(parent)   detail::finish_return_of
//   a, switch_to(b):                        leave(a), enter(b)        detail::switch_to
//   call_on_thread_stack, around fn:        leave(self) ... enter(self)  detail::run_on_thread_stack
//
// "parent" is the fiber that resumed c on this thread (none on the thread's own stack), so nested
// resumes produce leave(A) enter(B) ... leave(B) enter(A). The fiber side (yield, fiber_main) reports
// nothing: its resumer does, before it publishes the fiber as suspended or finished, so a leave is
// always reported before another thread can resume the fiber (yield_then) and before its owner can
// destroy it.
//
// The hooks are two process-wide pointers (default visibility: one pair for every shared library).
// Compiled in but unset, each report point costs one load and one predicted branch; compiled out
// (EBB_SWITCH_HOOKS=0, the default), nothing.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/detail/context.hpp"

#include <atomic>
#include <cstdint>

EBB_RUNTIME_BEGIN

// Called with the fiber's id (unique, never reused) and name ("" if none; valid while the fiber
// lives). Must not throw, switch fibers, or create or destroy one.
using switch_hook = void (*)(std::uint64_t id, const char* name);

// Both null, or both set (set_switch_hooks puts a no-op in place of a missing one): the switch path
// tests on_enter alone.
EBB_PROCESS_WIDE(std::atomic<switch_hook>, switch_hook_enter, {nullptr});
EBB_PROCESS_WIDE(std::atomic<switch_hook>, switch_hook_leave, {nullptr});

inline void no_switch_hook(std::uint64_t, const char*) {}

// Out of line: the switch path pays only the test. noexcept: a hook that throws ends the program.
EBB_NOINLINE inline void report_switch(const fiber_context* from, const fiber_context* to) noexcept {
  if (from != nullptr)
    if (switch_hook leave = switch_hook_leave.load(std::memory_order_acquire)) leave(from->id, from->name);
  if (to != nullptr)
    if (switch_hook enter = switch_hook_enter.load(std::memory_order_acquire)) enter(to->id, to->name);
}

EBB_RUNTIME_END

EBB_NAMESPACE_BEGIN
namespace detail {

// The thread stops running `from` and starts running `to` (either may be null: the thread's own
// stack). In the versioned namespace: its body depends on EBB_SWITCH_HOOKS.
EBB_ALWAYS_INLINE void note_switch(const runtime_v1::fiber_context* from,
                                   const runtime_v1::fiber_context* to) noexcept {
#if EBB_SWITCH_HOOKS
  if (EBB_UNLIKELY(runtime_v1::switch_hook_enter.load(std::memory_order_relaxed) != nullptr))
    runtime_v1::report_switch(from, to);
#else
  (void)from, (void)to;
#endif
}

}  // namespace detail
EBB_NAMESPACE_END
