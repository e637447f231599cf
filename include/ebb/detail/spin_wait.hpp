// SPDX-License-Identifier: BSL-1.0
// ebb/detail/spin_wait.hpp — short waits for the few locks and hand-shakes ebb spins on.
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"

#include <atomic>
#include <thread>

EBB_RUNTIME_BEGIN

// One step of a spin-wait. The waits here are short (a pass holds a fiber for the few microseconds its
// shrink point takes), but the holder may be descheduled, and under a serialising tool such as
// Valgrind it cannot run at all while we spin: after a few dozen pauses, give the CPU away.
struct spinner {
  unsigned spins = 0;
  void pause() noexcept {
    if (++spins < 64) {
      arch::cpu_relax();  // the port's spin hint: each ISA spells it differently
    } else {
      std::this_thread::yield();  // portable; on Linux it is sched_yield()
    }
  }
};

// A lock held for a handful of loads and stores, on paths that are not hot.
struct spin_lock {
  std::atomic<bool> locked{false};
  void lock() noexcept {
    spinner wait;
    while (locked.exchange(true, std::memory_order_acquire))
      while (locked.load(std::memory_order_relaxed)) wait.pause();
  }
  void unlock() noexcept { locked.store(false, std::memory_order_release); }
};

EBB_RUNTIME_END
