// SPDX-License-Identifier: BSL-1.0
// Compact fibers in every state, for the gdb helper tools/gdb/ebb.py (compact.gdb, check_compact.py).
//
// When the program reaches ebb_gdb_compact_breakpoint the registry holds:
//   c-idle     compact, created, never resumed (it has no frames yet, nor an execution stack)
//   c-saved    compact, suspended three calls down (gdb_compact_deep1 -> deep2 -> deep3); then c-onstack
//              took its execution stack, so its frames were copied into storage: not at their addresses
//   c-onstack  compact, suspended two calls down (gdb_compact_here1 -> here2), its frames still on the
//              execution stack (nobody needed the stack since: nothing was copied)
//   c-finished compact, its function returned
//   c-runner   compact (another execution stack size), running on the main thread, in the breakpoint
//   plain      an in-place fiber, suspended (for comparison)
// All on one thread, whose only execution stack of 1 MiB is the one shared_stack<1> makes.
#include <ebb/ebb.hpp>

#include <cstdio>
#include <cstring>

#if defined(__clang__)
#define GDB_TEST_NOINLINE __attribute__((noinline))
#else
#define GDB_TEST_NOINLINE __attribute__((noinline, noipa))
#endif

volatile int gdb_compact_sink = 0;

using one_stack = ebb::basic_compact_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::shared_stack<1>>;
using small_stack =
    ebb::basic_compact_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::shared_stack<1, 256 * 1024>>;

extern "C" GDB_TEST_NOINLINE void ebb_gdb_compact_breakpoint(int n) {
  gdb_compact_sink = n;
  __asm__ volatile("" ::: "memory");
}

// Each level stores after its call, so no call becomes a tail call at -O2 and every frame stays.
GDB_TEST_NOINLINE void gdb_compact_deep3(int n) {
  char buffer[3000];
  std::memset(buffer, n, sizeof buffer);
  __asm__ volatile("" : : "r"(buffer) : "memory");
  ebb::this_fiber::yield();
  gdb_compact_sink = buffer[100];
}
GDB_TEST_NOINLINE void gdb_compact_deep2(int n) {
  gdb_compact_deep3(n + 1);
  gdb_compact_sink = n;
}
GDB_TEST_NOINLINE void gdb_compact_deep1(int n) {
  gdb_compact_deep2(n + 1);
  gdb_compact_sink = n;
}

GDB_TEST_NOINLINE void gdb_compact_here2(int n) {
  ebb::this_fiber::yield();
  gdb_compact_sink = n;
}
GDB_TEST_NOINLINE void gdb_compact_here1(int n) {
  gdb_compact_here2(n + 1);
  gdb_compact_sink = n;
}

GDB_TEST_NOINLINE void gdb_compact_run2(int n) {
  ebb_gdb_compact_breakpoint(n + 1);
  gdb_compact_sink = n;
}
GDB_TEST_NOINLINE void gdb_compact_run1(int n) {
  gdb_compact_run2(n + 1);
  gdb_compact_sink = n;
}

int main() {
  one_stack idle(ebb::fiber_options().name("c-idle"), [] { gdb_compact_sink = 1; });
  one_stack saved(ebb::fiber_options().name("c-saved"), [] { gdb_compact_deep1(0); });
  one_stack onstack(ebb::fiber_options().name("c-onstack"), [] { gdb_compact_here1(0); });
  one_stack finished(ebb::fiber_options().name("c-finished"), [] { gdb_compact_sink = 4; });
  ebb::fiber plain(ebb::fiber_options().name("plain"), [] { gdb_compact_here1(10); });
  small_stack runner(ebb::fiber_options().name("c-runner"), [] { gdb_compact_run1(0); });
  finished.resume();
  saved.resume();
  onstack.resume();  // the stack saved's frames were on: they are copied away
  plain.resume();
  runner.resume();   // stops in ebb_gdb_compact_breakpoint
  const bool all_done = !idle.resume() && !saved.resume() && !onstack.resume() && !plain.resume() &&
                        finished.done() && runner.done();
  std::printf("gdb compact program: %s\n", all_done ? "done" : "NOT DONE");
  return all_done ? 0 : 1;
}
