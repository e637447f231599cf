// SPDX-License-Identifier: BSL-1.0
// ebb/arch/i386_sysv.hpp — the context switch for 32-bit x86 under the System V i386 psABI (Linux).
//
// x86_64_sysv.hpp is the reference port and explains every decision; this file says only where i386
// differs.
//
// Callee-saved (i386 psABI §2.2.2): ebx, esi, edi, ebp, esp, and the control bits of the x87 control
// word and of MXCSR — as on x86-64. No x87 or SSE data register is callee-saved.
// MXCSR needs SSE: stmxcsr/ldmxcsr fault on a CPU without it (before the Pentium III). The switch
// uses them unconditionally: glibc's fesetround on i386 changes MXCSR too whenever the CPU has SSE
// (whatever -march the program was built for), so a fiber's rounding mode lives in both words; and
// every x86 CPU that runs a current Linux has SSE.
//
// Arguments are on the stack (save_sp at 4(%esp), target_sp at 8(%esp) on entry); they are loaded
// into eax/edx, which the ABI lets a callee clobber, before anything is pushed.
//
// Frame the switch leaves on the stack it suspends, 32 bytes:
//
//     sp+28  return address          (pushed by the caller's `call`)
//     sp+24  ebp
//     sp+20  ebx
//     sp+16  esi
//     sp+12  edi
//     sp+8   padding (so the frame is a multiple of 16 and the stack stays aligned)
//     sp+4   x87 control word (fnstcw; 2 bytes)
//     sp+0   MXCSR (stmxcsr)
//
// Stack alignment: GCC on Linux assumes (and the psABI has required since 2015) that esp + 4 is a
// multiple of 16 at a function's entry, i.e. esp is 16-byte aligned at the `call`. The trampoline is
// entered with esp at the 16-byte aligned stack top; it pushes the argument below 12 bytes of padding,
// so the `call` of the entry happens at an aligned esp.
//
// The new-fiber frame: ebp = 0 (ends the frame-pointer chain), ebx = entry, esi = argument, the
// return address fiber_start + 1 past a one-byte nop (+4 with endbr32), as on x86-64.
//
// CET: indirect-branch tracking is handled as on x86-64 (endbr32, and `ret` instead of pop + jmp).
// Linux supports user-space shadow stacks on x86-64 only, so none is ever active for a 32-bit
// process: shadow_stack_pointer() is 0.
#pragma once

#include "ebb/arch/frame.hpp"
#include "ebb/config.hpp"

// Only for the target it was written for (arch/switch.hpp selects it): included while compiling for
// another CPU, as a header-by-header check does, it is empty rather than a page of assembler errors.
#if defined(EBB_ARCH_I386) && defined(EBB_ABI_SYSV)

#include <cstddef>
#include <cstdint>

#if defined(EBB_FORMAT_ELF)
#include "ebb/arch/format/elf.hpp"
#else
#error "ebb: the i386 System V port has no object-format support for this target (supported: ELF)"
#endif

#if defined(__linux__)
#include <ucontext.h>
#endif

// ---- the frame, once ----------------------------------------------------------------------------
#define EBB_I386_FRAME_MXCSR 0
#define EBB_I386_FRAME_X87_CW 4
#define EBB_I386_FRAME_EDI 12
#define EBB_I386_FRAME_ESI 16
#define EBB_I386_FRAME_EBX 20
#define EBB_I386_FRAME_EBP 24
#define EBB_I386_FRAME_RETURN 28
#define EBB_I386_FRAME_BYTES 32
#define EBB_I386_FRAME_SLOTS(X)                              \
  X(mxcsr, EBB_I386_FRAME_MXCSR, 4, EBB_FRAME_SLOT_CONTROL)  \
  X(fctrl, EBB_I386_FRAME_X87_CW, 2, EBB_FRAME_SLOT_CONTROL) \
  X(edi, EBB_I386_FRAME_EDI, 4, EBB_FRAME_SLOT_REGISTER)     \
  X(esi, EBB_I386_FRAME_ESI, 4, EBB_FRAME_SLOT_REGISTER)     \
  X(ebx, EBB_I386_FRAME_EBX, 4, EBB_FRAME_SLOT_REGISTER)     \
  X(ebp, EBB_I386_FRAME_EBP, 4, EBB_FRAME_SLOT_REGISTER)     \
  X(eip, EBB_I386_FRAME_RETURN, 4, EBB_FRAME_SLOT_RETURN)

#define EBB_I386_CFA_OFFSET(slot) EBB_STRINGIFY(slot) "-" EBB_STRINGIFY(EBB_I386_FRAME_BYTES)

#if defined(__CET__) && (__CET__ & 1)
#define EBB_I386_ENDBR "endbr32\n"
#define EBB_I386_ENDBR_BYTES 4
#define EBB_I386_RESUME_TARGET "ret\n"
#else
#define EBB_I386_ENDBR ""
#define EBB_I386_ENDBR_BYTES 0
#define EBB_I386_RESUME_TARGET  \
  "popl %ecx\n"                 \
  ".cfi_adjust_cfa_offset -4\n" \
  ".cfi_register %eip, %ecx\n"  \
  "jmpl *%ecx\n"
#endif

#define EBB_I386_SWITCH "ebb_" EBB_ASM_VERSION "_i386_sysv_switch"
#define EBB_I386_START "ebb_" EBB_ASM_VERSION "_i386_sysv_fiber_start"

// void switch(void** save_sp /* 4(%esp) */, void* target_sp /* 8(%esp) */)
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_I386_SWITCH, "4")
    ".cfi_startproc\n"
    EBB_I386_ENDBR
    "movl 4(%esp), %eax\n"
    "movl 8(%esp), %edx\n"
    "pushl %ebp\n"
    ".cfi_adjust_cfa_offset 4\n"
    ".cfi_offset %ebp, " EBB_I386_CFA_OFFSET(EBB_I386_FRAME_EBP) "\n"
    "pushl %ebx\n"
    ".cfi_adjust_cfa_offset 4\n"
    ".cfi_offset %ebx, " EBB_I386_CFA_OFFSET(EBB_I386_FRAME_EBX) "\n"
    "pushl %esi\n"
    ".cfi_adjust_cfa_offset 4\n"
    ".cfi_offset %esi, " EBB_I386_CFA_OFFSET(EBB_I386_FRAME_ESI) "\n"
    "pushl %edi\n"
    ".cfi_adjust_cfa_offset 4\n"
    ".cfi_offset %edi, " EBB_I386_CFA_OFFSET(EBB_I386_FRAME_EDI) "\n"
    "subl $12, %esp\n"            // padding, x87 control word, MXCSR
    ".cfi_adjust_cfa_offset 12\n"
    "stmxcsr " EBB_STRINGIFY(EBB_I386_FRAME_MXCSR) "(%esp)\n"
    "fnstcw " EBB_STRINGIFY(EBB_I386_FRAME_X87_CW) "(%esp)\n"
    "movl %esp, (%eax)\n"         // suspend: save our stack pointer (no barrier: docs/design.md)
    "movl %edx, %esp\n"           // resume: from here on we are on the target's stack
    "ldmxcsr " EBB_STRINGIFY(EBB_I386_FRAME_MXCSR) "(%esp)\n"
    "fldcw " EBB_STRINGIFY(EBB_I386_FRAME_X87_CW) "(%esp)\n"
    "addl $12, %esp\n"
    ".cfi_adjust_cfa_offset -12\n"
    "popl %edi\n"
    ".cfi_adjust_cfa_offset -4\n"
    ".cfi_restore %edi\n"
    "popl %esi\n"
    ".cfi_adjust_cfa_offset -4\n"
    ".cfi_restore %esi\n"
    "popl %ebx\n"
    ".cfi_adjust_cfa_offset -4\n"
    ".cfi_restore %ebx\n"
    "popl %ebp\n"
    ".cfi_adjust_cfa_offset -4\n"
    ".cfi_restore %ebp\n"
    EBB_I386_RESUME_TARGET
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_I386_SWITCH));

// Entered by the first switch to a new fiber, with esp 16-byte aligned, ebx = entry, esi = argument.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_I386_START, "4")
    ".cfi_startproc\n"
    ".cfi_undefined %eip\n"       // outermost frame: backtraces end here
    EBB_I386_ENDBR
    "nop\n"                       // the initial frame "returns" one byte in
    "subl $12, %esp\n"
    "pushl %esi\n"                // entry(arg): esp is 16-byte aligned at the call
    "call *%ebx\n"
    "ud2\n"                       // entry never returns: it switches away for the last time
    EBB_ASM_KEEP(EBB_FRAME_LAYOUT_SYMBOL)
    ".cfi_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_I386_START));

__asm__(
    EBB_ASM_RODATA_BEGIN(EBB_FRAME_LAYOUT_SYMBOL, "2")
    EBB_FRAME_LAYOUT_ASM(EBB_I386_FRAME_SLOTS, EBB_I386_FRAME_BYTES, "esp")
    EBB_ASM_RODATA_END(EBB_FRAME_LAYOUT_SYMBOL));

EBB_RUNTIME_BEGIN
namespace arch {

extern "C" {
__attribute__((visibility("hidden"))) void ebb_switch_context(void** save_sp, void* target_sp)
    __asm__(EBB_I386_SWITCH);
__attribute__((visibility("hidden"))) void ebb_fiber_start() __asm__(EBB_I386_START);
}

inline constexpr std::size_t initial_frame_bytes = EBB_I386_FRAME_BYTES;
inline constexpr std::size_t stack_alignment = 16;  // esp 16-byte aligned at a call (see above)
inline constexpr std::size_t frame_return_offset = EBB_I386_FRAME_RETURN;
inline constexpr frame_slot frame_slots[] = {EBB_I386_FRAME_SLOTS(EBB_FRAME_SLOT_CXX)};

inline void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept {
  constexpr std::size_t word = sizeof(std::uint32_t);
  auto* frame = reinterpret_cast<std::uint32_t*>(static_cast<char*>(top) - initial_frame_bytes);
  for (std::size_t i = 0; i < initial_frame_bytes / word; ++i) frame[i] = 0;  // ebp = 0 ends the chain
  // Stored straight into the zeroed frame, never read back (x86_64_sysv.hpp says why: store forwarding).
  __asm__ volatile("stmxcsr " EBB_STRINGIFY(EBB_I386_FRAME_MXCSR) "(%0)\n\t"
                   "fnstcw " EBB_STRINGIFY(EBB_I386_FRAME_X87_CW) "(%0)"
                   :
                   : "r"(frame)
                   : "memory");
  frame[EBB_I386_FRAME_EBX / word] = reinterpret_cast<std::uint32_t>(entry);
  frame[EBB_I386_FRAME_ESI / word] = reinterpret_cast<std::uint32_t>(arg);
  frame[EBB_I386_FRAME_RETURN / word] =
      reinterpret_cast<std::uint32_t>(&ebb_fiber_start) + 1 + EBB_I386_ENDBR_BYTES;
  return frame;
}

// ELF i386, initial-exec: the thread pointer is the word at %gs:0 (the TCB points to itself); the
// variable's offset from it is a GOT entry the dynamic linker fills. Two ways to name that entry:
//   - x@indntpoff: the GOT entry's absolute address (R_386_TLS_IE). In position-independent code that
//     is a relocation in the text: a shared library would need text relocations (and a PIE the
//     same), which glibc refuses under some hardening and which dirties the code pages;
//   - x@gotntpoff(%reg): the entry's offset from the GOT (R_386_TLS_GOTIE), given the GOT's address
//     in a register — position-independent, fine in shared libraries.
// i386 has no pc-relative data addressing, so in PIC code (__PIC__: shared libraries, and PIEs, the
// default of Debian's and most distributions' compilers) the sequence finds the GOT itself with the
// classic call/pop (a call to the next instruction, which CPUs special-case in the return-stack
// predictor) plus _GLOBAL_OFFSET_TABLE_'s pc-relative offset; it cannot ask the compiler for the GOT
// register it may already have. Non-PIC code uses @indntpoff, one instruction. Both are volatile and
// recomputed at every call, as on x86-64.
#if defined(EBB_FORMAT_ELF)
EBB_ALWAYS_INLINE void* thread_state_address() noexcept {
  void* address;
#if defined(__PIC__)
  __asm__ volatile(
      "call 1f\n"
      "1: popl %0\n\t"
      "addl $_GLOBAL_OFFSET_TABLE_+(.-1b), %0\n\t"
      "movl " EBB_THREAD_STATE_SYMBOL "@gotntpoff(%0), %0\n\t"
      "addl %%gs:0, %0"
      : "=r"(address));
#else
  __asm__ volatile(
      "movl " EBB_THREAD_STATE_SYMBOL "@indntpoff, %0\n\t"
      "addl %%gs:0, %0"
      : "=r"(address));
#endif
  return address;
}
#else
#error "ebb: i386 thread-state access is written for ELF only"
#endif

EBB_ALWAYS_INLINE std::uintptr_t shadow_stack_pointer() noexcept { return 0; }

#if defined(__linux__)
// glibc's i386 gregs follow the kernel's sigcontext: REG_ESP is the interrupted esp (REG_UESP holds
// the same value, sigcontext's sp_at_signal).
inline void* interrupted_stack_pointer(const void* ucontext) noexcept {
  return reinterpret_cast<void*>(static_cast<const ucontext_t*>(ucontext)->uc_mcontext.gregs[REG_ESP]);
}
#else
#error "ebb: i386 interrupted_stack_pointer knows only Linux's ucontext_t (missing: this OS's)"
#endif

EBB_ALWAYS_INLINE void* stack_pointer() noexcept {
  void* sp;
  __asm__ volatile("movl %%esp, %0" : "=r"(sp));
  return sp;
}

// `pause` is `rep; nop`: the spin-wait hint on CPUs since the Pentium 4, a plain nop before them.
EBB_ALWAYS_INLINE void cpu_relax() noexcept { __asm__ volatile("pause"); }

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_I386) && defined(EBB_ABI_SYSV)
