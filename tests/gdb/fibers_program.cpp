// SPDX-License-Identifier: BSL-1.0
// Several fibers in every state, for the gdb helper tools/gdb/ebb.py (fibers.gdb, check_fibers.py).
//
// When the program reaches ebb_gdb_fibers_breakpoint the registry holds:
//   idle       created, never resumed
//   shallow    suspended in its own function (yield at depth 0)
//   deep       suspended three calls down (gdb_fibers_deep1 -> deep2 -> deep3), after growing its stack
//   (unnamed)  suspended, created without a name
//   finished   its function returned
//   worker     running on a second thread, which it keeps busy until the breakpoint has passed
//   outer      running on the main thread; it resumed `inner` and waits for it (nested)
//   inner      running on the main thread, two calls down, in ebb_gdb_fibers_breakpoint
// The fibers of the main thread and of the worker thread sit in different registry shards.
#include <ebb/ebb.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <thread>

#if defined(__clang__)
#define GDB_TEST_NOINLINE __attribute__((noinline))
#else
#define GDB_TEST_NOINLINE __attribute__((noinline, noipa))
#endif

volatile int gdb_fibers_sink = 0;
std::atomic<bool> gdb_fibers_worker_ready{false};
std::atomic<bool> gdb_fibers_release_worker{false};

// The port's own description of its switch frame (the C++ side of the slot list the layout object
// ebb_v1_switch_frame_layout is generated from), kept in the program for fibers.gdb, which compares
// it with what tools/gdb/ebb.py reads from the object. Nothing in the program reads them: [[gnu::used]]
// keeps them through link-time optimisation (clang -flto removed them otherwise).
[[gnu::used]] const ebb::runtime_v1::arch::frame_slot* volatile gdb_fibers_frame_slots =
    ebb::runtime_v1::arch::frame_slots;
[[gnu::used]] volatile std::size_t gdb_fibers_frame_slot_count =
    sizeof ebb::runtime_v1::arch::frame_slots / sizeof ebb::runtime_v1::arch::frame_slots[0];
[[gnu::used]] volatile std::size_t gdb_fibers_frame_bytes = ebb::runtime_v1::arch::initial_frame_bytes;

#if defined(EBB_GDB_BREAKPOINT_ELSEWHERE)
// In another translation unit (fibers_breakpoint.cpp), compiled for the other ARM instruction set:
// the thread stops in Thumb code while the suspended fibers' frames are ARM code, or the reverse.
extern "C" void ebb_gdb_fibers_breakpoint(int n);
#else
extern "C" GDB_TEST_NOINLINE void ebb_gdb_fibers_breakpoint(int n) {
  gdb_fibers_sink = n;
  __asm__ volatile("" ::: "memory");
}
#endif

// Each level stores after its call, so no call becomes a tail call at -O2 and every frame stays.
GDB_TEST_NOINLINE void gdb_fibers_deep3(int n) {
  char buffer[6000];  // deep enough that the logical size grows past 2 KiB
  std::memset(buffer, n, sizeof buffer);
  __asm__ volatile("" : : "r"(buffer) : "memory");  // the whole buffer stays on the stack
  ebb::this_fiber::yield();
  gdb_fibers_sink = buffer[100];
}
GDB_TEST_NOINLINE void gdb_fibers_deep2(int n) {
  gdb_fibers_deep3(n + 1);
  gdb_fibers_sink = n;
}
GDB_TEST_NOINLINE void gdb_fibers_deep1(int n) {
  gdb_fibers_deep2(n + 1);
  gdb_fibers_sink = n;
}

GDB_TEST_NOINLINE void gdb_fibers_inner2(int n) {
  ebb_gdb_fibers_breakpoint(n + 1);
  gdb_fibers_sink = n;
}
GDB_TEST_NOINLINE void gdb_fibers_inner1(int n) {
  gdb_fibers_inner2(n + 1);
  gdb_fibers_sink = n;
}

GDB_TEST_NOINLINE void gdb_fibers_worker_wait() {
  gdb_fibers_worker_ready.store(true);
  while (!gdb_fibers_release_worker.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  gdb_fibers_sink = 1;
}

int main() {
  ebb::fiber idle(ebb::fiber_options().name("idle"), [] { gdb_fibers_sink = 1; });
  ebb::fiber shallow(ebb::fiber_options().name("shallow"), [] {
    ebb::this_fiber::yield();
    gdb_fibers_sink = 2;
  });
  ebb::fiber deep(ebb::fiber_options().name("deep"), [] { gdb_fibers_deep1(0); });
  ebb::fiber unnamed([] {
    ebb::this_fiber::yield();
    gdb_fibers_sink = 3;
  });
  ebb::fiber finished(ebb::fiber_options().name("finished"), [] { gdb_fibers_sink = 4; });
  shallow.resume();
  deep.resume();
  unnamed.resume();
  finished.resume();

  std::thread worker_thread([] {
    ebb::fiber worker(ebb::fiber_options().name("worker"), [] { gdb_fibers_worker_wait(); });
    while (worker.resume()) {}
  });
  while (!gdb_fibers_worker_ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  ebb::fiber inner(ebb::fiber_options().name("inner"), [] { gdb_fibers_inner1(0); });
  ebb::fiber outer(ebb::fiber_options().name("outer"), [&inner] {
    inner.resume();
    gdb_fibers_sink = 5;
  });
  outer.resume();

  gdb_fibers_release_worker.store(true);
  worker_thread.join();
  // Let every suspended fiber finish, so the run ends as cleanly as it began.
  const bool all_done = !idle.resume() && !shallow.resume() && !deep.resume() && !unnamed.resume() &&
                        finished.done() && inner.done() && outer.done();
  std::printf("gdb fibers program: %s\n", all_done ? "done" : "NOT DONE");
  return all_done ? 0 : 1;
}
