// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_ms.hpp — the context switch for x86-64 under the Microsoft x64 calling convention
// (64-bit Windows, PE/COFF, GNU-style assembly: MinGW-w64 GCC and clang).
//
// x86_64_sysv.hpp is the reference port and explains every decision; this file says where Windows
// differs. Those differences are three: more callee-saved state, the thread information block (TIB)
// that describes a thread's stack to the operating system, and unwind information that is SEH's
// table format instead of DWARF CFI.
//
// Callee-saved ("x64 software conventions", register usage): rbx, rbp, rdi, rsi, r12–r15 and
// xmm6–xmm15 (the whole 128 bits; the upper halves of ymm/zmm are volatile), and the control bits of
// MXCSR and of the x87 control word ("the MXCSR control fields and the x87 control word are
// nonvolatile"). Arguments arrive in rcx (save_sp) and rdx (target_sp).
//
// The TIB. Windows reads a thread's stack bounds from its TEB (reached through gs), not from the stack
// pointer: the C++ exception dispatcher (RtlDispatchException / RtlUnwindEx) rejects any frame outside
// [StackLimit, StackBase) ("Exception frame is not in stack limits" under wine), the page-fault path
// grows a stack through its PAGE_GUARD page only between DeallocationStack and StackBase, MSVC's
// __chkstk compares against StackLimit, and SetThreadStackGuarantee keeps its size in
// GuaranteedStackBytes. So these fields belong to the stack and are swapped with it (offsets in the
// 64-bit TEB; NT_TIB in winnt.h for the first ones, the rest are the layout every Windows since XP
// x64, and wine, use):
//     gs:[0x0000] ExceptionList         x64 SEH is table-based, but wine still walks this list for its
//                                       own handlers during dispatch, calling every entry below the
//                                       frame being unwound: a fiber stack above the thread's would see
//                                       the thread's entries and end every throw in terminate. A new
//                                       fiber starts with -1, the end of the list.
//     gs:[0x0008] StackBase             the top of the stack (exclusive)
//     gs:[0x0010] StackLimit            the lowest committed address; the OS moves it down as the stack
//                                       grows through its guard page
//     gs:[0x1478] DeallocationStack     the base of the stack's reservation (the growth floor)
//     gs:[0x1748] GuaranteedStackBytes  4 bytes: what SetThreadStackGuarantee asked to keep for the
//                                       stack-overflow handler; per stack, so 0 (the default) for a new
//                                       fiber unless its creator says otherwise
// Not swapped:
//     gs:[0x0020] FiberData             the current *Windows* fiber (GetCurrentFiber). It belongs to
//                                       Windows' fibers, one level above ebb's: an ebb fiber runs
//                                       inside whichever Windows fiber or thread resumed it, has no
//                                       value of its own, and must see the new thread's value when it
//                                       migrates. Fiber-local storage (FlsData) and the
//                                       activation-context stack (ActivationContextStackPointer), which
//                                       SwitchToFiber also swaps, follow FiberData for the same reason:
//                                       an ebb fiber that yields between ActivateActCtx and
//                                       DeactivateActCtx leaves the activation visible to its resumer.
// So ebb fibers nest inside Windows fibers (tests/windows/switch_test.cpp runs ebb fibers inside one).
// The other way round is not supported: SwitchToFiber called on an ebb fiber's stack. A Windows fiber
// keeps the StackBase and DeallocationStack it was made with and saves only ExceptionList and
// StackLimit when it is left (wine 8.0's SwitchToFiber, seen in the test), so switching back to it
// from the other Windows fiber resumes the ebb fiber under the Windows fiber's StackBase and
// DeallocationStack, and its next throw fails ("Exception frame is not in stack limits").
//
// Frame the switch leaves on the stack it suspends, 288 bytes:
//
//     sp+280  return address          (pushed by the caller's `call`)
//     sp+272  rbp
//     sp+264  rbx
//     sp+256  rdi
//     sp+248  rsi
//     sp+240  r12
//     sp+232  r13
//     sp+224  r14
//     sp+216  r15
//     sp+208  padding (so the xmm slots below are 16-byte aligned)
//     sp+48   xmm6 … xmm15, 16 bytes each, xmm6 lowest (movaps: the slots are 16-byte aligned)
//     sp+40   DeallocationStack
//     sp+32   StackLimit
//     sp+24   StackBase
//     sp+16   ExceptionList
//     sp+8    GuaranteedStackBytes (4 bytes; the 4 above are 0)
//     sp+6    padding
//     sp+4    x87 control word (fnstcw)
//     sp+0    MXCSR (stmxcsr)
//
// Unwinding. Windows' unwinder (RtlVirtualUnwind; every SEH and C++ exception, debuggers and ETW
// stack walks) knows a function only through its prologue's unwind codes, applied in full anywhere
// in the body, and through epilogue recognition: only `add rsp, n` / `lea rsp, [frame register + n]`,
// pops and `ret` (or a direct or rip-relative jmp) count as an epilogue, which it then simulates.
// Nothing like CFI's .cfi_register can say "the return address is in r11", so System V's return
// (pop the address, `jmp *%r11`: x86_64_sysv.hpp, "Returning") is no legal epilogue: an unwinder
// interrupting it would apply the prologue's codes to a half-popped frame and walk garbage. And a
// canonical epilogue ending in `ret` mispredicts every switch, since the return-stack buffer predicts
// the caller's own return site: measured once under wine (the CPU runs the code natively) with a
// throwaway round-trip loop over both variants, not kept, 13-17.5 ns a switch against 7-12 ns for
// pop + jmp (a noisy VM; no program here prints these, and bench/ does not build for Windows yet).
// So the switch is two unwind regions. The first is the prologue — pushes of the eight registers
// (.seh_pushreg), one allocation (.seh_stackalloc), the xmm stores (.seh_savexmm) — and a body that
// changes nothing the codes describe: MXCSR, the TIB fields and every register are stored and
// restored with moves while rsp stays at the frame, and the restored values are the frame's own, so
// an unwind anywhere in it reads the right registers from memory; after the stack-pointer swap the
// same codes describe the target's frame, as the CFI does on System V. Its last instruction points r10
// at the resume address's slot. The second region, the return (mov (%r10),%r11; lea past the frame,
// %rsp; jmp *%r11), has r10 as its frame register (UWOP_SET_FPREG, offset 0): the unwinder takes rsp
// from r10 and the return address from there, whatever rsp has become. tests/windows/switch_test.cpp
// unwinds a suspended frame at every prologue instruction, in the body and at each instruction of the
// return region. Cost: within the noise of pop + jmp in that one-off measurement (7-12 ns).
//
// The new-fiber frame and the TIB values a new fiber starts with: arch/x86_64_ms_first_frame.hpp.
//
// CET: Windows uses no indirect-branch tracking (Control Flow Guard instead, a check the compiler puts
// before its own indirect calls: ebb calls the switch directly, and the switch's jmp is its own).
// Hardware-enforced stack protection (shadow stacks) applies only to images linked /CETCOMPAT on a
// CPU and Windows that enforce it; there the resumed code's first return after a switch would fault,
// as on Linux, and shadow_stack_pointer() (rdsspq) is non-zero, which ebb's fiber creation already
// refuses with a report (detail/shadow_stack.hpp).
//
// The routines are emitted through arch/format/pe.hpp: one COMDAT copy per executable or DLL, kept
// out of DLL export tables, guarded for GCC's LTO.
//
// MSVC has no x64 inline assembly. There (and with any compiler given EBB_X86_64_MS_MACHINE_CODE=1,
// which is how tests/windows/ reaches this path) the same two routines run as the assembler's bytes,
// arch/x86_64_ms_machine_code.hpp, copied into executable memory with their unwind data by
// arch/x86_64_ms_code_block.hpp; the few instructions the C++ below writes inline come from
// arch/x86_64_ms_msvc.hpp's intrinsics under MSVC.
#pragma once

#include "ebb/arch/frame.hpp"
#include "ebb/config.hpp"

// Only for the target it was written for (arch/switch.hpp selects it): empty anywhere else.
#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)

#include <atomic>
#include <cstddef>
#include <cstdint>

#if defined(EBB_FORMAT_PE)
#include "ebb/arch/format/pe.hpp"
#else
#error "ebb: the x86-64 Microsoft-ABI port has no object-format support for this target (supported: PE/COFF)"
#endif

#if !defined(EBB_X86_64_MS_MACHINE_CODE)
#if defined(_MSC_VER) && !defined(__clang__)
#define EBB_X86_64_MS_MACHINE_CODE 1
#else
#define EBB_X86_64_MS_MACHINE_CODE 0
#endif
#endif
#if defined(_MSC_VER) && !defined(__clang__)
#include "ebb/arch/x86_64_ms_msvc.hpp"
#endif
#if EBB_X86_64_MS_MACHINE_CODE
#include "ebb/arch/x86_64_ms_code_block.hpp"
#endif

#include "ebb/arch/x86_64_ms_thread_access.hpp"  // the TEB offsets the routines use, thread state

// ---- the frame, once ----------------------------------------------------------------------------
#define EBB_X86_64_MS_FRAME_MXCSR 0
#define EBB_X86_64_MS_FRAME_X87_CW 4
#define EBB_X86_64_MS_FRAME_GUARANTEE 8
#define EBB_X86_64_MS_FRAME_EXCEPTION_LIST 16
#define EBB_X86_64_MS_FRAME_STACK_BASE 24
#define EBB_X86_64_MS_FRAME_STACK_LIMIT 32
#define EBB_X86_64_MS_FRAME_DEALLOCATION 40
#define EBB_X86_64_MS_FRAME_XMM6 48
#define EBB_X86_64_MS_FRAME_XMM7 64
#define EBB_X86_64_MS_FRAME_XMM8 80
#define EBB_X86_64_MS_FRAME_XMM9 96
#define EBB_X86_64_MS_FRAME_XMM10 112
#define EBB_X86_64_MS_FRAME_XMM11 128
#define EBB_X86_64_MS_FRAME_XMM12 144
#define EBB_X86_64_MS_FRAME_XMM13 160
#define EBB_X86_64_MS_FRAME_XMM14 176
#define EBB_X86_64_MS_FRAME_XMM15 192
#define EBB_X86_64_MS_FRAME_ALLOC 216  // what the prologue allocates below its pushes: r15's offset
#define EBB_X86_64_MS_FRAME_R15 216
#define EBB_X86_64_MS_FRAME_R14 224
#define EBB_X86_64_MS_FRAME_R13 232
#define EBB_X86_64_MS_FRAME_R12 240
#define EBB_X86_64_MS_FRAME_RSI 248
#define EBB_X86_64_MS_FRAME_RDI 256
#define EBB_X86_64_MS_FRAME_RBX 264
#define EBB_X86_64_MS_FRAME_RBP 272
#define EBB_X86_64_MS_FRAME_RETURN 280
#define EBB_X86_64_MS_FRAME_BYTES 288
// xmm6–15 and the TIB words are "control" slots for the layout object: state the switch restores that
// a debugger does not need to find the caller's frame (and register slots are whole words, which a
// 16-byte xmm slot is not: arch/contract.hpp).
#define EBB_X86_64_MS_FRAME_SLOTS(X)                                                       \
  X(mxcsr, EBB_X86_64_MS_FRAME_MXCSR, 4, EBB_FRAME_SLOT_CONTROL)                           \
  X(fctrl, EBB_X86_64_MS_FRAME_X87_CW, 2, EBB_FRAME_SLOT_CONTROL)                          \
  X(tib_guaranteed_stack_bytes, EBB_X86_64_MS_FRAME_GUARANTEE, 4, EBB_FRAME_SLOT_CONTROL)  \
  X(tib_exception_list, EBB_X86_64_MS_FRAME_EXCEPTION_LIST, 8, EBB_FRAME_SLOT_CONTROL)     \
  X(tib_stack_base, EBB_X86_64_MS_FRAME_STACK_BASE, 8, EBB_FRAME_SLOT_CONTROL)             \
  X(tib_stack_limit, EBB_X86_64_MS_FRAME_STACK_LIMIT, 8, EBB_FRAME_SLOT_CONTROL)           \
  X(tib_deallocation_stack, EBB_X86_64_MS_FRAME_DEALLOCATION, 8, EBB_FRAME_SLOT_CONTROL)   \
  X(xmm6, EBB_X86_64_MS_FRAME_XMM6, 16, EBB_FRAME_SLOT_CONTROL)                            \
  X(xmm7, EBB_X86_64_MS_FRAME_XMM7, 16, EBB_FRAME_SLOT_CONTROL)                            \
  X(xmm8, EBB_X86_64_MS_FRAME_XMM8, 16, EBB_FRAME_SLOT_CONTROL)                            \
  X(xmm9, EBB_X86_64_MS_FRAME_XMM9, 16, EBB_FRAME_SLOT_CONTROL)                            \
  X(xmm10, EBB_X86_64_MS_FRAME_XMM10, 16, EBB_FRAME_SLOT_CONTROL)                          \
  X(xmm11, EBB_X86_64_MS_FRAME_XMM11, 16, EBB_FRAME_SLOT_CONTROL)                          \
  X(xmm12, EBB_X86_64_MS_FRAME_XMM12, 16, EBB_FRAME_SLOT_CONTROL)                          \
  X(xmm13, EBB_X86_64_MS_FRAME_XMM13, 16, EBB_FRAME_SLOT_CONTROL)                          \
  X(xmm14, EBB_X86_64_MS_FRAME_XMM14, 16, EBB_FRAME_SLOT_CONTROL)                          \
  X(xmm15, EBB_X86_64_MS_FRAME_XMM15, 16, EBB_FRAME_SLOT_CONTROL)                          \
  X(r15, EBB_X86_64_MS_FRAME_R15, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(r14, EBB_X86_64_MS_FRAME_R14, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(r13, EBB_X86_64_MS_FRAME_R13, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(r12, EBB_X86_64_MS_FRAME_R12, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(rsi, EBB_X86_64_MS_FRAME_RSI, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(rdi, EBB_X86_64_MS_FRAME_RDI, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(rbx, EBB_X86_64_MS_FRAME_RBX, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(rbp, EBB_X86_64_MS_FRAME_RBP, 8, EBB_FRAME_SLOT_REGISTER)                              \
  X(rip, EBB_X86_64_MS_FRAME_RETURN, 8, EBB_FRAME_SLOT_RETURN)

#define EBB_X86_64_MS_S(x) EBB_STRINGIFY(x)
// Save xmm<n> to its slot and say so to the unwinder (offsets are from rsp after the allocation).
#define EBB_X86_64_MS_SAVE_XMM(n)                                                   \
  "movaps %xmm" #n ", " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_XMM##n) "(%rsp)\n"      \
  ".seh_savexmm %xmm" #n ", " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_XMM##n) "\n"
#define EBB_X86_64_MS_LOAD_XMM(n) \
  "movaps " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_XMM##n) "(%rsp), %xmm" #n "\n"
#define EBB_X86_64_MS_PUSH(reg) "pushq %" #reg "\n.seh_pushreg %" #reg "\n"

#define EBB_X86_64_MS_SWITCH "ebb_" EBB_ASM_VERSION "_x86_64_ms_switch"
#define EBB_X86_64_MS_START "ebb_" EBB_ASM_VERSION "_x86_64_ms_fiber_start"
#define EBB_X86_64_MS_START_HANDLER "ebb_" EBB_ASM_VERSION "_x86_64_ms_fiber_start_handler"
#define EBB_X86_64_MS_SWITCH_RETURN ".Lebb_" EBB_ASM_VERSION "_x86_64_ms_switch_return"

#if !EBB_X86_64_MS_MACHINE_CODE
// void switch(void** save_sp /* rcx */, void* target_sp /* rdx */)
// Scratch: rax, r8–r11 (volatile); xmm0–5 are not touched.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_X86_64_MS_SWITCH, "4")
    ".seh_proc " EBB_X86_64_MS_SWITCH "\n"
    // Prologue, in the order of the frame (each push lands 8 bytes below the previous one).
    EBB_X86_64_MS_PUSH(rbp)
    EBB_X86_64_MS_PUSH(rbx)
    EBB_X86_64_MS_PUSH(rdi)
    EBB_X86_64_MS_PUSH(rsi)
    EBB_X86_64_MS_PUSH(r12)
    EBB_X86_64_MS_PUSH(r13)
    EBB_X86_64_MS_PUSH(r14)
    EBB_X86_64_MS_PUSH(r15)
    "subq $" EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_ALLOC) ", %rsp\n"
    ".seh_stackalloc " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_ALLOC) "\n"
    EBB_X86_64_MS_SAVE_XMM(6)
    EBB_X86_64_MS_SAVE_XMM(7)
    EBB_X86_64_MS_SAVE_XMM(8)
    EBB_X86_64_MS_SAVE_XMM(9)
    EBB_X86_64_MS_SAVE_XMM(10)
    EBB_X86_64_MS_SAVE_XMM(11)
    EBB_X86_64_MS_SAVE_XMM(12)
    EBB_X86_64_MS_SAVE_XMM(13)
    EBB_X86_64_MS_SAVE_XMM(14)
    EBB_X86_64_MS_SAVE_XMM(15)
    ".seh_endprologue\n"
    // Body: FP control and the TIB fields into the frame (the unwinder needs none of them).
    "stmxcsr " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_MXCSR) "(%rsp)\n"
    "fnstcw " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_X87_CW) "(%rsp)\n"
    "movq %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_EXCEPTION_LIST) ", %rax\n"
    "movq %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_STACK_BASE) ", %r8\n"
    "movq %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_STACK_LIMIT) ", %r9\n"
    "movq %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_DEALLOCATION_STACK) ", %r10\n"
    "movl %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_GUARANTEED_STACK_BYTES) ", %r11d\n"  // zero-extends
    "movq %rax, " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_EXCEPTION_LIST) "(%rsp)\n"
    "movq %r8, " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_STACK_BASE) "(%rsp)\n"
    "movq %r9, " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_STACK_LIMIT) "(%rsp)\n"
    "movq %r10, " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_DEALLOCATION) "(%rsp)\n"
    "movq %r11, " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_GUARANTEE) "(%rsp)\n"
    "movq %rsp, (%rcx)\n"         // suspend: save our stack pointer
    "movq %rdx, %rsp\n"           // resume: from here on we are on the target's stack, same layout
    "ldmxcsr " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_MXCSR) "(%rsp)\n"
    "fldcw " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_X87_CW) "(%rsp)\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_EXCEPTION_LIST) "(%rsp), %rax\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_STACK_BASE) "(%rsp), %r8\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_STACK_LIMIT) "(%rsp), %r9\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_DEALLOCATION) "(%rsp), %r10\n"
    "movl " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_GUARANTEE) "(%rsp), %r11d\n"
    "movq %rax, %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_EXCEPTION_LIST) "\n"
    "movq %r8, %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_STACK_BASE) "\n"
    "movq %r9, %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_STACK_LIMIT) "\n"
    "movq %r10, %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_DEALLOCATION_STACK) "\n"
    "movl %r11d, %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_GUARANTEED_STACK_BYTES) "\n"
    EBB_X86_64_MS_LOAD_XMM(6)
    EBB_X86_64_MS_LOAD_XMM(7)
    EBB_X86_64_MS_LOAD_XMM(8)
    EBB_X86_64_MS_LOAD_XMM(9)
    EBB_X86_64_MS_LOAD_XMM(10)
    EBB_X86_64_MS_LOAD_XMM(11)
    EBB_X86_64_MS_LOAD_XMM(12)
    EBB_X86_64_MS_LOAD_XMM(13)
    EBB_X86_64_MS_LOAD_XMM(14)
    EBB_X86_64_MS_LOAD_XMM(15)
    // The general registers by moves too: rsp stays at the frame, so the prologue's codes still hold.
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_R15) "(%rsp), %r15\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_R14) "(%rsp), %r14\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_R13) "(%rsp), %r13\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_R12) "(%rsp), %r12\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_RSI) "(%rsp), %rsi\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_RDI) "(%rsp), %rdi\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_RBX) "(%rsp), %rbx\n"
    "movq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_RBP) "(%rsp), %rbp\n"
    "leaq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_RETURN) "(%rsp), %r10\n"  // the resume address's slot
    ".seh_endproc\n"
    // The return, a second unwind region of its own: r10 is its frame register, pointing at the
    // resume address, so the unwinder finds it there whatever rsp says (UWOP_SET_FPREG: rsp = r10).
    ".seh_proc " EBB_X86_64_MS_SWITCH_RETURN "\n"
    EBB_X86_64_MS_SWITCH_RETURN ":\n"
    ".seh_setframe %r10, 0\n"
    ".seh_endprologue\n"
    "movq (%r10), %r11\n"
    "leaq " EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_BYTES) "(%rsp), %rsp\n"  // not 8(%r10): that would read as an epilogue
    "jmpq *%r11\n"
    ".seh_endproc\n"
    EBB_ASM_FUNCTION_END(EBB_X86_64_MS_SWITCH));

// Entered by the first switch to a new fiber one byte in, past `push rbp` (never executed: the frame
// already holds what it would have pushed), with rsp = top - 16, r12 = entry, r13 = argument.
__asm__(
    EBB_ASM_FUNCTION_BEGIN(EBB_X86_64_MS_START, "4")
    ".seh_proc " EBB_X86_64_MS_START "\n"
    ".seh_handler " EBB_X86_64_MS_START_HANDLER ", @except\n"  // x86_64_ms_start_handler.hpp
    EBB_X86_64_MS_PUSH(rbp)       // describes [top-16] = 0 under the zero return address at [top-8]
    "subq $32, %rsp\n"            // home space for entry's four register arguments
    ".seh_stackalloc 32\n"
    ".seh_endprologue\n"
    "movq %r13, %rcx\n"
    "callq *%r12\n"
    "ud2\n"                       // entry never returns: it switches away for the last time; this
                                  // also keeps the return address above inside fiber_start
    EBB_ASM_KEEP(EBB_FRAME_LAYOUT_SYMBOL)  // never executed: keeps the layout object linked
    ".seh_endproc\n"
    EBB_ASM_NOT_EXPORTED(EBB_X86_64_MS_START_HANDLER)  // the C++ handler, out of DLL exports too
    EBB_ASM_FUNCTION_END(EBB_X86_64_MS_START));
#endif  // !EBB_X86_64_MS_MACHINE_CODE

#if !EBB_X86_64_MS_MACHINE_CODE
// The frame layout for debuggers (arch/frame.hpp). gdb's helper reads it from an image; the
// machine-code form runs outside any image and has no such reader on Windows, so it goes without.
__asm__(
    EBB_ASM_RODATA_BEGIN(EBB_FRAME_LAYOUT_SYMBOL, "2")
    EBB_FRAME_LAYOUT_ASM(EBB_X86_64_MS_FRAME_SLOTS, EBB_X86_64_MS_FRAME_BYTES, "rsp")
    EBB_ASM_RODATA_END(EBB_FRAME_LAYOUT_SYMBOL));
#endif

EBB_RUNTIME_BEGIN
namespace arch {

#if !EBB_X86_64_MS_MACHINE_CODE
// No visibility attribute: PE has no symbol visibility (format/pe.hpp; MinGW GCC warns "visibility
// attribute not supported in this configuration" when it drops `hidden` from a definition).
extern "C" {
void ebb_switch_context(void** save_sp, void* target_sp) __asm__(EBB_X86_64_MS_SWITCH);
void ebb_fiber_start() __asm__(EBB_X86_64_MS_START);
}
#endif

// ---- the frame, for C++ and the contract checks -----------------------------------------------
inline constexpr std::size_t initial_frame_bytes = EBB_X86_64_MS_FRAME_BYTES;
inline constexpr std::size_t stack_alignment = 16;  // rsp is 16-byte aligned at every call
inline constexpr std::size_t frame_return_offset = EBB_X86_64_MS_FRAME_RETURN;
inline constexpr frame_slot frame_slots[] = {EBB_X86_64_MS_FRAME_SLOTS(EBB_FRAME_SLOT_CXX)};
// Above the switch frame, a new fiber's stack holds its outermost frame: fiber_start's zero return
// address and zero rbp. The stack a new fiber needs before its entry runs is this, the switch frame
// and fiber_start's 32 bytes of home space.
inline constexpr std::size_t outermost_frame_bytes = 16;

}  // namespace arch
EBB_RUNTIME_END

#include "ebb/arch/x86_64_ms_start_handler.hpp"  // fiber_start's exception handler
#include "ebb/arch/x86_64_ms_first_frame.hpp"

#endif  // defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
