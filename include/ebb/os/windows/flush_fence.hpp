// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/flush_fence.hpp — heavy_fence with FlushProcessWriteBuffers (os/asymmetric_fence.hpp
// says what the fence is for).
//
// FlushProcessWriteBuffers makes every processor running a thread of the process flush its write
// buffer: an inter-processor interrupt to each, which executes a serialising instruction, the same
// guarantee Linux's membarrier(PRIVATE_EXPEDITED) gives. It cannot fail and needs no registration
// (Windows Vista and later), so there is no fallback chain. Wine implements it with a signal to every
// thread of the process (or an mprotect-based shootdown), which is equivalent.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include "ebb/os/asymmetric_fence.hpp"  // full_fence; this file completes it
#include "ebb/os/windows/windows_h.hpp"

EBB_RUNTIME_BEGIN
namespace os {

inline bool heavy_fence() noexcept {
#if EBB_TSAN
  return true;  // as on Linux: under ThreadSanitizer both sides are sequentially consistent instead
#endif
  full_fence();
  ::FlushProcessWriteBuffers();
  full_fence();
  return true;
}

}  // namespace os
EBB_RUNTIME_END

#endif  // defined(_WIN32)
