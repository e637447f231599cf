// SPDX-License-Identifier: BSL-1.0
// A tripwire fiber created in one library (-fvisibility=hidden) and destroyed in another returns its
// reservation to the process-wide pool. The guard method must be process-wide too: when it was one per
// library, the destroying library (which had never installed a guard) "opened" the range with
// mprotect, the guard-install markers stayed in the middle of the pooled stack, and the next fiber to
// reuse it died with a plain SIGSEGV as it went deep.
#include "api.hpp"

#include <ebb/ebb.hpp>

#include <cstdio>
#include <cstring>

EBB_TEST_EXPORT void* ebb_test_trip_create();
EBB_TEST_EXPORT void ebb_test_trip_destroy(void* fiber);

namespace {
__attribute__((noinline)) int go_deep(std::size_t bytes) {
  char frame[4096];
  std::memset(frame, 1, sizeof frame);
  __asm__ volatile("" : : "r"(frame) : "memory");
  int below = bytes > sizeof frame ? go_deep(bytes - sizeof frame) : 0;
  __asm__ volatile("" : : "r"(frame) : "memory");
  return below + frame[7];
}
}  // namespace

int main() {
  for (int round = 0; round < 4; ++round) {
    ebb_test_trip_destroy(ebb_test_trip_create());
    // The reservation just released is the first one reused: go through all of its stack.
    int depth = 0;
    // 7/8 of the default maximum: 896 KiB on 64-bit targets, 224 KiB on 32-bit ones (256 KiB maximum).
    ebb::fiber deep([&] { depth = go_deep(ebb::default_max_stack / 8 * 7); });
    deep.resume();
    if (depth == 0) {
      std::fprintf(stderr, "check failed: the deep fiber did not run\n");
      return 1;
    }
  }
  std::printf("guard split test: all checks passed\n");
  return 0;
}
