// SPDX-License-Identifier: BSL-1.0
// ebb/os/asymmetric_fence.hpp — a memory fence paid by the rare side only.
//
// resume() and a registry pass on another thread (or fiber::shrink_stack()/stack_stats() called from
// one) must never both touch one fiber: resume() publishes "running" and then checks the fiber's
// mark; the other side publishes its claim and then checks the state.
// That store-then-load handshake (Dekker's) needs a full fence on both sides, and a locked instruction
// on the resume path would cost about as much as the switch itself. So the resume side uses only a
// compiler barrier (light_fence, below, portable) and the pass, which runs rarely and covers many
// fibers at once, makes every thread of the process execute a full fence: heavy_fence(), which each
// system provides (Linux: membarrier, os/linux/membarrier_fence.hpp; Windows: FlushProcessWriteBuffers,
// os/windows/flush_fence.hpp). If no way works, heavy_fence() returns false: the caller must then leave
// every fiber alone, because without the fence its check of a fiber's state proves nothing.
#pragma once

#include "ebb/config.hpp"

#include <atomic>

EBB_RUNTIME_BEGIN
namespace os {

// The cheap side: keeps the compiler from moving memory accesses across it; the CPU's ordering is
// enforced from the other side by heavy_fence().
EBB_ALWAYS_INLINE void light_fence() noexcept { std::atomic_signal_fence(std::memory_order_seq_cst); }

// A full fence on this thread. (ThreadSanitizer rejects std::atomic_thread_fence; it never runs this.)
inline void full_fence() noexcept {
#if !EBB_TSAN
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// The cheap side's accesses in the handshake. ThreadSanitizer does not model membarrier (nor fences):
// under it the handshake is the textbook sequentially consistent Dekker, which it understands, at the
// price of a locked store on the cheap side.
#if EBB_TSAN
inline constexpr std::memory_order handshake_store = std::memory_order_seq_cst;
inline constexpr std::memory_order handshake_load = std::memory_order_seq_cst;
#else
inline constexpr std::memory_order handshake_store = std::memory_order_relaxed;
inline constexpr std::memory_order handshake_load = std::memory_order_acquire;
#endif

// Make every thread of the process execute a full fence. False if no way to do so works: the caller
// must then not rely on the handshake. Defined by the system's header, included below.
inline bool heavy_fence() noexcept;

}  // namespace os
EBB_RUNTIME_END

// After the portable half: the implementation uses full_fence().
#if defined(__linux__)
#include "ebb/os/linux/membarrier_fence.hpp"
#elif defined(_WIN32)
#include "ebb/os/windows/flush_fence.hpp"
#else
#error "ebb: no process-wide fence for this system (see ebb/os/asymmetric_fence.hpp)"
#endif
