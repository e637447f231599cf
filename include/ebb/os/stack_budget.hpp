// SPDX-License-Identifier: BSL-1.0
// ebb/os/stack_budget.hpp — a process-wide ceiling on the stack memory of tripwire-mode fibers.
//
// In the default mode the kernel commits a fiber's pages as they are touched, up to its maximum, and
// nothing stops a thousand fibers from each going to their maximum at once. In tripwire mode every
// byte a fiber may touch has been granted: the handler grants more one GrowthPolicy step at a time,
// and refuses — reporting the fiber and the budget — when the sum of every tripwire fiber's window
// would pass the budget. The bookkeeping is one atomic counter, so the signal handler can do it.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/process_wide.hpp"

#include <atomic>
#include <cstddef>

EBB_RUNTIME_BEGIN

struct stack_budget_state {
  std::atomic<std::size_t> limit{static_cast<std::size_t>(-1)};
  std::atomic<std::size_t> granted{0};
};
EBB_PROCESS_WIDE(stack_budget_state, process_stack_budget, {});

// Try to grant `bytes` more; all or nothing. Async-signal-safe.
inline bool grant_stack_bytes(std::size_t bytes) noexcept {
  auto& budget = process_stack_budget;
  std::size_t granted = budget.granted.load(std::memory_order_relaxed);
  for (;;) {
    const std::size_t limit = budget.limit.load(std::memory_order_relaxed);
    if (bytes > limit || granted > limit - bytes) return false;
    if (budget.granted.compare_exchange_weak(granted, granted + bytes, std::memory_order_relaxed)) return true;
  }
}
inline void return_stack_bytes(std::size_t bytes) noexcept {
  process_stack_budget.granted.fetch_sub(bytes, std::memory_order_relaxed);
}

EBB_RUNTIME_END

EBB_NAMESPACE_BEGIN
// The most stack memory all tripwire-mode fibers together may be granted (default: unlimited).
inline void set_stack_budget(std::size_t bytes) noexcept {
  runtime_v1::process_stack_budget.limit.store(bytes, std::memory_order_relaxed);
}
inline std::size_t stack_budget() noexcept {
  return runtime_v1::process_stack_budget.limit.load(std::memory_order_relaxed);
}
// What tripwire-mode fibers hold now: the sum of their windows.
inline std::size_t stack_budget_granted() noexcept {
  return runtime_v1::process_stack_budget.granted.load(std::memory_order_relaxed);
}
EBB_NAMESPACE_END
