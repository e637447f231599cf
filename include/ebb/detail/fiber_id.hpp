// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fiber_id.hpp — a number for every fiber, unique in the process and never reused.
//
// Tracers and profilers key fibers on it (an address is reused by the next fiber on the same
// stack). A process-wide counter would put a locked instruction on every creation, so each thread
// takes a block of 1024 numbers at a time and hands them out from a thread_local.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/per_thread.hpp"
#include "ebb/os/process_wide.hpp"

#include <atomic>
#include <cstdint>

EBB_RUNTIME_BEGIN

struct fiber_id_block {
  std::uint64_t next = 0;
  std::uint64_t end = 0;
};
// Default visibility: one counter for every library of the process. 0 is never handed out.
EBB_PROCESS_WIDE(std::atomic<std::uint64_t>, process_fiber_ids, {1});
EBB_PER_THREAD(fiber_id_block, thread_fiber_ids, this_thread_fiber_ids)

// Out of line and opaque: it is called while creating a fiber, possibly from a fiber that moves to
// another thread between two creations (detail/registry_slots.hpp says why that matters).
EBB_OPAQUE inline std::uint64_t next_fiber_id() noexcept {
  constexpr std::uint64_t block = 1024;
  fiber_id_block& ids = this_thread_fiber_ids();
  if (EBB_UNLIKELY(ids.next == ids.end)) {
    ids.next = process_fiber_ids.fetch_add(block, std::memory_order_relaxed);
    ids.end = ids.next + block;
  }
  return ids.next++;
}

EBB_RUNTIME_END
