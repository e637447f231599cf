// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/membarrier_fence.hpp — heavy_fence() on Linux (os/asymmetric_fence.hpp says why).
//
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) makes every thread of the process execute a full
// fence. Where that is missing (kernels before 4.14, or filtered by seccomp), changing the protection
// of a page the process has touched forces the same: the kernel must interrupt every CPU running one
// of its threads to flush their TLBs, which serialises them. membarrier can also start failing later
// (a seccomp filter installed after ebb registered): then the fallback takes over for good. If neither
// works there is no fence, heavy_fence() says so and ebb reports it once on stderr.
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

enum class fence_method : int { unchosen, membarrier, page, none };

struct heavy_fence_state {
  std::atomic<int> method{static_cast<int>(fence_method::unchosen)};
  std::atomic<void*> page{nullptr};  // for the mprotect fallback
  std::atomic<bool> reported{false};
};
EBB_PROCESS_WIDE(heavy_fence_state, process_heavy_fence);

// Test hooks: membarrier fails (as under a seccomp filter), the fallback page cannot be had.
EBB_PROCESS_WIDE(std::atomic<bool>, injected_membarrier_failure){false};
EBB_PROCESS_WIDE(std::atomic<bool>, injected_fence_page_failure){false};

inline bool membarrier_call(int command) noexcept {
  if (EBB_UNLIKELY(injected_membarrier_failure.load(std::memory_order_relaxed))) {
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
                              "ebb: no process-wide memory fence (membarrier and the mprotect fallback both "
                              "failed: %s); shrink passes and profiles leave every fiber alone\n",
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
                                            : fence_method::page);
    state.method.compare_exchange_strong(method, chosen, std::memory_order_acq_rel);
    method = state.method.load(std::memory_order_acquire);
  }
  full_fence();
  bool fenced = false;
  int error = 0;
  if (method == static_cast<int>(fence_method::membarrier)) {
    fenced = membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    if (!fenced) {
      error = errno;
      method = static_cast<int>(fence_method::page);
      state.method.store(method, std::memory_order_release);
    }
  }
  if (!fenced && method == static_cast<int>(fence_method::page)) {
    fenced = page_fence(state);
    if (!fenced) {
      error = errno;
      state.method.store(static_cast<int>(fence_method::none), std::memory_order_release);
    }
  }
  if (!fenced) report_no_fence(state, error ? error : ENOSYS);
  full_fence();
  return fenced;
}

}  // namespace os
EBB_RUNTIME_END
