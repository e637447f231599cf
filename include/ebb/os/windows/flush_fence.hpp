// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/flush_fence.hpp — heavy_fence on Windows (os/asymmetric_fence.hpp says what the fence
// is for).
//
// FlushProcessWriteBuffers makes every processor running a thread of the process flush its write
// buffer (Windows sends each an inter-processor interrupt): the guarantee Linux's
// membarrier(PRIVATE_EXPEDITED) gives. It cannot fail and needs no registration.
//
// Except under wine, where up to 8.0 at least it is a stub that does nothing ("fixme:virtual:
// NtFlushProcessWriteBuffers stub"): the resume/pass handshake then has no fence on its cheap side,
// and a shrink pass racing with threads that destroy fibers read a freed control block (seen once in
// tests/unit/test_pool.cpp under wine; tests/unit/test_asymmetric_fence.cpp shows the missing fence
// directly: 3-4 of its 2,500 rounds). Under wine ebb therefore uses what Windows itself does inside
// FlushProcessWriteBuffers, and what Linux's fallback does (os/linux/membarrier_fence.hpp): change
// the protection of a page every thread may have in its TLB; removing write access makes the kernel
// shoot the page's TLB entries down on every CPU that runs the process, an interrupt that drains each
// CPU's store buffer on x86 (the only Windows CPU ebb supports so far). Wine's VirtualProtect is
// Linux's mprotect.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include "ebb/os/asymmetric_fence.hpp"  // full_fence; this file completes it
#include "ebb/os/process_wide.hpp"
#include "ebb/os/windows/memory.hpp"
#include "ebb/os/windows/windows_h.hpp"

#include <atomic>

EBB_RUNTIME_BEGIN
namespace os {

struct flush_fence_state {
  std::atomic<int> method{0};  // 0: not chosen, 1: FlushProcessWriteBuffers, 2: page protection (wine)
  std::atomic<void*> page{nullptr};
};
EBB_PROCESS_WIDE(flush_fence_state, process_flush_fence, {});

inline bool running_under_wine() noexcept {
  HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

inline bool page_protection_fence(flush_fence_state& state) noexcept {
  void* page = state.page.load(std::memory_order_acquire);
  if (page == nullptr) {
    void* fresh = ::VirtualAlloc(nullptr, page_size(), MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (fresh == nullptr) return false;
    if (!state.page.compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) ::VirtualFree(fresh, 0, MEM_RELEASE);
    page = state.page.load(std::memory_order_acquire);
  }
  *static_cast<volatile char*>(page) = 1;  // present and writable in this CPU's TLB
  DWORD previous = 0;
  return ::VirtualProtect(page, page_size(), PAGE_READONLY, &previous) != 0 &&
         ::VirtualProtect(page, page_size(), PAGE_READWRITE, &previous) != 0;
}

inline bool heavy_fence() noexcept {
#if EBB_TSAN
  return true;  // as on Linux: under ThreadSanitizer both sides are sequentially consistent instead
#endif
  auto& state = process_flush_fence;
  int method = state.method.load(std::memory_order_acquire);
  if (EBB_UNLIKELY(method == 0)) {
    method = running_under_wine() ? 2 : 1;
    state.method.store(method, std::memory_order_release);
  }
  full_fence();
  bool fenced = true;
  if (method == 1)
    ::FlushProcessWriteBuffers();
  else
    fenced = page_protection_fence(state);
  full_fence();
  return fenced;
}

}  // namespace os
EBB_RUNTIME_END

#endif  // defined(_WIN32)
