// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/membarrier_fence.hpp — heavy_fence() on Linux (os/asymmetric_fence.hpp says why).
//
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) makes every thread of the process execute a full
// fence: the kernel interrupts each CPU running one of them and has it run smp_mb(). Where that is
// missing (kernels before 4.14, or filtered by seccomp), in this order:
//   - membarrier(MEMBARRIER_CMD_GLOBAL) (Linux 4.3): every CPU of the system passes through a
//     scheduler state, which orders its accesses. Slow (it waits for an RCU grace period, typically
//     milliseconds) but it is a barrier on every architecture, and the passes that pay it are rare.
//   - On x86 only: changing the protection of a page the process has touched. The kernel must shoot
//     down the TLB entries of every CPU running one of our threads, and on x86 that is an interrupt,
//     which serialises the CPU it lands on. AArch64 and ARMv7 broadcast TLB invalidation in hardware
//     (tlbi ...is) with no interrupt, and a RISC-V remote flush promises only sfence.vma, which orders
//     no data access: there the page trick is not a fence and is never used.
// membarrier can also start failing later (a seccomp filter installed after ebb registered): then the
// next method takes over for good. If none works there is no fence, heavy_fence() says so and ebb
// reports it once on stderr.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/asymmetric_fence.hpp"
#include "ebb/os/posix/memory.hpp"
#include "ebb/os/process_wide.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

EBB_RUNTIME_BEGIN
namespace os {

enum class fence_method : int { unchosen, membarrier, global_membarrier, page, none };

// Whether the page fence below is a fence: see the top of this file.
#if defined(EBB_ARCH_X86_64) || defined(EBB_ARCH_I386)
inline constexpr bool page_fence_serialises = true;
#else
inline constexpr bool page_fence_serialises = false;
#endif

struct heavy_fence_state {
  std::atomic<int> method{static_cast<int>(fence_method::unchosen)};
  std::atomic<void*> page{nullptr};  // for the mprotect fallback
  std::atomic<bool> reported{false};
};
EBB_PROCESS_WIDE(heavy_fence_state, process_heavy_fence, {});

// Test hooks: the expedited membarrier commands fail (as under a seccomp filter), the global one
// fails, the fallback page cannot be had.
EBB_PROCESS_WIDE(std::atomic<bool>, injected_membarrier_failure, {false});
EBB_PROCESS_WIDE(std::atomic<bool>, injected_global_membarrier_failure, {false});
EBB_PROCESS_WIDE(std::atomic<bool>, injected_fence_page_failure, {false});

inline bool membarrier_call(int command) noexcept {
  const auto& injected = command == MEMBARRIER_CMD_GLOBAL ? injected_global_membarrier_failure
                                                          : injected_membarrier_failure;
  if (EBB_UNLIKELY(injected.load(std::memory_order_relaxed))) {
    errno = EPERM;
    return false;
  }
  return ::syscall(SYS_membarrier, command, 0, 0) == 0;
}

// Touch the page, then drop and restore write access: the TLB shootdown reaches every CPU in our mm.
inline bool page_fence(heavy_fence_state& state) noexcept {
  void* page = state.page.load(std::memory_order_acquire);
  if (page == nullptr) {
    if (injected_fence_page_failure.load(std::memory_order_relaxed)) return false;
    void* fresh = ::mmap(nullptr, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED) return false;
    if (!state.page.compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) ::munmap(fresh, page_size());
    page = state.page.load(std::memory_order_acquire);
  }
  *static_cast<volatile char*>(page) = 1;
  if (::mprotect(page, page_size(), PROT_READ) != 0) return false;
  if (::mprotect(page, page_size(), PROT_READ | PROT_WRITE) != 0) {
    state.page.store(nullptr, std::memory_order_release);  // read-only now: never touch it again
    return false;
  }
  return true;
}

inline void report_no_fence(heavy_fence_state& state, int error) noexcept {
  if (state.reported.exchange(true, std::memory_order_relaxed)) return;
  char line[256];
  const int n = std::snprintf(line, sizeof line,
                              "ebb: no process-wide memory fence (membarrier failed%s: %s); shrink passes and "
                              "profiles leave every fiber alone\n",
                              page_fence_serialises ? ", and so did the mprotect fallback" : "",
                              std::strerror(error));
  if (n > 0) (void)!::write(2, line, static_cast<std::size_t>(n) < sizeof line ? static_cast<std::size_t>(n) : sizeof line - 1);
}

// Make every thread of the process execute a full fence. False if no way to do so works: the caller
// must then not rely on the handshake.
inline bool heavy_fence() noexcept {
#if EBB_TSAN
  return true;  // under ThreadSanitizer both sides of the handshake are sequentially consistent instead
#endif
  auto& state = process_heavy_fence;
  int method = state.method.load(std::memory_order_acquire);
  if (EBB_UNLIKELY(method == static_cast<int>(fence_method::unchosen))) {
    const int chosen = static_cast<int>(membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
                                            ? fence_method::membarrier
                                            : fence_method::global_membarrier);
    state.method.compare_exchange_strong(method, chosen, std::memory_order_acq_rel);
    method = state.method.load(std::memory_order_acquire);
  }
  full_fence();
  bool fenced = false;
  int error = 0;
  // Each method that fails hands over to the next for good (see the top of this file).
  const auto give_up_on = [&](fence_method next) {
    error = errno;
    method = static_cast<int>(next);
    state.method.store(method, std::memory_order_release);
  };
  if (method == static_cast<int>(fence_method::membarrier)) {
    fenced = membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    if (!fenced) give_up_on(fence_method::global_membarrier);
  }
  if (!fenced && method == static_cast<int>(fence_method::global_membarrier)) {
    fenced = membarrier_call(MEMBARRIER_CMD_GLOBAL);
    if (!fenced) give_up_on(page_fence_serialises ? fence_method::page : fence_method::none);
  }
  if (!fenced && method == static_cast<int>(fence_method::page)) {
    fenced = page_fence(state);
    if (!fenced) give_up_on(fence_method::none);
  }
  if (!fenced) report_no_fence(state, error ? error : ENOSYS);
  full_fence();
  return fenced;
}

}  // namespace os
EBB_RUNTIME_END
