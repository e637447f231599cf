// SPDX-License-Identifier: BSL-1.0
// ebb/compact_fiber.hpp — fibers for counts in the hundreds of thousands: frames on a shared
// execution stack, saved exactly sized while suspended (mappers/shared_stack.hpp states the contract:
// no pointer into a suspended compact fiber's frames may be used, and it stays on its first thread).
//
//   ebb::compact_fiber                  default policies: 2 KiB minimum, doubling, quarter_shrink
//   ebb::basic_compact_fiber<G, S, M>   your GrowthPolicy and ShrinkPolicy, and shared_stack's options
//
// The policies size the storage a suspended fiber's frames are saved in, exactly as they size an
// in-place stack: 2 KiB at first, doubled when the frames at a suspension outgrow it, halved at shrink
// points (this_fiber::shrink_stack, fiber::shrink_stack, registry passes) while under a quarter is in use.
#pragma once

#include "ebb/allocators/compact_allocator.hpp"
#include "ebb/config.hpp"
#include "ebb/fiber.hpp"
#include "ebb/mappers/shared_stack.hpp"
#include "ebb/policies/growth.hpp"
#include "ebb/policies/shrink.hpp"

EBB_NAMESPACE_BEGIN

template <class GrowthPolicy = doubling_growth<>, class ShrinkPolicy = quarter_shrink<>,
          class FrameMapper = shared_stack<>, class StackAllocator = compact_allocator>
using basic_compact_fiber = basic_fiber<GrowthPolicy, ShrinkPolicy, StackAllocator, FrameMapper>;

using compact_fiber = basic_compact_fiber<>;

EBB_NAMESPACE_END
