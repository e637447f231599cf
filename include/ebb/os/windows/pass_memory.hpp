// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/pass_memory.hpp — a registry pass group's memory work on Windows: nothing to batch.
//
// Windows has no call that releases many ranges at once (VirtualFree takes one), and QueryWorkingSetEx
// already answers a whole stack in one call, so each visit makes its own calls, as before. The pass's
// code is the same on every system; os/linux/pass_memory.hpp has the kind that batches.
#pragma once

#include "ebb/config.hpp"

#include <cstddef>
#include <cstdint>

EBB_RUNTIME_BEGIN
namespace os {

struct pass_memory_counters {  // the same fields as Linux's; no pass here makes these calls
  std::uint64_t residency_scans = 0, release_calls = 0, released_ranges = 0, scan_ns = 0, release_ns = 0;
};

class pass_memory {
 public:
  struct span {
    std::uintptr_t lo, hi;
  };
  void begin(span*, std::size_t) noexcept {}
  std::size_t end() noexcept { return 0; }
  pass_memory_counters counters;
};

// A pass learns nothing here that a later shrink point could reuse (os/linux/pass_memory.hpp).
inline void* held_floor_known(void*, void*) noexcept { return nullptr; }

}  // namespace os
EBB_RUNTIME_END
