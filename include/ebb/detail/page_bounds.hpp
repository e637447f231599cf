// SPDX-License-Identifier: BSL-1.0
// ebb/detail/page_bounds.hpp — page arithmetic on stack addresses, and the one margin a running
// fiber keeps below itself when it releases its own stack.
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/os/memory.hpp"

#include <cstdint>

EBB_NAMESPACE_BEGIN
namespace detail {

// A mask, not a division: pages are powers of two (os/memory_units.hpp).
inline char* page_floor(const void* p) noexcept {
  return reinterpret_cast<char*>(runtime_v1::os::round_down(reinterpret_cast<std::uintptr_t>(p), runtime_v1::os::page_size()));
}
inline char* page_ceil(const void* p) noexcept {
  return reinterpret_cast<char*>(runtime_v1::os::round_up(reinterpret_cast<std::uintptr_t>(p), runtime_v1::os::page_size()));
}

// A fiber that releases part of its own stack (this_fiber::shrink_stack) keeps everything from two
// pages below its stack pointer up: the system call that releases memory runs below the caller's
// frame, and must not lose its own frames (nor a signal frame pushed meanwhile). Always inlined, so
// "its stack pointer" is that of the noinline function releasing the memory, the deepest ebb frame.
EBB_ALWAYS_INLINE char* below_running_frames(char* boundary) noexcept {
  char* safe = page_floor(static_cast<char*>(runtime_v1::arch::stack_pointer()) - 2 * runtime_v1::os::page_size());
  return boundary > safe ? safe : boundary;
}

}  // namespace detail
EBB_NAMESPACE_END
