// SPDX-License-Identifier: BSL-1.0
// test_arch_contract.cpp's per-architecture block for ARM32 AAPCS hard-float (included from there only).
// Assembled in whichever state the file is compiled for (-mthumb or -marm), as the port is; the
// build runs the test in both.
#pragma once

// GCC's ARM-state frame pointer (r11) is set by `push {fp, lr}; add fp, sp, #4`: it points at the
// saved lr, one word above the aligned sp. Thumb's (r7) is the sp after the push itself.
#if defined(__thumb__)
#define CONTRACT_FRAME_ADDRESS_BIAS 0
#else
#define CONTRACT_FRAME_ADDRESS_BIAS 4
#endif

#if defined(__thumb__)
#define CONTRACT_ARM_MODE ".syntax unified\n.thumb\n"
#define CONTRACT_ARM_FUNC ".thumb_func\n"
#else
#define CONTRACT_ARM_MODE ".syntax unified\n.arm\n"
#define CONTRACT_ARM_FUNC ""
#endif
#define CONTRACT_ARM_BEGIN(name)                   \
  CONTRACT_ARM_MODE                                \
  ".text\n"                                        \
  ".p2align 2\n"                                   \
  ".globl " name "\n"                              \
  ".hidden " name "\n"                             \
  ".type " name ",%function\n"                     \
  CONTRACT_ARM_FUNC                                \
  name ":\n"

// void ebb_contract_probe(const uint32_t* in /*r0*/, uint32_t* out /*r1*/, switch_routine /*r2*/,
//                         void** save_sp /*r3*/, void* target_sp /*[sp]*/)
// in[] holds r4..r11, then s16..s31 (d8..d15, low half first). Frame: d8-d15 (64 bytes), then out
// (r1), r4-r11, lr: 104 bytes, 8-aligned; the fifth argument is above it at sp+104.
__asm__(
    CONTRACT_ARM_BEGIN("ebb_contract_probe")
    "push {r1, r4-r11, lr}\n"
    "vpush {d8-d15}\n"
    "mov ip, r2\n"
    "ldr r1, [sp, #104]\n"
    "ldmia r0!, {r4-r11}\n"
    "vldmia r0, {s16-s31}\n"
    "mov r0, r3\n"
    "blx ip\n"
    "ldr r0, [sp, #64]\n"
    "stmia r0!, {r4-r11}\n"
    "vstmia r0, {s16-s31}\n"
    "vpop {d8-d15}\n"
    "pop {r1, r4-r11, lr}\n"
    "bx lr\n"
    ".size ebb_contract_probe, .-ebb_contract_probe\n"
    // ARM pushes no return address: sp at entry is the caller's, 8-byte aligned by the AAPCS.
    CONTRACT_ARM_BEGIN("ebb_contract_entry_sp")
    "mov r0, sp\n"
    "bx lr\n"
    ".size ebb_contract_entry_sp, .-ebb_contract_entry_sp\n");

// Broken routines: the port's switch (same frame) with one restore left out — r6 (not r4/r5, which
// carry a new fiber's entry and argument), d12, or the FPSCR write — and the real switch followed by
// a write to r9. No unwind information: nothing unwinds through them.
#define CONTRACT_ARM_BROKEN_SWITCH(name, pop_core, pop_vfp, write_fpscr) \
  CONTRACT_ARM_BEGIN(name)                                               \
  "push {r3-r11, lr}\n"                                                  \
  "vpush {d8-d15}\n"                                                     \
  "vmrs r2, fpscr\n push {r2, r3}\n"                                     \
  "mov r2, sp\n str r2, [r0]\n mov sp, r1\n"                             \
  "pop {r2, r3}\n"                                                       \
  "vmrs r3, fpscr\n movw ip, #0x9f00\n movt ip, #0x07ff\n"               \
  "bic r3, r3, ip\n and r2, r2, ip\n orr r3, r3, r2\n"                   \
  write_fpscr                                                            \
  pop_vfp                                                                \
  pop_core                                                               \
  "bx ip\n"                                                              \
  ".size " name ", .-" name "\n"
#define CONTRACT_ARM_POP_ALL_CORE "pop {r3-r11, ip}\n"
#define CONTRACT_ARM_POP_ALL_VFP "vpop {d8-d15}\n"
#define CONTRACT_ARM_WRITE_FPSCR "vmsr fpscr, r3\n"

__asm__(
    CONTRACT_ARM_BROKEN_SWITCH("ebb_contract_switch_forgets_r6", "pop {r3-r5}\n add sp, sp, #4\n pop {r7-r11, ip}\n",
                               CONTRACT_ARM_POP_ALL_VFP, CONTRACT_ARM_WRITE_FPSCR)
    CONTRACT_ARM_BROKEN_SWITCH("ebb_contract_switch_forgets_d12", CONTRACT_ARM_POP_ALL_CORE,
                               "vpop {d8-d11}\n add sp, sp, #8\n vpop {d13-d15}\n", CONTRACT_ARM_WRITE_FPSCR)
    CONTRACT_ARM_BROKEN_SWITCH("ebb_contract_switch_forgets_fpscr", CONTRACT_ARM_POP_ALL_CORE,
                               CONTRACT_ARM_POP_ALL_VFP, "")
    CONTRACT_ARM_BEGIN("ebb_contract_switch_clobbers_r9")
    "push {r4, lr}\n"
    "bl " EBB_ARM32_SWITCH "\n"
    "movw r9, #0x5a5a\n"
    "movt r9, #0x5a5a\n"
    "pop {r4, lr}\n"
    "bx lr\n"
    ".size ebb_contract_switch_clobbers_r9, .-ebb_contract_switch_clobbers_r9\n");

extern "C" {
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_r6(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_d12(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_fpscr(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_clobbers_r9(void**, void*);
}

namespace contract_port {

constexpr std::array<const char*, 8> general_registers{{"r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11"}};
// Each 64-bit d register is probed as its two 32-bit halves (s16/s17 are d8's), so the harness's
// words stay the general registers' width; a report names the d register and the half.
constexpr std::array<const char*, 16> fp_registers{
    {"d8(low)", "d8(high)", "d9(low)", "d9(high)", "d10(low)", "d10(high)", "d11(low)", "d11(high)",
     "d12(low)", "d12(high)", "d13(low)", "d13(high)", "d14(low)", "d14(high)", "d15(low)", "d15(high)"}};


// The FPSCR control bits the port carries (arch/arm32_aapcs_hf.hpp); the status bits are not compared.
struct fp_control {
  std::uint32_t control;
  bool operator==(const fp_control& o) const { return control == o.control; }
};
inline std::uint32_t read_fpscr() {
  std::uint32_t v;
  __asm__ volatile("vmrs %0, fpscr" : "=r"(v));
  return v;
}
inline fp_control read_fp_control() { return fp_control{read_fpscr() & EBB_ARM32_FPSCR_CONTROL_MASK}; }
inline void write_fp_control(const fp_control& c) {
  const std::uint32_t v = (read_fpscr() & ~EBB_ARM32_FPSCR_CONTROL_MASK) | (c.control & EBB_ARM32_FPSCR_CONTROL_MASK);
  __asm__ volatile("vmsr fpscr, %0" : : "r"(v));
}
inline std::string describe(const fp_control& c) {
  char text[48];
  std::snprintf(text, sizeof text, "FPSCR control %#x", static_cast<unsigned>(c.control));
  return text;
}
inline std::string differing_words(const fp_control& want, const fp_control& got) {
  return want.control != got.control ? "FPSCR " : "";
}
// Unlike Linux's default (0: round to nearest, no flush) and unlike each other.
constexpr fp_control setting_a{0x00400000u};               // RMode = RP (toward +infinity)
constexpr fp_control setting_b{0x00800000u | 0x01000000u};  // RMode = RM (toward -infinity), FZ


// ldrexd faults on an address that is not doubleword (8-byte) aligned, whatever SCTLR.A says: the
// AAPCS's stack alignment, checked on a local the compiler placed assuming it.
inline bool aligned_vector_store() {
  alignas(8) std::uint32_t slot[2] = {0, 0};
  __asm__ volatile("ldrexd r2, r3, [%0]\n\tclrex" : : "r"(slot) : "r2", "r3", "memory");
  return reinterpret_cast<std::uintptr_t>(slot) % 8 == 0;
}

// The ARM EHABI index (.ARM.exidx): per function, a prel31 offset to its start and either its
// unwinding data or EXIDX_CANTUNWIND (1), sorted by address. The C library finds the index of the
// module holding an address (the unwinder's own hook, exported by glibc on ARM).
extern "C" _Unwind_Ptr __gnu_Unwind_Find_exidx(_Unwind_Ptr pc, int* count);
struct exidx_entry {
  std::uint32_t function;  // prel31
  std::uint32_t content;
};
inline std::uintptr_t prel31(const std::uint32_t* place) {
  const std::uint32_t offset = (*place & 0x7fffffffu) | ((*place & 0x40000000u) << 1);  // sign-extend bit 30
  return reinterpret_cast<std::uintptr_t>(place) + offset;
}
// The index entry covering `address` (its Thumb bit ignored), or null.
inline const exidx_entry* exidx_lookup(std::uintptr_t address) {
  address &= ~std::uintptr_t{1};
  int count = 0;
  auto* table = reinterpret_cast<const exidx_entry*>(__gnu_Unwind_Find_exidx(address, &count));
  if (table == nullptr || count <= 0) return nullptr;
  const exidx_entry* found = nullptr;
  int low = 0, high = count - 1;
  while (low <= high) {
    const int mid = (low + high) / 2;
    if (prel31(&table[mid].function) <= address) {
      found = &table[mid];
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}
// What _Unwind_FindEnclosingFunction gives elsewhere: the start of the function whose unwind entry
// covers the address (null: none does).
inline void* enclosing_function(std::uintptr_t address) {
  const exidx_entry* entry = exidx_lookup(address);
  return entry ? reinterpret_cast<void*>(prel31(&entry->function)) : nullptr;
}
// Whether the function starting at `function` is marked .cantunwind (where an EHABI walk ends).
inline bool cannot_unwind(void* function) {
  const exidx_entry* entry = exidx_lookup(reinterpret_cast<std::uintptr_t>(function));
  return entry != nullptr && reinterpret_cast<void*>(prel31(&entry->function)) == function && entry->content == 1;
}

inline const std::vector<broken_routine>& broken_routines() {
  static const std::vector<broken_routine> all{
      {"a copy of the switch that does not restore r6", &ebb_contract_switch_forgets_r6, "r6"},
      {"a copy of the switch that does not restore d12", &ebb_contract_switch_forgets_d12, "d12"},
      {"the switch followed by a write to r9", &ebb_contract_switch_clobbers_r9, "r9"},
      {"a copy of the switch that does not write FPSCR back", &ebb_contract_switch_forgets_fpscr, "FPSCR"},
  };
  return all;
}

}  // namespace contract_port
