// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_sysv.hpp — the context switch for x86-64 under the System V calling convention.
//
// This is the reference port: every decision is explained here, and other ports explain only where
// they differ. The contract it implements is in arch/contract.hpp; the object-file directives come
// from arch/format/ (ELF today), so nothing here names a section.
//
// What a new port must decide (and write down, as this file does):
//   - which registers the calling convention makes callee-saved, general and FP/SIMD, and which
//     FP control/status bits are callee-saved: exactly those are saved, nothing else;
//   - the frame layout: one slot list (EBB_<ARCH>_FRAME_SLOTS) from which the assembly offsets,
//     make_initial_frame and the debugger's layout object are all derived; the return address (or
//     resume address) in the last word, the frame a multiple of the stack alignment;
//   - how to return into the resumed context so the branch predictors cope (see "Returning" below),
//     and what control-flow-integrity features (CET, BTI, PAC) require of the entry and resume points;
//   - how the first switch enters a new fiber: a trampoline whose CFI ends backtraces, reached with
//     the stack aligned as a function entry expects, with the frame-pointer chain terminated;
//   - the thread-pointer access sequence for the initial-exec TLS model of the target format;
//   - where the OS keeps the interrupted stack pointer in a signal's ucontext;
//   - the spin-wait hint (cpu_relax).
// Then pass tests/unit/test_arch_contract.cpp, adding its small per-architecture block.
//
// What the ABI lets a callee clobber we leave alone: the compiler already saved whatever it needed
// before calling us. What it requires a callee to preserve we save, and nothing else:
//   rbx, rbp, r12–r15, and the control bits of MXCSR and the x87 control word (psABI §3.2.1,
//   "the control bits of the MXCSR register and the x87 control word are callee-saved").
// No vector register is callee-saved under System V (unlike the Microsoft x64 convention, where
// xmm6–xmm15 are: a Windows port saves those too).
// The stack pointer itself is the handle of a suspended context.
//
// Frame the switch leaves on the stack it suspends (and expects on the stack it resumes), 64 bytes:
//
//     sp+56  return address          (pushed by the caller's `call`)
//     sp+48  rbp
//     sp+40  rbx
//     sp+32  r12
//     sp+24  r13
//     sp+16  r14
//     sp+8   r15
//     sp+6   0 (padding, so the 8-byte word below compares as one value)
//     sp+4   x87 control word (fnstcw)
//     sp+0   MXCSR (stmxcsr)
//
// The offsets are defined once, in EBB_X86_64_FRAME_SLOTS below; the pushes must happen in the order
// of that list (each push lands 8 bytes below the previous one), which the CFI offsets, computed from
// the same numbers, and arch/contract.hpp's checks tie together.
//
// Both sides of a switch have this same layout, so one set of CFI rules describes the frame before
// and after the stack pointer changes, and a debugger or profiler interrupting the switch unwinds.
//
// Cost, measured here per switch: the six registers and the jump 2.5 ns; with the FP control words
// 5.7 ns, almost all of it stmxcsr (fnstcw is cheap, and ldmxcsr + fldcw together 0.7 ns). Reloading
// only when the target's words differ was tried and is slower: reading back what stmxcsr just stored
// waits on store forwarding (6.6–7.1 ns). So both words are saved and reloaded unconditionally.
//
// Returning: `ret` would predict the caller's own return site from the return-stack buffer and miss
// every time (the target is the other context's site; measured +5 ns a switch). Popping the address and jumping
// through a register lets the indirect-branch predictor learn the alternation. Under CET indirect-
// branch tracking the jump target would need an endbr64 that a call's return site lacks, so there we
// use `ret`. CET shadow stacks would need the shadow stack switched too (rstorssp/saveprevssp); ebb
// does not do that yet. Building with them (-fcf-protection=full, Ubuntu's default) is fine: they
// are active only on a CPU and kernel that support them and a C library that turned them on, and
// there fiber creation refuses with a clear report (detail/shadow_stack.hpp) instead of letting the
// first return after a switch fault. Where they are inactive the routine is the same as without.
//
// The new-fiber frame (built by make_initial_frame in C++) is the same 64-byte layout with
// rbp = 0, r12 = entry function, r13 = its argument and the return address pointing at
// fiber_start, which calls entry(arg). fiber_start marks the return address undefined in its CFI:
// unwinders and debuggers stop cleanly at a fiber's entry, and rbp = 0 ends the frame-pointer chain.
//
// The routines are emitted through arch/format/'s macros: one COMDAT copy per executable or shared
// library, hidden, guarded for GCC's LTO (the reasons are there).
#pragma once

#include "ebb/arch/frame.hpp"
#include "ebb/config.hpp"

// Only for the target it was written for (arch/switch.hpp selects it): included while compiling for
// another CPU, as a header-by-header check does, it is empty rather than a page of assembler errors.
#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_SYSV)

#include <cstddef>
#include <cstdint>

#if defined(EBB_FORMAT_ELF)
#include "ebb/arch/format/elf.hpp"
#else
#error "ebb: the x86-64 System V port has no object-format support for this target (supported: ELF)"
#endif

#if defined(__linux__)
#include <ucontext.h>
#endif

// ---- the frame, once ----------------------------------------------------------------------------
// X(gdb register name, offset from the saved stack pointer, bytes, kind). The padding at sp+6 is not
// a slot: make_initial_frame zeroes it with the control word.
#define EBB_X86_64_FRAME_MXCSR 0
#define EBB_X86_64_FRAME_X87_CW 4
#define EBB_X86_64_FRAME_R15 8
#define EBB_X86_64_FRAME_R14 16
#define EBB_X86_64_FRAME_R13 24
#define EBB_X86_64_FRAME_R12 32
#define EBB_X86_64_FRAME_RBX 40
#define EBB_X86_64_FRAME_RBP 48
#define EBB_X86_64_FRAME_RETURN 56
#define EBB_X86_64_FRAME_BYTES 64
#define EBB_X86_64_FRAME_SLOTS(X)                                  \
  X(mxcsr, EBB_X86_64_FRAME_MXCSR, 4, EBB_FRAME_SLOT_CONTROL)      \
  X(fctrl, EBB_X86_64_FRAME_X87_CW, 2, EBB_FRAME_SLOT_CONTROL)     \
  X(r15, EBB_X86_64_FRAME_R15, 8, EBB_FRAME_SLOT_REGISTER)         \
  X(r14, EBB_X86_64_FRAME_R14, 8, EBB_FRAME_SLOT_REGISTER)         \
  X(r13, EBB_X86_64_FRAME_R13, 8, EBB_FRAME_SLOT_REGISTER)         \
  X(r12, EBB_X86_64_FRAME_R12, 8, EBB_FRAME_SLOT_REGISTER)         \
  X(rbx, EBB_X86_64_FRAME_RBX, 8, EBB_FRAME_SLOT_REGISTER)         \
  X(rbp, EBB_X86_64_FRAME_RBP, 8, EBB_FRAME_SLOT_REGISTER)         \
  X(rip, EBB_X86_64_FRAME_RETURN, 8, EBB_FRAME_SLOT_RETURN)

// A slot's address relative to the CFA (the caller's stack pointer before its `call`, which is the
// saved stack pointer + the frame size), as the assembler expression .cfi_offset wants.
#define EBB_X86_64_CFA_OFFSET(slot) EBB_STRINGIFY(slot) "-" EBB_STRINGIFY(EBB_X86_64_FRAME_BYTES)

#if defined(__CET__) && (__CET__ & 1)
#define EBB_X86_64_ENDBR "endbr64\n"
#define EBB_X86_64_ENDBR_BYTES 4
#define EBB_X86_64_RESUME_TARGET "ret\n"
#else
#define EBB_X86_64_ENDBR ""
#define EBB_X86_64_ENDBR_BYTES 0
#define EBB_X86_64_RESUME_TARGET \
  "popq %r11\n"                  \
  ".cfi_adjust_cfa_offset -8\n"  \
  ".cfi_register %rip, %r11\n"   \
  "jmpq *%r11\n"
#endif

#define EBB_X86_64_SWITCH "ebb_" EBB_ASM_VERSION "_x86_64_sysv_switch"
#define EBB_X86_64_START "ebb_" EBB_ASM_VERSION "_x86_64_sysv_fiber_start"

// void switch(void** save_sp /* rdi */, void* target_sp /* rsi */)
// Aligned to a 64-byte cache line: the routine (53 bytes, with or without CET) then always sits in
// one line, whatever code the linker places before it. With 16-byte alignment it began anywhere in a
// line, and its tail (the pops and the indirect jump the predictor must learn) crossed into the next
// line in some builds and not in others. Measured on a Zen 4 (bench/switch_bench.cpp, both
// placements, with and without -falign-functions=64): no difference in ns per switch either way; the
// alignment takes the routine's own placement out of the figures, not a cost out of the switch.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_X86_64_SWITCH, "6")
    ".cfi_startproc\n"
    EBB_X86_64_ENDBR
    "pushq %rbp\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbp, " EBB_X86_64_CFA_OFFSET(EBB_X86_64_FRAME_RBP) "\n"
    "pushq %rbx\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbx, " EBB_X86_64_CFA_OFFSET(EBB_X86_64_FRAME_RBX) "\n"
    "pushq %r12\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r12, " EBB_X86_64_CFA_OFFSET(EBB_X86_64_FRAME_R12) "\n"
    "pushq %r13\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r13, " EBB_X86_64_CFA_OFFSET(EBB_X86_64_FRAME_R13) "\n"
    "pushq %r14\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r14, " EBB_X86_64_CFA_OFFSET(EBB_X86_64_FRAME_R14) "\n"
    "pushq %r15\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r15, " EBB_X86_64_CFA_OFFSET(EBB_X86_64_FRAME_R15) "\n"
    "pushq $0\n"                  // FP control slot, upper bytes zero
    ".cfi_adjust_cfa_offset 8\n"
    "stmxcsr " EBB_STRINGIFY(EBB_X86_64_FRAME_MXCSR) "(%rsp)\n"
    "fnstcw " EBB_STRINGIFY(EBB_X86_64_FRAME_X87_CW) "(%rsp)\n"
    "movq %rsp, (%rdi)\n"         // suspend: save our stack pointer (no barrier: docs/design.md)
    "movq %rsi, %rsp\n"           // resume: from here on we are on the target's stack
    "ldmxcsr " EBB_STRINGIFY(EBB_X86_64_FRAME_MXCSR) "(%rsp)\n"
    "fldcw " EBB_STRINGIFY(EBB_X86_64_FRAME_X87_CW) "(%rsp)\n"
    "addq $8, %rsp\n"
    ".cfi_adjust_cfa_offset -8\n"
    "popq %r15\n"
    ".cfi_adjust_cfa_offset -8\n"
    ".cfi_restore %r15\n"
    "popq %r14\n"
    ".cfi_adjust_cfa_offset -8\n"
    ".cfi_restore %r14\n"
    "popq %r13\n"
    ".cfi_adjust_cfa_offset -8\n"
    ".cfi_restore %r13\n"
    "popq %r12\n"
    ".cfi_adjust_cfa_offset -8\n"
    ".cfi_restore %r12\n"
    "popq %rbx\n"
    ".cfi_adjust_cfa_offset -8\n"
    ".cfi_restore %rbx\n"
    "popq %rbp\n"
    ".cfi_adjust_cfa_offset -8\n"
    ".cfi_restore %rbp\n"
    EBB_X86_64_RESUME_TARGET
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_X86_64_SWITCH));

// Entered by the first switch to a new fiber, with rsp 16-byte aligned, r12 = entry, r13 = argument.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_X86_64_START, "4")
    ".cfi_startproc\n"
    ".cfi_undefined %rip\n"       // outermost frame: backtraces end here
    EBB_X86_64_ENDBR
    "nop\n"                       // the initial frame "returns" one byte in (see make_initial_frame)
    "movq %r13, %rdi\n"
    "callq *%r12\n"
    "ud2\n"                       // entry never returns: it switches away for the last time
    EBB_ASM_KEEP(EBB_FRAME_LAYOUT_SYMBOL)  // every program that starts fibers keeps the layout
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_X86_64_START));

// The frame layout for debuggers (arch/frame.hpp describes the format; tools/gdb/ebb.py reads it).
__asm__(
    EBB_ASM_RODATA_BEGIN(EBB_FRAME_LAYOUT_SYMBOL, "2")
    EBB_FRAME_LAYOUT_ASM(EBB_X86_64_FRAME_SLOTS, EBB_X86_64_FRAME_BYTES, "rsp")
    EBB_ASM_RODATA_END(EBB_FRAME_LAYOUT_SYMBOL));

EBB_RUNTIME_BEGIN
namespace arch {

extern "C" {
__attribute__((visibility("hidden"))) void ebb_switch_context(void** save_sp, void* target_sp)
    __asm__(EBB_X86_64_SWITCH);
__attribute__((visibility("hidden"))) void ebb_fiber_start() __asm__(EBB_X86_64_START);
}

// ---- the frame, for C++ and the contract checks -----------------------------------------------
inline constexpr std::size_t initial_frame_bytes = EBB_X86_64_FRAME_BYTES;
inline constexpr std::size_t stack_alignment = 16;  // psABI §3.2.2: rsp + 8 is a multiple of 16 at entry
inline constexpr std::size_t frame_return_offset = EBB_X86_64_FRAME_RETURN;
inline constexpr frame_slot frame_slots[] = {EBB_X86_64_FRAME_SLOTS(EBB_FRAME_SLOT_CXX)};

// Lay out the first frame on a new stack whose (16-byte aligned) top is `top`; returns the stack
// pointer to switch to.
inline void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept {
  constexpr std::size_t word = sizeof(std::uint64_t);
  auto* frame = reinterpret_cast<std::uint64_t*>(static_cast<char*>(top) - initial_frame_bytes);
  // Both control words share one word (MXCSR low, the x87 word above it, the padding zero), left as
  // the switch's `pushq $0` + two stores leave it: zeroed, then stored into straight from the
  // instructions. Never read back: a load of what stmxcsr has just stored waits on store forwarding,
  // and that wait (storing to a local, then combining the two words in a register) cost 8 ns of the
  // 57 ns a fiber's create + run + destroy took here. One asm statement with a memory clobber, so the
  // compiler neither reorders the zeroing after the stores nor assumes the word still holds zero.
  static_assert(EBB_X86_64_FRAME_MXCSR == 0 && EBB_X86_64_FRAME_X87_CW == 4, "one word holds both control words");
  __asm__ volatile("movq $0, (%0)\n\t"
                   "stmxcsr " EBB_STRINGIFY(EBB_X86_64_FRAME_MXCSR) "(%0)\n\t"
                   "fnstcw " EBB_STRINGIFY(EBB_X86_64_FRAME_X87_CW) "(%0)"
                   :
                   : "r"(frame)
                   : "memory");
  frame[EBB_X86_64_FRAME_R15 / word] = 0;
  frame[EBB_X86_64_FRAME_R14 / word] = 0;
  frame[EBB_X86_64_FRAME_R13 / word] = reinterpret_cast<std::uint64_t>(arg);
  frame[EBB_X86_64_FRAME_R12 / word] = reinterpret_cast<std::uint64_t>(entry);
  frame[EBB_X86_64_FRAME_RBX / word] = 0;
  frame[EBB_X86_64_FRAME_RBP / word] = 0;  // ends the frame-pointer chain
  // One byte past the start: unwinders look up a return address minus one, which must fall inside
  // fiber_start's own unwind information, or a backtrace taken inside the first switch runs off
  // into whatever precedes it.
  frame[EBB_X86_64_FRAME_RETURN / word] =
      reinterpret_cast<std::uint64_t>(&ebb_fiber_start) + 1 + EBB_X86_64_ENDBR_BYTES;
  return frame;
}

// The address of ebb's per-thread state (an initial-exec thread-local, see detail/context.hpp; its
// definition is the object format's, arch/format/): the thread pointer plus the variable's offset
// from it. The asm is volatile, so the compiler recomputes it at every call and can never reuse a
// value from before a switch after which the fiber may run on another thread; unlike an out-of-line
// accessor it costs no call.
#if defined(EBB_FORMAT_ELF)
// ELF x86-64: the thread pointer is %fs:0, the offset a GOT entry filled by the dynamic linker.
EBB_ALWAYS_INLINE void* thread_state_address() noexcept {
  void* address;
  __asm__ volatile(
      "movq %%fs:0, %0\n\t"
      "addq " EBB_THREAD_STATE_SYMBOL "@gottpoff(%%rip), %0"
      : "=r"(address));
  return address;
}
#else
#error "ebb: x86-64 thread-state access is written for ELF only (Windows reaches TLS through gs:[0x58])"
#endif

// The shadow-stack pointer when CET shadow stacks are active for this thread, else 0. On a CPU or
// kernel without them, or while they are off, rdsspq is a no-op that leaves the register as it was.
EBB_ALWAYS_INLINE std::uintptr_t shadow_stack_pointer() noexcept {
  std::uintptr_t ssp = 0;
  __asm__ volatile("rdsspq %0" : "+r"(ssp));
  return ssp;
}

// The stack pointer of the code a signal interrupted, from the handler's ucontext. Its layout is the
// OS's (and C library's), not the ISA's: each OS this port runs on needs its own line.
#if defined(__linux__)
inline void* interrupted_stack_pointer(const void* ucontext) noexcept {
  return reinterpret_cast<void*>(static_cast<const ucontext_t*>(ucontext)->uc_mcontext.gregs[REG_RSP]);
}
#else
#error "ebb: x86-64 interrupted_stack_pointer knows only Linux's ucontext_t (missing: this OS's)"
#endif

// The current stack pointer (approximately: the frame of the caller).
EBB_ALWAYS_INLINE void* stack_pointer() noexcept {
  void* sp;
  __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
  return sp;
}

// One step of a spin-wait: `pause` tells the core this is a spin loop, so it does not flood the
// pipeline with speculative loads (and a hyperthread sibling gets the cycles).
EBB_ALWAYS_INLINE void cpu_relax() noexcept { __builtin_ia32_pause(); }

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_X86_64) && defined(EBB_ABI_SYSV)
