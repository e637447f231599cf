// SPDX-License-Identifier: BSL-1.0
// ebb/detail/switch_protocol.hpp — what happens around each switch into and out of a fiber.
//
// Switching is split so that the resumer does all bookkeeping: resume() installs the fiber as the
// thread's current one, swaps exception state, switches, and on return (the fiber yielded or
// finished) undoes both and publishes the new state. yield() only switches. Because the resumer never
// migrates while it waits inside resume(), nothing there reads thread state across a switch.
//
// Also here: the fiber's first frame (fiber_main), the end of a fiber (publishing "finished"), the
// unwinding of a suspended fiber at destruction, and the fiber_ops table through which code that
// knows no policies (this_fiber, the registry, the fault handler, switch_to) reaches the typed ones.
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/fiber_reports.hpp"
#include "ebb/detail/registry_slots.hpp"
#include "ebb/detail/stack_accounting.hpp"
#include "ebb/detail/switch_hooks.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/detail/unwind_report.hpp"
#include "ebb/fiber_options.hpp"
#include "ebb/mappers/in_place.hpp"
#include "ebb/mappers/mapped_stack.hpp"
#include "ebb/policies/mapper_requirements.hpp"
#include "ebb/os/stack_fault.hpp"

#include <atomic>
#include <cstdio>
#include <exception>
#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

// Does mapper M keep in_place's on_resume (in_place itself, or derived without hiding it)? A mapper
// with its own, template or not, does not.
template <class M, class = void>
struct keeps_in_place_on_resume : std::false_type {};
template <class M>
struct keeps_in_place_on_resume<
    M, std::enable_if_t<std::is_same<decltype(&M::on_resume), void (in_place::*)(const fiber_view&) noexcept>::value>>
    : std::true_type {};

template <class Control>
struct switch_protocol {
  using control = Control;
  using context = runtime_v1::fiber_context;
  using state = runtime_v1::fiber_state;
  using accounting = stack_accounting<Control>;
  static constexpr bool copying = copies_frames<decltype(Control::mapper), typename Control::stack_allocator>();

  // Make the fiber the running one on this thread, switch to it, and undo that when it comes back.
  // Returns the fiber that came back: c, or (after this_fiber::switch_to) another one, whose
  // bookkeeping the caller leaves to detail::finish_return_of.
  EBB_ALWAYS_INLINE static context* switch_in(control& c) {
    runtime_v1::thread_state* ts = runtime_v1::this_thread();
    if (EBB_UNLIKELY(!ts->faults_ready)) runtime_v1::os::prepare_thread_for_faults(ts);
    c.parent = ts->current;
    // The fault handler walks current -> parent: it must never see the fiber current with a stale
    // parent. A compiler-only fence (no instruction).
    std::atomic_signal_fence(std::memory_order_release);
    ts->current = &c;
    if (EBB_UNLIKELY(!c.ran_since_shrink)) runtime_v1::note_first_run_since_shrink(c);
#if EBB_SWAP_EXCEPTION_STATE
    runtime_v1::exception_state* eh = ts->eh_globals;
    if (EBB_UNLIKELY(eh == nullptr)) eh = ts->eh_globals = runtime_v1::thread_exception_state();
    c.caller_eh = *eh;
    *eh = c.fiber_eh;
#endif
    resuming(c);
    note_switch(c.parent, &c);
    runtime_v1::hooks::before_switch_to_fiber(c);
    runtime_v1::arch::ebb_switch_context(&c.caller_sp, c.sp);
    context* back = ts->current;  // the fiber that switched back to us
    if (EBB_UNLIKELY(back != &c)) return back;
    runtime_v1::hooks::after_return_from_fiber(c);
#if EBB_SWAP_EXCEPTION_STATE
    c.fiber_eh = *eh;
    *eh = c.caller_eh;
#endif
    ts->current = c.parent;
    note_switch(&c, c.parent);  // before anything publishes c: then it may run elsewhere
    accounting::note_depth(c);
    return &c;
  }

  // The FrameMapper's switch hooks (in_place's are empty: these compile to nothing for it).
  static void resuming(control& c) noexcept {
    auto stack = mapper_access::view(c);
    c.mapper.on_resume(stack);
  }
  static void suspended(control& c) noexcept {
    auto stack = mapper_access::view(c);
    c.mapper.on_suspend(stack);
  }
  static void finished(control& c) noexcept {
    auto stack = mapper_access::view(c);
    c.mapper.on_finish(stack);
  }

  // The first and only frame of the fiber's own code: runs the callable, records how it ended, and
  // switches away for the last time.
  template <class Callable>
  [[noreturn]] static void fiber_main(void* arg) noexcept {
    control* c = static_cast<control*>(arg);
    runtime_v1::hooks::fiber_entered(*c);
    Callable* fn = static_cast<Callable*>(c->callable);
#if EBB_HAS_EXCEPTIONS
    try {
      if (EBB_UNLIKELY(c->on_top != nullptr)) runtime_v1::run_on_top(*c);
      (*fn)();
      if (EBB_UNLIKELY(c->unwind_requested)) report_swallowed_unwind(*c);
    } catch (const runtime_v1::forced_unwind&) {
      // destruction unwound the frames; nothing to report
    } catch (...) {
      c->error = std::current_exception();
    }
#else
    if (EBB_UNLIKELY(c->on_top != nullptr)) runtime_v1::run_on_top(*c);
    (*fn)();
#endif
    fn->~Callable();
    c->callable = nullptr;
    c->finishing = true;  // the resumer publishes "finished" (context.hpp)
    runtime_v1::hooks::before_switch_to_caller(*c, /*finishing=*/true);
    runtime_v1::arch::ebb_switch_context(&c->sp, c->caller_sp);
    fatal("finished fiber '%s' was switched to", display_name(c->name));
  }

  // The resumer's last step for a fiber whose function ended: the mapper is told, then "finished" is
  // published and the exception that escaped the function, if any, rethrown (taken out first: from
  // then on the owner may destroy the fiber).
  static void publish_finished(context& ctx) {
    control& c = static_cast<control&>(ctx);
    finished(c);
#if EBB_HAS_EXCEPTIONS
    std::exception_ptr error = std::exchange(c.error, nullptr);
    c.state.store(state::finished, std::memory_order_release);
    if (error) std::rethrow_exception(std::move(error));
#else
    c.state.store(state::finished, std::memory_order_release);
#endif
  }

  // Destruction of a suspended fiber, as its options asked: unwind its frames (running destructors),
  // abandon them, or stop the program.
  static void unwind_suspended(control& c) noexcept {
    switch (c.on_destroy) {
      case destroy_action::unwind:
#if EBB_HAS_EXCEPTIONS
        runtime_v1::prepare_unwind_report();
        c.unwind_requested = true;
        // The exception is thrown by the fiber's own code (ops), so a suspension point compiled
        // without exceptions, inside a fiber created with them, unwinds the fiber too.
        c.on_top = [](context& ctx, void*) { ctx.ops->raise_forced_unwind(ctx); };
        c.state.store(state::running, std::memory_order_relaxed);
        (void)switch_in(c);  // always c itself: a fiber being unwound cannot switch_to another
        // Back without finishing: the fiber caught the unwind and yielded (this_fiber::suspend
        // leaves this check to us, off the hot path of every yield).
        if (EBB_UNLIKELY(!c.finishing))
          fatal("fiber '%s' is being destroyed but caught ebb's forced unwind (catch (...) without "
                "rethrow) and yielded again",
                display_name(c.name));
        finished(c);
        if (c.error) {
          std::fputs("ebb: an exception escaped while a destroyed fiber unwound; it was dropped\n", stderr);
          c.error = nullptr;
        }
        return;
#else
        [[fallthrough]];
#endif
      case destroy_action::abandon_and_report:
        std::fprintf(stderr,
                     "ebb: fiber '%s' destroyed while suspended; its stack was released without running "
                     "its destructors\n",
                     display_name(c.name));
        return;
      case destroy_action::abandon:
        return;
      case destroy_action::terminate:
        fatal("fiber '%s' destroyed while suspended (destroy_action::terminate)", display_name(c.name));
    }
  }

  // ---- the fiber_ops table: typed code reached through the context alone ----
  static ebb::stack_stats stats_thunk(context& ctx, void* sp) noexcept {
    return accounting::collect_stats(static_cast<control&>(ctx), sp);
  }
  static std::size_t shrink_thunk(context& ctx, void* sp, bool inside) noexcept {
    return accounting::shrink_at(static_cast<control&>(ctx), sp, inside);
  }
  static void raise_forced_unwind(context& ctx) {
#if EBB_HAS_EXCEPTIONS
    throw runtime_v1::forced_unwind{&ctx};
#else
    fatal("fiber '%s' cannot be unwound: it was built without exceptions", display_name(ctx.name));
#endif
  }
  // After a switch_to or a yield seen by finish_return_of: a finishing fiber is told on_finish by
  // publish_finished instead.
  static void after_switch_out(context& ctx) noexcept {
    control& c = static_cast<control&>(ctx);
    accounting::note_depth(c);
    if (!c.finishing) suspended(c);
  }
  static bool mapper_resume(context& ctx) noexcept {
    control& c = static_cast<control&>(ctx);
    if constexpr (copying) {
      auto stack = mapper_access::view(c);
      return c.mapper.resume_here(stack);
    } else {
      resuming(c);
      return true;
    }
  }
  static void admit(context& ctx, const char* what, context* leaving) {
    if constexpr (copying) static_cast<control&>(ctx).mapper.admit(ctx, what, leaving);
  }
  static void evict(context& ctx) noexcept {
    if constexpr (copying) {
      control& c = static_cast<control&>(ctx);
      auto stack = mapper_access::view(c);
      c.mapper.evict(stack);
    }
  }

  static void residency_span(context& ctx, std::uintptr_t& lo, std::uintptr_t& hi) noexcept {
    control& c = static_cast<control&>(ctx);
    lo = hi = 0;
    if (!accounting::shrink_may_ask(c, c.sp)) return;
    lo = reinterpret_cast<std::uintptr_t>(c.region.limit);
    hi = reinterpret_cast<std::uintptr_t>(c.region.top);
  }

  // Whether a pass may skip the fiber until it runs again (detail/registry_slots.hpp): only for the
  // mappers whose shrink point is known to do nothing at the policies' fixed point.
  static constexpr bool may_settle =
      std::is_same<decltype(Control::mapper), in_place>::value && !has_tripwire<typename Control::stack_allocator>::value;
  static bool settles(context& ctx) noexcept {
    control& c = static_cast<control&>(ctx);
    return !accounting::shrink_has_work(c, c.sp);
  }

  // switch_to calls the mapper's on_resume through the table only if the mapper has its own: one that
  // keeps in_place's (derived from it or in_place itself) gets a null entry and costs a test.
  static inline const runtime_v1::fiber_ops ops_table{
      &stats_thunk,      &shrink_thunk,     &accounting::open_window,
      &raise_forced_unwind, &after_switch_out, &publish_finished,
      keeps_in_place_on_resume<decltype(Control::mapper)>::value ? nullptr : &mapper_resume,
      copying ? &admit : nullptr, copying ? &evict : nullptr, copying ? nullptr : &residency_span,
      may_settle ? &settles : nullptr};
};

}  // namespace detail
EBB_NAMESPACE_END
