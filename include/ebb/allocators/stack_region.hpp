// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/stack_region.hpp — the vocabulary between fibers and StackAllocators.
//
// A StackAllocator provides (checked at compile time, see policies/requirements.hpp):
//
//     ebb::stack_region allocate(const ebb::stack_request&);          // throws std::bad_alloc
//     void deallocate(const ebb::stack_region&) noexcept;
//
// and, where it can hand memory back without freeing the stack:
//
//     std::size_t decommit(const ebb::stack_region&, void* lo, void* hi) noexcept;  // bytes released
//     std::size_t committed(const ebb::stack_region&) const noexcept;              // bytes resident
//
// and, to let a registry pass release a band it already knows holds memory without asking again
// (both or neither; allocators/virtual_stack_allocator.hpp says when the answer can be trusted):
//
//     void* held_floor(const ebb::stack_region&, void* from) const noexcept;  // nullptr: unknown
//     std::size_t decommit_held(const ebb::stack_region&, void* lo, void* hi) noexcept;
//
// allocate() fails by throwing or, built without exceptions, by returning an empty region with errno
// set. Stacks grow down: frames live in [limit, top), the guard (if any) in [base, limit).
#pragma once

#include "ebb/config.hpp"

#include <cstddef>

EBB_NAMESPACE_BEGIN

struct stack_request {
  std::size_t max_size;    // usable bytes the fiber may grow to
  std::size_t guard_size;  // inaccessible bytes wanted below the stack; 0 = the allocator's default
};

struct stack_region {
  void* base = nullptr;       // lowest address of the whole reservation
  std::size_t reserved = 0;   // bytes of the whole reservation, guard included
  void* limit = nullptr;      // lowest usable address (the top of the guard)
  void* top = nullptr;        // one past the highest usable address
  // No page below this address holds memory (nullptr: unknown). Allocators that reuse stacks say
  // how clean a reused one is; fibers set it before deallocate when they know.
  void* clean_below = nullptr;

  std::size_t usable() const noexcept {
    return static_cast<std::size_t>(static_cast<char*>(top) - static_cast<char*>(limit));
  }
};

EBB_NAMESPACE_END
