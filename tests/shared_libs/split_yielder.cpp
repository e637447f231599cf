// SPDX-License-Identifier: BSL-1.0
// Yields the fiber it is called on (split_main.cpp calls it on split_runner's fiber).
#include "api.hpp"

#include <ebb/ebb.hpp>

EBB_TEST_EXPORT void ebb_test_split_yield() { ebb::this_fiber::yield(); }
