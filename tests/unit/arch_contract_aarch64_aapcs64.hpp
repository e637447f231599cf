// SPDX-License-Identifier: BSL-1.0
// test_arch_contract.cpp's per-architecture block for AArch64 AAPCS64 (included from there only).
#pragma once

// void ebb_contract_probe(const uint64_t* in /*x0*/, uint64_t* out /*x1*/, switch_routine /*x2*/,
//                         void** save_sp /*x3*/, void* target_sp /*x4*/)
// Its own 176-byte frame: x29/x30 at 0, x19-x28 at 16-95, d8-d15 at 96-159, `out` at 160 (the stack
// the switch must give back intact). in[]/out[]: x19-x28, x29 (0-87), then d8-d15 (88-151). The CFA
// stays sp-based: x29 carries a test value across the call.
#define CONTRACT_REGS(op, base)                                                         \
  op " x19, x20, [" base ", #0]\n " op " x21, x22, [" base ", #16]\n"                   \
  op " x23, x24, [" base ", #32]\n " op " x25, x26, [" base ", #48]\n"                  \
  op " x27, x28, [" base ", #64]\n "                                                    \
  op " d8, d9, [" base ", #88]\n " op " d10, d11, [" base ", #104]\n"                   \
  op " d12, d13, [" base ", #120]\n " op " d14, d15, [" base ", #136]\n"
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl ebb_contract_probe\n"
    ".hidden ebb_contract_probe\n"
    ".type ebb_contract_probe,@function\n"
    "ebb_contract_probe:\n"
    ".cfi_startproc\n"
    EBB_AARCH64_BTI_C
    "stp x29, x30, [sp, #-176]!\n .cfi_def_cfa_offset 176\n .cfi_offset x29, -176\n .cfi_offset x30, -168\n"
    "stp x19, x20, [sp, #16]\n stp x21, x22, [sp, #32]\n stp x23, x24, [sp, #48]\n"
    "stp x25, x26, [sp, #64]\n stp x27, x28, [sp, #80]\n"
    "stp d8, d9, [sp, #96]\n stp d10, d11, [sp, #112]\n stp d12, d13, [sp, #128]\n stp d14, d15, [sp, #144]\n"
    ".cfi_offset x19, -160\n .cfi_offset x20, -152\n .cfi_offset x21, -144\n .cfi_offset x22, -136\n"
    ".cfi_offset x23, -128\n .cfi_offset x24, -120\n .cfi_offset x25, -112\n .cfi_offset x26, -104\n"
    ".cfi_offset x27, -96\n .cfi_offset x28, -88\n"
    "str x1, [sp, #160]\n"
    "mov x9, x0\n mov x10, x2\n mov x0, x3\n mov x1, x4\n"
    CONTRACT_REGS("ldp", "x9")
    "ldr x29, [x9, #80]\n"
    "blr x10\n"
    "ldr x9, [sp, #160]\n"
    CONTRACT_REGS("stp", "x9")
    "str x29, [x9, #80]\n"
    "ldp d8, d9, [sp, #96]\n ldp d10, d11, [sp, #112]\n ldp d12, d13, [sp, #128]\n ldp d14, d15, [sp, #144]\n"
    "ldp x19, x20, [sp, #16]\n ldp x21, x22, [sp, #32]\n ldp x23, x24, [sp, #48]\n"
    "ldp x25, x26, [sp, #64]\n ldp x27, x28, [sp, #80]\n"
    "ldp x29, x30, [sp], #176\n .cfi_def_cfa_offset 0\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size ebb_contract_probe, .-ebb_contract_probe\n"
    // The stack pointer a called function sees: `bl` pushes nothing, so sp at entry, which AAPCS64
    // requires to be 16-byte aligned.
    ".p2align 4\n"
    ".globl ebb_contract_entry_sp\n"
    ".hidden ebb_contract_entry_sp\n"
    ".type ebb_contract_entry_sp,@function\n"
    "ebb_contract_entry_sp:\n"
    ".cfi_startproc\n"
    EBB_AARCH64_BTI_C
    "mov x0, sp\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size ebb_contract_entry_sp, .-ebb_contract_entry_sp\n");

// Broken routines: copies of the switch with one restore left out (x24, not x19/x20, which carry a
// new fiber's entry and argument; d10; FPCR), and the real switch followed by a write to x19. They
// sign and authenticate the saved lr as the real one does under pac-ret (make_initial_frame's frame
// holds a signed address then). No CFI: nothing unwinds through them.
#define CONTRACT_BROKEN_SWITCH(name, load_x23_x24, load_d10_d11, load_fpcr) \
  ".text\n"                                                                 \
  ".p2align 4\n"                                                            \
  ".globl " name "\n"                                                       \
  ".hidden " name "\n"                                                      \
  ".type " name ",@function\n"                                              \
  name ":\n"                                                                \
  EBB_AARCH64_BTI_C                                                         \
  EBB_AARCH64_SIGN_LR_INSN                                                  \
  "sub sp, sp, #176\n"                                                      \
  "stp x29, x30, [sp, #160]\n stp x19, x20, [sp, #80]\n"                    \
  "stp x21, x22, [sp, #96]\n stp x23, x24, [sp, #112]\n"                    \
  "stp x25, x26, [sp, #128]\n stp x27, x28, [sp, #144]\n"                   \
  "stp d8, d9, [sp, #16]\n stp d10, d11, [sp, #32]\n"                       \
  "stp d12, d13, [sp, #48]\n stp d14, d15, [sp, #64]\n"                     \
  "mrs x9, fpcr\n stp x9, xzr, [sp]\n"                                      \
  "mov x10, sp\n str x10, [x0]\n mov sp, x1\n"                              \
  load_fpcr                                                                 \
  "ldp d8, d9, [sp, #16]\n" load_d10_d11                                    \
  "ldp d12, d13, [sp, #48]\n ldp d14, d15, [sp, #64]\n"                     \
  "ldp x19, x20, [sp, #80]\n ldp x21, x22, [sp, #96]\n" load_x23_x24        \
  "ldp x25, x26, [sp, #128]\n ldp x27, x28, [sp, #144]\n"                   \
  "ldp x29, x30, [sp, #160]\n add sp, sp, #176\n"                           \
  EBB_AARCH64_AUTH_LR_INSN                                                  \
  "ret\n"                                                                   \
  ".size " name ", .-" name "\n"

static_assert(EBB_AARCH64_FRAME_BYTES == 176 && EBB_AARCH64_FRAME_X23 == 112 && EBB_AARCH64_FRAME_D10 == 32,
              "the broken copies below spell the frame's offsets: update them with the port");

__asm__(
    CONTRACT_BROKEN_SWITCH("ebb_contract_switch_forgets_x24", "ldr x23, [sp, #112]\n",
                           "ldp d10, d11, [sp, #32]\n", "ldr x10, [sp]\n msr fpcr, x10\n")
    CONTRACT_BROKEN_SWITCH("ebb_contract_switch_forgets_d10", "ldp x23, x24, [sp, #112]\n",
                           "ldr d11, [sp, #40]\n", "ldr x10, [sp]\n msr fpcr, x10\n")
    CONTRACT_BROKEN_SWITCH("ebb_contract_switch_forgets_fpcr", "ldp x23, x24, [sp, #112]\n",
                           "ldp d10, d11, [sp, #32]\n", "")
    ".text\n"
    ".p2align 4\n"
    ".globl ebb_contract_switch_clobbers_x19\n"
    ".hidden ebb_contract_switch_clobbers_x19\n"
    ".type ebb_contract_switch_clobbers_x19,@function\n"
    "ebb_contract_switch_clobbers_x19:\n"
    EBB_AARCH64_BTI_C
    EBB_AARCH64_SIGN_LR_INSN
    "stp x29, x30, [sp, #-16]!\n"
    "bl " EBB_AARCH64_SWITCH "\n"
    "mov x19, #0x5a5a\n"
    "ldp x29, x30, [sp], #16\n"
    EBB_AARCH64_AUTH_LR_INSN
    "ret\n"
    ".size ebb_contract_switch_clobbers_x19, .-ebb_contract_switch_clobbers_x19\n");

extern "C" {
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_x24(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_d10(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_fpcr(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_clobbers_x19(void**, void*);
}

namespace contract_port {

constexpr std::array<const char*, 11> general_registers{
    {"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "x29"}};
// The low halves of v8-v15 (AAPCS64 §6.1.2): the probe loads and reads them as d8-d15.
constexpr std::array<const char*, 8> fp_registers{{"d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15"}};


struct fp_control {
  std::uint64_t fpcr;
  bool operator==(const fp_control& o) const { return fpcr == o.fpcr; }
};
inline fp_control read_fp_control() {
  fp_control c{};
  __asm__ volatile("mrs %0, fpcr" : "=r"(c.fpcr));
  return c;
}
inline void write_fp_control(const fp_control& c) { __asm__ volatile("msr fpcr, %0" : : "r"(c.fpcr)); }
inline std::string describe(const fp_control& c) {
  char text[64];
  std::snprintf(text, sizeof text, "FPCR %#llx", static_cast<unsigned long long>(c.fpcr));
  return text;
}
inline std::string differing_words(const fp_control& want, const fp_control& got) {
  return want.fpcr != got.fpcr ? "FPCR " : "";
}
// Two settings unlike the default (0: round to nearest) and unlike each other: FPCR.RMode (bits 22-23)
// toward minus infinity with flush-to-zero (bit 24), and toward plus infinity with default NaN (bit 25).
constexpr fp_control setting_a{(2u << 22) | (1u << 24)};
constexpr fp_control setting_b{(1u << 22) | (1u << 25)};


// Linux runs user code with SP alignment checking on (SCTLR_EL1.SA0): any load or store that uses a
// misaligned sp as its base faults. (qemu-user does not emulate that check: there the address test
// alone decides.)
inline bool aligned_vector_store() {
  std::uintptr_t sp;
  __asm__ volatile("sub sp, sp, #16\n\tstr xzr, [sp]\n\tmov %0, sp\n\tadd sp, sp, #16" : "=r"(sp) : : "memory");
  return sp % 16 == 0;
}

inline const std::vector<broken_routine>& broken_routines() {
  static const std::vector<broken_routine> all{
      {"a copy of the switch that does not restore x24", &ebb_contract_switch_forgets_x24, "x24"},
      {"a copy of the switch that does not restore d10", &ebb_contract_switch_forgets_d10, "d10"},
      {"the switch followed by a write to x19", &ebb_contract_switch_clobbers_x19, "x19"},
      {"a copy of the switch that does not reload FPCR", &ebb_contract_switch_forgets_fpcr, "FPCR"},
  };
  return all;
}

}  // namespace contract_port
