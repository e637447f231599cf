// SPDX-License-Identifier: BSL-1.0
// lib B: yields a fiber that lib A created, reading "the current fiber" through the process-wide
// thread state. May be built with a different ebb configuration than lib A.
#include "api.hpp"

#include <ebb/ebb.hpp>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

EBB_TEST_EXPORT int ebb_test_b_step(int step, const char* expected_name) {
  if (!ebb::this_fiber::in_fiber()) return -1;
  if (std::strcmp(ebb::this_fiber::name(), expected_name) != 0) return -2;
  // The fiber's statistics go through the ops table lib A's instantiation installed.
  const ebb::stack_stats before = ebb::this_fiber::stack_stats();
  if (before.used == 0 || before.used > before.max_size) return -3;
  ebb::this_fiber::yield();
  if (!ebb::this_fiber::in_fiber()) return -4;
  if (std::strcmp(ebb::this_fiber::name(), expected_name) != 0) return -5;
  return step + 1;
}

EBB_TEST_EXPORT void ebb_test_b_throw() {
#if EBB_HAS_EXCEPTIONS
  throw std::runtime_error("thrown in B");
#else
  std::abort();  // built with -fno-exceptions: main does not call this
#endif
}

EBB_TEST_EXPORT void* ebb_test_b_thread_state() { return ebb::runtime_v1::this_thread(); }
EBB_TEST_EXPORT void* ebb_test_b_pool() { return &ebb::runtime_v1::process_pool(); }
EBB_TEST_EXPORT int ebb_test_b_lean() { return EBB_LEAN; }
