// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fiber_stack.hpp — a fiber's stack through its life: growth, shrink points, statistics,
// tripwire windows, and the hand-back to the allocator.
//
// Everything here works on a control block (detail/fiber_control.hpp) and the fiber's policies, and
// nothing here switches: basic_fiber (fiber.hpp) calls in at creation, after each return from the
// fiber, at shrink points and at destruction; the registry and this_fiber reach the same functions
// through the fiber_ops table.
//
// Growth is bookkeeping, not memory management: in the default mode the kernel commits a page when
// the fiber first touches it, and the logical size only follows (GrowthPolicy steps counted as the
// fiber is seen deeper). Shrinking is where memory moves: the ShrinkPolicy picks a new logical size
// and every page below it goes back to the OS, without moving a frame.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/create_report.hpp"
#include "ebb/detail/fiber_control.hpp"
#include "ebb/detail/fiber_locals.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/error.hpp"
#include "ebb/fiber_options.hpp"
#include "ebb/os/memory.hpp"
#include "ebb/os/stack_budget.hpp"
#include "ebb/os/stack_fault.hpp"
#include "ebb/policies/requirements.hpp"
#include "ebb/policies/shrink.hpp"
#include "ebb/stack_stats.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

template <class GrowthPolicy, class ShrinkPolicy, class StackAllocator>
struct fiber_stack {
  using control = fiber_control<GrowthPolicy, ShrinkPolicy, StackAllocator>;

  static std::size_t clamp(std::size_t v, std::size_t lo, std::size_t hi) noexcept {
    return v < lo ? lo : (v > hi ? hi : v);
  }

  // Tripwire mode: only [window_lo, top) is accessible; the rest of the stack is guarded until the
  // fault handler opens it, one GrowthPolicy step at a time, within the process's stack budget.
  static constexpr bool tripwire = detail::has_tripwire<StackAllocator>::value;

  static char* window_for(const control& c, std::size_t size) noexcept {
    char* lo = page_floor(c.stack_top - size - c.signal_margin);
    return lo < static_cast<char*>(c.region.limit) ? static_cast<char*>(c.region.limit) : lo;
  }

  // False once `report` was told why (the fiber is then undone: callable dropped, stack released).
  template <class Report>
  static bool open_initial_window(control* c, const fiber_options& options, const Report& report) {
    c->signal_margin = runtime_v1::os::signal_frame_margin();
    char* lo = window_for(*c, c->size);
    if (char* frame_page = page_floor(c->sp); lo > frame_page) lo = frame_page;  // the first frame's page
    const auto granted = static_cast<std::size_t>(static_cast<char*>(c->region.top) - lo);
    if (!runtime_v1::grant_stack_bytes(granted)) {
      c->drop_callable(c->callable);
      release_stack(c, false);
      report(fiber_errc::out_of_memory, [&options](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': the stack budget (%zu bytes) is exhausted",
                             detail::display_name(options.name()), stack_budget());
      });
      return false;
    }
    // Closing the range also drops any page a previous fiber left in a pooled reservation. Unguarded,
    // the fiber could grow past its grant unseen: refuse it (guard install fails with ENOMEM under a
    // memory cgroup at its limit).
    if (!c->allocator.close_range(c->region, c->region.limit, lo)) {
      const int error = errno;
      runtime_v1::return_stack_bytes(granted);
      c->drop_callable(c->callable);
      release_stack(c, false);
      report(fiber_errc::out_of_memory, [&options, error](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': cannot guard its stack: %s",
                             detail::display_name(options.name()), std::strerror(error));
      });
      return false;
    }
    c->window_lo = lo;
    runtime_v1::hooks::stack_bounds_changed(*c, lo);
    c->kept_floor = lo;
    c->ran_since_shrink = false;
    return true;
  }

  // Runs in the fault handler (async-signal-safe): grow the logical size by policy steps until it
  // covers `touched`, within the maximum and the budget, and make the new part accessible.
  static runtime_v1::trip_refusal open_window(runtime_v1::fiber_context& ctx, char* touched) noexcept {
    control& c = static_cast<control&>(ctx);
    if constexpr (tripwire) {
      const std::size_t needed = c.used_at(touched) + 1;
      if (needed > c.max_size) return runtime_v1::trip_refusal::limit;
      std::size_t size = c.size;
      std::uint64_t steps = 0;
      while (size < needed) {
        std::size_t next = c.growth.next_size(size, needed);
        if (next > c.max_size) next = c.max_size;
        if (next <= size) next = needed;
        size = next;
        ++steps;
      }
      char* lo = window_for(c, size);
      if (lo >= c.window_lo) lo = c.window_lo - runtime_v1::os::page_size();
      const auto more = static_cast<std::size_t>(c.window_lo - lo);
      if (!runtime_v1::grant_stack_bytes(more)) return runtime_v1::trip_refusal::budget;
      if (!c.allocator.open_range(c.region, lo, c.window_lo)) {
        runtime_v1::return_stack_bytes(more);
        return runtime_v1::trip_refusal::system;
      }
      c.window_lo = lo;
      runtime_v1::hooks::stack_bounds_changed(c, lo);
      c.size = size;
      c.grows += steps;
      if (needed > c.peak) c.peak = needed;
      return runtime_v1::trip_refusal::none;
    } else {
      (void)c, (void)touched;
      return runtime_v1::trip_refusal::limit;
    }
  }

  // Tripwire mode's shrink: guard again what lies below the new window (which also frees its pages)
  // and hand those bytes back to the budget.
  EBB_NOINLINE static std::size_t close_below(control& c, char* lo, bool inside) noexcept {
    if (inside) {
      char* safe = page_floor(static_cast<char*>(runtime_v1::arch::stack_pointer()) -
                              2 * runtime_v1::os::page_size());
      if (lo > safe) lo = safe;
    }
    if (lo <= c.window_lo) return 0;
    const std::size_t resident = runtime_v1::os::resident_bytes(c.window_lo, lo);
    if (!c.allocator.close_range(c.region, c.window_lo, lo)) {
      // Still open, so the window and its grant stay as they are; its pages go back all the same.
      runtime_v1::hooks::stack_released(c.window_lo, lo);
      return c.allocator.decommit(c.region, c.window_lo, lo);
    }
    runtime_v1::return_stack_bytes(static_cast<std::size_t>(lo - c.window_lo));
    runtime_v1::hooks::stack_released(c.window_lo, lo);
    c.window_lo = lo;
    runtime_v1::hooks::stack_bounds_changed(c, lo);
    return resident;
  }

  // After the fiber switched away: the depth it stopped at is the deepest it was seen.
  EBB_ALWAYS_INLINE static void note_depth(control& c) noexcept {
    const std::size_t used = c.used_at(c.sp);
    if (EBB_UNLIKELY(used > c.peak)) {
      c.peak = used;
      if (used > c.size) grow_to(c, used);
    }
  }

  // Step the GrowthPolicy until the logical size covers `needed`, one counted step at a time.
  static void grow_to(control& c, std::size_t needed) noexcept {
    if (needed > c.max_size)
      detail::fatal("stack overflow in fiber '%s': %zu bytes in use, limit %zu",
                    detail::display_name(c.name_storage), needed, c.max_size);
    while (c.size < needed) {
      std::size_t next = c.growth.next_size(c.size, needed);
      if (next > c.max_size) next = c.max_size;
      if (next <= c.size) {  // the policy will not grow further below the maximum: take what is needed
        next = needed;
      }
      c.size = next;
      ++c.grows;
    }
  }

  static char* page_ceil(void* p) noexcept {
    const std::size_t page = runtime_v1::os::page_size();
    return reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page);
  }
  static char* page_floor(void* p) noexcept {
    const std::size_t page = runtime_v1::os::page_size();
    return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) / page * page);
  }

  // Bring peak and size up to date with what the page tables show: a page below kept_floor that is
  // resident was touched after the last shrink point, so the fiber used at least down to its top.
  static void observe_residency(control& c) noexcept {
    if constexpr (detail::has_lowest_committed<StackAllocator>::value && !tripwire) {
      if (!c.ran_since_shrink) return;
      char* lowest = static_cast<char*>(c.allocator.lowest_committed(c.region));
      if (lowest < c.kept_floor) {
        char* touched = lowest + runtime_v1::os::page_size();  // some byte below this was touched
        std::size_t at_least = touched < c.stack_top ? c.used_at(touched) + 1 : 0;
        if (at_least > c.peak) c.peak = at_least;
      }
    }
    if (c.peak > c.size) grow_to(c, c.peak);
  }

  static ebb::stack_stats collect_stats(control& c, void* sp) noexcept {
    ebb::stack_stats s;
    // First, because measuring uses stack: in tripwire mode the scan below may itself open the window
    // further (and move size and peak), so size and peak are read only after it.
    if constexpr (detail::has_committed<StackAllocator>::value) {
      s.committed = c.allocator.committed(c.region);
    } else {
      s.committed = c.region.usable();
    }
    const std::size_t used = c.used_at(sp);
    if (used > c.peak) c.peak = used;
    observe_residency(c);
    s.size = c.size;
    s.used = used;
    s.peak = c.peak;
    s.reserved = c.region.reserved;
    s.max_size = c.max_size;
    s.grows = c.grows;
    s.shrinks = c.shrinks;
    return s;
  }

  // The pages of [region.limit, boundary) go back to the OS. From inside the running fiber the
  // boundary is clamped here, in a frame that is not inlined, a margin below this function's own
  // stack pointer: the decommit call runs below us and must not lose its own frames.
  EBB_NOINLINE static std::size_t decommit_below(control& c, char* from, char* boundary, bool inside) noexcept {
    if constexpr (detail::has_decommit<StackAllocator>::value) {
      if (inside) {
        char* safe = page_floor(static_cast<char*>(runtime_v1::arch::stack_pointer()) -
                                2 * runtime_v1::os::page_size());
        if (boundary > safe) boundary = safe;
      }
      if (boundary <= from) return 0;
      runtime_v1::hooks::stack_released(from, boundary);
      return c.allocator.decommit(c.region, from, boundary);
    } else {
      (void)c, (void)from, (void)boundary, (void)inside;
      return 0;
    }
  }

  static std::size_t shrink_at(control& c, void* sp, bool inside) noexcept {
    const std::size_t used = c.used_at(sp);
    if (used > c.peak) c.peak = used;
    observe_residency(c);
    const std::size_t floor = used > GrowthPolicy::min_size ? used : GrowthPolicy::min_size;
    std::size_t next = c.shrink.next_size(shrink_sample{c.size, used, c.peak, GrowthPolicy::min_size});
    if (next < floor) next = floor;
    if (next < c.size) {
      c.size = next;
      ++c.shrinks;
    }
    // Nothing below the saved stack pointer is live in a suspended fiber (no red zone survives a
    // call), so the boundary may go as high as the page holding it.
    // Every page the logical size does not wholly cover goes: the control block above stack_top
    // would otherwise make a 4 KiB size straddle two pages and keep both. A page released here that
    // the fiber touches again simply comes back, as any page of an in-place stack does.
    char* boundary = page_ceil(c.stack_top - c.size);
    if (char* sp_page = page_floor(sp); boundary > sp_page) boundary = sp_page;
    std::size_t released = 0;
    if constexpr (tripwire) {
      char* lo = window_for(c, c.size);
      if (char* sp_page = page_floor(sp); lo > sp_page) lo = sp_page;
      released = close_below(c, lo, inside);
      c.kept_floor = c.window_lo;
      c.peak = used;
      return released;
    }
    // If the fiber has not run since the last point, nothing below kept_floor can be resident: only
    // the band between it and the new boundary needs a system call (none if the boundary did not rise).
    if (c.ran_since_shrink)
      released = decommit_below(c, static_cast<char*>(c.region.limit), boundary, inside);
    else if (boundary > c.kept_floor)
      released = decommit_below(c, c.kept_floor, boundary, inside);
    c.kept_floor = boundary;
    c.ran_since_shrink = inside;  // the running fiber keeps touching pages after this point
    c.peak = used;
    return released;
  }

  // Hand the stack back. A fiber seen deeper than its top page releases everything below that page
  // now, so the pooled reservation holds one page. Otherwise a system call here would cost more than
  // the fiber's whole life; the region records instead how far down it is known to be clean.
  //
  // First the fiber's fiber_local values (their destructors run here, on the destroying thread, after
  // any unwinding, which may still have used them): every way a fiber ends comes through here.
  static void release_stack(control* c, bool ran) noexcept {
    runtime_v1::destroy_locals(c->locals);
    StackAllocator allocator(std::move(c->allocator));
    stack_region region = c->region;
    char* top_page = page_floor(c->stack_top);
    region.clean_below = ran && c->ran_since_shrink ? nullptr : c->kept_floor;
    if constexpr (detail::has_decommit<StackAllocator>::value) {
      if (c->peak + runtime_v1::arch::initial_frame_bytes > static_cast<std::size_t>(c->stack_top - top_page)) {
        allocator.decommit(region, region.limit, top_page);
        region.clean_below = top_page;
      }
    }
    bool reusable = true;
    if constexpr (tripwire) {
      if (c->window_lo != nullptr) {
        // Open the guarded part again so the reservation can serve any fiber; nothing below the
        // window holds memory. If the kernel refuses, guards are left in the middle of the stack.
        reusable = allocator.open_range(region, region.limit, c->window_lo);
        runtime_v1::return_stack_bytes(static_cast<std::size_t>(static_cast<char*>(region.top) - c->window_lo));
        if (region.clean_below == nullptr || region.clean_below < c->window_lo) region.clean_below = c->window_lo;
      }
    }
    runtime_v1::hooks::fiber_destroyed(*c);
    runtime_v1::hooks::stack_released(region.limit, c);  // everything below the control block
    c->~control();
    if constexpr (detail::has_discard<StackAllocator>::value) {
      if (!reusable) return allocator.discard(region);
    }
    (void)reusable;
    allocator.deallocate(region);
  }
};

}  // namespace detail
EBB_NAMESPACE_END
