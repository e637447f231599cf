// Test helper: what changes when the suite runs under ASan, TSan or Valgrind.
#pragma once

#include <ebb/ebb.hpp>

#if EBB_VALGRIND
#include <valgrind/valgrind.h>
#endif

// Keep a function's locals on the real stack: with detect_stack_use_after_return ASan moves them to
// heap-allocated "fake frames", and a test that means to go deep would not.
#if EBB_ASAN
#define TEST_REAL_STACK __attribute__((no_sanitize("address")))
#else
#define TEST_REAL_STACK
#endif

namespace test_support {

// True when a memory tool adds its own memory to the process (shadow memory, redzones, its own
// stacks), so per-fiber RSS figures are not ebb's alone.
inline bool under_memory_tool() {
#if EBB_ASAN || EBB_TSAN
  return true;
#elif EBB_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

}  // namespace test_support
