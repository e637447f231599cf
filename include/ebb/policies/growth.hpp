// SPDX-License-Identifier: BSL-1.0
// ebb/policies/growth.hpp — GrowthPolicy: how the logical stack size grows.
//
// A GrowthPolicy answers one question: the fiber is using `needed` bytes and its logical size is
// `current` (< needed); what is the next size? ebb asks repeatedly until the size covers the need,
// counting each answer as one growth step, exactly as Go's newstack doubles once per morestack.
// A policy must provide (checked at compile time, see requirements.hpp):
//
//     static constexpr std::size_t min_size;      // never smaller than this
//     static constexpr std::size_t max_size;      // needing more than this is a stack overflow
//     static constexpr std::size_t initial_size;  // where a new fiber starts
//     std::size_t next_size(std::size_t current, std::size_t needed) const noexcept;
//
// next_size must be noexcept: it may be called from the stack-fault handler, where nothing may throw.
// Only max_size bounds growth: needing more than it is the stack overflow. An answer above max_size is
// taken as max_size; an answer <= current (a policy with nothing more to offer below the maximum) is
// taken as exactly `needed`, one step, so a policy can never make a fiber overflow below max_size.
#pragma once

#include "ebb/config.hpp"

#include <cstddef>

EBB_NAMESPACE_BEGIN

inline constexpr std::size_t default_min_stack = 2 * 1024;
// A Windows thread's default stack on 64-bit targets; 32-bit address spaces cannot afford that much
// reserved per fiber when there are thousands of them.
inline constexpr std::size_t default_max_stack = sizeof(void*) >= 8 ? 1024 * 1024 : 256 * 1024;

// The default, Go's rule: double.
template <std::size_t MinSize = default_min_stack, std::size_t MaxSize = default_max_stack>
struct doubling_growth {
  static_assert(MinSize > 0, "ebb::doubling_growth: MinSize must be positive");
  static_assert(MinSize <= MaxSize, "ebb::doubling_growth: MinSize must not exceed MaxSize");

  static constexpr std::size_t min_size = MinSize;
  static constexpr std::size_t max_size = MaxSize;
  static constexpr std::size_t initial_size = MinSize;

  std::size_t next_size(std::size_t current, std::size_t /*needed*/) const noexcept {
    return current > max_size / 2 ? max_size : current * 2;
  }
};

// Grow by a fixed step: fewer wasted bytes at large sizes, more growth steps on the way there.
template <std::size_t Increment, std::size_t MinSize = default_min_stack,
          std::size_t MaxSize = default_max_stack>
struct fixed_increment_growth {
  static_assert(Increment > 0, "ebb::fixed_increment_growth: Increment must be positive");
  static_assert(MinSize > 0 && MinSize <= MaxSize,
                "ebb::fixed_increment_growth: need 0 < MinSize <= MaxSize");

  static constexpr std::size_t min_size = MinSize;
  static constexpr std::size_t max_size = MaxSize;
  static constexpr std::size_t initial_size = MinSize;

  std::size_t next_size(std::size_t current, std::size_t /*needed*/) const noexcept {
    return current > max_size - Increment ? max_size : current + Increment;
  }
};

EBB_NAMESPACE_END
