// SPDX-License-Identifier: BSL-1.0
// ebb/detail/tripwire_window.hpp — tripwire mode's window: the part of an in-place stack a fiber may
// touch.
//
// With a tripwire StackAllocator only [window_lo, top) is accessible; the rest of the stack is guarded
// until the fault handler opens it, one GrowthPolicy step at a time, within the process's stack
// budget. The window is the logical size plus a margin for a signal frame the kernel may push. Every
// byte opened is granted from the budget and every byte closed goes back to it. The window's lower
// edge lives in the fiber_context, because the fault handler, which knows no policies, reads it.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/page_bounds.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/mappers/mapped_stack.hpp"
#include "ebb/os/stack_budget.hpp"
#include "ebb/os/stack_fault.hpp"

#include <cstddef>

EBB_NAMESPACE_BEGIN
namespace detail {

template <class StackAllocator>
struct tripwire_window {
  using context = runtime_v1::fiber_context;

  static char* lowest_for(const context& c, const stack_region& region, std::size_t size) noexcept {
    char* lo = page_floor(c.stack_top - size - c.signal_margin);
    return lo < static_cast<char*>(region.limit) ? static_cast<char*>(region.limit) : lo;
  }

  // A new fiber's window: its initial size plus the margin, and at least the page of its first frame.
  // Closing the rest also drops any page a previous fiber left in a pooled reservation. Unguarded,
  // the fiber could grow past its grant unseen, so a failure refuses the fiber (guard install fails
  // with ENOMEM under a memory cgroup at its limit). On success the window's floor is returned in
  // `floor`.
  static mapper_refusal open_initial(context& c, StackAllocator& allocator, const stack_region& region,
                                     char*& floor) noexcept {
    if (runtime_v1::hooks::tripwire_unsupported()) return mapper_refusal::unsupported_here;
    c.signal_margin = runtime_v1::os::signal_frame_margin();
    char* lo = lowest_for(c, region, c.size);
    if (char* frame_page = page_floor(c.sp); lo > frame_page) lo = frame_page;
    const auto granted = static_cast<std::size_t>(static_cast<char*>(region.top) - lo);
    if (!runtime_v1::grant_stack_bytes(granted)) return mapper_refusal::stack_budget;
    if (!allocator.close_range(region, region.limit, lo)) {
      runtime_v1::return_stack_bytes(granted);
      return mapper_refusal::system;
    }
    c.window_lo = lo;
    runtime_v1::hooks::stack_bounds_changed(c, lo);
    floor = lo;
    c.ran_since_shrink = false;
    return mapper_refusal::none;
  }

  // Runs in the fault handler (async-signal-safe): make the window cover a logical size of `size`,
  // at least one page more than it has.
  static runtime_v1::trip_refusal widen(context& c, StackAllocator& allocator, const stack_region& region,
                                        std::size_t size) noexcept {
    char* lo = lowest_for(c, region, size);
    if (lo >= c.window_lo) lo = c.window_lo - runtime_v1::os::page_size();
    const auto more = static_cast<std::size_t>(c.window_lo - lo);
    if (!runtime_v1::grant_stack_bytes(more)) return runtime_v1::trip_refusal::budget;
    if (!allocator.open_range(region, lo, c.window_lo)) {
      runtime_v1::return_stack_bytes(more);
      return runtime_v1::trip_refusal::system;
    }
    c.window_lo = lo;
    runtime_v1::hooks::stack_bounds_changed(c, lo);
    return runtime_v1::trip_refusal::none;
  }

  // A shrink point: guard again what lies below `lo`, which also frees its pages, and hand those bytes
  // back to the budget. Guarding is the release, so what the range held is asked of the OS first (a
  // residency query; releasing it through the allocator as well would cost a second TLB shootdown).
  // Returns the bytes released.
  EBB_NOINLINE static std::size_t close_below(context& c, StackAllocator& allocator, const stack_region& region,
                                              char* lo, bool inside) noexcept {
    if (inside) lo = below_running_frames(lo);
    if (lo <= c.window_lo) return 0;
    runtime_v1::hooks::stack_released(c.window_lo, lo);
    const std::size_t held = runtime_v1::os::memory_held(c.window_lo, lo).bytes();
    if (!allocator.close_range(region, c.window_lo, lo)) {
      // Still open: window and grant stay as they are, and the pages go the ordinary way. With mprotect
      // guards close_range discarded them before the protection was refused (os::guard_and_free), so
      // decommit finds nothing left: report what the range held less what it still holds.
      allocator.decommit(region, c.window_lo, lo);
      const std::size_t left = runtime_v1::os::memory_held(c.window_lo, lo).bytes();
      return held > left ? held - left : 0;
    }
    runtime_v1::return_stack_bytes(static_cast<std::size_t>(lo - c.window_lo));
    c.window_lo = lo;
    runtime_v1::hooks::stack_bounds_changed(c, lo);
    return held;
  }

  // The fiber is gone: open the guarded part again so the reservation can serve any fiber, and return
  // the window's grant. Nothing below the window holds memory. False if the kernel refused: guards are
  // then left in the middle of the stack and the reservation must not be reused.
  static bool reopen(context& c, StackAllocator& allocator, stack_region& region) noexcept {
    if (c.window_lo == nullptr) return true;
    const bool reopened = allocator.open_range(region, region.limit, c.window_lo);
    runtime_v1::return_stack_bytes(static_cast<std::size_t>(static_cast<char*>(region.top) - c.window_lo));
    if (region.clean_below == nullptr || region.clean_below < c.window_lo) region.clean_below = c.window_lo;
    return reopened;
  }
};

}  // namespace detail
EBB_NAMESPACE_END
