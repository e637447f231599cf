// SPDX-License-Identifier: BSL-1.0
// The other half of the guard-method test: destroys, in this library, a tripwire fiber that another
// library created. Opening its guarded range again must use the method that closed it.
#include "api.hpp"

#include <ebb/ebb.hpp>

using tripwire_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>>;

EBB_TEST_EXPORT void ebb_test_trip_destroy(void* fiber) { delete static_cast<tripwire_fiber*>(fiber); }
