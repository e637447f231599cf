// SPDX-License-Identifier: BSL-1.0
// A fiber that yields once, then calls three nested functions that reach a breakpoint function.
// The debugger tests stop there (and inside the context switch) and check the backtraces.
#include <ebb/ebb.hpp>

#include <cstdio>

#if defined(__clang__)
#define GDB_TEST_NOINLINE __attribute__((noinline))
#else
#define GDB_TEST_NOINLINE __attribute__((noinline, noipa))
#endif

volatile int gdb_test_sink = 0;

extern "C" GDB_TEST_NOINLINE void ebb_gdb_breakpoint(int depth) {
  gdb_test_sink = depth;
  __asm__ volatile("" ::: "memory");
}

// Each level stores after its call, so no call becomes a tail call at -O2 and every frame stays.
GDB_TEST_NOINLINE void gdb_test_level3(int n) {
  ebb_gdb_breakpoint(n + 3);
  gdb_test_sink = n;
}
GDB_TEST_NOINLINE void gdb_test_level2(int n) {
  gdb_test_level3(n + 2);
  gdb_test_sink = n;
}
GDB_TEST_NOINLINE void gdb_test_level1(int n) {
  gdb_test_level2(n + 1);
  gdb_test_sink = n;
}

int main() {
  ebb::fiber f(ebb::fiber_options().name("gdb-fiber"), [] {
    ebb::this_fiber::yield();
    gdb_test_level1(0);
    ebb::this_fiber::yield();
  });
  int resumes = 0;
  while (f.resume()) ++resumes;
  std::printf("gdb test program: %d resumes\n", resumes);
  return resumes == 2 ? 0 : 1;
}
