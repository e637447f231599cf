// SPDX-License-Identifier: BSL-1.0
// ebb/mappers/mapped_stack.hpp — what a FrameMapper sees of a fiber, and the vocabulary of its contract.
//
// A FrameMapper decides where a fiber's frames live and answers for the memory they hold. Its hooks
// are handed an ebb::mapped_stack<StackAllocator>: a view of one fiber (read-only facts: its name,
// where its frames run, its logical size) plus the fiber's StackAllocator and reservation, through
// which the mapper commits and releases memory. A hook that needs no memory may take the base class,
// ebb::fiber_view, instead. The contract itself is written out in mappers/in_place.hpp, next to the
// mapper that implements it for every default fiber.
//
// The view is a pair of pointers built on the spot; hooks that do nothing (in_place's switch hooks)
// cost nothing, since the compiler sees through both.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

EBB_NAMESPACE_BEGIN

// Where a suspended fiber's frames are.
enum class frame_residency {
  // At their addresses, in memory, all the time: any pointer into them stays valid (in_place).
  in_place,
  // At their addresses only while the fiber runs; saved elsewhere while it is suspended (a copying
  // mapper such as libaco's shared stacks). Nothing outside the fiber may dereference a pointer into
  // its frames while it is suspended.
  absent_while_suspended,
};

// Where the mapper puts a new fiber, inside the reservation its StackAllocator returned. ebb lays out
// its control block and the fiber's callable downward from `header_top`; frames run from just below
// them down to the reservation's limit unless the mapper names other bounds.
struct frame_placement {
  void* header_top = nullptr;    // 64-byte aligned, inside [region.limit, region.top]
  void* frames_top = nullptr;    // nullptr: directly below the header
  void* frames_limit = nullptr;  // nullptr: region.limit
};

// A shrink point, as the mapper is asked to carry it out. The ShrinkPolicy has already picked the
// new logical size; the mapper releases the memory that size no longer covers.
struct shrink_step {
  std::size_t new_size = 0;    // bytes below frames_top the fiber keeps (never below what it uses now)
  void* stack_pointer = nullptr;  // the fiber's: saved, or its own if `inside`
  bool inside = false;         // the fiber runs this shrink point itself (this_fiber::shrink_stack)
};

// Why a mapper refused to prepare a new fiber (the fiber is then not created; errno says more for
// `system`; `unsupported_here`: the mapper's mode cannot run in this process, as tripwire mode under
// Valgrind).
enum class mapper_refusal { none, stack_budget, system, unsupported_here };

namespace detail {
struct mapper_access;
}

// One fiber, as a FrameMapper sees it. Valid for the duration of the hook it was passed to.
class fiber_view {
 public:
  std::string_view name() const noexcept { return ctx_->name; }
  std::uint64_t id() const noexcept { return ctx_->id; }
  // Frames begin at frames_top() and grow down, at most to frames_limit().
  char* frames_top() const noexcept { return ctx_->stack_top; }
  char* frames_limit() const noexcept { return ctx_->stack_limit; }
  // The suspended fiber's stack pointer (its live frames are [saved_stack_pointer(), frames_top())).
  void* saved_stack_pointer() const noexcept { return ctx_->sp; }
  std::size_t size() const noexcept { return ctx_->size; }          // the logical size the policies set
  std::size_t peak() const noexcept { return ctx_->peak; }          // deepest use since the last shrink point
  std::size_t max_size() const noexcept { return ctx_->max_size; }  // the most the stack may grow to
  // Bytes in use when the stack pointer is `at`.
  std::size_t used_at(const void* at) const noexcept { return ctx_->used_at(at); }

 protected:
  explicit fiber_view(runtime_v1::fiber_context& ctx) noexcept : ctx_(&ctx) {}

 private:
  friend struct detail::mapper_access;
  runtime_v1::fiber_context* ctx_;
};

template <class StackAllocator>
class mapped_stack : public fiber_view {
 public:
  StackAllocator& allocator() const noexcept { return *allocator_; }
  const stack_region& region() const noexcept { return *region_; }

 private:
  friend struct detail::mapper_access;
  mapped_stack(runtime_v1::fiber_context& ctx, StackAllocator& allocator, const stack_region& region) noexcept
      : fiber_view(ctx), allocator_(&allocator), region_(&region) {}
  StackAllocator* allocator_;
  const stack_region* region_;
};

namespace detail {
// ebb's own way in: views are made only by ebb, and ebb's mappers may reach the runtime fields
// (tripwire windows) that users never see.
struct mapper_access {
  template <class Control>
  static mapped_stack<typename Control::stack_allocator> view(Control& c) noexcept {
    return {c, c.allocator, c.region};
  }
  static runtime_v1::fiber_context& context(const fiber_view& v) noexcept { return *v.ctx_; }
};
}  // namespace detail

EBB_NAMESPACE_END
