// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/virtual_stack_allocator.hpp — the default StackAllocator.
//
// Each stack is one reservation of address space, [guard | stack], the stack part readable and
// writable but committed by the kernel only page by page as the fiber touches it. The fiber's
// logical size (set by the policies) can therefore grow to the whole reservation without a system
// call, and shrinking hands pages back with MADV_DONTNEED without ever moving a frame. Reservations
// are pooled (reservation_pool.hpp), so creating a fiber normally makes no system call.
#pragma once

#include "ebb/allocators/thread_stack_cache.hpp"
#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/error.hpp"
#include "ebb/os/memory.hpp"

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>

EBB_NAMESPACE_BEGIN

// Below the stack: touching it is an overflow. 16 KiB catches any frame smaller than that; code built
// with -fstack-clash-protection probes every page, so even larger frames cannot jump over it.
inline constexpr std::size_t default_guard_size = 16 * 1024;

namespace detail {

#if EBB_HAS_EXCEPTIONS
[[noreturn]] EBB_NOINLINE inline void throw_reserve_failure(std::size_t bytes) {
  const int error = errno;
  std::string why = "cannot reserve " + std::to_string(bytes) + " bytes of address space: " + std::strerror(error);
  why += runtime_v1::os::reserve_failure_hint(error);
  throw fiber_error(fiber_errc::out_of_memory, why);
}
#endif

// Inlined into fiber creation, its failure report out of line: returned through memory from a call,
// the region was read back by the caller's copy into the control block in 16-byte loads over 8-byte
// stores, which the CPU cannot forward (a stall on every creation: 1.2 ns of a fiber's create + run +
// destroy, with fiber_creation.hpp's copy of the region).
EBB_ALWAYS_INLINE stack_region reserve_stack_region(std::size_t guard_bytes, std::size_t stack_bytes) {
  const std::size_t page = runtime_v1::os::page_size();
  guard_bytes = runtime_v1::os::round_up(guard_bytes, page);
  stack_bytes = runtime_v1::os::round_up(stack_bytes < page ? page : stack_bytes, page);
  runtime_v1::pooled_reservation r;
  if (EBB_UNLIKELY(!runtime_v1::acquire_reservation(guard_bytes, stack_bytes, r))) {
#if EBB_HAS_EXCEPTIONS
    throw_reserve_failure(guard_bytes + stack_bytes);
#else
    return {};
#endif
  }
  stack_region region;
  region.base = r.base;
  region.reserved = guard_bytes + stack_bytes;
  region.limit = static_cast<char*>(r.base) + guard_bytes;
  region.top = static_cast<char*>(r.base) + guard_bytes + stack_bytes;
  region.clean_below = r.clean_below;
  return region;
}

inline void recycle_stack_region(const stack_region& region) noexcept {
  const std::size_t guard = static_cast<std::size_t>(static_cast<char*>(region.limit) -
                                                     static_cast<char*>(region.base));
  runtime_v1::recycle_reservation(region.base, guard, region.reserved - guard,
                                  region.clean_below ? region.clean_below : region.limit);
}

// The memory side of both virtual-memory allocators.
struct virtual_memory_stack_ops {
  std::size_t decommit(const stack_region& region, void* lo, void* hi) const noexcept {
    if (lo < region.limit) lo = region.limit;
    if (hi > region.top) hi = region.top;
    if (hi <= lo) return 0;
    // Report what actually comes back: the pages holding memory (in RAM or in swap), not the address
    // range. A range wholly in swap still needs the call, or its swap is never freed.
    const runtime_v1::os::held_memory held = runtime_v1::os::memory_held(lo, hi);
    if (!held.worth_releasing()) return 0;
    return runtime_v1::os::decommit_accounted(lo, hi, held.bytes());
  }
  // A shrink point in a registry pass measures the fiber's stack anyway (the group's residency scan):
  // from that, the lowest address from which every page up to the top holds memory. nullptr when it
  // was not measured; pages that hold memory keep holding it until ebb releases them (swapping out
  // does not end it, and the fiber's own pages are touched by no one else while it is suspended).
  void* held_floor(const stack_region& region, void* from) const noexcept {
    return runtime_v1::os::held_floor_known(from, region.top);
  }
  // decommit for a range the caller knows holds memory in every page: no residency query.
  std::size_t decommit_held(const stack_region& region, void* lo, void* hi) const noexcept {
    if (lo < region.limit) lo = region.limit;
    if (hi > region.top) hi = region.top;
    const std::size_t page = runtime_v1::os::page_size();
    const std::size_t first = runtime_v1::os::round_up(reinterpret_cast<std::uintptr_t>(lo), page);
    const std::size_t last = runtime_v1::os::round_down(reinterpret_cast<std::uintptr_t>(hi), page);
    if (last <= first) return 0;
    return runtime_v1::os::decommit_accounted(lo, hi, last - first);
  }
  std::size_t committed(const stack_region& region) const noexcept {
    return runtime_v1::os::resident_bytes(region.limit, region.top);
  }
  void* lowest_committed(const stack_region& region) const noexcept {
    return runtime_v1::os::lowest_resident(region.limit, region.top);
  }
  void deallocate(const stack_region& region) noexcept { recycle_stack_region(region); }
};

}  // namespace detail

// GuardSize: bytes of inaccessible address space below every stack (rounded up to pages); a fiber's
// options may ask for more or less.
template <std::size_t GuardSize = default_guard_size>
struct virtual_stack_allocator : detail::virtual_memory_stack_ops {
  static constexpr std::size_t guard_size = GuardSize;

  stack_region allocate(const stack_request& request) {
    return detail::reserve_stack_region(request.guard_size ? request.guard_size : GuardSize,
                                        request.max_size);
  }
};

// Tripwire mode, for hard memory budgets: the fiber may touch only a window of its stack, its logical
// size plus a signal-frame margin; the rest is guarded, and the fault handler opens it one GrowthPolicy
// step at a time within the process's stack budget (ebb::set_stack_budget). Requirements and limits
// (docs/tripwire.md): build fiber code with -fstack-clash-protection, so every page of a large frame
// is touched by the fiber itself before a system call writes into it — a kernel write into the guarded
// part fails with EFAULT instead of faulting. Creating and destroying a tripwire fiber costs a system
// call each (guarding and unguarding its stack).
template <std::size_t GuardSize = default_guard_size>
struct tripwire_stack_allocator : virtual_stack_allocator<GuardSize> {
  static_assert(EBB_HAS_TRIPWIRE || GuardSize != GuardSize,
                "ebb: tripwire_stack_allocator is not available on Windows: its growth runs in the fault "
                "handler, which POSIX runs on an alternate signal stack and Windows on the faulting stack, "
                "where a tripwire leaves no room (see EBB_HAS_TRIPWIRE in ebb/config.hpp)");
  static constexpr bool tripwire = true;
  // Guard [lo, hi) and free the memory behind it. False (errno set) leaves the range accessible, its
  // pages possibly still resident: the caller keeps its window and releases them the ordinary way.
  bool close_range(const stack_region&, void* lo, void* hi) noexcept {
    if (hi <= lo) return true;
    bool stuck = false;
    if (runtime_v1::os::guard_and_free(lo, bytes_between(lo, hi), stuck)) return true;
    if (stuck)  // guards inside the window would kill the fiber later with a fault nobody explains
      detail::fatal("cannot guard nor unguard [%p, %p) of a tripwire stack: %s", lo, hi, std::strerror(errno));
    return false;
  }
  // Async-signal-safe (the fault handler opens the window with it). False (errno set) when the kernel
  // refuses; part of the range may then be open.
  bool open_range(const stack_region&, void* lo, void* hi) noexcept {
    return hi <= lo || runtime_v1::os::remove_guard(lo, bytes_between(lo, hi));
  }
  // A reservation whose guards could not be removed must not serve another fiber: unmap it.
  void discard(const stack_region& region) noexcept { runtime_v1::os::release(region.base, region.reserved); }

 private:
  static std::size_t bytes_between(void* lo, void* hi) noexcept {
    return static_cast<std::size_t>(static_cast<char*>(hi) - static_cast<char*>(lo));
  }
};

// Drop every pooled reservation (the calling thread's cache and the process-wide pool); returns the
// bytes of address space unmapped. A server calls it after a burst; a game after a level unloads.
inline std::size_t trim_stack_pool() noexcept { return runtime_v1::trim_reservations(); }

// Bound the process-wide pool (reservations kept beyond it are unmapped as they are returned).
inline void set_stack_pool_capacity(std::size_t reservations) noexcept {
  runtime_v1::process_pool().set_capacity(reservations);
}

EBB_NAMESPACE_END
