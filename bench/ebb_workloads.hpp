// SPDX-License-Identifier: BSL-1.0
// bench/ebb_workloads.hpp — the timed loops for ebb fibers, written once and compiled in each
// configuration: switch_bench.cpp / create_bench.cpp instantiate them with the default ebb::fiber,
// the *_lean.cpp translation units (compiled with -DEBB_LEAN=1) with the lean one.
//
// They are templates on the fiber type on purpose. A default and a lean fiber live in different
// inline namespaces (ebb::v1_c1x1e1vg0h0 vs ebb::v1_c0x0e1vg0h0), so each instantiation is a distinct symbol
// and the two configurations can be linked into one program without violating the one-definition
// rule. A plain inline function here would have one name but two different bodies.
#pragma once

#include "bench_common.hpp"

#include <ebb/ebb.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace ebb_bench {

// Nanoseconds per switch of a resume() + this_fiber::yield() round trip (two switches), measured over
// `round_trips` round trips of one fiber that was created, and warmed up, outside the timed region.
template <class Fiber>
double ebb_switch_ns(std::size_t round_trips) {
  // Relaxed atomic: a plain load on x86-64, and no reasoning about what the switch may clobber.
  std::atomic<bool> stop{false};
  Fiber f([&stop] {
    while (!stop.load(std::memory_order_relaxed)) ebb::this_fiber::yield();
  });
  // Warm-up: first touch of the stack and control block, and branch predictors trained on the
  // alternation, as they are in any long-running program.
  const std::size_t warmup = round_trips / 16 < 100000 ? round_trips / 16 : 100000;
  for (std::size_t i = 0; i < warmup; ++i) f.resume();

  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < round_trips; ++i) f.resume();
  const std::uint64_t t1 = now_ns();

  stop.store(true, std::memory_order_relaxed);
  if (f.resume()) {  // lets the function return: nothing is left to unwind when f is destroyed
    std::fprintf(stderr, "ebb switch benchmark: the fiber did not finish\n");
    std::abort();
  }
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(round_trips));
}

// Nanoseconds per fiber to create a fiber, run its (trivial) function to completion and destroy it,
// `count` times in a row. The stack comes from Fiber's allocator; for ebb's allocators that is the
// thread's reservation cache, so after the first fiber no system call is made.
template <class Fiber>
double ebb_create_ns(std::size_t count) {
  std::size_t ran = 0;
  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < count; ++i) {
    Fiber f([&ran] { ++ran; });
    f.resume();
  }  // ~Fiber: the stack goes back to the cache
  const std::uint64_t t1 = now_ns();
  if (ran != count) {  // also keeps the fiber's work observable
    std::fprintf(stderr, "ebb create benchmark: %zu of %zu fibers ran\n", ran, count);
    std::abort();
  }
  return static_cast<double>(t1 - t0) / static_cast<double>(count);
}

}  // namespace ebb_bench
