// SPDX-License-Identifier: BSL-1.0
// ebb/os/asymmetric_fence.hpp — a memory fence paid by the rare side only.
//
// resume() and a registry pass on another thread (or fiber::shrink_stack()/stack_stats() called from
// one) must never both touch one fiber: resume() publishes "running" and then checks the fiber's
// mark; the other side publishes its claim and then checks the state.
// That store-then-load handshake (Dekker's) needs a full fence on both sides, and a locked instruction
// on the resume path would cost about as much as the switch itself. So the resume side uses only a
// compiler barrier and the pass, which runs rarely and covers many fibers at once, makes every thread
// of the process execute a full fence: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED). Where that is
// missing (kernels before 4.14, or filtered by seccomp), changing the protection of a page the process
// has touched forces the same: the kernel must interrupt every CPU running one of its threads to
// flush their TLBs, which serialises them.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/virtual_memory.hpp"

#include <atomic>
#include <mutex>

#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

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

struct heavy_fence_state {
  std::once_flag chosen;
  bool use_membarrier = false;
  void* page = nullptr;  // for the mprotect fallback
};
EBB_VISIBLE inline heavy_fence_state process_heavy_fence;

inline void heavy_fence() noexcept {
#if EBB_TSAN
  return;  // under ThreadSanitizer both sides of the handshake are sequentially consistent instead
#endif
  auto& state = process_heavy_fence;
  std::call_once(state.chosen, [] {
    auto& fence = process_heavy_fence;
    fence.use_membarrier =
        ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    if (!fence.use_membarrier) {
      void* page = ::mmap(nullptr, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      fence.page = page == MAP_FAILED ? nullptr : page;
    }
  });
  full_fence();
  if (state.use_membarrier) {
    ::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  } else if (state.page != nullptr) {
    // Touch, then drop and restore write access: the TLB shootdown reaches every CPU in our mm.
    *static_cast<volatile char*>(state.page) = 1;
    ::mprotect(state.page, page_size(), PROT_READ);
    ::mprotect(state.page, page_size(), PROT_READ | PROT_WRITE);
  }
  full_fence();
}

}  // namespace os
EBB_RUNTIME_END
