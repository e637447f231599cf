// SPDX-License-Identifier: BSL-1.0
// A tripwire-mode fiber (docs/tripwire.md) for the debugger settings docs/debugging.md recommends
// (tripwire_signals.gdb, check_tripwire.py). Its stack grows by taking SIGSEGV, so under gdb:
//   tripwire_program grow      grows through several tripwire faults and exits 0
//   tripwire_program crash     a real crash (a null store) inside the fiber, after some growth
//   tripwire_program overflow  runs past its 64 KiB maximum: ebb reports the overflow and aborts
#include <ebb/ebb.hpp>

#include <cstdio>
#include <cstring>

#if defined(__clang__)
#define GDB_TEST_NOINLINE __attribute__((noinline))
#else
#define GDB_TEST_NOINLINE __attribute__((noinline, noipa))
#endif

using tripwire_fiber =
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>>;

volatile int* volatile gdb_tripwire_null = nullptr;

// About 600 bytes a level: 40 levels need several growth steps beyond the first 2 KiB window.
GDB_TEST_NOINLINE int gdb_tripwire_recurse(int n) {
  char buffer[512];
  std::memset(buffer, n, sizeof buffer);
  __asm__ volatile("" : : "r"(buffer) : "memory");  // the whole buffer stays on the stack
  if (n == 0) return buffer[64];
  return gdb_tripwire_recurse(n - 1) + buffer[128];
}

GDB_TEST_NOINLINE void gdb_tripwire_crash() {
  *gdb_tripwire_null = 1;  // a real fault: not ebb's to handle
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "grow";
  ebb::set_stack_budget(64 * 1024 * 1024);
  tripwire_fiber f(ebb::fiber_options().name("tripwire").max_size(64 * 1024), [mode] {
    if (std::strcmp(mode, "grow") == 0) {
      std::printf("tripwire program: sum %d\n", gdb_tripwire_recurse(40));
    } else if (std::strcmp(mode, "crash") == 0) {
      std::printf("tripwire program: sum %d\n", gdb_tripwire_recurse(40));
      gdb_tripwire_crash();
    } else {
      std::printf("tripwire program: sum %d\n", gdb_tripwire_recurse(1000));
    }
  });
  f.resume();
  const ebb::stack_stats s = f.stack_stats();
  std::printf("tripwire program: %llu grows, size %zu\n", static_cast<unsigned long long>(s.grows), s.size);
  return s.grows >= 2 ? 0 : 1;
}
