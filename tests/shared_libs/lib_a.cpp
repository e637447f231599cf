// SPDX-License-Identifier: BSL-1.0
// lib A: creates and resumes a fiber whose body yields inside lib B.
#include "api.hpp"

#include <ebb/ebb.hpp>

#include <stdexcept>

namespace {
struct guard {
  int* destroyed;
  ~guard() { *destroyed = 1; }
};
}  // namespace

EBB_TEST_EXPORT void* ebb_test_a_create(int steps, int* progress, int* destroyed, int thrower) {
  return new ebb::fiber(ebb::fiber_options().name("fiber-of-a"), [=] {
    guard g{destroyed};
    for (int i = 0; i < steps; ++i) {
      *progress = ebb_test_b_step(i, "fiber-of-a");
      if (*progress != i + 1) return;
    }
    if (thrower) ebb_test_b_throw();
  });
}

EBB_TEST_EXPORT int ebb_test_a_resume(void* fiber) {
#if EBB_HAS_EXCEPTIONS
  try {
    return static_cast<ebb::fiber*>(fiber)->resume() ? 1 : 0;
  } catch (const std::runtime_error&) {
    return -1;
  }
#else
  return static_cast<ebb::fiber*>(fiber)->resume() ? 1 : 0;
#endif
}

EBB_TEST_EXPORT void ebb_test_a_destroy(void* fiber) { delete static_cast<ebb::fiber*>(fiber); }

EBB_TEST_EXPORT void* ebb_test_a_thread_state() { return ebb::runtime_v1::this_thread(); }
EBB_TEST_EXPORT void* ebb_test_a_pool() { return &ebb::runtime_v1::process_pool(); }
EBB_TEST_EXPORT int ebb_test_a_lean() { return EBB_LEAN; }
