// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_ms_msvc.hpp — the instructions arch/x86_64_ms.hpp writes as GNU inline assembly in
// its C++ (not in its routines), as MSVC intrinsics: MSVC has no x64 inline assembly.
//
// Only real MSVC reads this; clang, in either of its Windows modes, takes the inline assembly. No
// MSVC runs where ebb is tested (tests/windows/README.md): this file is the one part of the MSVC
// path that has never been compiled.
#pragma once

#include "ebb/config.hpp"

#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS) && defined(_MSC_VER) && !defined(__clang__)

#include <cstdint>
#include <cstring>

#include <intrin.h>

#include "ebb/os/windows/windows_h.hpp"

EBB_RUNTIME_BEGIN
namespace arch {
namespace msvc {

// The raw MXCSR and x87 control word, as stmxcsr / fnstcw store them: a new fiber starts with its
// creator's. MSVC's x64 _control87 reports MXCSR only, in its own encoding, and there is no fnstcw
// intrinsic; fxsave stores both raw (FCW at byte 0, MXCSR at byte 24 of its 512-byte area).
inline void read_fp_control(std::uint32_t& mxcsr, std::uint16_t& x87_control) noexcept {
  alignas(16) unsigned char area[512];
  _fxsave64(area);
  std::memcpy(&x87_control, area, sizeof x87_control);
  std::memcpy(&mxcsr, area + 24, sizeof mxcsr);
}

// rdsspq is a NOP where shadow stacks are off, leaving its register as it was; the GNU form zeroes
// the register first, and MSVC's _rdsspq promises no such thing. So ask the process first: user
// shadow stacks are on only under ProcessUserShadowStackPolicy (13: named constant absent from older
// SDKs), bit 0 EnableUserShadowStack. Asked once; the policy does not change while the process runs.
inline std::uintptr_t shadow_stack_pointer() noexcept {
  static const bool enabled = [] {
    DWORD flags = 0;
    return GetProcessMitigationPolicy(GetCurrentProcess(), static_cast<PROCESS_MITIGATION_POLICY>(13), &flags,
                                      sizeof flags) &&
           (flags & 1) != 0;
  }();
  return enabled ? static_cast<std::uintptr_t>(_rdsspq()) : 0;
}

// Roughly the caller's stack pointer, as the contract asks: the slot of this call's return address.
__forceinline void* stack_pointer() noexcept { return _AddressOfReturnAddress(); }

inline void cpu_relax() noexcept { _mm_pause(); }

// TlsSlots[slot - 1] of the running thread's TEB (arch::thread_state_address's fast path). The
// intrinsic reads gs afresh at every call, like the volatile assembly it stands for.
__forceinline void* tls_slot(std::uint64_t slot) noexcept {
  return reinterpret_cast<void*>(__readgsqword(static_cast<unsigned long>(0x1478 + 8 * slot)));
}

}  // namespace msvc
}  // namespace arch
EBB_RUNTIME_END

#endif
