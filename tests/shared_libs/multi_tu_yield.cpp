// SPDX-License-Identifier: BSL-1.0
// The second translation unit: code that yields whichever fiber runs it. May be compiled with a
// different ebb configuration than multi_tu_main.cpp (the inline namespace keeps them apart).
#include <ebb/ebb.hpp>

int multi_tu_lean() { return EBB_LEAN; }

// Yields `times` times, counting each resumption in *count; returns whether it ran on a fiber.
bool multi_tu_yield(int times, int* count) {
  if (!ebb::this_fiber::in_fiber()) return false;
  for (int i = 0; i < times; ++i) {
    ebb::this_fiber::yield();
    ++*count;
  }
  return ebb::this_fiber::in_fiber();
}

// Creates a fiber here and runs it to completion; the fiber's body is the caller's.
int multi_tu_run_here(void (*body)(void*), void* arg) {
  ebb::fiber f([=] { body(arg); });
  int resumes = 0;
  while (f.resume()) ++resumes;
  return resumes;
}
