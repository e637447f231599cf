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
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"

#include <cstddef>

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

inline void fiber_created(fiber_context& c, char* lo, char* hi) noexcept {
  c.tool_stack_lo = lo;
  c.tool_stack_hi = hi;
#if EBB_TSAN
  c.tsan_fiber = __tsan_create_fiber(0);
  if (c.name && c.name[0]) __tsan_set_fiber_name(c.tsan_fiber, c.name);
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
  if (c.tsan_fiber) __tsan_destroy_fiber(c.tsan_fiber);
  c.tsan_fiber = nullptr;
#endif
#if EBB_VALGRIND
  if (c.valgrind_stack_id != 0) VALGRIND_STACK_DEREGISTER(c.valgrind_stack_id);
  c.valgrind_stack_id = 0;
#endif
  (void)c;
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
#if EBB_ASAN
  __sanitizer_start_switch_fiber(&c.asan_caller_fake_stack, c.tool_stack_lo,
                                 static_cast<std::size_t>(c.tool_stack_hi - c.tool_stack_lo));
#endif
#if EBB_TSAN
  c.tsan_caller = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(c.tsan_fiber, 0);
#endif
  (void)c;
}
EBB_ALWAYS_INLINE void after_return_from_fiber(fiber_context& c) noexcept {
#if EBB_ASAN
  __sanitizer_finish_switch_fiber(c.asan_caller_fake_stack, nullptr, nullptr);
#endif
  (void)c;
}

// this_fiber::switch_to: from fiber a straight to fiber b, which then runs for a's resumer.
EBB_ALWAYS_INLINE void before_switch_between_fibers(fiber_context& a, fiber_context& b) noexcept {
#if EBB_ASAN
  __sanitizer_start_switch_fiber(&a.asan_fiber_fake_stack, b.tool_stack_lo,
                                 static_cast<std::size_t>(b.tool_stack_hi - b.tool_stack_lo));
#endif
#if EBB_TSAN
  __tsan_switch_to_fiber(b.tsan_fiber, 0);
#endif
  (void)a, (void)b;
}

// Fiber side.
EBB_ALWAYS_INLINE void fiber_entered(fiber_context& c) noexcept {
#if EBB_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &c.asan_caller_bottom, &c.asan_caller_size);
#endif
  (void)c;
}
EBB_ALWAYS_INLINE void before_switch_to_caller(fiber_context& c, bool finishing) noexcept {
#if EBB_ASAN
  __sanitizer_start_switch_fiber(finishing ? nullptr : &c.asan_fiber_fake_stack, c.asan_caller_bottom,
                                 c.asan_caller_size);
#endif
#if EBB_TSAN
  __tsan_switch_to_fiber(c.tsan_caller, 0);
#endif
  (void)c, (void)finishing;
}
EBB_ALWAYS_INLINE void fiber_resumed(fiber_context& c) noexcept {
#if EBB_ASAN
  __sanitizer_finish_switch_fiber(c.asan_fiber_fake_stack, &c.asan_caller_bottom, &c.asan_caller_size);
#endif
  (void)c;
}

}  // namespace hooks
EBB_RUNTIME_END
