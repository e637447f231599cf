// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_sysv_elf.hpp — the context switch for x86-64, System V ABI, ELF.
//
// What the ABI lets a callee clobber we leave alone: the compiler already saved whatever it needed
// before calling us. What it requires a callee to preserve we save, and nothing else:
//   rbx, rbp, r12–r15, and the control bits of MXCSR and the x87 control word (psABI §3.2.1,
//   "the control bits of the MXCSR register and the x87 control word are callee-saved").
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
// The routines are emitted in a COMDAT group from every translation unit that includes this header;
// the linker keeps one per executable or shared library. They are .hidden: two shared libraries
// built with different ebb versions must not bind to each other's copy. Each definition is wrapped
// in `.ifndef`: GCC's link-time optimisation pastes the top-level assembly of every unit into one
// assembly file, where COMDAT cannot dedupe labels any more and a second definition would be an
// error; the assembler (GNU as, LLVM's) skips it instead. A symbol that is only referenced or declared
// .hidden before that point counts as undefined there, so the first copy is always kept.
#pragma once

#include "ebb/config.hpp"

#include <cstddef>
#include <cstdint>

#include <ucontext.h>

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
__asm__(
    ".ifndef " EBB_X86_64_SWITCH "\n"
    ".pushsection .text." EBB_X86_64_SWITCH ",\"axG\",@progbits," EBB_X86_64_SWITCH ",comdat\n"
    ".weak " EBB_X86_64_SWITCH "\n"
    ".hidden " EBB_X86_64_SWITCH "\n"
    ".type " EBB_X86_64_SWITCH ",@function\n"
    ".p2align 4\n"
    EBB_X86_64_SWITCH ":\n"
    ".cfi_startproc\n"
    EBB_X86_64_ENDBR
    "pushq %rbp\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbp, -16\n"
    "pushq %rbx\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %rbx, -24\n"
    "pushq %r12\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r12, -32\n"
    "pushq %r13\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r13, -40\n"
    "pushq %r14\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r14, -48\n"
    "pushq %r15\n"
    ".cfi_adjust_cfa_offset 8\n"
    ".cfi_offset %r15, -56\n"
    "pushq $0\n"                  // FP control slot, upper bytes zero
    ".cfi_adjust_cfa_offset 8\n"
    "stmxcsr (%rsp)\n"
    "fnstcw 4(%rsp)\n"
    "movq %rsp, (%rdi)\n"         // suspend: publish our stack pointer
    "movq %rsi, %rsp\n"           // resume: from here on we are on the target's stack
    "ldmxcsr (%rsp)\n"
    "fldcw 4(%rsp)\n"
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
    ".size " EBB_X86_64_SWITCH ", .-" EBB_X86_64_SWITCH "\n"
    ".popsection\n"
    ".endif\n");

// Entered by the first switch to a new fiber, with rsp 16-byte aligned, r12 = entry, r13 = argument.
__asm__(
    ".ifndef " EBB_X86_64_START "\n"
    ".pushsection .text." EBB_X86_64_START ",\"axG\",@progbits," EBB_X86_64_START ",comdat\n"
    ".weak " EBB_X86_64_START "\n"
    ".hidden " EBB_X86_64_START "\n"
    ".type " EBB_X86_64_START ",@function\n"
    ".p2align 4\n"
    EBB_X86_64_START ":\n"
    ".cfi_startproc\n"
    ".cfi_undefined %rip\n"       // outermost frame: backtraces end here
    EBB_X86_64_ENDBR
    "nop\n"                       // the initial frame "returns" one byte in (see make_initial_frame)
    "movq %r13, %rdi\n"
    "callq *%r12\n"
    "ud2\n"                       // entry never returns: it switches away for the last time
    ".cfi_endproc\n"
    ".size " EBB_X86_64_START ", .-" EBB_X86_64_START "\n"
    ".popsection\n"
    ".endif\n");

EBB_RUNTIME_BEGIN
namespace arch {

extern "C" {
__attribute__((visibility("hidden"))) void ebb_switch_context(void** save_sp, void* target_sp)
    __asm__(EBB_X86_64_SWITCH);
__attribute__((visibility("hidden"))) void ebb_fiber_start() __asm__(EBB_X86_64_START);
}

inline constexpr std::size_t initial_frame_bytes = 64;

// Lay out the first frame on a new stack whose (16-byte aligned) top is `top`; returns the stack
// pointer to switch to.
inline void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept {
  auto* frame = reinterpret_cast<std::uint64_t*>(static_cast<char*>(top) - initial_frame_bytes);
  std::uint32_t mxcsr;
  std::uint16_t x87_control;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(x87_control));
  frame[0] = mxcsr | (static_cast<std::uint64_t>(x87_control) << 32);
  frame[1] = 0;                                         // r15
  frame[2] = 0;                                         // r14
  frame[3] = reinterpret_cast<std::uint64_t>(arg);      // r13
  frame[4] = reinterpret_cast<std::uint64_t>(entry);    // r12
  frame[5] = 0;                                         // rbx
  frame[6] = 0;                                         // rbp: ends the frame-pointer chain
  // One byte past the start: unwinders look up a return address minus one, which must fall inside
  // fiber_start's own unwind information, or a backtrace taken inside the first switch runs off
  // into whatever precedes it.
  frame[7] = reinterpret_cast<std::uint64_t>(&ebb_fiber_start) + 1 + EBB_X86_64_ENDBR_BYTES;
  return frame;
}

// ebb's per-thread state (runtime_v1::thread_state, zero-initialised), defined here
// rather than as a C++ inline variable because only assembly refers to it, and a C++ variable that no
// C++ code uses is never emitted. Weak, in a COMDAT group, default visibility: one per process.
__asm__(
    ".ifndef " EBB_THREAD_STATE_SYMBOL "\n"
    ".pushsection .tbss." EBB_THREAD_STATE_SYMBOL ",\"awTG\",@nobits," EBB_THREAD_STATE_SYMBOL ",comdat\n"
    ".weak " EBB_THREAD_STATE_SYMBOL "\n"
    ".type " EBB_THREAD_STATE_SYMBOL ",@tls_object\n"
    ".size " EBB_THREAD_STATE_SYMBOL ", " EBB_STRINGIFY(EBB_THREAD_STATE_BYTES) "\n"
    ".p2align 3\n"
    EBB_THREAD_STATE_SYMBOL ":\n"
    ".zero " EBB_STRINGIFY(EBB_THREAD_STATE_BYTES) "\n"
    ".popsection\n"
    ".endif\n");

// The address of ebb's per-thread state (an initial-exec thread-local, see detail/context.hpp): the
// thread pointer (%fs:0 on x86-64 Linux) plus the variable's offset from it. The asm is volatile, so
// the compiler recomputes it at every call and can never reuse a value from before a switch after
// which the fiber may run on another thread; unlike an out-of-line accessor it costs no call.
EBB_ALWAYS_INLINE void* thread_state_address() noexcept {
  void* address;
  __asm__ volatile(
      "movq %%fs:0, %0\n\t"
      "addq " EBB_THREAD_STATE_SYMBOL "@gottpoff(%%rip), %0"
      : "=r"(address));
  return address;
}

// The shadow-stack pointer when CET shadow stacks are active for this thread, else 0. On a CPU or
// kernel without them, or while they are off, rdsspq is a no-op that leaves the register as it was.
EBB_ALWAYS_INLINE std::uintptr_t shadow_stack_pointer() noexcept {
  std::uintptr_t ssp = 0;
  __asm__ volatile("rdsspq %0" : "+r"(ssp));
  return ssp;
}

// The stack pointer of the code a signal interrupted, from the handler's ucontext.
inline void* interrupted_stack_pointer(const void* ucontext) noexcept {
  return reinterpret_cast<void*>(static_cast<const ucontext_t*>(ucontext)->uc_mcontext.gregs[REG_RSP]);
}

// The current stack pointer (approximately: the frame of the caller).
EBB_ALWAYS_INLINE void* stack_pointer() noexcept {
  void* sp;
  __asm__ volatile("movq %%rsp, %0" : "=r"(sp));
  return sp;
}

}  // namespace arch
EBB_RUNTIME_END
