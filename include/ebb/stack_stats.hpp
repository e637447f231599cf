// SPDX-License-Identifier: BSL-1.0
// ebb/stack_stats.hpp — what a fiber's stack looks like right now.
#pragma once

#include "ebb/config.hpp"

#include <cstddef>
#include <cstdint>

// A plain record shared by every configuration (it crosses into the process-wide runtime).
EBB_RUNTIME_BEGIN

struct stack_stats {
  std::size_t size = 0;       // logical size the growth and shrink policies have set
  std::size_t committed = 0;  // bytes of the stack actually backed by memory (resident pages)
  std::size_t used = 0;       // bytes in use now: stack top down to the saved (or current) stack pointer
  std::size_t peak = 0;       // most bytes in use seen since the last shrink point
  std::size_t reserved = 0;   // address space held for the stack, guard regions included
  std::size_t max_size = 0;   // the most the stack may grow to (growth beyond it is an overflow)
  std::uint64_t grows = 0;    // growth steps taken by the GrowthPolicy
  std::uint64_t shrinks = 0;  // shrink steps taken by the ShrinkPolicy
};

EBB_RUNTIME_END

EBB_NAMESPACE_BEGIN
using stack_stats = runtime_v1::stack_stats;
EBB_NAMESPACE_END
