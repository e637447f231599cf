// SPDX-License-Identifier: BSL-1.0
// ebb/detail/direct_switch.hpp — this_fiber::switch_to: one fiber hands the thread to another.
//
// A resume chain is a stack of fibers on one thread, each resumed by the one below it (the bottom by
// the thread's own stack). switch_to(b) from the running fiber a replaces a by b in the chain without
// passing through the resumer: b inherits a's resumer (caller_sp, parent, the resumer's exception
// state and sanitizer bookkeeping), so b's next yield returns to whoever resumed a. The resumer learns
// which fiber came back from the thread state (switch_in reads ts->current after its switch) and does
// its bookkeeping for that one (finish_return_of below).
//
// a cannot be published as suspended before its registers are saved: another thread could resume it
// from a half-saved frame. So the last half of the switch runs on b's side, as b's on_top action
// (detail/context.hpp), the way yield_then's f runs on the resumer's side: it brings a's depth
// statistics up to date and only then stores "suspended".
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/fiber_reports.hpp"
#include "ebb/detail/switch_hooks.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/error.hpp"
#include "ebb/os/asymmetric_fence.hpp"
#include "ebb/detail/registry_shards.hpp"

#include <atomic>

EBB_NAMESPACE_BEGIN
namespace detail {

// How this_fiber::switch_to reaches the fiber behind a basic_fiber of any configuration (a friend of
// basic_fiber).
struct fiber_access {
  template <class Fiber>
  static runtime_v1::fiber_context& context(Fiber& fiber, const char* what) {
    if (EBB_UNLIKELY(fiber.ctl_ == nullptr))
      misuse(fiber_errc::empty_fiber,
             std::string(what) + " of an empty fiber (default-constructed or moved from)");
    return *fiber.ctl_;
  }
};

// A switch_to between two compact fibers of one execution stack cannot copy the second in from the
// first (it would overwrite the frames doing the copy). The first switches to its resumer instead,
// leaving the thread's current fiber set to the second, tagged in its low bit; the resumer, on its own
// stack, runs the second (run_hop below). The tag keeps the resumer from taking the request for a yield
// of the fiber it resumed, which may be the second itself.
inline runtime_v1::fiber_context* hop_request(runtime_v1::fiber_context* b) noexcept {
  return reinterpret_cast<runtime_v1::fiber_context*>(reinterpret_cast<std::uintptr_t>(b) | 1);
}
inline bool is_hop_request(const runtime_v1::fiber_context* p) noexcept {
  return (reinterpret_cast<std::uintptr_t>(p) & 1) != 0;
}

// b's on_top action after a hop: a was saved and told on_suspend by the resumer; publish it.
inline void finish_hop_from(runtime_v1::fiber_context&, void* from) noexcept {
  static_cast<runtime_v1::fiber_context*>(from)->state.store(runtime_v1::fiber_state::suspended,
                                                              std::memory_order_release);
}

// On the resumer's stack: a (b's on_top_arg) has switched here with its registers saved; finish a's
// side, copy b in (saving a), and run b as the resumer's fiber. Returns whoever comes back.
EBB_NOINLINE inline runtime_v1::fiber_context* run_hop(runtime_v1::thread_state* ts, runtime_v1::fiber_context& b) {
  runtime_v1::fiber_context& a = *static_cast<runtime_v1::fiber_context*>(b.on_top_arg);
  runtime_v1::hooks::after_return_from_fiber(b);  // b inherited a's resumer bookkeeping
  a.ops->after_switch_out(a);                     // a's depth, and its mapper frees the stack
  b.on_top = &finish_hop_from;
  if (!b.ops->mapper_resume(b))
    fatal("compact fiber '%s' could not be switched to through its resumer", display_name(b.name));
  runtime_v1::hooks::before_switch_to_fiber(b);
  std::atomic_signal_fence(std::memory_order_release);  // the fault handler walks current -> parent
  ts->current = &b;
  runtime_v1::arch::ebb_switch_context(&b.caller_sp, b.sp);
  return ts->current;
}

// resume()'s ending when the fiber that came back is not the one it resumed (that one called
// switch_to, and some fiber of the chain it started yielded or finished), or is a hop request. Mirrors
// the ending of basic_fiber::switch_in and resume() for a fiber of any configuration. Returns
// resume()'s result: false if `resumed` itself came back finished, else true (the fiber resumed was
// left suspended by its switch_to); or an exception that escaped the fiber that finished here.
EBB_NOINLINE inline bool finish_return_of(runtime_v1::fiber_context* came_back, runtime_v1::fiber_context& resumed) {
  runtime_v1::thread_state* ts = runtime_v1::this_thread();
  while (EBB_UNLIKELY(is_hop_request(came_back)))
    came_back = run_hop(ts, *reinterpret_cast<runtime_v1::fiber_context*>(reinterpret_cast<std::uintptr_t>(came_back) - 1));
  runtime_v1::fiber_context& back = *came_back;
  runtime_v1::hooks::after_return_from_fiber(back);
#if EBB_SWAP_EXCEPTION_STATE
  runtime_v1::exception_state* eh = ts->eh_globals;
  back.fiber_eh = *eh;
  *eh = back.caller_eh;
#endif
  ts->current = back.parent;
  note_switch(&back, back.parent);
  back.ops->after_switch_out(back);
  if (back.finishing) {
    back.ops->publish_finished(back);
    return &back != &resumed;
  }
  if (EBB_UNLIKELY(back.then_run != nullptr)) {
    runtime_v1::suspend_then_run(back);
    return true;
  }
  back.state.store(runtime_v1::fiber_state::suspended, std::memory_order_release);
  return true;
}

// b's on_top action after a switched to it: a's registers are saved, so a may now be resumed by
// anyone. Runs on b's stack, as b.
inline void finish_switch_from(runtime_v1::fiber_context& b, void* from) noexcept {
  runtime_v1::fiber_context& a = *static_cast<runtime_v1::fiber_context*>(from);
  // Arriving told the sanitizer a's stack was b's caller: the caller is a's resumer.
  runtime_v1::hooks::inherit_caller_bounds(b, a);
  a.ops->after_switch_out(a);
  a.state.store(runtime_v1::fiber_state::suspended, std::memory_order_release);
}

// The running fiber a suspends and b (suspended or never started) runs in its place. Returns when a
// is resumed (by resume() or another switch_to), possibly on another thread.
inline void switch_to(runtime_v1::fiber_context& a, runtime_v1::fiber_context& b) {
  const char* what = "this_fiber::switch_to()";
  const runtime_v1::fiber_state before = b.state.load(std::memory_order_acquire);
  if (EBB_UNLIKELY(&b == &a || before == runtime_v1::fiber_state::running ||
                   before == runtime_v1::fiber_state::finished))
    report_resume_misuse(b, what);
  if (EBB_UNLIKELY(a.unwind_requested))
    fatal("fiber '%s' is being destroyed but caught ebb's forced unwind (catch (...) without rethrow) and "
          "called switch_to",
          display_name(a.name));
  if (EBB_UNLIKELY(b.pin_requested)) enforce_pin(b, what, &a);
  b.state.store(runtime_v1::fiber_state::running, runtime_v1::os::handshake_store);
  runtime_v1::wait_if_inspected(b);  // a registry pass on another thread may be shrinking it

  // b takes a's place in the chain. a is running here, so its fields are stable.
  runtime_v1::thread_state* ts = runtime_v1::this_thread();
  b.caller_sp = a.caller_sp;
  b.parent = a.parent;
  if (EBB_UNLIKELY(!b.ran_since_shrink)) runtime_v1::note_first_run_since_shrink(b);
  runtime_v1::hooks::inherit_resumer(b, a);
  b.on_top = &finish_switch_from;
  b.on_top_arg = &a;
#if EBB_SWAP_EXCEPTION_STATE
  runtime_v1::exception_state* eh = ts->eh_globals;
  if (EBB_UNLIKELY(eh == nullptr)) eh = ts->eh_globals = runtime_v1::thread_exception_state();
  b.caller_eh = a.caller_eh;
  a.fiber_eh = *eh;
  *eh = b.fiber_eh;
#endif
  if (EBB_UNLIKELY(b.ops->mapper_resume != nullptr) && EBB_UNLIKELY(!b.ops->mapper_resume(b))) {
    // b's execution stack is the one a runs on: route through the resumer (run_hop above).
    std::atomic_signal_fence(std::memory_order_release);
    ts->current = hop_request(&b);
    note_switch(&a, &b);
    runtime_v1::hooks::before_switch_to_caller(a, /*finishing=*/false);
    runtime_v1::arch::ebb_switch_context(&a.sp, a.caller_sp);
  } else {
    std::atomic_signal_fence(std::memory_order_release);  // the fault handler walks current -> parent
    ts->current = &b;
    note_switch(&a, &b);
    runtime_v1::hooks::before_switch_between_fibers(a, b);
    runtime_v1::arch::ebb_switch_context(&a.sp, b.sp);
  }
  runtime_v1::hooks::fiber_resumed(a);
  if (EBB_UNLIKELY(a.on_top != nullptr)) runtime_v1::run_on_top(a);
}

}  // namespace detail
EBB_NAMESPACE_END
