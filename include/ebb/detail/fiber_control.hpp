// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fiber_control.hpp — a fiber's control block: the shared context plus what its policies own.
//
// It sits where the FrameMapper placed it, for in_place at the top of the fiber's own stack reservation
// (the memory map is drawn in fiber.hpp), so creating a fiber allocates nothing from the heap. Code that knows the fiber only as "the one running
// on this thread" sees the fiber_context at its start; everything after it depends on the policies.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/fiber_options.hpp"

#include <exception>
#include <string>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

template <class GrowthPolicy, class ShrinkPolicy, class StackAllocator, class FrameMapper>
struct fiber_control : runtime_v1::fiber_context {
  using stack_allocator = StackAllocator;
  GrowthPolicy growth;
  ShrinkPolicy shrink;
  StackAllocator allocator;
  FrameMapper mapper;
  stack_region region;
  void* callable = nullptr;
  void (*drop_callable)(void*) noexcept = nullptr;
  destroy_action on_destroy = default_destroy_action;
#if EBB_HAS_EXCEPTIONS
  std::exception_ptr error;
#endif
  std::string name_storage;

  explicit fiber_control(StackAllocator&& a) : allocator(std::move(a)) {}
};

}  // namespace detail
EBB_NAMESPACE_END
