// SPDX-License-Identifier: BSL-1.0
// Test helper: recursion that really uses the stack it claims to, at any optimisation level.
#pragma once

#include <ebb/ebb.hpp>

#include "tool_support.hpp"

#include <cstddef>
#include <cstring>

namespace test_support {

// Depths in the tests are written for the 1 MiB default maximum of 64-bit targets; 32-bit targets
// default to 256 KiB (policies/growth.hpp: a 4 GiB address space), where the same depth would be a
// stack overflow. This scales a depth chosen for 1 MiB to the target's default maximum.
constexpr std::size_t scaled_to_default_max(std::size_t bytes_at_1mib) {
  return bytes_at_1mib / (std::size_t{1024 * 1024} / ebb::default_max_stack);
}

// Hand the frame to an opaque asm so the compiler must keep it, in memory, for the whole call.
inline void keep(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

// Uses about `bytes` of stack (frames of ~1 KiB), yields `yields_at_bottom` times at the deepest
// point, then returns. Not a tail call: each frame's buffer is read after the recursive call.
TEST_REAL_STACK __attribute__((noinline)) inline int go_deep(std::size_t bytes, int yields_at_bottom = 1) {
  char frame[1000];
  std::memset(frame, static_cast<int>(bytes & 0x7f), sizeof frame);
  keep(frame);
  int result;
  if (bytes <= sizeof frame) {
    for (int i = 0; i < yields_at_bottom; ++i) ebb::this_fiber::yield();
    result = frame[7];
  } else {
    result = go_deep(bytes - sizeof frame, yields_at_bottom) + frame[3];
  }
  keep(frame);
  return result;
}

}  // namespace test_support
