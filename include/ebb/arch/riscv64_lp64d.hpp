// SPDX-License-Identifier: BSL-1.0
// ebb/arch/riscv64_lp64d.hpp — the context switch for RISC-V 64 under the lp64d calling convention.
//
// x86_64_sysv.hpp is the reference port and explains every decision; this file says only where
// RISC-V differs.
//
// Callee-saved under lp64d (RISC-V psABI, "Integer Register Convention" and "Floating-point Register
// Convention"): sp, s0-s11 (x8, x9, x18-x27), and, because the D extension's ABI passes doubles in FP
// registers, fs0-fs11 (f8, f9, f18-f27) — all 64 bits of them, as FLEN is 64. ra is not callee-saved
// but it is the resume address, so it is the frame's return slot.
//
// Floating-point control: fcsr is frm (the dynamic rounding mode, bits 7:5) plus fflags (the accrued
// exception flags, bits 4:0). The psABI gives fcsr thread storage duration, as C's <fenv.h> does
// for the floating-point environment; ebb treats a fiber like a thread there, as it does with x86's
// MXCSR control bits: frm is saved and restored, so a fiber that sets a rounding mode keeps it and
// does not impose it on whoever resumed it. fflags are deliberately not saved: they are sticky
// status, not control. Restoring them at a switch would erase exceptions the other side raised
// before anyone tested them (fetestexcept after a resume would miss a division by zero the fiber
// did), and saving them buys nothing the compiler relies on — no code expects fflags to survive a
// call, whereas code does expect its rounding mode to.
//
// Frame the switch leaves on the stack it suspends, 208 bytes (a multiple of the 16-byte stack
// alignment):
//
//     sp+200  ra (the resume address)
//     sp+192  s11
//     ...     s10 .. s1, 8 bytes each
//     sp+104  s0 (the frame pointer when one is used)
//     sp+96   fs11
//     ...     fs10 .. fs1, 8 bytes each
//     sp+8    fs0
//     sp+0    frm (read with frrm, a whole word; only bits 2:0 are meaningful)
//
// RISC-V has no push: the frame is allocated with one `addi` and filled with stores, so the order of
// the stores does not matter; the offsets come from EBB_RISCV64_FRAME_SLOTS.
//
// Returning: `ret` (jalr x0, 0(ra)) is, by the ISA's hint table, a return, which pops the return-
// address stack and predicts the caller's own return site, wrong after every switch. So the resume
// address is loaded into t1 and the routine ends with `jr t1`: jalr with rd = x0 and rs1 neither x1
// nor x5 (the link registers) is a plain indirect jump that the predictor can learn. ra is left as
// it was: after a return the caller's ra is dead (it was saved by the caller's own prologue).
//
// The new-fiber frame: s0 = 0 (ends the frame-pointer chain), s1 = entry, s2 = argument, the resume
// address fiber_start + 4, past a 4-byte nop (compressed instructions are off there, so it is 4
// bytes): an unwinder looks up resume address - 1, which must fall inside fiber_start (see
// make_initial_frame in the reference port). fiber_start's CFI marks ra undefined: backtraces end
// there.
//
// gdb: the layout object names the registers as gdb's RISC-V target spells them (s0 is an alias of
// x8/fp there). fs0-fs11 and frm are CONTROL slots: tools/gdb/ebb.py borrows only general registers
// (it writes them with `set $reg = integer`, which would convert for an FP register), and unwinding
// needs none of them.
#pragma once

#include "ebb/arch/frame.hpp"
#include "ebb/config.hpp"

// Only for the target it was written for (arch/switch.hpp selects it): included while compiling for
// another CPU, as a header-by-header check does, it is empty rather than a page of assembler errors.
#if defined(EBB_ARCH_RISCV64) && defined(EBB_ABI_LP64D)

#include <cstddef>
#include <cstdint>

#if defined(EBB_FORMAT_ELF)
#include "ebb/arch/format/elf.hpp"
#else
#error "ebb: the RISC-V 64 lp64d port has no object-format support for this target (supported: ELF)"
#endif

#if defined(__linux__)
#include <ucontext.h>
#endif

// ---- the frame, once ----------------------------------------------------------------------------
#define EBB_RISCV64_FRAME_FRM 0
#define EBB_RISCV64_FRAME_FS(n) (8 + 8 * (n))
#define EBB_RISCV64_FRAME_S(n) (104 + 8 * (n))
#define EBB_RISCV64_FRAME_RETURN 200
#define EBB_RISCV64_FRAME_BYTES 208
// The offsets written out as numbers (the assembler and the layout object need them as text).
#define EBB_RISCV64_FRAME_SLOTS(X)                      \
  X(frm, 0, 8, EBB_FRAME_SLOT_CONTROL)                  \
  X(fs0, 8, 8, EBB_FRAME_SLOT_CONTROL)                  \
  X(fs1, 16, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs2, 24, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs3, 32, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs4, 40, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs5, 48, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs6, 56, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs7, 64, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs8, 72, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs9, 80, 8, EBB_FRAME_SLOT_CONTROL)                 \
  X(fs10, 88, 8, EBB_FRAME_SLOT_CONTROL)                \
  X(fs11, 96, 8, EBB_FRAME_SLOT_CONTROL)                \
  X(s0, 104, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s1, 112, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s2, 120, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s3, 128, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s4, 136, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s5, 144, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s6, 152, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s7, 160, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s8, 168, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s9, 176, 8, EBB_FRAME_SLOT_REGISTER)                \
  X(s10, 184, 8, EBB_FRAME_SLOT_REGISTER)               \
  X(s11, 192, 8, EBB_FRAME_SLOT_REGISTER)               \
  X(pc, EBB_RISCV64_FRAME_RETURN, 8, EBB_FRAME_SLOT_RETURN)

// Per slot: the store (suspend side), the load (resume side) and its CFI, from the same list, so the
// assembly cannot disagree with the table. frm and the return address are handled by hand.
#define EBB_RISCV64_STORE_(reg, offset, op) op " " #reg ", " #offset "(sp)\n"                            \
  ".cfi_offset " #reg ", " #offset "-" EBB_STRINGIFY(EBB_RISCV64_FRAME_BYTES) "\n"
#define EBB_RISCV64_LOAD_(reg, offset, op) op " " #reg ", " #offset "(sp)\n" ".cfi_restore " #reg "\n"
#define EBB_RISCV64_STORE(name, offset, bytes, kind) EBB_RISCV64_STORE_##kind(name, offset)
#define EBB_RISCV64_LOAD(name, offset, bytes, kind) EBB_RISCV64_LOAD_##kind(name, offset)
// kind arrives as the macro name EBB_FRAME_SLOT_*; pasted, it picks the instruction.
#define EBB_RISCV64_STORE_EBB_FRAME_SLOT_REGISTER(reg, offset) EBB_RISCV64_STORE_(reg, offset, "sd")
#define EBB_RISCV64_LOAD_EBB_FRAME_SLOT_REGISTER(reg, offset) EBB_RISCV64_LOAD_(reg, offset, "ld")
#define EBB_RISCV64_STORE_EBB_FRAME_SLOT_CONTROL(reg, offset) EBB_RISCV64_FP_STORE_##reg(offset)
#define EBB_RISCV64_LOAD_EBB_FRAME_SLOT_CONTROL(reg, offset) EBB_RISCV64_FP_LOAD_##reg(offset)
#define EBB_RISCV64_STORE_EBB_FRAME_SLOT_RETURN(reg, offset)
#define EBB_RISCV64_LOAD_EBB_FRAME_SLOT_RETURN(reg, offset)
// CONTROL slots: the FP registers are fsd/fld; frm is done by hand (csr access, not a plain store).
#define EBB_RISCV64_FP_STORE_frm(offset)
#define EBB_RISCV64_FP_LOAD_frm(offset)
#define EBB_RISCV64_FP_STORE_fs0(offset) EBB_RISCV64_STORE_(fs0, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs1(offset) EBB_RISCV64_STORE_(fs1, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs2(offset) EBB_RISCV64_STORE_(fs2, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs3(offset) EBB_RISCV64_STORE_(fs3, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs4(offset) EBB_RISCV64_STORE_(fs4, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs5(offset) EBB_RISCV64_STORE_(fs5, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs6(offset) EBB_RISCV64_STORE_(fs6, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs7(offset) EBB_RISCV64_STORE_(fs7, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs8(offset) EBB_RISCV64_STORE_(fs8, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs9(offset) EBB_RISCV64_STORE_(fs9, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs10(offset) EBB_RISCV64_STORE_(fs10, offset, "fsd")
#define EBB_RISCV64_FP_STORE_fs11(offset) EBB_RISCV64_STORE_(fs11, offset, "fsd")
#define EBB_RISCV64_FP_LOAD_fs0(offset) EBB_RISCV64_LOAD_(fs0, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs1(offset) EBB_RISCV64_LOAD_(fs1, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs2(offset) EBB_RISCV64_LOAD_(fs2, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs3(offset) EBB_RISCV64_LOAD_(fs3, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs4(offset) EBB_RISCV64_LOAD_(fs4, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs5(offset) EBB_RISCV64_LOAD_(fs5, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs6(offset) EBB_RISCV64_LOAD_(fs6, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs7(offset) EBB_RISCV64_LOAD_(fs7, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs8(offset) EBB_RISCV64_LOAD_(fs8, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs9(offset) EBB_RISCV64_LOAD_(fs9, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs10(offset) EBB_RISCV64_LOAD_(fs10, offset, "fld")
#define EBB_RISCV64_FP_LOAD_fs11(offset) EBB_RISCV64_LOAD_(fs11, offset, "fld")

#define EBB_RISCV64_SWITCH "ebb_" EBB_ASM_VERSION "_riscv64_lp64d_switch"
#define EBB_RISCV64_START "ebb_" EBB_ASM_VERSION "_riscv64_lp64d_fiber_start"

// void switch(void** save_sp /* a0 */, void* target_sp /* a1 */)
// t0 and t1 are scratch (caller-saved temporaries).
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_RISCV64_SWITCH, "2")
    ".cfi_startproc\n"
    "addi sp, sp, -" EBB_STRINGIFY(EBB_RISCV64_FRAME_BYTES) "\n"
    ".cfi_def_cfa_offset " EBB_STRINGIFY(EBB_RISCV64_FRAME_BYTES) "\n"
    "sd ra, " EBB_STRINGIFY(EBB_RISCV64_FRAME_RETURN) "(sp)\n"
    ".cfi_offset ra, -8\n"
    EBB_RISCV64_FRAME_SLOTS(EBB_RISCV64_STORE)
    "frrm t0\n"
    "sd t0, " EBB_STRINGIFY(EBB_RISCV64_FRAME_FRM) "(sp)\n"
    "sd sp, 0(a0)\n"              // suspend: save our stack pointer (no barrier: docs/design.md)
    "mv sp, a1\n"                 // resume: from here on we are on the target's stack
    "ld t0, " EBB_STRINGIFY(EBB_RISCV64_FRAME_FRM) "(sp)\n"
    "fsrm t0\n"
    EBB_RISCV64_FRAME_SLOTS(EBB_RISCV64_LOAD)
    "ld t1, " EBB_STRINGIFY(EBB_RISCV64_FRAME_RETURN) "(sp)\n"
    ".cfi_register ra, t1\n"
    "addi sp, sp, " EBB_STRINGIFY(EBB_RISCV64_FRAME_BYTES) "\n"
    ".cfi_def_cfa_offset 0\n"
    "jr t1\n"                     // not `ret`: see "Returning" above
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_RISCV64_SWITCH));

// Entered by the first switch to a new fiber, with sp 16-byte aligned, s1 = entry, s2 = argument.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_RISCV64_START, "2")
    ".cfi_startproc\n"
    ".cfi_undefined ra\n"         // outermost frame: backtraces end here
    ".option push\n"
    ".option norvc\n"
    "nop\n"                       // 4 bytes: the initial frame "returns" just past it
    ".option pop\n"
    "mv a0, s2\n"
    "jalr s1\n"
    "unimp\n"                     // entry never returns: it switches away for the last time
    EBB_ASM_KEEP(EBB_FRAME_LAYOUT_SYMBOL)
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_RISCV64_START));

__asm__(
    EBB_ASM_RODATA_BEGIN(EBB_FRAME_LAYOUT_SYMBOL, "2")
    EBB_FRAME_LAYOUT_ASM(EBB_RISCV64_FRAME_SLOTS, EBB_RISCV64_FRAME_BYTES, "sp")
    EBB_ASM_RODATA_END(EBB_FRAME_LAYOUT_SYMBOL));

EBB_RUNTIME_BEGIN
namespace arch {

extern "C" {
__attribute__((visibility("hidden"))) void ebb_switch_context(void** save_sp, void* target_sp)
    __asm__(EBB_RISCV64_SWITCH);
__attribute__((visibility("hidden"))) void ebb_fiber_start() __asm__(EBB_RISCV64_START);
}

inline constexpr std::size_t initial_frame_bytes = EBB_RISCV64_FRAME_BYTES;
inline constexpr std::size_t stack_alignment = 16;  // psABI: sp is 16-byte aligned at every call
inline constexpr std::size_t frame_return_offset = EBB_RISCV64_FRAME_RETURN;
inline constexpr frame_slot frame_slots[] = {EBB_RISCV64_FRAME_SLOTS(EBB_FRAME_SLOT_CXX)};
static_assert(EBB_RISCV64_FRAME_S(11) == 192 && EBB_RISCV64_FRAME_FS(11) == 96,
              "the slot list's numbers must match the named offsets");

inline void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept {
  constexpr std::size_t word = sizeof(std::uint64_t);
  auto* frame = reinterpret_cast<std::uint64_t*>(static_cast<char*>(top) - initial_frame_bytes);
  for (std::size_t i = 0; i < initial_frame_bytes / word; ++i) frame[i] = 0;  // s0 = 0 ends the chain
  std::uint64_t frm;
  __asm__ volatile("frrm %0" : "=r"(frm));
  frame[EBB_RISCV64_FRAME_FRM / word] = frm;  // the creator's rounding mode
  frame[EBB_RISCV64_FRAME_S(1) / word] = reinterpret_cast<std::uint64_t>(entry);
  frame[EBB_RISCV64_FRAME_S(2) / word] = reinterpret_cast<std::uint64_t>(arg);
  frame[EBB_RISCV64_FRAME_RETURN / word] = reinterpret_cast<std::uint64_t>(&ebb_fiber_start) + 4;
  return frame;
}

// ELF RISC-V, initial-exec: the thread pointer is tp (x4); the variable's offset from it is a GOT
// entry the dynamic linker fills (la.tls.ie: auipc + ld, R_RISCV_TLS_GOT_HI20), so the sequence is
// position-independent and works in shared libraries (which then need static TLS, as on x86-64).
#if defined(EBB_FORMAT_ELF)
EBB_ALWAYS_INLINE void* thread_state_address() noexcept {
  void* address;
  __asm__ volatile(
      "la.tls.ie %0, " EBB_THREAD_STATE_SYMBOL "\n\t"
      "add %0, %0, tp"
      : "=r"(address));
  return address;
}
#else
#error "ebb: RISC-V thread-state access is written for ELF only"
#endif

// No shadow stacks on RISC-V yet (Zicfiss is not in Linux's user ABI as of this port).
EBB_ALWAYS_INLINE std::uintptr_t shadow_stack_pointer() noexcept { return 0; }

#if defined(__linux__)
// glibc's RISC-V mcontext_t holds x0-x31 in __gregs; sp is x2 (REG_SP, which glibc defines only
// under _GNU_SOURCE/__USE_MISC, so the index is written out).
inline void* interrupted_stack_pointer(const void* ucontext) noexcept {
  return reinterpret_cast<void*>(static_cast<const ucontext_t*>(ucontext)->uc_mcontext.__gregs[2]);
}
#else
#error "ebb: RISC-V interrupted_stack_pointer knows only Linux's ucontext_t (missing: this OS's)"
#endif

EBB_ALWAYS_INLINE void* stack_pointer() noexcept {
  void* sp;
  __asm__ volatile("mv %0, sp" : "=r"(sp));
  return sp;
}

// `pause` (Zihintpause) is encoded as `fence w, 0`: a FENCE with predecessor set {W} and an empty
// successor set, which orders nothing. Cores without the extension execute it as that no-op fence,
// so it is safe on every RV64 core; spelled with .insn so the assembler needs no -march=..._zihintpause.
EBB_ALWAYS_INLINE void cpu_relax() noexcept { __asm__ volatile(".insn i 0x0f, 0, x0, x0, 0x010"); }

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_RISCV64) && defined(EBB_ABI_LP64D)
