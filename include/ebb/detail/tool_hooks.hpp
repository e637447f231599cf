// SPDX-License-Identifier: BSL-1.0
// ebb/detail/tool_hooks.hpp — telling sanitizers and Valgrind about stacks and switches.
//
// A tool that tracks the stack (ASan's use-after-return detection and its unpoisoning on noreturn
// calls, TSan's happens-before graph, Valgrind's idea of which memory is stack) is confused by a
// switch it does not see: ASan would report every exception thrown on a fiber, TSan would mix the
// histories of two fibers, Valgrind would report reads of another stack. Each hook below is empty
// unless its tool is on: ASan and TSan when the compiler says so, Valgrind when the build asks for it
// with EBB_VALGRIND=1 (config.hpp; its client requests cost a few instructions outside Valgrind, and
// only at creation, destruction and window changes, never on a switch).
//
// The protocol for ASan (and, in its own terms, TSan), per switch:
//   resumer, before:  start_switch(&caller_fake_stack, fiber's bounds)
//   fiber, first run: finish_switch(nullptr, &caller_bounds)        — learns the resumer's bounds
//   fiber, yielding:  start_switch(&fiber_fake_stack, caller_bounds)
//   resumer, after:   finish_switch(caller_fake_stack)
//   fiber, resumed:   finish_switch(fiber_fake_stack, &caller_bounds) — the resumer may be another
//                                                                      thread each time
//   fiber, finishing: start_switch(nullptr, caller_bounds)           — its fake stack dies with it
//
// What ASan and TSan keep per fiber is a runtime_v1::tool_state on the heap (context.hpp says why),
// reached through fiber_context::tools. fiber_created makes it in a translation unit built with ASan
// or TSan. The sanitizer hooks below do not assume it is there: a fiber created by a translation unit
// built without sanitizers (null tools) may be resumed by one built with them, so they make it on
// first need (tools_of) rather than test and skip. That keeps what the old in-line fields did in that
// case, where they started as zeros and the sanitizer was still told of every switch; skipping would
// hide the switches from it. fiber_destroyed frees it in every configuration, since a fiber made with
// sanitizers may be destroyed by code built without them.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/os/valgrind_presence.hpp"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>

#if EBB_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if EBB_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if EBB_VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif

EBB_RUNTIME_BEGIN
namespace hooks {

// The fiber's sanitizer state, made (zeroed) if it has none yet. Only sanitizer builds ask for it,
// and switch_to (detail/direct_switch.hpp) for a fiber that inherits state another fiber has. A
// sanitizer build that cannot allocate these few bytes has nothing sensible left to do: it stops.
EBB_NOINLINE inline tool_state* make_tools(fiber_context& c) noexcept {
  void* memory = std::malloc(sizeof(tool_state));
  if (memory == nullptr) {
    std::fprintf(stderr,
                 "ebb: cannot allocate the %zu bytes of sanitizer state (ASan/TSan) for fiber '%s': out of memory\n",
                 sizeof(tool_state), c.name != nullptr && c.name[0] != '\0' ? c.name : "(unnamed)");
    std::fflush(stderr);
    std::abort();
  }
  c.tools = ::new (memory) tool_state();
  return c.tools;
}
EBB_ALWAYS_INLINE tool_state& tools_of(fiber_context& c) noexcept {
  return *(EBB_LIKELY(c.tools != nullptr) ? c.tools : make_tools(c));
}

inline void fiber_created(fiber_context& c, char* lo, char* hi) noexcept {
  c.tool_stack_lo = lo;
  c.tool_stack_hi = hi;
#if EBB_ASAN || EBB_TSAN
  tool_state& t = tools_of(c);
#endif
#if EBB_TSAN
  t.tsan_fiber = __tsan_create_fiber(0);
  if (c.name && c.name[0]) __tsan_set_fiber_name(t.tsan_fiber, c.name);
#elif EBB_ASAN
  (void)t;
#endif
#if EBB_VALGRIND
  // A compact fiber has no stack until it first runs (lo is null: fiber_creation.hpp): it is registered
  // when it is bound to an execution stack (stack_bounds_changed). Registered at creation it was the
  // range [0, its control block's top), a 'stack' over most of the address space: Memcheck then took
  // switches between other stacks below it for moves within one stack and marked what lay between
  // them (other threads' stacks and thread-locals, suspended fibers' frames) inaccessible or undefined.
  if (lo != nullptr) c.valgrind_stack_id = VALGRIND_STACK_REGISTER(lo, hi);
#endif
}

// The tripwire window or the kernel-visible part changed, or a compact fiber was bound to an execution
// stack: tell Valgrind what is stack now.
// Tripwire mode grows a stack from its fault handler, which unguards pages and retries the faulting
// instruction. Valgrind does not carry that out: a tripwire fiber under it crashed when it resumed
// after its first growth (the unit tests), or went on with its frames changed (examples/
// budget_growth.cpp, Valgrind 3.19). So a build that knows Valgrind refuses such fibers there.
inline bool tripwire_unsupported() noexcept { return os::running_on_valgrind(); }

inline void stack_bounds_changed(fiber_context& c, char* lo) noexcept {
#if EBB_VALGRIND
  if (c.valgrind_stack_id != 0)
    VALGRIND_STACK_CHANGE(c.valgrind_stack_id, lo, c.tool_stack_hi);
  else if (lo != nullptr && c.tool_stack_hi != nullptr)  // a compact fiber bound to its execution stack
    c.valgrind_stack_id = VALGRIND_STACK_REGISTER(lo, c.tool_stack_hi);
#else
  (void)c, (void)lo;
#endif
}

inline void fiber_destroyed(fiber_context& c) noexcept {
#if EBB_TSAN
  if (c.tools != nullptr && c.tools->tsan_fiber != nullptr) __tsan_destroy_fiber(c.tools->tsan_fiber);
#endif
#if EBB_VALGRIND
  if (c.valgrind_stack_id != 0) VALGRIND_STACK_DEREGISTER(c.valgrind_stack_id);
  c.valgrind_stack_id = 0;
#endif
  // In every configuration (the fiber may have been made by a sanitizer build); tool_state is trivially
  // destructible.
  if (c.tools != nullptr) {
    std::free(c.tools);
    c.tools = nullptr;
  }
}

// Memory of a stack handed back (released pages, or the whole stack when the fiber is destroyed):
// frames that never returned normally may have left ASan poison there for the next user.
inline void stack_released(void* lo, void* hi) noexcept {
#if EBB_ASAN
  if (hi > lo) ASAN_UNPOISON_MEMORY_REGION(lo, static_cast<char*>(hi) - static_cast<char*>(lo));
#else
  (void)lo, (void)hi;
#endif
}

// Frames about to be written onto a stack from outside it (a compact fiber's saved frames copied back,
// or its first frame made, on an execution stack other fibers used): Memcheck marked what those fibers'
// returns popped as inaccessible, and would report the copy and every later access to the frames.
inline void frames_arriving(void* lo, std::size_t bytes) noexcept {
#if EBB_VALGRIND
  (void)VALGRIND_MAKE_MEM_UNDEFINED(lo, bytes);
#else
  (void)lo, (void)bytes;
#endif
}

// Resumer side.
EBB_ALWAYS_INLINE void before_switch_to_fiber(fiber_context& c) noexcept {
#if EBB_ASAN || EBB_TSAN
  tool_state& t = tools_of(c);
#endif
#if EBB_ASAN
  __sanitizer_start_switch_fiber(&t.asan_caller_fake_stack, c.tool_stack_lo,
                                 static_cast<std::size_t>(c.tool_stack_hi - c.tool_stack_lo));
#endif
#if EBB_TSAN
  t.tsan_caller = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(t.tsan_fiber, 0);
#endif
  (void)c;
}
EBB_ALWAYS_INLINE void after_return_from_fiber(fiber_context& c) noexcept {
#if EBB_ASAN
  __sanitizer_finish_switch_fiber(tools_of(c).asan_caller_fake_stack, nullptr, nullptr);
#endif
  (void)c;
}

// this_fiber::switch_to: from fiber a straight to fiber b, which then runs for a's resumer.
EBB_ALWAYS_INLINE void before_switch_between_fibers(fiber_context& a, fiber_context& b) noexcept {
#if EBB_ASAN
  __sanitizer_start_switch_fiber(&tools_of(a).asan_fiber_fake_stack, b.tool_stack_lo,
                                 static_cast<std::size_t>(b.tool_stack_hi - b.tool_stack_lo));
#endif
#if EBB_TSAN
  __tsan_switch_to_fiber(tools_of(b).tsan_fiber, 0);
#endif
  (void)a, (void)b;
}

// switch_to, for b taking a's place: b inherits a's resumer, and with it what the sanitizers know of
// that resumer — its fake stack and TSan fiber here (before the switch), its stack bounds in
// inherit_caller_bounds (on b's side, after it; direct_switch.hpp). In every configuration, as the
// fields were copied before they moved behind `tools`: the fibers may be made and resumed by sanitizer
// builds while switch_to runs in one without. A null `tools` stands for zeros, so b is given a
// tool_state only when a has one (which means a sanitizer build is in the process).
EBB_ALWAYS_INLINE void inherit_resumer(fiber_context& b, const fiber_context& a) noexcept {
  if (EBB_UNLIKELY(a.tools != nullptr)) {
    tool_state& t = tools_of(b);
    t.asan_caller_fake_stack = a.tools->asan_caller_fake_stack;
    t.tsan_caller = a.tools->tsan_caller;
  } else if (EBB_UNLIKELY(b.tools != nullptr)) {
    b.tools->asan_caller_fake_stack = nullptr;
    b.tools->tsan_caller = nullptr;
  }
}
inline void inherit_caller_bounds(fiber_context& b, const fiber_context& a) noexcept {
  if (a.tools != nullptr) {
    tool_state& t = tools_of(b);
    t.asan_caller_bottom = a.tools->asan_caller_bottom;
    t.asan_caller_size = a.tools->asan_caller_size;
  } else if (b.tools != nullptr) {
    b.tools->asan_caller_bottom = nullptr;
    b.tools->asan_caller_size = 0;
  }
}

// Fiber side.
EBB_ALWAYS_INLINE void fiber_entered(fiber_context& c) noexcept {
#if EBB_ASAN
  tool_state& t = tools_of(c);
  __sanitizer_finish_switch_fiber(nullptr, &t.asan_caller_bottom, &t.asan_caller_size);
#endif
  (void)c;
}
EBB_ALWAYS_INLINE void before_switch_to_caller(fiber_context& c, bool finishing) noexcept {
#if EBB_ASAN || EBB_TSAN
  tool_state& t = tools_of(c);
#endif
#if EBB_ASAN
  __sanitizer_start_switch_fiber(finishing ? nullptr : &t.asan_fiber_fake_stack, t.asan_caller_bottom,
                                 t.asan_caller_size);
#endif
#if EBB_TSAN
  __tsan_switch_to_fiber(t.tsan_caller, 0);
#endif
  (void)c, (void)finishing;
}
EBB_ALWAYS_INLINE void fiber_resumed(fiber_context& c) noexcept {
#if EBB_ASAN
  tool_state& t = tools_of(c);
  __sanitizer_finish_switch_fiber(t.asan_fiber_fake_stack, &t.asan_caller_bottom, &t.asan_caller_size);
#endif
  (void)c;
}

}  // namespace hooks
EBB_RUNTIME_END
