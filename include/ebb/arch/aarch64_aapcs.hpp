// SPDX-License-Identifier: BSL-1.0
// ebb/arch/aarch64_aapcs.hpp — the context switch for AArch64 under the AAPCS64 calling convention.
//
// arch/x86_64_sysv.hpp is the reference port and explains every decision; this file explains only
// where AArch64 differs.
//
// Callee-saved state (AAPCS64 §6.1.1 and §6.1.2): x19–x28, the frame pointer x29, the link register
// x30 (it holds our return address), sp, the low 64 bits of v8–v15 (d8–d15: only those halves are
// callee-saved; the upper halves and v0–v7, v16–v31 are scratch), and FPCR (the rounding mode, flush-
// to-zero and default-NaN bits; §6.1.2 makes its fields callee-saved except where a function's
// documented purpose is to change them). FPSR (the cumulative exception flags) is not preserved by
// the ABI and not saved here. SVE and SME state is caller-saved at calls under the base ABI (a call
// to an ordinary function ends the SVE vector state's live range; ZA must be off or saved by the
// caller per the SME lazy-save scheme), so a switch called as an ordinary function has none to save.
// x18 is the platform register: Linux leaves it to the program; it is not callee-saved, not touched.
//
// Frame the switch leaves on the stack it suspends (and expects on the stack it resumes), 176 bytes:
//
//     sp+168  x30 (lr): the return address           ─┐ a frame record, as the AAPCS64 lays one out:
//     sp+160  x29 (fp)                                ─┘ frame-pointer walkers pass through it
//     sp+152  x28         sp+144  x27
//     sp+136  x26         sp+128  x25
//     sp+120  x24         sp+112  x23
//     sp+104  x22         sp+96   x21
//     sp+88   x20         sp+80   x19
//     sp+72   d15         sp+64   d14
//     sp+56   d13         sp+48   d12
//     sp+40   d11         sp+32   d10
//     sp+24   d9          sp+16   d8
//     sp+8    0 (padding: the frame is a multiple of 16, sp must stay 16-byte aligned at all times)
//     sp+0    FPCR (mrs: 64 bits, the upper 32 reserved zero)
//
// Unlike x86-64 the call pushes nothing: `bl` leaves the return address in x30, so the switch makes
// the whole frame itself (one `sub sp`, then pairs of stores). The offsets are defined once, in
// EBB_AARCH64_FRAME_SLOTS; every store, load and CFI offset below is written from those numbers.
//
// Returning: the same choice as x86-64 (see "Returning" there), for the same reason: `ret` predicts
// from the return stack, which holds the caller's own return site, never the other context's; `br x30`
// lets the indirect predictor learn the alternation. (Not measured on hardware here: this machine runs
// AArch64 only under qemu, whose timings say nothing about a branch predictor.) Under BTI, `br x30`
// would need the resume site to carry a `bti j` landing pad, which a call's return site does not; `ret`
// is not checked by BTI, so with BTI compiled in the switch returns with `ret`.
//
// FPCR: reading it is cheap, writing it can serialise the pipeline on some cores; the value to restore
// is compared with the one just read (both in registers, so unlike x86-64's stmxcsr no store is read
// back) and written only if they differ, which fibers that never touch the rounding mode never do.
//
// Branch protection (-mbranch-protection=, GCC and Clang):
//   - BTI (`bti`, `standard`; __ARM_FEATURE_BTI_DEFAULT): on a BTI-enforcing system every indirect
//     call must land on a `bti c` (or a `paci[ab]sp`, which counts as one). ebb_switch_context is
//     called through a pointer (the contract test does so) and the trampoline is reached by `ret`
//     (unchecked) but may be called by name by a debugger: both start with `bti c`. The trampoline
//     itself calls the entry function with `blr`, which lands on the compiler's own `bti c`. The
//     object file's GNU property note (.note.gnu.property, GNU_PROPERTY_AARCH64_FEATURE_1_AND with the
//     BTI bit) is the compiler's: with this flag GCC and Clang emit it for every translation unit, and
//     this top-level assembly is part of that unit, which is why it must honour the claim. The linker
//     ANDs the notes of all objects; the loader maps pages guarded only if every object said BTI.
//     tests/unit/test_cet.cpp checks the landing pads are there exactly when the flag is.
//   - Pointer authentication of return addresses (`pac-ret`; __ARM_FEATURE_PAC_DEFAULT): compiled
//     code signs x30 (paciasp: key A, the stack pointer as the modifier) before it spills it to its
//     frame and authenticates it (autiasp) before returning, so a stack overwrite cannot forge a
//     return address. The switch spills x30 too — into a frame that may sit in memory for as long as
//     the fiber stays suspended, which is exactly what pac-ret is meant to protect — so under pac-ret
//     it does the same: signs x30 at entry with the stack pointer the caller had (that is the CFA,
//     the stack pointer the resumed context has again after the frame is popped), and authenticates
//     it after the pop with that same stack pointer before returning. A forged or moved frame then
//     fails authentication (a fault at the `ret` or, with FEAT_FPAC, at the `aut`) instead of jumping
//     to the attacker's address. make_initial_frame signs the trampoline's address the same way
//     (pacia1716 with the new fiber's top as modifier). The unwind information says the saved x30 is
//     signed (.cfi_negate_ra_state), so libgcc and gdb strip the code before using it. Without
//     pac-ret the saved value is the raw lr, as everywhere else in such a program. All these
//     instructions are in the hint space: on a CPU without PAC they are no-ops, and the same binary
//     runs there with raw addresses. Key B (`pac-ret+b-key`) uses the B variants.
//     (gdb strips the code from signed return addresses it unwinds through the CFI; tools/gdb/ebb.py,
//     which reads the return slot itself, strips it before giving gdb the address as the pc.)
//   - The Guarded Control Stack (Armv9.4 GCS, Linux 6.13) is the shadow stack of AArch64: a `ret` to
//     anything but the top of the GCS faults, so a switch would have to switch GCSs as well. ebb does
//     not yet; shadow_stack_pointer() reports an active GCS and fiber creation then refuses, as with
//     CET shadow stacks on x86-64.
//
// The new-fiber frame (make_initial_frame) is the same 176-byte layout with x29 = 0 (ends the frame-
// pointer chain), x19 = the entry function, x20 = its argument, the d registers zero, FPCR the
// creator's, and x30 = fiber_start + 4 (see there), signed under pac-ret.
#pragma once

#include "ebb/arch/frame.hpp"
#include "ebb/config.hpp"

// Only for the target it was written for (arch/switch.hpp selects it): included while compiling for
// another CPU, as a header-by-header check does, it is empty rather than a page of assembler errors.
#if defined(EBB_ARCH_AARCH64) && defined(EBB_ABI_AAPCS64)

#include <cstddef>
#include <cstdint>

#if defined(EBB_FORMAT_ELF)
#include "ebb/arch/format/elf.hpp"
#else
#error "ebb: the AArch64 AAPCS64 port has no object-format support for this target (supported: ELF)"
#endif

#if defined(__linux__)
#include <ucontext.h>
#endif

// ---- the frame, once ----------------------------------------------------------------------------
// d8–d15 are slots of kind CONTROL, not REGISTER: the debugger helper restores REGISTER slots to
// unwind the suspended code, which needs x19–x29, sp and the return address only; the d registers are
// state the switch restores that unwinding does not need (and gdb's d8 is a pseudo register, which an
// unwinder cannot set).
#define EBB_AARCH64_FRAME_FPCR 0
#define EBB_AARCH64_FRAME_D8 16
#define EBB_AARCH64_FRAME_D10 32
#define EBB_AARCH64_FRAME_D12 48
#define EBB_AARCH64_FRAME_D14 64
#define EBB_AARCH64_FRAME_X19 80
#define EBB_AARCH64_FRAME_X21 96
#define EBB_AARCH64_FRAME_X23 112
#define EBB_AARCH64_FRAME_X25 128
#define EBB_AARCH64_FRAME_X27 144
#define EBB_AARCH64_FRAME_X29 160
#define EBB_AARCH64_FRAME_RETURN 168
#define EBB_AARCH64_FRAME_BYTES 176
#define EBB_AARCH64_FRAME_SLOTS(X)                                   \
  X(fpcr, EBB_AARCH64_FRAME_FPCR, 8, EBB_FRAME_SLOT_CONTROL)         \
  X(d8, EBB_AARCH64_FRAME_D8, 8, EBB_FRAME_SLOT_CONTROL)             \
  X(d9, EBB_AARCH64_FRAME_D8 + 8, 8, EBB_FRAME_SLOT_CONTROL)         \
  X(d10, EBB_AARCH64_FRAME_D10, 8, EBB_FRAME_SLOT_CONTROL)           \
  X(d11, EBB_AARCH64_FRAME_D10 + 8, 8, EBB_FRAME_SLOT_CONTROL)       \
  X(d12, EBB_AARCH64_FRAME_D12, 8, EBB_FRAME_SLOT_CONTROL)           \
  X(d13, EBB_AARCH64_FRAME_D12 + 8, 8, EBB_FRAME_SLOT_CONTROL)       \
  X(d14, EBB_AARCH64_FRAME_D14, 8, EBB_FRAME_SLOT_CONTROL)           \
  X(d15, EBB_AARCH64_FRAME_D14 + 8, 8, EBB_FRAME_SLOT_CONTROL)       \
  X(x19, EBB_AARCH64_FRAME_X19, 8, EBB_FRAME_SLOT_REGISTER)          \
  X(x20, EBB_AARCH64_FRAME_X19 + 8, 8, EBB_FRAME_SLOT_REGISTER)      \
  X(x21, EBB_AARCH64_FRAME_X21, 8, EBB_FRAME_SLOT_REGISTER)          \
  X(x22, EBB_AARCH64_FRAME_X21 + 8, 8, EBB_FRAME_SLOT_REGISTER)      \
  X(x23, EBB_AARCH64_FRAME_X23, 8, EBB_FRAME_SLOT_REGISTER)          \
  X(x24, EBB_AARCH64_FRAME_X23 + 8, 8, EBB_FRAME_SLOT_REGISTER)      \
  X(x25, EBB_AARCH64_FRAME_X25, 8, EBB_FRAME_SLOT_REGISTER)          \
  X(x26, EBB_AARCH64_FRAME_X25 + 8, 8, EBB_FRAME_SLOT_REGISTER)      \
  X(x27, EBB_AARCH64_FRAME_X27, 8, EBB_FRAME_SLOT_REGISTER)          \
  X(x28, EBB_AARCH64_FRAME_X27 + 8, 8, EBB_FRAME_SLOT_REGISTER)      \
  X(x29, EBB_AARCH64_FRAME_X29, 8, EBB_FRAME_SLOT_REGISTER)          \
  X(pc, EBB_AARCH64_FRAME_RETURN, 8, EBB_FRAME_SLOT_RETURN)

// Instruction fragments built from the slot offsets. A pair store/load, and the CFI for a pair (the
// CFA is the stack pointer before the switch's `sub`, i.e. saved sp + frame bytes).
#define EBB_AARCH64_OFF(slot) EBB_STRINGIFY(slot)
#define EBB_AARCH64_CFA(slot) EBB_STRINGIFY(slot) "-" EBB_STRINGIFY(EBB_AARCH64_FRAME_BYTES)
#define EBB_AARCH64_STP(a, b, slot) "stp " #a ", " #b ", [sp, #" EBB_AARCH64_OFF(slot) "]\n"
#define EBB_AARCH64_LDP(a, b, slot) "ldp " #a ", " #b ", [sp, #" EBB_AARCH64_OFF(slot) "]\n"
#define EBB_AARCH64_CFI_PAIR(a, b, slot)                                  \
  ".cfi_offset " #a ", " EBB_AARCH64_CFA(slot) "\n"                       \
  ".cfi_offset " #b ", " EBB_AARCH64_CFA(slot) "+8\n"

// Branch protection (see the header comment). Hint encodings, so no -march flag is needed to
// assemble them and they run as no-ops where the feature is absent.
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define EBB_AARCH64_BTI_C "hint #34\n"  // bti c
#define EBB_AARCH64_BTI_BYTES 4
#define EBB_AARCH64_RETURN "ret\n"
#else
#define EBB_AARCH64_BTI_C ""
#define EBB_AARCH64_BTI_BYTES 0
#define EBB_AARCH64_RETURN "br x30\n"
#endif
// *_INSN: the instruction alone (for routines without unwind information, e.g. the contract test's
// deliberately broken copies); SIGN_LR/AUTH_LR add the CFI that says x30 is now signed / raw again.
#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 2)  // key B
#define EBB_AARCH64_PAC_SIGNED 1
#define EBB_AARCH64_SIGN_LR_INSN "hint #27\n"                             // pacibsp
#define EBB_AARCH64_AUTH_LR_INSN "hint #31\n"                             // autibsp
#define EBB_AARCH64_SIGN_1716 "hint #10\n"                                // pacib1716
#elif defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT & 1)  // key A
#define EBB_AARCH64_PAC_SIGNED 1
#define EBB_AARCH64_SIGN_LR_INSN "hint #25\n"                             // paciasp
#define EBB_AARCH64_AUTH_LR_INSN "hint #29\n"                             // autiasp
#define EBB_AARCH64_SIGN_1716 "hint #8\n"                                 // pacia1716
#else
#define EBB_AARCH64_PAC_SIGNED 0
#define EBB_AARCH64_SIGN_LR_INSN ""
#define EBB_AARCH64_AUTH_LR_INSN ""
#endif
#if EBB_AARCH64_PAC_SIGNED
#define EBB_AARCH64_SIGN_LR EBB_AARCH64_SIGN_LR_INSN ".cfi_negate_ra_state\n"
#define EBB_AARCH64_AUTH_LR EBB_AARCH64_AUTH_LR_INSN ".cfi_negate_ra_state\n"
#else
#define EBB_AARCH64_SIGN_LR ""
#define EBB_AARCH64_AUTH_LR ""
#endif

#define EBB_AARCH64_SWITCH "ebb_" EBB_ASM_VERSION "_aarch64_aapcs_switch"
#define EBB_AARCH64_START "ebb_" EBB_ASM_VERSION "_aarch64_aapcs_fiber_start"

// void switch(void** save_sp /* x0 */, void* target_sp /* x1 */)
// Scratch: x9, x10 (caller-saved, and not arguments). The CFI rules are the same before and after
// `mov sp, x1`, since both stacks hold the same layout: a debugger stopped on any instruction unwinds.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_AARCH64_SWITCH, "4")
    ".cfi_startproc\n"
    EBB_AARCH64_BTI_C
    EBB_AARCH64_SIGN_LR
    "sub sp, sp, #" EBB_STRINGIFY(EBB_AARCH64_FRAME_BYTES) "\n"
    ".cfi_def_cfa_offset " EBB_STRINGIFY(EBB_AARCH64_FRAME_BYTES) "\n"
    EBB_AARCH64_STP(x29, x30, EBB_AARCH64_FRAME_X29)
    EBB_AARCH64_CFI_PAIR(x29, x30, EBB_AARCH64_FRAME_X29)
    EBB_AARCH64_STP(x19, x20, EBB_AARCH64_FRAME_X19)
    EBB_AARCH64_CFI_PAIR(x19, x20, EBB_AARCH64_FRAME_X19)
    EBB_AARCH64_STP(x21, x22, EBB_AARCH64_FRAME_X21)
    EBB_AARCH64_CFI_PAIR(x21, x22, EBB_AARCH64_FRAME_X21)
    EBB_AARCH64_STP(x23, x24, EBB_AARCH64_FRAME_X23)
    EBB_AARCH64_CFI_PAIR(x23, x24, EBB_AARCH64_FRAME_X23)
    EBB_AARCH64_STP(x25, x26, EBB_AARCH64_FRAME_X25)
    EBB_AARCH64_CFI_PAIR(x25, x26, EBB_AARCH64_FRAME_X25)
    EBB_AARCH64_STP(x27, x28, EBB_AARCH64_FRAME_X27)
    EBB_AARCH64_CFI_PAIR(x27, x28, EBB_AARCH64_FRAME_X27)
    EBB_AARCH64_STP(d8, d9, EBB_AARCH64_FRAME_D8)
    EBB_AARCH64_CFI_PAIR(d8, d9, EBB_AARCH64_FRAME_D8)
    EBB_AARCH64_STP(d10, d11, EBB_AARCH64_FRAME_D10)
    EBB_AARCH64_CFI_PAIR(d10, d11, EBB_AARCH64_FRAME_D10)
    EBB_AARCH64_STP(d12, d13, EBB_AARCH64_FRAME_D12)
    EBB_AARCH64_CFI_PAIR(d12, d13, EBB_AARCH64_FRAME_D12)
    EBB_AARCH64_STP(d14, d15, EBB_AARCH64_FRAME_D14)
    EBB_AARCH64_CFI_PAIR(d14, d15, EBB_AARCH64_FRAME_D14)
    "mrs x9, fpcr\n"
    "stp x9, xzr, [sp, #" EBB_AARCH64_OFF(EBB_AARCH64_FRAME_FPCR) "]\n"  // FPCR and the padding word
    "mov x10, sp\n"
    "str x10, [x0]\n"             // suspend: save our stack pointer (no barrier: docs/design.md)
    "mov sp, x1\n"                // resume: from here on we are on the target's stack
    "ldr x10, [sp, #" EBB_AARCH64_OFF(EBB_AARCH64_FRAME_FPCR) "]\n"
    "cmp x9, x10\n"
    "b.eq 1f\n"
    "msr fpcr, x10\n"
    "1:\n"
    EBB_AARCH64_LDP(d8, d9, EBB_AARCH64_FRAME_D8)
    EBB_AARCH64_LDP(d10, d11, EBB_AARCH64_FRAME_D10)
    EBB_AARCH64_LDP(d12, d13, EBB_AARCH64_FRAME_D12)
    EBB_AARCH64_LDP(d14, d15, EBB_AARCH64_FRAME_D14)
    EBB_AARCH64_LDP(x19, x20, EBB_AARCH64_FRAME_X19)
    EBB_AARCH64_LDP(x21, x22, EBB_AARCH64_FRAME_X21)
    EBB_AARCH64_LDP(x23, x24, EBB_AARCH64_FRAME_X23)
    EBB_AARCH64_LDP(x25, x26, EBB_AARCH64_FRAME_X25)
    EBB_AARCH64_LDP(x27, x28, EBB_AARCH64_FRAME_X27)
    EBB_AARCH64_LDP(x29, x30, EBB_AARCH64_FRAME_X29)
    "add sp, sp, #" EBB_STRINGIFY(EBB_AARCH64_FRAME_BYTES) "\n"
    ".cfi_def_cfa_offset 0\n"
    ".cfi_restore x19\n .cfi_restore x20\n .cfi_restore x21\n .cfi_restore x22\n"
    ".cfi_restore x23\n .cfi_restore x24\n .cfi_restore x25\n .cfi_restore x26\n"
    ".cfi_restore x27\n .cfi_restore x28\n .cfi_restore x29\n .cfi_restore x30\n"
    ".cfi_restore d8\n .cfi_restore d9\n .cfi_restore d10\n .cfi_restore d11\n"
    ".cfi_restore d12\n .cfi_restore d13\n .cfi_restore d14\n .cfi_restore d15\n"
    EBB_AARCH64_AUTH_LR           // sp is the resumed context's CFA again: the modifier it was signed with
    EBB_AARCH64_RETURN
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_AARCH64_SWITCH));

// Entered by the first switch to a new fiber, sp 16-byte aligned, x19 = entry, x20 = argument.
// The frame's return address is fiber_start + 4 + the landing pad: unwinders look up a return address
// minus one (libgcc, gdb), which must fall inside this routine's unwind information, so the resume
// point is one instruction in.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_AARCH64_START, "4")
    ".cfi_startproc\n"
    ".cfi_undefined x30\n"        // outermost frame: backtraces end here
    EBB_AARCH64_BTI_C
    "nop\n"
    "mov x0, x20\n"
    "blr x19\n"
    "brk #0x3e8\n"                // entry never returns: it switches away for the last time
    EBB_ASM_KEEP(EBB_FRAME_LAYOUT_SYMBOL)  // every program that starts fibers keeps the layout
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_AARCH64_START));

// The frame layout for debuggers (arch/frame.hpp describes the format; tools/gdb/ebb.py reads it).
__asm__(
    EBB_ASM_RODATA_BEGIN(EBB_FRAME_LAYOUT_SYMBOL, "2")
    EBB_FRAME_LAYOUT_ASM(EBB_AARCH64_FRAME_SLOTS, EBB_AARCH64_FRAME_BYTES, "sp")
    EBB_ASM_RODATA_END(EBB_FRAME_LAYOUT_SYMBOL));

EBB_RUNTIME_BEGIN
namespace arch {

extern "C" {
__attribute__((visibility("hidden"))) void ebb_switch_context(void** save_sp, void* target_sp)
    __asm__(EBB_AARCH64_SWITCH);
__attribute__((visibility("hidden"))) void ebb_fiber_start() __asm__(EBB_AARCH64_START);
}

// ---- the frame, for C++ and the contract checks -----------------------------------------------
inline constexpr std::size_t initial_frame_bytes = EBB_AARCH64_FRAME_BYTES;
inline constexpr std::size_t stack_alignment = 16;  // AAPCS64 §6.4.5.1: sp mod 16 = 0 at all times
inline constexpr std::size_t frame_return_offset = EBB_AARCH64_FRAME_RETURN;
inline constexpr frame_slot frame_slots[] = {EBB_AARCH64_FRAME_SLOTS(EBB_FRAME_SLOT_CXX)};

// Signs a return address as the switch's entry does (pac-ret): with the stack pointer it will be
// authenticated against as the modifier. Without pac-ret, the raw address.
inline std::uint64_t sign_return_address(std::uint64_t address, std::uint64_t modifier) noexcept {
#if EBB_AARCH64_PAC_SIGNED
  register std::uint64_t x17 __asm__("x17") = address;
  register std::uint64_t x16 __asm__("x16") = modifier;
  __asm__(EBB_AARCH64_SIGN_1716 : "+r"(x17) : "r"(x16));
  return x17;
#else
  (void)modifier;
  return address;
#endif
}

inline void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept {
  constexpr std::size_t word = sizeof(std::uint64_t);
  auto* frame = reinterpret_cast<std::uint64_t*>(static_cast<char*>(top) - initial_frame_bytes);
  std::uint64_t fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  for (std::size_t i = 0; i < initial_frame_bytes / word; ++i) frame[i] = 0;  // d8–d15, x21–x28, padding
  frame[EBB_AARCH64_FRAME_FPCR / word] = fpcr;
  frame[EBB_AARCH64_FRAME_X19 / word] = reinterpret_cast<std::uint64_t>(entry);
  frame[EBB_AARCH64_FRAME_X19 / word + 1] = reinterpret_cast<std::uint64_t>(arg);
  frame[EBB_AARCH64_FRAME_X29 / word] = 0;  // ends the frame-pointer chain
  frame[EBB_AARCH64_FRAME_RETURN / word] = sign_return_address(
      reinterpret_cast<std::uint64_t>(&ebb_fiber_start) + 4 + EBB_AARCH64_BTI_BYTES,
      reinterpret_cast<std::uint64_t>(top));
  return frame;
}

// The thread-state address (see x86_64_sysv.hpp for why an inline volatile asm): ELF AArch64 uses TLS
// variant 1, the thread pointer in TPIDR_EL0 and the variable at a fixed offset from it, which the
// initial-exec model loads from a GOT entry (R_AARCH64_TLSIE_ADR_GOTTPREL_PAGE21 / _LD64_GOTTPREL_LO12_NC).
#if defined(EBB_FORMAT_ELF)
EBB_ALWAYS_INLINE void* thread_state_address() noexcept {
  void* address;
  void* offset;
  __asm__ volatile(
      "mrs %0, tpidr_el0\n\t"
      "adrp %1, :gottprel:" EBB_THREAD_STATE_SYMBOL "\n\t"
      "ldr %1, [%1, #:gottprel_lo12:" EBB_THREAD_STATE_SYMBOL "]\n\t"
      "add %0, %0, %1"
      : "=&r"(address), "=&r"(offset));
  return address;
}
#else
#error "ebb: AArch64 thread-state access is written for ELF only"
#endif

// The Guarded Control Stack pointer when a GCS is active for this thread, else 0. GCSPR_EL0 cannot be
// read unconditionally (an undefined instruction where GCS is not implemented), so CHKFEAT asks
// first: it is in the hint space (a no-op on older cores, leaving x16 = 1) and clears bit 0 of x16
// when GCS is enabled.
EBB_ALWAYS_INLINE std::uintptr_t shadow_stack_pointer() noexcept {
  register std::uint64_t x16 __asm__("x16") = 1;
  __asm__ volatile("hint #40" : "+r"(x16));  // chkfeat x16
  if ((x16 & 1) != 0) return 0;
  std::uintptr_t gcspr;
  __asm__ volatile("mrs %0, s3_3_c2_c5_1" : "=r"(gcspr));  // gcspr_el0
  return gcspr;
}

#if defined(__linux__)
inline void* interrupted_stack_pointer(const void* ucontext) noexcept {
  return reinterpret_cast<void*>(static_cast<const ucontext_t*>(ucontext)->uc_mcontext.sp);
}
#else
#error "ebb: AArch64 interrupted_stack_pointer knows only Linux's ucontext_t (missing: this OS's)"
#endif

EBB_ALWAYS_INLINE void* stack_pointer() noexcept {
  void* sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

// One step of a spin-wait: `isb`, not `yield`. YIELD is only a hint for multithreaded cores (SMT),
// and the cores Linux runs on retire it as a no-op, so a `yield` loop spins as fast as a bare loop,
// hammering the contended line. ISB flushes the pipeline, a delay of some tens of cycles comparable to
// x86's `pause`, which is what a spin-wait hint is for (Rust's spin_loop hint made the same choice).
EBB_ALWAYS_INLINE void cpu_relax() noexcept { __asm__ volatile("isb" ::: "memory"); }

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_AARCH64) && defined(EBB_ABI_AAPCS64)
