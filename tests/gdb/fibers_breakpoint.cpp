// SPDX-License-Identifier: BSL-1.0
// fibers_program.cpp's breakpoint function on its own, for the ARM32 mixed-state variant: that
// program's unit is compiled in ARM state (-marm) and this one in Thumb (the armhf default), so the
// thread stops in Thumb code while every suspended fiber's resume address is ARM code.
volatile int gdb_fibers_breakpoint_sink = 0;

extern "C" __attribute__((noinline, noipa)) void ebb_gdb_fibers_breakpoint(int n) {
  gdb_fibers_breakpoint_sink = n;
  __asm__ volatile("" ::: "memory");
}
