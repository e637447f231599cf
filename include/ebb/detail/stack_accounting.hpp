// SPDX-License-Identifier: BSL-1.0
// ebb/detail/stack_accounting.hpp — a fiber's logical stack size through its life: growth, shrink
// points, statistics, and the hand-back of its stack.
//
// The policies decide sizes; the FrameMapper decides what memory backs them. Every operation here goes
// down once: the GrowthPolicy or ShrinkPolicy picks a size, then the mapper commits or releases memory
// through the fiber's StackAllocator, which makes the system calls. basic_fiber (fiber.hpp) calls in
// after each return from the fiber, at shrink points and at destruction; the registry, this_fiber and
// the fault handler reach the same functions through the fiber_ops table.
//
// Growth is bookkeeping, not memory management: in the default mode the kernel commits a page when
// the fiber first touches it, and the logical size only follows (GrowthPolicy steps counted as the
// fiber is seen deeper). Shrinking is where memory moves.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/fiber_control.hpp"
#include "ebb/detail/fiber_locals.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/detail/tripwire_window.hpp"
#include "ebb/error.hpp"
#include "ebb/mappers/mapped_stack.hpp"
#include "ebb/policies/mapper_requirements.hpp"
#include "ebb/policies/detection.hpp"
#include "ebb/policies/shrink.hpp"
#include "ebb/stack_stats.hpp"

#include <cstddef>
#include <cstdint>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

template <class Control>
struct stack_accounting {
  using control = Control;
  using growth_policy = decltype(Control::growth);
  using stack_allocator = typename Control::stack_allocator;

  static constexpr bool tripwire = has_tripwire<stack_allocator>::value;

  static std::size_t clamp(std::size_t v, std::size_t lo, std::size_t hi) noexcept {
    return v < lo ? lo : (v > hi ? hi : v);
  }

  // After the fiber switched away: the depth it stopped at is the deepest it was seen.
  EBB_ALWAYS_INLINE static void note_depth(control& c) noexcept {
    const std::size_t used = c.used_at(c.sp);
    if (EBB_UNLIKELY(used > c.peak)) {
      c.peak = used;
      if (used > c.size) grow_to(c, used);
    }
  }

  // Step the GrowthPolicy from `size` until it covers `needed` (within the maximum), counting steps.
  static std::size_t grown_size(const control& c, std::size_t size, std::size_t needed, std::uint64_t& steps) noexcept {
    while (size < needed) {
      std::size_t next = c.growth.next_size(size, needed);
      if (next > c.max_size) next = c.max_size;
      if (next <= size) next = needed;  // the policy will not grow further below the maximum: take what is needed
      size = next;
      ++steps;
    }
    return size;
  }

  static void grow_to(control& c, std::size_t needed) noexcept {
    if (needed > c.max_size)
      fatal("stack overflow in fiber '%s': %zu bytes in use, limit %zu", display_name(c.name), needed,
            c.max_size);
    std::uint64_t steps = 0;
    c.size = grown_size(c, c.size, needed, steps);
    c.grows = static_cast<std::uint32_t>(c.grows + steps);
  }

  // Tripwire mode, in the fault handler (async-signal-safe): grow the logical size by policy steps
  // until it covers `touched`, within the maximum and the budget, and open the window that far.
  static runtime_v1::trip_refusal open_window(runtime_v1::fiber_context& ctx, char* touched) noexcept {
    control& c = static_cast<control&>(ctx);
    if constexpr (tripwire) {
      const std::size_t needed = c.used_at(touched) + 1;
      if (needed > c.max_size) return runtime_v1::trip_refusal::limit;
      std::uint64_t steps = 0;
      const std::size_t size = grown_size(c, c.size, needed, steps);
      const runtime_v1::trip_refusal refusal = tripwire_window<stack_allocator>::widen(c, c.allocator, c.region, size);
      if (refusal != runtime_v1::trip_refusal::none) return refusal;
      c.size = size;
      c.grows = static_cast<std::uint32_t>(c.grows + steps);
      if (needed > c.peak) c.peak = needed;
      return runtime_v1::trip_refusal::none;
    } else {
      (void)c, (void)touched;
      return runtime_v1::trip_refusal::limit;
    }
  }

  // Bring peak and size up to date with the stack pointer sp and with what the memory shows (the
  // mapper's evidence: for in_place, which pages are resident). Returns the bytes in use at sp.
  static std::size_t observe(control& c, void* sp) noexcept {
    const std::size_t used = c.used_at(sp);
    if (used > c.peak) c.peak = used;
    auto stack = mapper_access::view(c);
    const std::size_t seen = c.mapper.seen_in_use(stack);
    if (seen > c.peak) c.peak = seen;
    if (c.peak > c.size) grow_to(c, c.peak);
    return used;
  }

  static ebb::stack_stats collect_stats(control& c, void* sp) noexcept {
    ebb::stack_stats s;
    // First, because measuring uses stack: in tripwire mode the measurement may itself open the window
    // further (and move size and peak), so size and peak are read only after it.
    auto stack = mapper_access::view(c);
    s.committed = c.mapper.committed(stack);
    const std::size_t used = observe(c, sp);
    s.size = c.size;
    s.used = used;
    s.peak = c.peak;
    s.reserved = c.region.reserved;
    s.max_size = c.max_size;
    s.grows = c.grows;
    s.shrinks = c.shrinks;
    return s;
  }

  // A shrink point at stack pointer sp: the ShrinkPolicy picks the new logical size (never below what
  // is in use, nor the minimum), and the mapper releases what it no longer covers.
  static std::size_t shrink_at(control& c, void* sp, bool inside) noexcept {
    const std::size_t used = observe(c, sp);
    const std::size_t floor = used > growth_policy::min_size ? used : growth_policy::min_size;
    std::size_t next = c.shrink.next_size(shrink_sample{c.size, used, c.peak, growth_policy::min_size});
    if (next < floor) next = floor;
    if (next < c.size) {
      c.size = next;
      ++c.shrinks;
    }
    auto stack = mapper_access::view(c);
    const std::size_t released = c.mapper.shrink(stack, shrink_step{c.size, sp, inside});
    c.peak = used;
    return released;
  }

  // Whether a shrink point of the suspended fiber at sp would do anything: when it ran since the last
  // one (how deep did it go?), or when the policy would lower its size. A fiber that did neither keeps
  // what it has, and a registry pass may pass it over until it runs (detail/registry_slots.hpp).
  static bool shrink_has_work(control& c, void* sp) noexcept {
    if (c.ran_since_shrink) return true;
    const std::size_t used = c.used_at(sp);
    const std::size_t peak = used > c.peak ? used : c.peak;
    const std::size_t floor = used > growth_policy::min_size ? used : growth_policy::min_size;
    std::size_t next = c.shrink.next_size(shrink_sample{c.size, used, peak, growth_policy::min_size});
    if (next < floor) next = floor;
    return next < c.size;
  }

  // Whether that shrink point may ask the kernel about the fiber's pages; if not, a registry pass
  // leaves its stack out of the group's residency scan (detail/registry_shards.hpp). It may when it
  // has work, unless the mapper already knows what the band given up holds (in_place: measured by an
  // earlier pass, and the fiber has not run since).
  static bool shrink_may_ask(control& c, void* sp) noexcept {
    if (!shrink_has_work(c, sp)) return false;
    if constexpr (has_shrink_needs_query<decltype(c.mapper), mapped_stack<stack_allocator>>::value) {
      if (!c.ran_since_shrink) {
        auto stack = mapper_access::view(c);
        return c.mapper.shrink_needs_query(stack);
      }
    }
    return true;
  }

  // Hand the stack back. First the fiber's fiber_local values (their destructors run here, on the
  // destroying thread, after any unwinding, which may still have used them): every way a fiber ends
  // comes through here. Then the mapper, which says how clean the reservation is, and the allocator.
  static void release_stack(control* c, bool ran) noexcept {
    runtime_v1::destroy_locals(c->locals);
    auto stack = mapper_access::view(*c);
    c->mapper.on_destroy(stack);
    stack_region region = c->region;
    const bool reusable = c->mapper.release(stack, region, ran);
    stack_allocator allocator(std::move(c->allocator));
    runtime_v1::hooks::fiber_destroyed(*c);
    runtime_v1::hooks::stack_released(region.limit, c);  // everything below the control block
    c->~control();
    if constexpr (has_discard<stack_allocator>::value) {
      if (!reusable) return allocator.discard(region);
    }
    (void)reusable;
    allocator.deallocate(region);
  }
};

}  // namespace detail
EBB_NAMESPACE_END
