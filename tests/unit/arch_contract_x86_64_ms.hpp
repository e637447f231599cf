// SPDX-License-Identifier: BSL-1.0
// test_arch_contract.cpp's per-architecture block for x86-64 under the Microsoft x64 calling
// convention (Windows, PE/COFF; included from there only). The port is include/ebb/arch/x86_64_ms.hpp.
//
// What differs from the System V block: arguments in rcx, rdx, r8, r9 and the fifth on the stack above
// the caller's 32 bytes of home space, which every call must provide; rdi, rsi and all 128 bits of
// xmm6-xmm15 are callee-saved; and COFF symbols (format/pe.hpp: COMDAT sections, `.def`, no
// .type/.size/.hidden) with SEH unwind codes instead of CFI.
#pragma once

// void ebb_contract_probe(const uint64_t* in /*rcx*/, uint64_t* out /*rdx*/, switch_routine /*r8*/,
//                         void** save_sp /*r9*/, void* target_sp /*the stack, 304(%rsp) below*/)
//
// in[]/out[], 28 words: rbx rbp rdi rsi r12 r13 r14 r15 (0-63), then xmm6-xmm15 as two words each,
// low half first (64-223), which is how movups lays a register out in memory. Both halves, not only
// the low one as the AArch64 block does for d8-d15: AAPCS64 preserves only the low 64 bits of v8-v15,
// Windows all 128 of xmm6-15, and a port that saved them with movsd/movq would otherwise pass.
//
// Frame, from rsp after the prologue (rsp is 16-byte aligned there: 8 mod 16 at entry, 8 pushes of
// 8 bytes, 200 allocated):
//     304  target_sp, the fifth argument (the caller's frame, above its home space at 272-303)
//     264  return address
//     200  r15 r14 r13 r12 rsi rdi rbx rbp, pushed in the reverse order (rbp highest)
//     192  out: on the stack, which the switch must give back intact, not in a register it may lose
//      32  the caller's xmm6-xmm15, 16 bytes each (movaps: 16-byte aligned slots)
//       0  home space for the routine's four register arguments
// The probe saves every callee-saved register of its caller and restores it, whatever the routine
// under test does, so a broken routine is reported by the harness and does not corrupt the C++ code
// around it. The prologue is described to Windows' unwinder (.seh_*) and the epilogue is the canonical
// `add rsp; pop; ret`, so a stack walk that passes through the probe (a debugger, or a crash report
// from inside a broken routine) finds the caller; nothing throws through it.
#define CONTRACT_MS_PUSH(reg) "pushq %" #reg "\n .seh_pushreg %" #reg "\n"
#define CONTRACT_MS_SAVE_XMM(n, offset) "movaps %xmm" #n ", " #offset "(%rsp)\n .seh_savexmm %xmm" #n ", " #offset "\n"
#define CONTRACT_MS_LOAD_XMM(n, offset) "movaps " #offset "(%rsp), %xmm" #n "\n"
// One test value per half of xmm<n>, from or to in[]/out[] at `offset` (not necessarily 16-aligned).
#define CONTRACT_MS_IN_XMM(n, offset) "movups " #offset "(%rax), %xmm" #n "\n"
#define CONTRACT_MS_OUT_XMM(n, offset) "movups %xmm" #n ", " #offset "(%rax)\n"
__asm__(
    EBB_ASM_FUNCTION_BEGIN("ebb_contract_probe", "4")
    ".seh_proc ebb_contract_probe\n"
    CONTRACT_MS_PUSH(rbp) CONTRACT_MS_PUSH(rbx) CONTRACT_MS_PUSH(rdi) CONTRACT_MS_PUSH(rsi)
    CONTRACT_MS_PUSH(r12) CONTRACT_MS_PUSH(r13) CONTRACT_MS_PUSH(r14) CONTRACT_MS_PUSH(r15)
    "subq $200, %rsp\n .seh_stackalloc 200\n"
    CONTRACT_MS_SAVE_XMM(6, 32) CONTRACT_MS_SAVE_XMM(7, 48) CONTRACT_MS_SAVE_XMM(8, 64)
    CONTRACT_MS_SAVE_XMM(9, 80) CONTRACT_MS_SAVE_XMM(10, 96) CONTRACT_MS_SAVE_XMM(11, 112)
    CONTRACT_MS_SAVE_XMM(12, 128) CONTRACT_MS_SAVE_XMM(13, 144) CONTRACT_MS_SAVE_XMM(14, 160)
    CONTRACT_MS_SAVE_XMM(15, 176)
    ".seh_endprologue\n"
    "movq %rdx, 192(%rsp)\n"
    "movq %rcx, %rax\n"          // in; rcx and rdx become the routine's arguments
    "movq %r8, %r11\n"
    "movq %r9, %rcx\n"
    "movq 304(%rsp), %rdx\n"
    "movq 0(%rax), %rbx\n movq 8(%rax), %rbp\n movq 16(%rax), %rdi\n movq 24(%rax), %rsi\n"
    "movq 32(%rax), %r12\n movq 40(%rax), %r13\n movq 48(%rax), %r14\n movq 56(%rax), %r15\n"
    CONTRACT_MS_IN_XMM(6, 64) CONTRACT_MS_IN_XMM(7, 80) CONTRACT_MS_IN_XMM(8, 96)
    CONTRACT_MS_IN_XMM(9, 112) CONTRACT_MS_IN_XMM(10, 128) CONTRACT_MS_IN_XMM(11, 144)
    CONTRACT_MS_IN_XMM(12, 160) CONTRACT_MS_IN_XMM(13, 176) CONTRACT_MS_IN_XMM(14, 192)
    CONTRACT_MS_IN_XMM(15, 208)
    "callq *%r11\n"
    "movq 192(%rsp), %rax\n"
    "movq %rbx, 0(%rax)\n movq %rbp, 8(%rax)\n movq %rdi, 16(%rax)\n movq %rsi, 24(%rax)\n"
    "movq %r12, 32(%rax)\n movq %r13, 40(%rax)\n movq %r14, 48(%rax)\n movq %r15, 56(%rax)\n"
    CONTRACT_MS_OUT_XMM(6, 64) CONTRACT_MS_OUT_XMM(7, 80) CONTRACT_MS_OUT_XMM(8, 96)
    CONTRACT_MS_OUT_XMM(9, 112) CONTRACT_MS_OUT_XMM(10, 128) CONTRACT_MS_OUT_XMM(11, 144)
    CONTRACT_MS_OUT_XMM(12, 160) CONTRACT_MS_OUT_XMM(13, 176) CONTRACT_MS_OUT_XMM(14, 192)
    CONTRACT_MS_OUT_XMM(15, 208)
    CONTRACT_MS_LOAD_XMM(6, 32) CONTRACT_MS_LOAD_XMM(7, 48) CONTRACT_MS_LOAD_XMM(8, 64)
    CONTRACT_MS_LOAD_XMM(9, 80) CONTRACT_MS_LOAD_XMM(10, 96) CONTRACT_MS_LOAD_XMM(11, 112)
    CONTRACT_MS_LOAD_XMM(12, 128) CONTRACT_MS_LOAD_XMM(13, 144) CONTRACT_MS_LOAD_XMM(14, 160)
    CONTRACT_MS_LOAD_XMM(15, 176)
    "addq $200, %rsp\n"
    "popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rsi\n popq %rdi\n popq %rbx\n popq %rbp\n"
    "ret\n"
    ".seh_endproc\n"
    EBB_ASM_FUNCTION_END("ebb_contract_probe")
    // The stack pointer the caller had before its call: rsp + 8 at entry, 16-byte aligned by the ABI.
    // A leaf that touches no stack needs no unwind information (Windows' unwinder takes the return
    // address from [rsp] for a function it has none for).
    EBB_ASM_FUNCTION_BEGIN("ebb_contract_entry_sp", "4")
    "leaq 8(%rsp), %rax\n"
    "ret\n"
    EBB_ASM_FUNCTION_END("ebb_contract_entry_sp"));

// Broken routines. The first four are the port's switch with one restore left out, on the port's own
// frame (its offset macros, so make_initial_frame's frame is read as the real switch reads it) and
// with its TIB swap, so everything else works: r14 (not r12 or r13, which carry a new fiber's entry
// and argument into fiber_start: forgetting those would crash the first entry, not be reported),
// xmm7, MXCSR, the x87 control word. A forgotten register keeps the value the suspending side left,
// the realistic failure. They return with pops and `ret` instead of the port's pop + jmp (the unwind
// regions that motivate that are not copied): nothing unwinds through them and nothing throws across
// them. The last calls the real switch and then clobbers rbx, as a port whose resume path reused a
// callee-saved register as scratch would.
#define CONTRACT_MS_OFF(field) EBB_X86_64_MS_S(EBB_X86_64_MS_FRAME_##field)
#define CONTRACT_MS_STORE_XMM(n) "movaps %xmm" #n ", " CONTRACT_MS_OFF(XMM##n) "(%rsp)\n"
#define CONTRACT_MS_TIB_OUT(teb, frame, reg) \
  "movq %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_##teb) ", " reg "\n movq " reg ", " CONTRACT_MS_OFF(frame) "(%rsp)\n"
#define CONTRACT_MS_TIB_IN(teb, frame, reg) \
  "movq " CONTRACT_MS_OFF(frame) "(%rsp), " reg "\n movq " reg ", %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_##teb) "\n"
#define CONTRACT_MS_BROKEN_SWITCH(name, load_r14, load_xmm7, load_mxcsr, load_x87)                       \
  EBB_ASM_FUNCTION_BEGIN(name, "4")                                                                      \
  "pushq %rbp\n pushq %rbx\n pushq %rdi\n pushq %rsi\n pushq %r12\n pushq %r13\n pushq %r14\n pushq %r15\n" \
  "subq $" CONTRACT_MS_OFF(ALLOC) ", %rsp\n"                                                             \
  CONTRACT_MS_STORE_XMM(6) CONTRACT_MS_STORE_XMM(7) CONTRACT_MS_STORE_XMM(8) CONTRACT_MS_STORE_XMM(9)    \
  CONTRACT_MS_STORE_XMM(10) CONTRACT_MS_STORE_XMM(11) CONTRACT_MS_STORE_XMM(12)                          \
  CONTRACT_MS_STORE_XMM(13) CONTRACT_MS_STORE_XMM(14) CONTRACT_MS_STORE_XMM(15)                          \
  "stmxcsr " CONTRACT_MS_OFF(MXCSR) "(%rsp)\n fnstcw " CONTRACT_MS_OFF(X87_CW) "(%rsp)\n"                \
  CONTRACT_MS_TIB_OUT(EXCEPTION_LIST, EXCEPTION_LIST, "%rax")                                            \
  CONTRACT_MS_TIB_OUT(STACK_BASE, STACK_BASE, "%rax")                                                    \
  CONTRACT_MS_TIB_OUT(STACK_LIMIT, STACK_LIMIT, "%rax")                                                  \
  CONTRACT_MS_TIB_OUT(DEALLOCATION_STACK, DEALLOCATION, "%rax")                                          \
  "movl %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_GUARANTEED_STACK_BYTES) ", %eax\n"                           \
  "movq %rax, " CONTRACT_MS_OFF(GUARANTEE) "(%rsp)\n"                                                    \
  "movq %rsp, (%rcx)\n movq %rdx, %rsp\n"                                                                \
  load_mxcsr load_x87                                                                                    \
  CONTRACT_MS_TIB_IN(EXCEPTION_LIST, EXCEPTION_LIST, "%rax")                                             \
  CONTRACT_MS_TIB_IN(STACK_BASE, STACK_BASE, "%rax")                                                     \
  CONTRACT_MS_TIB_IN(STACK_LIMIT, STACK_LIMIT, "%rax")                                                   \
  CONTRACT_MS_TIB_IN(DEALLOCATION_STACK, DEALLOCATION, "%rax")                                           \
  "movl " CONTRACT_MS_OFF(GUARANTEE) "(%rsp), %eax\n"                                                    \
  "movl %eax, %gs:" EBB_X86_64_MS_S(EBB_WIN64_TEB_GUARANTEED_STACK_BYTES) "\n"                           \
  EBB_X86_64_MS_LOAD_XMM(6) load_xmm7 EBB_X86_64_MS_LOAD_XMM(8) EBB_X86_64_MS_LOAD_XMM(9)                \
  EBB_X86_64_MS_LOAD_XMM(10) EBB_X86_64_MS_LOAD_XMM(11) EBB_X86_64_MS_LOAD_XMM(12)                       \
  EBB_X86_64_MS_LOAD_XMM(13) EBB_X86_64_MS_LOAD_XMM(14) EBB_X86_64_MS_LOAD_XMM(15)                       \
  "addq $" CONTRACT_MS_OFF(ALLOC) ", %rsp\n"                                                             \
  "popq %r15\n" load_r14 "popq %r13\n popq %r12\n popq %rsi\n popq %rdi\n popq %rbx\n popq %rbp\n"      \
  "ret\n"                                                                                                \
  EBB_ASM_FUNCTION_END(name)

// The copies pop what the port stores with moves: that needs the port's pushes to sit right above its
// allocation in push order, which its own static_asserts say and these restate for this file.
static_assert(EBB_X86_64_MS_FRAME_R15 == EBB_X86_64_MS_FRAME_ALLOC && EBB_X86_64_MS_FRAME_R14 == EBB_X86_64_MS_FRAME_R15 + 8 &&
                  EBB_X86_64_MS_FRAME_R13 == EBB_X86_64_MS_FRAME_R14 + 8 &&
                  EBB_X86_64_MS_FRAME_R12 == EBB_X86_64_MS_FRAME_R13 + 8 &&
                  EBB_X86_64_MS_FRAME_RSI == EBB_X86_64_MS_FRAME_R12 + 8 &&
                  EBB_X86_64_MS_FRAME_RDI == EBB_X86_64_MS_FRAME_RSI + 8 &&
                  EBB_X86_64_MS_FRAME_RBX == EBB_X86_64_MS_FRAME_RDI + 8 &&
                  EBB_X86_64_MS_FRAME_RBP == EBB_X86_64_MS_FRAME_RBX + 8 &&
                  EBB_X86_64_MS_FRAME_RETURN == EBB_X86_64_MS_FRAME_RBP + 8,
              "the broken copies below push and pop the port's frame: update them with the port");

#define CONTRACT_MS_KEEP_R14 "popq %r14\n"
#define CONTRACT_MS_KEEP_XMM7 EBB_X86_64_MS_LOAD_XMM(7)
#define CONTRACT_MS_KEEP_MXCSR "ldmxcsr " CONTRACT_MS_OFF(MXCSR) "(%rsp)\n"
#define CONTRACT_MS_KEEP_X87 "fldcw " CONTRACT_MS_OFF(X87_CW) "(%rsp)\n"
__asm__(
    CONTRACT_MS_BROKEN_SWITCH("ebb_contract_switch_forgets_r14", "addq $8, %rsp\n", CONTRACT_MS_KEEP_XMM7,
                              CONTRACT_MS_KEEP_MXCSR, CONTRACT_MS_KEEP_X87)
    CONTRACT_MS_BROKEN_SWITCH("ebb_contract_switch_forgets_xmm7", CONTRACT_MS_KEEP_R14, "",
                              CONTRACT_MS_KEEP_MXCSR, CONTRACT_MS_KEEP_X87)
    CONTRACT_MS_BROKEN_SWITCH("ebb_contract_switch_forgets_mxcsr", CONTRACT_MS_KEEP_R14, CONTRACT_MS_KEEP_XMM7,
                              "", CONTRACT_MS_KEEP_X87)
    CONTRACT_MS_BROKEN_SWITCH("ebb_contract_switch_forgets_x87", CONTRACT_MS_KEEP_R14, CONTRACT_MS_KEEP_XMM7,
                              CONTRACT_MS_KEEP_MXCSR, "")
    // 40 bytes: the home space the real switch is owed, and rsp back to 16-byte alignment at the call.
    EBB_ASM_FUNCTION_BEGIN("ebb_contract_switch_clobbers_rbx", "4")
    "subq $40, %rsp\n"
    "callq " EBB_X86_64_MS_SWITCH "\n"
    "movabsq $0x5a5a5a5a5a5a5a5a, %rbx\n"
    "addq $40, %rsp\n"
    "ret\n"
    EBB_ASM_FUNCTION_END("ebb_contract_switch_clobbers_rbx"));

// No visibility attribute: PE has none (format/pe.hpp), and MinGW GCC warns about one it drops.
extern "C" {
void ebb_contract_switch_forgets_r14(void**, void*);
void ebb_contract_switch_forgets_xmm7(void**, void*);
void ebb_contract_switch_forgets_mxcsr(void**, void*);
void ebb_contract_switch_forgets_x87(void**, void*);
void ebb_contract_switch_clobbers_rbx(void**, void*);
}

namespace contract_port {

constexpr std::array<const char*, 8> general_registers{{"rbx", "rbp", "rdi", "rsi", "r12", "r13", "r14", "r15"}};
// Each xmm register as its two 64-bit halves (the probe's in[]/out[] layout above): a report names the
// register and which half.
constexpr std::array<const char*, 20> fp_registers{
    {"xmm6[63:0]", "xmm6[127:64]", "xmm7[63:0]", "xmm7[127:64]", "xmm8[63:0]", "xmm8[127:64]",
     "xmm9[63:0]", "xmm9[127:64]", "xmm10[63:0]", "xmm10[127:64]", "xmm11[63:0]", "xmm11[127:64]",
     "xmm12[63:0]", "xmm12[127:64]", "xmm13[63:0]", "xmm13[127:64]", "xmm14[63:0]", "xmm14[127:64]",
     "xmm15[63:0]", "xmm15[127:64]"}};

#include "arch_contract_x86_fp_control.hpp"

// movaps faults on an address that is not 16-byte aligned: a local the compiler placed assuming an
// aligned entry stack is stored to with it.
inline bool aligned_vector_store() {
  alignas(16) unsigned char slot[16];
  __asm__ volatile("xorps %%xmm0, %%xmm0\n\tmovaps %%xmm0, %0" : "=m"(slot) : : "xmm0");
  return reinterpret_cast<std::uintptr_t>(slot) % 16 == 0 && slot[0] == 0;
}

inline const std::vector<broken_routine>& broken_routines() {
  static const std::vector<broken_routine> all{
      {"a copy of the switch that does not restore r14", &ebb_contract_switch_forgets_r14, "r14"},
      {"a copy of the switch that does not restore xmm7", &ebb_contract_switch_forgets_xmm7, "xmm7"},
      {"the switch followed by a write to rbx", &ebb_contract_switch_clobbers_rbx, "rbx"},
      {"a copy of the switch that does not reload MXCSR", &ebb_contract_switch_forgets_mxcsr, "MXCSR"},
      {"a copy of the switch that does not reload the x87 control word", &ebb_contract_switch_forgets_x87,
       "x87-control-word"},
  };
  return all;
}

}  // namespace contract_port
