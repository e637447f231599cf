// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/signal_frame.hpp — how large a signal frame this machine's kernel pushes, asked of it.
//
// The frame holds the interrupted register state, whose size grows with the CPU's extensions (about
// 3.4 KiB with AVX-512, more with AMX). A compile-time MINSIGSTKSZ was written for older CPUs; the
// kernel reports the real figure in the auxiliary vector (AT_MINSIGSTKSZ, Linux 5.14 on x86; 0 where
// it does not).
#pragma once

#include "ebb/config.hpp"

#include <cstddef>

#include <sys/auxv.h>

EBB_RUNTIME_BEGIN
namespace os {

inline std::size_t minimum_signal_frame_bytes() noexcept { return ::getauxval(AT_MINSIGSTKSZ); }

}  // namespace os
EBB_RUNTIME_END
