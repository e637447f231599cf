// SPDX-License-Identifier: BSL-1.0
// ebb/detail/thread_serial.hpp — a number for every thread that asks, unique in the process and never reused.
//
// What fiber_options().pin_to_thread records. A thread's state address would not do: it lies in the
// thread's TLS block, which the next thread created may get at the same address once the first has
// exited, and a fiber pinned to a dead thread would then quietly run on a stranger.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/per_thread.hpp"
#include "ebb/os/process_wide.hpp"

#include <atomic>
#include <cstdint>

EBB_RUNTIME_BEGIN

// Default visibility: one counter and one serial per thread for every library of the process (a fiber
// pinned by one library may be resumed through another). 0 means "not asked yet".
EBB_PROCESS_WIDE(std::atomic<std::uint64_t>, process_thread_serials, {1});
EBB_PER_THREAD(std::uint64_t, thread_serial, this_thread_serial_slot)

// Out of line: callers sit in resume() paths whose surrounding code may run on a fiber, and a
// thread-local's address must never be computed on one side of a switch and used on the other.
EBB_NOINLINE inline std::uint64_t this_thread_serial() noexcept {
  std::uint64_t& serial = this_thread_serial_slot();
  if (EBB_UNLIKELY(serial == 0)) serial = process_thread_serials.fetch_add(1, std::memory_order_relaxed);
  return serial;
}

EBB_RUNTIME_END
