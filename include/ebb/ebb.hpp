// SPDX-License-Identifier: BSL-1.0
// ebb/ebb.hpp — everything: fibers whose stacks grow by doubling and shrink by halving, in place
// (ebb::fiber) or saved compactly off a shared execution stack (ebb::compact_fiber).
#pragma once

#include "ebb/allocators/compact_allocator.hpp"
#include "ebb/allocators/fixed_stack_allocator.hpp"
#include "ebb/allocators/virtual_stack_allocator.hpp"
#include "ebb/compact_fiber.hpp"
#include "ebb/config.hpp"
#include "ebb/error.hpp"
#include "ebb/fiber.hpp"
#include "ebb/fiber_local.hpp"
#include "ebb/fiber_options.hpp"
#include "ebb/generator.hpp"
#include "ebb/mappers/in_place.hpp"
#include "ebb/mappers/shared_stack.hpp"
#include "ebb/policies/growth.hpp"
#include "ebb/policies/shrink.hpp"
#include "ebb/registry.hpp"
#include "ebb/stack_stats.hpp"
#include "ebb/switch_hooks.hpp"
#include "ebb/this_fiber.hpp"
#include "ebb/thread_migration.hpp"
