// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/fixed_stack_allocator.hpp — stacks of one fixed size, with a guard, for users who
// want no growth: every fiber gets StackSize bytes whatever its GrowthPolicy would allow (the
// smaller of the two bounds the fiber). Pages are still committed only when touched, and stacks are
// pooled like the default allocator's. The fiber's control block and its callable live at the top of
// the same StackSize bytes: a callable that leaves less than the GrowthPolicy's min_size of stack is
// refused (fiber_error, fiber_errc::stack_too_small).
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/allocators/virtual_stack_allocator.hpp"
#include "ebb/config.hpp"

#include <cstddef>

EBB_NAMESPACE_BEGIN

template <std::size_t StackSize = 64 * 1024, std::size_t GuardSize = default_guard_size>
struct fixed_stack_allocator : detail::virtual_memory_stack_ops {
  static_assert(StackSize >= 4096, "ebb::fixed_stack_allocator: StackSize must be at least 4096 bytes");
  static constexpr std::size_t stack_size = StackSize;
  static constexpr std::size_t guard_size = GuardSize;

  stack_region allocate(const stack_request& request) {
    return detail::reserve_stack_region(request.guard_size ? request.guard_size : GuardSize, StackSize);
  }
};

EBB_NAMESPACE_END
