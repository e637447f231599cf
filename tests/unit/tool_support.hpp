// SPDX-License-Identifier: BSL-1.0
// Test helper: what changes when the suite runs under ASan, TSan or Valgrind.
#pragma once

#include <ebb/ebb.hpp>

#include <fstream>
#include <string>

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

// A field of /proc/self/status in KiB ("VmRSS:", "VmPTE:", "VmHWM:"), or -1.
inline long status_kib(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string k;
  while (status >> k) {
    if (k == key) {
      long v = -1;
      status >> v;
      return v;
    }
    status.ignore(1 << 20, '\n');
  }
  return -1;
}

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
