// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/compact_allocator.hpp — the StackAllocator of compact fibers.
//
// A compact fiber's frames run on its thread's execution stack (mappers/shared_stack.hpp), so its
// "stack" from the allocator is only the control block and the callable: stack_request::max_size
// bytes exactly, no guard. The allocator also provides the storage its frames are copied into while
// it is suspended. Both come from the process's block heap (allocators/block_heap.hpp): dense size
// classes, no mapping per fiber.
//
// A StackAllocator for shared_stack provides, besides allocate and deallocate:
//
//     void* allocate_frames(std::size_t bytes) noexcept;              // nullptr when out of memory
//     void deallocate_frames(void* block, std::size_t bytes) noexcept;
//     static std::size_t frames_capacity(std::size_t bytes) noexcept;  // what a request really gets
//
// A console's allocator over a fixed buffer implements the same five members.
#pragma once

#include "ebb/allocators/block_heap.hpp"
#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"

#include <cerrno>
#include <cstddef>
#include <new>

EBB_NAMESPACE_BEGIN

struct compact_allocator {
  stack_region allocate(const stack_request& request) {
    void* block = runtime_v1::process_block_heap().allocate(request.max_size);
    if (block == nullptr) {
#if EBB_HAS_EXCEPTIONS
      throw std::bad_alloc();
#else
      errno = ENOMEM;
      return {};
#endif
    }
    stack_region region;
    region.base = region.limit = block;
    region.reserved = request.max_size;
    region.top = static_cast<char*>(block) + request.max_size;
    return region;
  }
  void deallocate(const stack_region& region) noexcept {
    runtime_v1::process_block_heap().deallocate(region.base, region.reserved);
  }

  void* allocate_frames(std::size_t bytes) noexcept { return runtime_v1::process_block_heap().allocate(bytes); }
  void deallocate_frames(void* block, std::size_t bytes) noexcept {
    runtime_v1::process_block_heap().deallocate(block, bytes);
  }
  static std::size_t frames_capacity(std::size_t bytes) noexcept { return runtime_v1::block_heap::rounded(bytes); }
};

EBB_NAMESPACE_END
