// SPDX-License-Identifier: BSL-1.0
// ebb/policies/shrink.hpp — ShrinkPolicy: how far a stack shrinks at a shrink point.
//
// Shrinking never happens on the switch path; it happens at shrink points the program chooses
// (basic_fiber::shrink_stack, this_fiber::shrink_stack, a registry pass), the way Go shrinks stacks
// only while the garbage collector scans them. At each point ebb hands the policy a sample and
// releases everything below the size it answers. A policy must provide:
//
//     std::size_t next_size(const ebb::shrink_sample&) const noexcept;
//
// Answers below the bytes in use, or below sample.min_size, are raised to them: a policy cannot make
// ebb release a live frame.
#pragma once

#include "ebb/config.hpp"
#include "ebb/policies/growth.hpp"

#include <cstddef>

EBB_NAMESPACE_BEGIN

struct shrink_sample {
  std::size_t size;      // the current logical size
  std::size_t used;      // bytes in use now
  std::size_t peak;      // most bytes in use since the last shrink point (>= used)
  std::size_t min_size;  // the GrowthPolicy's floor
};

namespace detail {
// Halve while `in_use` is under a quarter of the size and the half stays at or above the floor.
constexpr std::size_t halve_while_under_quarter(std::size_t size, std::size_t in_use,
                                                std::size_t floor, int max_steps) noexcept {
  for (int step = 0; step < max_steps && in_use < size / 4 && size / 2 >= floor; ++step) size /= 2;
  return size;
}
constexpr std::size_t larger(std::size_t a, std::size_t b) noexcept { return a > b ? a : b; }
}  // namespace detail

// The default, Go's rule: one halving per shrink point while less than a quarter is in use.
// The hysteresis (grow at full, shrink below a quarter) keeps a fiber that oscillates around one
// depth from growing and shrinking at every point.
template <std::size_t MinSize = default_min_stack>
struct quarter_shrink {
  std::size_t next_size(const shrink_sample& s) const noexcept {
    return detail::halve_while_under_quarter(s.size, s.used, detail::larger(MinSize, s.min_size), 1);
  }
};

// All the halvings the quarter rule would take over several points, taken at once: memory comes back
// in one pass instead of log2(peak / min) passes.
template <std::size_t MinSize = default_min_stack>
struct shrink_to_fit {
  std::size_t next_size(const shrink_sample& s) const noexcept {
    return detail::halve_while_under_quarter(s.size, s.used, detail::larger(MinSize, s.min_size), 64);
  }
};

// Judge by the deepest use since the last point rather than the use at this instant, so a worker that
// happens to be parked shallow between deep jobs keeps the stack its jobs need.
template <std::size_t MinSize = default_min_stack>
struct peak_shrink {
  std::size_t next_size(const shrink_sample& s) const noexcept {
    return detail::halve_while_under_quarter(s.size, s.peak, detail::larger(MinSize, s.min_size), 64);
  }
};

// Keep whatever the stack grew to (the behaviour of every fixed-stack fiber library).
struct never_shrink {
  std::size_t next_size(const shrink_sample& s) const noexcept { return s.size; }
};

EBB_NAMESPACE_END
