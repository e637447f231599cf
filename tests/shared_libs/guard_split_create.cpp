// SPDX-License-Identifier: BSL-1.0
// One half of the guard-method test: creates a tripwire fiber (its stack below the window is guarded
// here). guard_split_destroy.cpp destroys it in another library.
#include "api.hpp"

#include <ebb/ebb.hpp>

using tripwire_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>>;

EBB_TEST_EXPORT void* ebb_test_trip_create() {
  auto* f = new tripwire_fiber(ebb::fiber_options().name("trip"), [] { ebb::this_fiber::yield(); });
  f->resume();
  return f;
}
