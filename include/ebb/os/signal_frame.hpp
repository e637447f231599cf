// SPDX-License-Identifier: BSL-1.0
// ebb/os/signal_frame.hpp — room the system needs below a fiber's stack pointer to deliver a fault.
//
// Delivering a fault writes the interrupted state on some stack: a POSIX signal frame on the fiber's
// stack or the alternate signal stack, a Windows exception record and CONTEXT on the faulting thread's
// stack. Tripwire mode keeps that much accessible below a fiber's logical size, and the alternate
// signal stack holds several such frames. Each system provides
//   std::size_t minimum_signal_frame_bytes()   the largest frame it pushes, 0 if it cannot tell
// (Linux: getauxval(AT_MINSIGSTKSZ), linux/signal_frame.hpp).
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/memory.hpp"

#include <cstddef>

#if defined(__linux__)
#include "ebb/os/linux/signal_frame.hpp"
#elif defined(_WIN32)
#include "ebb/os/windows/signal_frame.hpp"
#else
#error "ebb: no signal frame size for this system (see ebb/os/signal_frame.hpp)"
#endif

EBB_RUNTIME_BEGIN
namespace os {

// Tripwire mode keeps this much accessible below a fiber's logical size, so a signal frame pushed on
// the fiber's stack fits: the system's frame (at least 2 KiB) plus a page.
inline std::size_t signal_frame_margin() noexcept {
  std::size_t minimum = minimum_signal_frame_bytes();
  if (minimum < 2048) minimum = 2048;
  return (minimum + 2 * page_size() - 1) / page_size() * page_size();
}

}  // namespace os
EBB_RUNTIME_END
