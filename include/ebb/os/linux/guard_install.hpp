// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/guard_install.hpp — guards inside one mapping where the kernel can, mprotect where not.
//
// Linux 6.13 added guard pages inside one mapping (MADV_GUARD_INSTALL). They do not split the
// mapping, so a million guarded stacks fit under the default vm.max_map_count of 65530, where
// mprotect guards (two mappings per stack) stop near 32,700. Chosen once per process by a probe on a
// page of ebb's own: EINVAL there means the kernel lacks guard install. An EINVAL on a stack later
// means something else (a locked mapping refuses guard install too) and is a plain failure: switching
// methods then would leave guards installed one way and removed the other.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/posix/memory.hpp"
#include "ebb/os/process_wide.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

EBB_RUNTIME_BEGIN
namespace os {

inline constexpr int madv_guard_install = 102;
inline constexpr int madv_guard_remove = 103;

enum class guard_method : int { unknown, guard_install, mprotect };

// EBB_GUARD_METHOD=mprotect in the environment forces the fallback, to see how a process behaves on
// kernels without guard install (tests use it).
// One per process, like the pool whose stacks carry the guards: a library that removed guards with
// the other method than the one that installed them would pool a stack with guards in its middle.
struct guard_method_state {
  std::atomic<int> method{-1};  // -1: the environment not read yet
};
EBB_PROCESS_WIDE(guard_method_state, process_guard_method, {});

inline std::atomic<int>& guard_method_in_use() noexcept {
  std::atomic<int>& method = process_guard_method.method;
  if (EBB_UNLIKELY(method.load(std::memory_order_relaxed) == -1)) {
    const char* forced = std::getenv("EBB_GUARD_METHOD");
    int expected = -1;
    method.compare_exchange_strong(
        expected, static_cast<int>(forced && std::strcmp(forced, "mprotect") == 0 ? guard_method::mprotect
                                                                                : guard_method::unknown),
        std::memory_order_relaxed);
  }
  return method;
}

// Test hook: the probe behaves as under qemu-user, whose madvise accepts MADV_GUARD_INSTALL and does
// nothing (the probe must then choose mprotect).
EBB_PROCESS_WIDE(std::atomic<bool>, guard_probe_ignores_install, {false});

// Whether reading `page` faults, asked without taking a signal: the kernel reads it for write(2) into
// a pipe and answers EFAULT when the page is a guard (or not readable); an emulator that checks its own
// view of the guest's page protections answers the same way for what it knows is protected.
inline bool guard_faults(void* page) noexcept {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;  // cannot tell: do not believe it
  const ssize_t wrote = ::write(fds[1], page, 1);
  const bool faulted = wrote < 0 && errno == EFAULT;
  ::close(fds[0]);
  ::close(fds[1]);
  return faulted;
}

inline guard_method chosen_guard_method() noexcept {
  auto& method = guard_method_in_use();
  int m = method.load(std::memory_order_relaxed);
  if (m != static_cast<int>(guard_method::unknown)) return static_cast<guard_method>(m);
  const int saved = errno;
  int probed = static_cast<int>(guard_method::mprotect);
  void* page = ::mmap(nullptr, page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page != MAP_FAILED) {
    // Under mlockall(MCL_FUTURE) this page is locked and refuses too: mprotect then serves every stack.
    // Success is not believed until the guard is seen to fault: qemu-user (7.2, and any emulator or
    // sandbox that treats madvise as the hint it mostly is) answers 0 to every advice it does not know
    // and installs nothing, which would leave every stack without its guard.
    const bool accepted = guard_probe_ignores_install.load(std::memory_order_relaxed)
                              ? true  // test hook: an emulator that accepts and ignores the advice
                              : ::madvise(page, page_size(), madv_guard_install) == 0;
    if (accepted && guard_faults(page)) probed = static_cast<int>(guard_method::guard_install);
    ::munmap(page, page_size());
  }
  errno = saved;
  method.compare_exchange_strong(m, probed, std::memory_order_relaxed);
  return static_cast<guard_method>(method.load(std::memory_order_relaxed));
}

// Test hook: the next N guard installs or removals fail with ENOMEM, as guard install does under a
// memory cgroup at its limit (it allocates page tables). One relaxed load per call when unused.
EBB_PROCESS_WIDE(std::atomic<int>, injected_guard_failures, {0});
inline bool injected_guard_failure() noexcept {
  int left = injected_guard_failures.load(std::memory_order_relaxed);
  while (EBB_UNLIKELY(left > 0)) {
    if (injected_guard_failures.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
      errno = ENOMEM;
      return true;
    }
  }
  return false;
}

// Make [lo, lo + bytes) inaccessible. Async-signal-safe. On failure (errno set) part of the range
// may be guarded; remove_guard undoes that.
inline bool install_guard(void* lo, std::size_t bytes) noexcept {
  if (bytes == 0) return true;
  if (injected_guard_failure()) return false;
  if (chosen_guard_method() == guard_method::guard_install) return ::madvise(lo, bytes, madv_guard_install) == 0;
  return protect_guard(lo, bytes);
}

// Make a guarded range accessible again (the memory behind it starts out empty). Async-signal-safe.
inline bool remove_guard(void* lo, std::size_t bytes) noexcept {
  if (bytes == 0) return true;
  if (injected_guard_failure()) return false;
  if (chosen_guard_method() == guard_method::guard_install) return ::madvise(lo, bytes, madv_guard_remove) == 0;
  return unprotect_guard(lo, bytes);
}

// Guard a range that may hold memory and free that memory. Guard install discards the pages itself;
// mprotect(PROT_NONE) keeps them resident, so they are dropped first (a failure then leaves the range
// open and nothing guarded). A failed install is undone: false means the range is still accessible.
// Returns false with errno set; a range that can be neither guarded nor opened again is `stuck`.
inline bool guard_and_free(void* lo, std::size_t bytes, bool& stuck) noexcept {
  stuck = false;
  if (bytes == 0) return true;
  if (chosen_guard_method() == guard_method::mprotect && !discard_pages(lo, bytes)) return false;
  if (install_guard(lo, bytes)) return true;
  const int error = errno;
  stuck = !remove_guard(lo, bytes);
  errno = error;
  return false;
}

}  // namespace os
EBB_RUNTIME_END
