// SPDX-License-Identifier: BSL-1.0
// ebb/arch/arm32_aapcs_hf.hpp — the context switch for 32-bit ARM under the AAPCS with the VFP
// (hard-float) variant: Linux "armhf".
//
// x86_64_sysv.hpp is the reference port and explains every decision; this file says only where ARM32
// differs.
//
// Callee-saved under the AAPCS (§6.1.1, §6.1.2.1): r4-r11 (r7 is Thumb code's frame pointer, r11 ARM
// code's), sp, and d8-d15 (s16-s31). The VFP variant only changes argument passing; d8-d15 are
// callee-saved in both variants. lr is not callee-saved but holds the resume address, so it is the
// frame's return slot.
//
// Floating-point control (AAPCS §6.1.2.2): FPSCR mixes control and status. Saved and restored per
// fiber are its control bits, mask 0x07FF9F00:
//     26 AHP, 25 DN, 24 FZ, 23:22 RMode, 21:20 Stride, 19 FZ16 (v8.2), 18:16 Len,
//     15 IDE, 12 IXE, 11 UFE, 10 OFE, 9 DZE, 8 IOE (trap enables).
// Not carried across a switch: the cumulative exception flags (7 IDC, 4 IXC, 3 UFC, 2 OFC, 1 DZC,
// 0 IOC), the saturation flag (27 QC) and the comparison flags (31:28 NZCV). They are status: the
// resumed context keeps the thread's current values, for the same reason the RISC-V port leaves
// fflags alone (a fiber's division by zero stays visible to fetestexcept), and no compiled code
// expects NZCV to survive a call. Len and Stride must be zero at every call anyway.
//
// Frame the switch leaves on the stack it suspends, 112 bytes (a multiple of 16; the AAPCS asks for
// 8-byte alignment at public interfaces):
//
//     sp+108  lr (the resume address, Thumb bit included)
//     sp+104  r11
//     ...     r10 .. r5, 4 bytes each
//     sp+76   r4
//     sp+72   padding (r3's value, pushed with the others to keep the frame 8-byte aligned)
//     sp+64   d15
//     ...     d14 .. d9, 8 bytes each
//     sp+8    d8
//     sp+4    padding
//     sp+0    FPSCR (all of it; only its control bits are restored)
//
// `push {r3-r11, lr}`, `vpush {d8-d15}` and `push {r2, r3}` lay it out (push stores the lowest
// register at the lowest address), in that order.
//
// Thumb-2 and ARM state: the routines are assembled in the instruction set the including translation
// unit is compiled for (__thumb__), so they never change the assembler's mode under the compiler's
// feet, and every transfer is interworking: the switch returns with `bx`, the trampoline calls the
// entry with `blx`, and the saved resume address carries the Thumb bit (a function pointer to Thumb
// code has bit 0 set; `bx` uses it to select the state). A fiber created by ARM-state code may be
// resumed by Thumb code and the other way round, and units of both states may be linked together
// (each emits its own COMDAT copy of the routines; the linker keeps one, of either state), so
// nothing outside the routines may depend on the state they were assembled in: the frame is the
// same, and the trampoline's leading nop is 4 bytes in both (nop.w in Thumb).
//
// Returning: `bx lr` is predicted as a function return (it pops the return stack), and would be
// mispredicted after every switch; the resume address is popped into ip (r12, the intra-procedure
// scratch register) and the routine ends with `bx ip`, an ordinary indirect branch.
//
// Unwind information: two kinds. The ARM EHABI tables (.fnstart/.fnend, .ARM.exidx), which libgcc's
// unwinder uses for C++ exceptions and _Unwind_Backtrace; and DWARF CFI (.cfi_*), which gdb uses.
// The trampoline is .cantunwind in the EHABI tables and has lr undefined in its CFI: both kinds of
// unwinder stop there. EHABI describes a frame only at call sites (it has no per-instruction rules),
// so the switch's EHABI entry states its frame after the pushes; the CFI follows every instruction.
//
// The new-fiber frame: r4 = entry, r5 = argument, r7 = r11 = 0 (the frame-pointer chain of both
// states ends), FPSCR = its creator's, the resume address fiber_start + the nop, Thumb bit as the
// trampoline's own symbol has it.
//
// gdb: registers named as gdb's ARM target spells them (r4..r11, sp, pc); d8-d15 and FPSCR are
// CONTROL slots (tools/gdb/ebb.py borrows general registers only; unwinding needs no FP register,
// and d8-d15 are 8 bytes, wider than the word the helper's register slots hold).
#pragma once

#include "ebb/arch/frame.hpp"
#include "ebb/config.hpp"

// Only for the target it was written for (arch/switch.hpp selects it): included while compiling for
// another CPU, as a header-by-header check does, it is empty rather than a page of assembler errors.
#if defined(EBB_ARCH_ARM32) && defined(EBB_ABI_AAPCS_HF)

#include <cstddef>
#include <cstdint>

#if defined(EBB_FORMAT_ELF)
#include "ebb/arch/format/elf.hpp"
#else
#error "ebb: the ARM32 AAPCS hard-float port has no object-format support for this target (supported: ELF)"
#endif

#if !defined(__ARM_ARCH) || __ARM_ARCH < 7
// movw/movt (v6T2+), Thumb-2 and a VFP with 16 double registers are what Debian's armhf baseline
// (ARMv7-A, VFPv3-D16) guarantees; older cores are not a target of this port.
#error "ebb: the ARM32 port needs ARMv7 or later (armhf's baseline)"
#endif

#if defined(__linux__)
#include <ucontext.h>
#endif

// ---- the frame, once ----------------------------------------------------------------------------
#define EBB_ARM32_FRAME_FPSCR 0
#define EBB_ARM32_FRAME_D(n) (8 + 8 * ((n) - 8))
#define EBB_ARM32_FRAME_R(n) (76 + 4 * ((n) - 4))
#define EBB_ARM32_FRAME_RETURN 108
#define EBB_ARM32_FRAME_BYTES 112
#define EBB_ARM32_FRAME_SLOTS(X)                     \
  X(fpscr, 0, 4, EBB_FRAME_SLOT_CONTROL)             \
  X(d8, 8, 8, EBB_FRAME_SLOT_CONTROL)                \
  X(d9, 16, 8, EBB_FRAME_SLOT_CONTROL)               \
  X(d10, 24, 8, EBB_FRAME_SLOT_CONTROL)              \
  X(d11, 32, 8, EBB_FRAME_SLOT_CONTROL)              \
  X(d12, 40, 8, EBB_FRAME_SLOT_CONTROL)              \
  X(d13, 48, 8, EBB_FRAME_SLOT_CONTROL)              \
  X(d14, 56, 8, EBB_FRAME_SLOT_CONTROL)              \
  X(d15, 64, 8, EBB_FRAME_SLOT_CONTROL)              \
  X(r4, 76, 4, EBB_FRAME_SLOT_REGISTER)              \
  X(r5, 80, 4, EBB_FRAME_SLOT_REGISTER)              \
  X(r6, 84, 4, EBB_FRAME_SLOT_REGISTER)              \
  X(r7, 88, 4, EBB_FRAME_SLOT_REGISTER)              \
  X(r8, 92, 4, EBB_FRAME_SLOT_REGISTER)              \
  X(r9, 96, 4, EBB_FRAME_SLOT_REGISTER)              \
  X(r10, 100, 4, EBB_FRAME_SLOT_REGISTER)            \
  X(r11, 104, 4, EBB_FRAME_SLOT_REGISTER)            \
  X(pc, EBB_ARM32_FRAME_RETURN, 4, EBB_FRAME_SLOT_RETURN)

// FPSCR's control bits (see above): movw/movt halves.
#define EBB_ARM32_FPSCR_CONTROL_MASK 0x07FF9F00u
#define EBB_ARM32_FPSCR_CONTROL_LO "0x9f00"
#define EBB_ARM32_FPSCR_CONTROL_HI "0x07ff"

// The trampoline's nop is 4 bytes in both states (Thumb-2's wide nop.w): a program may link units of
// both states, and the linker then keeps ONE copy of the COMDAT trampoline, of either state, while
// make_initial_frame in every unit adds the nop's width to its address. With a 2-byte Thumb nop, an
// ARM-state unit resuming the Thumb copy would enter it mid-instruction.
#define EBB_ARM32_NOP_BYTES 4
#if defined(__thumb__)
#define EBB_ARM32_MODE ".thumb\n"
#define EBB_ARM32_FUNC ".thumb_func\n"
#define EBB_ARM32_NOP "nop.w\n"
#else
#define EBB_ARM32_MODE ".arm\n"
#define EBB_ARM32_FUNC ""
#define EBB_ARM32_NOP "nop\n"
#endif

// The CFA-relative offset of a slot (.cfi_offset's operand).
#define EBB_ARM32_CFA(slot) EBB_STRINGIFY(slot) "-" EBB_STRINGIFY(EBB_ARM32_FRAME_BYTES)

#define EBB_ARM32_SWITCH "ebb_" EBB_ASM_VERSION "_arm32_aapcs_hf_switch"
#define EBB_ARM32_START "ebb_" EBB_ASM_VERSION "_arm32_aapcs_hf_fiber_start"

// The instruction set is stated first (the same one the compiler is emitting, so nothing after the
// block changes); .thumb_func applies to the next label, so the format's macro puts it right before
// the function's own label, inside the .ifndef.
#define EBB_ARM32_FUNCTION_BEGIN(name) \
  ".syntax unified\n" EBB_ARM32_MODE EBB_ASM_FUNCTION_BEGIN_ISA(name, "2", EBB_ARM32_FUNC)

// void switch(void** save_sp /* r0 */, void* target_sp /* r1 */); r2, r3 and ip are scratch.
__asm__(
    EBB_ARM32_FUNCTION_BEGIN(EBB_ARM32_SWITCH)
    ".fnstart\n"
    ".cfi_startproc\n"
    "push {r3-r11, lr}\n"
    ".save {r3-r11, lr}\n"
    ".cfi_adjust_cfa_offset 40\n"
    ".cfi_offset r4, " EBB_ARM32_CFA(76) "\n"
    ".cfi_offset r5, " EBB_ARM32_CFA(80) "\n"
    ".cfi_offset r6, " EBB_ARM32_CFA(84) "\n"
    ".cfi_offset r7, " EBB_ARM32_CFA(88) "\n"
    ".cfi_offset r8, " EBB_ARM32_CFA(92) "\n"
    ".cfi_offset r9, " EBB_ARM32_CFA(96) "\n"
    ".cfi_offset r10, " EBB_ARM32_CFA(100) "\n"
    ".cfi_offset r11, " EBB_ARM32_CFA(104) "\n"
    ".cfi_offset lr, " EBB_ARM32_CFA(108) "\n"
    "vpush {d8-d15}\n"
    ".vsave {d8-d15}\n"
    ".cfi_adjust_cfa_offset 64\n"
    "vmrs r2, fpscr\n"
    "push {r2, r3}\n"             // FPSCR at sp+0, padding at sp+4
    ".pad #8\n"
    ".cfi_adjust_cfa_offset 8\n"
    "mov r2, sp\n"
    "str r2, [r0]\n"              // suspend: save our stack pointer (no barrier: docs/design.md)
    "mov sp, r1\n"                // resume: from here on we are on the target's stack
    "pop {r2, r3}\n"
    ".cfi_adjust_cfa_offset -8\n"
    "vmrs r3, fpscr\n"            // merge: the saved control bits, the thread's current status
    "movw ip, #" EBB_ARM32_FPSCR_CONTROL_LO "\n"
    "movt ip, #" EBB_ARM32_FPSCR_CONTROL_HI "\n"
    "bic r3, r3, ip\n"
    "and r2, r2, ip\n"
    "orr r3, r3, r2\n"
    "vmsr fpscr, r3\n"
    "vpop {d8-d15}\n"
    ".cfi_adjust_cfa_offset -64\n"
    "pop {r3-r11, ip}\n"          // the resume address into ip, not lr: see "Returning"
    ".cfi_adjust_cfa_offset -40\n"
    ".cfi_restore r4\n .cfi_restore r5\n .cfi_restore r6\n .cfi_restore r7\n"
    ".cfi_restore r8\n .cfi_restore r9\n .cfi_restore r10\n .cfi_restore r11\n"
    ".cfi_register lr, ip\n"
    "bx ip\n"
    ".cfi_endproc\n"
    ".fnend\n"
    EBB_ASM_FUNCTION_END(EBB_ARM32_SWITCH));

// Entered by the first switch to a new fiber, with sp 16-byte aligned, r4 = entry, r5 = argument.
__asm__(
    EBB_ARM32_FUNCTION_BEGIN(EBB_ARM32_START)
    ".fnstart\n"
    ".cantunwind\n"               // EHABI: outermost frame
    ".cfi_startproc\n"
    ".cfi_undefined lr\n"         // DWARF: outermost frame
    EBB_ARM32_NOP                 // the initial frame "returns" just past it
    "mov r0, r5\n"
    "blx r4\n"
    "udf #0\n"                    // entry never returns: it switches away for the last time
    EBB_ASM_KEEP(EBB_FRAME_LAYOUT_SYMBOL)
    ".cfi_endproc\n"
    ".fnend\n"
    EBB_ASM_FUNCTION_END(EBB_ARM32_START));

__asm__(
    EBB_ASM_RODATA_BEGIN(EBB_FRAME_LAYOUT_SYMBOL, "2")
    EBB_FRAME_LAYOUT_ASM(EBB_ARM32_FRAME_SLOTS, EBB_ARM32_FRAME_BYTES, "sp")
    EBB_ASM_RODATA_END(EBB_FRAME_LAYOUT_SYMBOL));

EBB_RUNTIME_BEGIN
namespace arch {

extern "C" {
__attribute__((visibility("hidden"))) void ebb_switch_context(void** save_sp, void* target_sp)
    __asm__(EBB_ARM32_SWITCH);
__attribute__((visibility("hidden"))) void ebb_fiber_start() __asm__(EBB_ARM32_START);
}

inline constexpr std::size_t initial_frame_bytes = EBB_ARM32_FRAME_BYTES;
inline constexpr std::size_t stack_alignment = 8;  // AAPCS §6.2.1.2: 8-byte aligned at public interfaces
inline constexpr std::size_t frame_return_offset = EBB_ARM32_FRAME_RETURN;
inline constexpr frame_slot frame_slots[] = {EBB_ARM32_FRAME_SLOTS(EBB_FRAME_SLOT_CXX)};
static_assert(EBB_ARM32_FRAME_R(11) == 104 && EBB_ARM32_FRAME_D(15) == 64,
              "the slot list's numbers must match the named offsets");

inline void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept {
  constexpr std::size_t word = sizeof(std::uint32_t);
  auto* frame = reinterpret_cast<std::uint32_t*>(static_cast<char*>(top) - initial_frame_bytes);
  for (std::size_t i = 0; i < initial_frame_bytes / word; ++i) frame[i] = 0;  // r7 = r11 = 0, d8-d15 = 0
  std::uint32_t fpscr;
  __asm__ volatile("vmrs %0, fpscr" : "=r"(fpscr));
  frame[EBB_ARM32_FRAME_FPSCR / word] = fpscr;  // its control bits are the creator's
  frame[EBB_ARM32_FRAME_R(4) / word] = reinterpret_cast<std::uint32_t>(entry);
  frame[EBB_ARM32_FRAME_R(5) / word] = reinterpret_cast<std::uint32_t>(arg);
  // The trampoline's address as a code pointer: bit 0 set when it is Thumb code (.thumb_func); the
  // nop's width added keeps that bit.
  frame[EBB_ARM32_FRAME_RETURN / word] =
      reinterpret_cast<std::uint32_t>(&ebb_fiber_start) + EBB_ARM32_NOP_BYTES;
  return frame;
}

// ELF ARM, initial-exec: the thread pointer is TPIDRURO (CP15 c13, read with mrc; Linux keeps it
// there on every ARMv6K+/v7 core, which armhf's baseline guarantees, so no kernel helper call); the
// variable's offset from it is a GOT entry the dynamic linker fills, found PC-relatively
// (R_ARM_TLS_IE32: the literal is the GOT entry's distance from the `add`/`ldr` that reads pc, which
// reads as that instruction + 4 in Thumb, + 8 in ARM), so the sequence is position-independent and
// works in shared libraries. The literal sits inline, jumped over.
#if defined(EBB_FORMAT_ELF)
EBB_ALWAYS_INLINE void* thread_state_address() noexcept {
  void* address;
  std::uint32_t offset;
  __asm__ volatile(
      "ldr %1, 2f\n"
#if defined(__thumb__)
      "1: add %1, pc\n"
      "ldr %1, [%1]\n"
#else
      "1: ldr %1, [pc, %1]\n"
#endif
      "b 3f\n"
      ".p2align 2\n"
#if defined(__thumb__)
      "2: .word " EBB_THREAD_STATE_SYMBOL "(gottpoff) + (. - 1b - 4)\n"
#else
      "2: .word " EBB_THREAD_STATE_SYMBOL "(gottpoff) + (. - 1b - 8)\n"
#endif
      "3: mrc p15, 0, %0, c13, c0, 3\n"
      "add %0, %0, %1"
      : "=r"(address), "=&r"(offset));
  return address;
}
#else
#error "ebb: ARM32 thread-state access is written for ELF only"
#endif

EBB_ALWAYS_INLINE std::uintptr_t shadow_stack_pointer() noexcept { return 0; }  // none on ARM32

#if defined(__linux__)
// glibc's ARM mcontext_t is the kernel's sigcontext: arm_sp is the interrupted sp.
inline void* interrupted_stack_pointer(const void* ucontext) noexcept {
  return reinterpret_cast<void*>(static_cast<const ucontext_t*>(ucontext)->uc_mcontext.arm_sp);
}
#else
#error "ebb: ARM32 interrupted_stack_pointer knows only Linux's ucontext_t (missing: this OS's)"
#endif

EBB_ALWAYS_INLINE void* stack_pointer() noexcept {
  void* sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

// `yield` (ARMv6K and later, both states): a hint that this is a spin loop, which an SMT core may use
// to run its sibling; cores without multithreading execute it as a nop. ARMv7 is the minimum here.
EBB_ALWAYS_INLINE void cpu_relax() noexcept { __asm__ volatile("yield"); }

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_ARM32) && defined(EBB_ABI_AAPCS_HF)
