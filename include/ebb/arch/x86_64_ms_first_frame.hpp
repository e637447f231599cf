// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_ms_first_frame.hpp — a new fiber's first frame on Windows x64, and the stack bounds
// the TIB is told: the make_initial_frame part of arch/x86_64_ms.hpp's contract (that header draws
// the frame and defines its EBB_X86_64_MS_FRAME_* offsets, and includes this one after them).
//
// The new-fiber frame (make_initial_frame) is the same 288 bytes, below a 16-byte outermost frame at
// the top of the stack: [top-8] = 0, the return address of a function nobody called, and [top-16] = 0,
// the rbp that fiber_start's `push rbp` would have saved. The switch "returns" (jumps) one byte into
// fiber_start, past that push (so the unwind codes at that address describe exactly those 16 bytes)
// with rsp = top - 16, 16-byte aligned as the movaps of the frame below need; fiber_start then
// allocates the 32 bytes of home ("shadow") space every call must provide and calls entry(arg)
// (r12, r13 from the frame) with rsp 16-byte aligned at the call, so the entry sees rsp + 8 aligned.
// Unwinding out of fiber_start pops the zero rbp and returns to address 0 with rsp == StackBase, inside
// the stack's bounds, where every walk ends: a return address of 0 is the end of a stack to
// RtlVirtualUnwind loops, RtlCaptureStackBackTrace and libgcc's _Unwind_Backtrace (END_OF_STACK), all
// three checked under wine; and rbp = 0 ends frame-pointer chains.
//
// TIB values of a new fiber: make_initial_frame_with_tib takes its stack's bounds (tib_stack_bounds
// below). The contract's make_initial_frame does not know where the stack ends; it sets StackLimit and
// DeallocationStack to 0 ("anything below top"): exceptions then work on any stack whose memory is
// committed (a heap block, as the contract test uses), but the OS's growth and overflow handling
// have no floor to work against. ebb's Windows OS layer is to pass the reservation's real bounds.
//
#pragma once

#include "ebb/arch/x86_64_ms.hpp"

#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
#include <cstddef>
#include <cstdint>
#include <cstring>

EBB_RUNTIME_BEGIN
namespace arch {

// The frame drawn in arch/x86_64_ms.hpp, as make_initial_frame_in writes it.
static_assert(EBB_X86_64_MS_FRAME_ALLOC == EBB_X86_64_MS_FRAME_R15 &&
                  EBB_X86_64_MS_FRAME_RBP + 8 == EBB_X86_64_MS_FRAME_RETURN &&
                  EBB_X86_64_MS_FRAME_RETURN + 8 == EBB_X86_64_MS_FRAME_BYTES,
              "the pushes sit right above the allocation, rbp last, under the return address");
static_assert((EBB_X86_64_MS_FRAME_BYTES - 8 - EBB_X86_64_MS_FRAME_ALLOC) == 8 * 8,
              "eight general registers are pushed");
static_assert(EBB_X86_64_MS_FRAME_XMM6 % 16 == 0 && EBB_X86_64_MS_FRAME_XMM15 == EBB_X86_64_MS_FRAME_XMM6 + 9 * 16 &&
                  EBB_X86_64_MS_FRAME_XMM15 + 16 <= EBB_X86_64_MS_FRAME_ALLOC,
              "xmm slots are 16-byte aligned, consecutive and inside the allocation");
static_assert(EBB_X86_64_MS_FRAME_ALLOC % 16 == 8,
              "rsp is 16-byte aligned after the allocation (8 mod 16 at entry and after the eight pushes)");

// How a new fiber's stack is described to Windows, besides its top (which is StackBase).
struct tib_stack_bounds {
  void* limit = nullptr;              // StackLimit: the lowest committed address
  void* deallocation = nullptr;       // DeallocationStack: the base of the stack's reservation
  std::uint32_t guaranteed_bytes = 0; // GuaranteedStackBytes: 0 is the default guarantee
};

#if !EBB_X86_64_MS_MACHINE_CODE
inline const void* fiber_start_address() noexcept { return reinterpret_cast<const void*>(&ebb_fiber_start); }
#endif  // the machine-code form's, and its ebb_switch_context, are x86_64_ms_code_block.hpp's

// Lay out the first frame on a new stack whose (16-byte aligned) top is `top` and whose extent the OS
// is told by `bounds`, to be resumed in the fiber_start whose first byte is `fiber_start`; returns the
// stack pointer to switch to. (Which fiber_start is the caller's business: the assembled one, or a
// machine-code copy, which tests/windows/machine_code_test.cpp runs beside it.)
inline void* make_initial_frame_in(const void* fiber_start, void* top, void (*entry)(void*), void* arg,
                                   const tib_stack_bounds& bounds) noexcept {
  constexpr std::size_t word = sizeof(std::uint64_t);
  auto* outermost = reinterpret_cast<std::uint64_t*>(static_cast<char*>(top) - outermost_frame_bytes);
  outermost[0] = 0;  // the rbp fiber_start "pushed": ends frame-pointer chains
  outermost[1] = 0;  // its return address: none, the unwinder's walk ends here
  auto* frame = reinterpret_cast<std::uint64_t*>(reinterpret_cast<char*>(outermost) - initial_frame_bytes);
  std::memset(frame, 0, initial_frame_bytes);  // xmm6–15, r14, r15, rbx, rsi, rdi, padding: zero
  static_assert(EBB_X86_64_MS_FRAME_MXCSR == 0 && EBB_X86_64_MS_FRAME_X87_CW == 4, "one word holds both control words");
#if defined(_MSC_VER) && !defined(__clang__)
  std::uint32_t mxcsr;
  std::uint16_t x87_control;
  msvc::read_fp_control(mxcsr, x87_control);
  frame[EBB_X86_64_MS_FRAME_MXCSR / word] = mxcsr | (static_cast<std::uint64_t>(x87_control) << 32);
#else
  // Stored straight into the zeroed frame, never read back (x86_64_sysv.hpp says why: store forwarding).
  __asm__ volatile("stmxcsr " EBB_STRINGIFY(EBB_X86_64_MS_FRAME_MXCSR) "(%0)\n\t"
                   "fnstcw " EBB_STRINGIFY(EBB_X86_64_MS_FRAME_X87_CW) "(%0)"
                   :
                   : "r"(frame)
                   : "memory");
#endif
  frame[EBB_X86_64_MS_FRAME_GUARANTEE / word] = bounds.guaranteed_bytes;
  frame[EBB_X86_64_MS_FRAME_EXCEPTION_LIST / word] = ~std::uint64_t{0};  // the end of the SEH list
  frame[EBB_X86_64_MS_FRAME_STACK_BASE / word] = reinterpret_cast<std::uint64_t>(top);
  frame[EBB_X86_64_MS_FRAME_STACK_LIMIT / word] = reinterpret_cast<std::uint64_t>(bounds.limit);
  frame[EBB_X86_64_MS_FRAME_DEALLOCATION / word] = reinterpret_cast<std::uint64_t>(bounds.deallocation);
  frame[EBB_X86_64_MS_FRAME_R12 / word] = reinterpret_cast<std::uint64_t>(entry);
  frame[EBB_X86_64_MS_FRAME_R13 / word] = reinterpret_cast<std::uint64_t>(arg);
  // rbp 0 (memset). One byte in: past the `push rbp` whose result the outermost frame already holds.
  frame[EBB_X86_64_MS_FRAME_RETURN / word] = reinterpret_cast<std::uint64_t>(fiber_start) + 1;
  return frame;
}

inline void* make_initial_frame_with_tib(void* top, void (*entry)(void*), void* arg,
                                        const tib_stack_bounds& bounds) noexcept {
  return make_initial_frame_in(fiber_start_address(), top, entry, arg, bounds);
}

// The bounds a switch frame at `sp` saved (the TIB of the stack that switched away there): for a new
// frame that is to run on that same stack (detail/thread_stack_call.hpp).
inline tib_stack_bounds tib_bounds_saved_at(const void* sp) noexcept {
  const auto* frame = static_cast<const char*>(sp);
  tib_stack_bounds bounds;
  std::memcpy(&bounds.limit, frame + EBB_X86_64_MS_FRAME_STACK_LIMIT, sizeof bounds.limit);
  std::memcpy(&bounds.deallocation, frame + EBB_X86_64_MS_FRAME_DEALLOCATION, sizeof bounds.deallocation);
  std::memcpy(&bounds.guaranteed_bytes, frame + EBB_X86_64_MS_FRAME_GUARANTEE, sizeof bounds.guaranteed_bytes);
  return bounds;
}

// The contract's form (not an overload: arch/contract.hpp takes its address): the stack's extent is
// not known here, so the OS is told "everything below top" (StackLimit = DeallocationStack = 0). Right
// for committed memory that never grows (a heap block); a stack the OS is to grow needs the bounds.
inline void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept {
  return make_initial_frame_with_tib(top, entry, arg, tib_stack_bounds{});
}

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
