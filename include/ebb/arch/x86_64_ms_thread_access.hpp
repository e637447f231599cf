// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_ms_thread_access.hpp — what ebb reads of the running thread on Windows x64: the TEB
// fields a stack is described by (the switch swaps them), its ebb thread state (one TLS slot), the
// shadow-stack pointer, the stack pointer an exception interrupted, and the current stack pointer.
// Part of arch/x86_64_ms.hpp's contract, included by it before its routines.
#pragma once

#include "ebb/arch/x86_64_ms.hpp"

#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

// ---- the TEB fields a stack is described by (64-bit TEB offsets, read and written through gs) ------
#define EBB_WIN64_TEB_EXCEPTION_LIST 0x0
#define EBB_WIN64_TEB_STACK_BASE 0x8
#define EBB_WIN64_TEB_STACK_LIMIT 0x10
#define EBB_WIN64_TEB_FIBER_DATA 0x20
#define EBB_WIN64_TEB_DEALLOCATION_STACK 0x1478
#define EBB_WIN64_TEB_GUARANTEED_STACK_BYTES 0x1748


EBB_RUNTIME_BEGIN
namespace arch {

// ebb's per-thread state: a block whose address sits in one TlsAlloc slot of the process, the same
// slot for every module (a C++ thread_local would be one per EXE or DLL: PE does not merge them). The
// slot's index is process-wide (os/windows/thread_block.hpp); each module caches 1 + index here. The
// fast path reads the slot straight from the TEB (TlsSlots[64] at gs:0x1480, the layout TlsGetValue
// reads on every x64 Windows and under wine) with volatile assembly, so the address is recomputed at
// every call, never carried across a switch to another thread. Indexes 64 and up (TlsExpansionSlots)
// and a thread's first call take the out-of-line path, defined by the OS layer.
inline std::atomic<std::uint32_t> thread_state_slot_cache{0};
void* thread_state_slow() noexcept;
EBB_ALWAYS_INLINE void* thread_state_address() noexcept {
  const std::uint64_t slot = thread_state_slot_cache.load(std::memory_order_relaxed);
  if (EBB_LIKELY(slot != 0)) {
#if defined(_MSC_VER) && !defined(__clang__)
    void* state = msvc::tls_slot(slot);
#else
    void* state;
    __asm__ volatile("movq %%gs:0x1478(,%1,8), %0" : "=r"(state) : "r"(slot));  // 0x1480 + 8 * (slot - 1)
#endif
    if (EBB_LIKELY(state != nullptr)) return state;
  }
  return thread_state_slow();
}

// rdsspq as on System V: 0 unless Windows enforces hardware shadow stacks for this thread.
EBB_ALWAYS_INLINE std::uintptr_t shadow_stack_pointer() noexcept {
#if defined(_MSC_VER) && !defined(__clang__)
  return msvc::shadow_stack_pointer();
#else
  std::uintptr_t ssp = 0;
  __asm__ volatile("rdsspq %0" : "+r"(ssp));
  return ssp;
#endif
}

// Windows has no signals: the interrupted context is the CONTEXT record a vectored exception handler
// receives (EXCEPTION_POINTERS::ContextRecord), whose Rsp is at offset 0x98 in every x64 Windows SDK
// (tests/windows/switch_test.cpp checks it against winnt.h); read by offset so this header need not
// include <windows.h>.
inline constexpr std::size_t context_rsp_offset = 0x98;
inline void* interrupted_stack_pointer(const void* context) noexcept {
  std::uint64_t rsp;
  std::memcpy(&rsp, static_cast<const char*>(context) + context_rsp_offset, sizeof rsp);
  return reinterpret_cast<void*>(rsp);
}

#if defined(_MSC_VER) && !defined(__clang__)
EBB_ALWAYS_INLINE void* stack_pointer() noexcept { return msvc::stack_pointer(); }
EBB_ALWAYS_INLINE void cpu_relax() noexcept { msvc::cpu_relax(); }
#else
EBB_ALWAYS_INLINE void* stack_pointer() noexcept {
  void* sp;
  __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
  return sp;
}

EBB_ALWAYS_INLINE void cpu_relax() noexcept { __builtin_ia32_pause(); }
#endif

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
