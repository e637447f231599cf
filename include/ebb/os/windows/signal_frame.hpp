// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/signal_frame.hpp — how much the system writes below a fiber's stack pointer to deliver
// an exception (os/signal_frame.hpp's contract on Windows).
//
// KiUserExceptionDispatcher receives a CONTEXT (1232 bytes on x64), an EXCEPTION_RECORD, a machine
// frame and, on CPUs with AVX, the extended state after the CONTEXT (CONTEXT_EX + XSAVE area: about
// 1 KiB with AVX, 2.7 KiB with AVX-512). The handlers then run on the same stack. The extended
// state's size is not asked here (InitializeContext2 is not everywhere wine is): room for the
// largest XSAVE area in use today is assumed.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include "ebb/os/windows/windows_h.hpp"

#include <cstddef>

EBB_RUNTIME_BEGIN
namespace os {

inline std::size_t minimum_signal_frame_bytes() noexcept {
  constexpr std::size_t extended_state = 4096;
  return sizeof(CONTEXT) + sizeof(EXCEPTION_RECORD) + 64 + extended_state;
}

}  // namespace os
EBB_RUNTIME_END

#endif  // defined(_WIN32)
