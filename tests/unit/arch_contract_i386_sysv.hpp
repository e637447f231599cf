// SPDX-License-Identifier: BSL-1.0
// test_arch_contract.cpp's per-architecture block for i386 System V (included from there only).
#pragma once

// The frame address (ebp after `push %ebp`) lies two words below the aligned esp of the call: the
// return address and the saved ebp (x86-64's is two 8-byte words, 16, and so aligned again).
#define CONTRACT_FRAME_ADDRESS_BIAS 8

#if defined(__CET__) && (__CET__ & 1)
#define CONTRACT_ENDBR "endbr32\n"
#else
#define CONTRACT_ENDBR ""
#endif
#define CONTRACT_I386_BEGIN(name) \
  ".text\n"                       \
  ".p2align 4\n"                  \
  ".globl " name "\n"             \
  ".hidden " name "\n"            \
  ".type " name ",%function\n"    \
  name ":\n"                      \
  CONTRACT_ENDBR

// void ebb_contract_probe(const uint32_t* in, uint32_t* out, switch_routine, void** save_sp,
//                         void* target_sp), all on the stack. in[] holds ebx, esi, edi, ebp.
// After the four pushes the arguments start at 20(%esp); 4 bytes of padding and the routine's two
// arguments bring esp to a multiple of 16 at the call (the entry esp is 12 mod 16).
__asm__(
    CONTRACT_I386_BEGIN("ebb_contract_probe")
    "pushl %ebp\n pushl %ebx\n pushl %esi\n pushl %edi\n"
    "subl $4, %esp\n"              // in = 24(%esp), ..., target_sp = 40(%esp)
    "pushl 40(%esp)\n"             // target_sp; now in = 28
    "pushl 40(%esp)\n"             // save_sp;   now in = 32, out = 36, routine = 40
    "movl 32(%esp), %eax\n"
    "movl 40(%esp), %ecx\n"
    "movl 0(%eax), %ebx\n movl 4(%eax), %esi\n movl 8(%eax), %edi\n movl 12(%eax), %ebp\n"
    "call *%ecx\n"
    "movl 36(%esp), %eax\n"
    "movl %ebx, 0(%eax)\n movl %esi, 4(%eax)\n movl %edi, 8(%eax)\n movl %ebp, 12(%eax)\n"
    "addl $12, %esp\n"
    "popl %edi\n popl %esi\n popl %ebx\n popl %ebp\n"
    "ret\n"
    ".size ebb_contract_probe, .-ebb_contract_probe\n"
    // The caller's esp before its call: esp + 4 at entry, 16-byte aligned by the ABI.
    CONTRACT_I386_BEGIN("ebb_contract_entry_sp")
    "leal 4(%esp), %eax\n"
    "ret\n"
    ".size ebb_contract_entry_sp, .-ebb_contract_entry_sp\n");

// Broken routines: the port's switch (same frame) with one restore left out — edi (not ebx/esi,
// which carry a new fiber's entry and argument), MXCSR or the x87 control word — and the real switch
// followed by a write to ebx, as a resume path reusing it as scratch would.
#define CONTRACT_I386_BROKEN_SWITCH(name, pop_edi, load_mxcsr, load_x87) \
  CONTRACT_I386_BEGIN(name)                                               \
  "movl 4(%esp), %eax\n movl 8(%esp), %edx\n"                             \
  "pushl %ebp\n pushl %ebx\n pushl %esi\n pushl %edi\n subl $12, %esp\n"  \
  "stmxcsr (%esp)\n fnstcw 4(%esp)\n"                                     \
  "movl %esp, (%eax)\n movl %edx, %esp\n"                                 \
  load_mxcsr load_x87                                                     \
  "addl $12, %esp\n"                                                      \
  pop_edi                                                                 \
  "popl %esi\n popl %ebx\n popl %ebp\n ret\n"                             \
  ".size " name ", .-" name "\n"

__asm__(
    CONTRACT_I386_BROKEN_SWITCH("ebb_contract_switch_forgets_edi", "addl $4, %esp\n", "ldmxcsr (%esp)\n",
                                "fldcw 4(%esp)\n")
    CONTRACT_I386_BROKEN_SWITCH("ebb_contract_switch_forgets_mxcsr", "popl %edi\n", "", "fldcw 4(%esp)\n")
    CONTRACT_I386_BROKEN_SWITCH("ebb_contract_switch_forgets_x87", "popl %edi\n", "ldmxcsr (%esp)\n", "")
    CONTRACT_I386_BEGIN("ebb_contract_switch_clobbers_ebx")
    "pushl 8(%esp)\n"
    "pushl 8(%esp)\n"
    "call " EBB_I386_SWITCH "\n"
    "addl $8, %esp\n"
    "movl $0x5a5a5a5a, %ebx\n"
    "ret\n"
    ".size ebb_contract_switch_clobbers_ebx, .-ebb_contract_switch_clobbers_ebx\n");

extern "C" {
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_edi(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_mxcsr(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_x87(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_clobbers_ebx(void**, void*);
}

namespace contract_port {

constexpr std::array<const char*, 4> general_registers{{"ebx", "esi", "edi", "ebp"}};
constexpr std::array<const char*, 0> fp_registers{};  // none callee-saved under the i386 psABI

#include "arch_contract_x86_fp_control.hpp"

// movaps faults on an address that is not 16-byte aligned. It stores xmm0 as it is (nothing is
// clobbered, so the test needs no -msse to name the register).
inline bool aligned_vector_store() {
  alignas(16) unsigned char slot[16];
  __asm__ volatile("movaps %%xmm0, %0" : "=m"(slot));
  return reinterpret_cast<std::uintptr_t>(slot) % 16 == 0;
}

inline const std::vector<broken_routine>& broken_routines() {
  static const std::vector<broken_routine> all{
      {"a copy of the switch that does not restore edi", &ebb_contract_switch_forgets_edi, "edi"},
      {"the switch followed by a write to ebx", &ebb_contract_switch_clobbers_ebx, "ebx"},
      {"a copy of the switch that does not reload MXCSR", &ebb_contract_switch_forgets_mxcsr, "MXCSR"},
      {"a copy of the switch that does not reload the x87 control word", &ebb_contract_switch_forgets_x87,
       "x87-control-word"},
  };
  return all;
}

}  // namespace contract_port
