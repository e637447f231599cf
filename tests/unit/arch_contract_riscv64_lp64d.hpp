// SPDX-License-Identifier: BSL-1.0
// test_arch_contract.cpp's per-architecture block for RISC-V 64 lp64d (included from there only; the
// list of what a block provides is at the top of that section).
#pragma once

// void ebb_contract_probe(const uint64_t* in /*a0*/, uint64_t* out /*a1*/, switch_routine /*a2*/,
//                         void** save_sp /*a3*/, void* target_sp /*a4*/)
// Frame (208 bytes, 16-aligned): sp+0 out, sp+8 fs0..fs11, sp+104 s0..s11, sp+200 ra. in[] holds
// s0..s11 then fs0..fs11 (as raw 64-bit patterns: fld/fsd move bits, no conversion).
#define CONTRACT_RV_EACH_S(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CONTRACT_RV_SAVE_S(n) "sd s" #n ", (104+8*" #n ")(sp)\n"
#define CONTRACT_RV_REST_S(n) "ld s" #n ", (104+8*" #n ")(sp)\n"
#define CONTRACT_RV_SAVE_FS(n) "fsd fs" #n ", (8+8*" #n ")(sp)\n"
#define CONTRACT_RV_REST_FS(n) "fld fs" #n ", (8+8*" #n ")(sp)\n"
#define CONTRACT_RV_IN_S(n) "ld s" #n ", (8*" #n ")(t0)\n"
#define CONTRACT_RV_IN_FS(n) "fld fs" #n ", (96+8*" #n ")(t0)\n"
#define CONTRACT_RV_OUT_S(n) "sd s" #n ", (8*" #n ")(t0)\n"
#define CONTRACT_RV_OUT_FS(n) "fsd fs" #n ", (96+8*" #n ")(t0)\n"

__asm__(
    ".text\n"
    ".p2align 2\n"
    ".globl ebb_contract_probe\n"
    ".hidden ebb_contract_probe\n"
    ".type ebb_contract_probe,%function\n"
    "ebb_contract_probe:\n"
    ".cfi_startproc\n"
    "addi sp, sp, -208\n"
    ".cfi_def_cfa_offset 208\n"
    "sd ra, 200(sp)\n"
    ".cfi_offset ra, -8\n"
    CONTRACT_RV_EACH_S(CONTRACT_RV_SAVE_S)
    CONTRACT_RV_EACH_S(CONTRACT_RV_SAVE_FS)
    "sd a1, 0(sp)\n"
    "mv t0, a0\n"
    "mv t2, a2\n"
    "mv a0, a3\n"
    "mv a1, a4\n"
    CONTRACT_RV_EACH_S(CONTRACT_RV_IN_S)
    CONTRACT_RV_EACH_S(CONTRACT_RV_IN_FS)
    "jalr t2\n"
    "ld t0, 0(sp)\n"
    CONTRACT_RV_EACH_S(CONTRACT_RV_OUT_S)
    CONTRACT_RV_EACH_S(CONTRACT_RV_OUT_FS)
    CONTRACT_RV_EACH_S(CONTRACT_RV_REST_S)
    CONTRACT_RV_EACH_S(CONTRACT_RV_REST_FS)
    "ld ra, 200(sp)\n"
    ".cfi_restore ra\n"
    "addi sp, sp, 208\n"
    ".cfi_def_cfa_offset 0\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size ebb_contract_probe, .-ebb_contract_probe\n"
    // RISC-V pushes no return address: sp at entry is the caller's sp, 16-byte aligned by the ABI.
    ".p2align 2\n"
    ".globl ebb_contract_entry_sp\n"
    ".hidden ebb_contract_entry_sp\n"
    ".type ebb_contract_entry_sp,%function\n"
    "ebb_contract_entry_sp:\n"
    ".cfi_startproc\n"
    "mv a0, sp\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size ebb_contract_entry_sp, .-ebb_contract_entry_sp\n");

// Broken routines: the port's switch (same frame, so the real trampoline and make_initial_frame work
// with it) with one restore left out — s5 (not s1/s2, which carry a new fiber's entry and argument:
// forgetting those would crash the first entry rather than be reported), fs3, or frm — and the real
// switch followed by a write to s4. No CFI: nothing unwinds through them.
#define CONTRACT_RV_S_LOAD(n) "ld s" #n ", (104+8*" #n ")(sp)\n"
#define CONTRACT_RV_FS_LOAD(n) "fld fs" #n ", (8+8*" #n ")(sp)\n"
#define CONTRACT_RV_BROKEN_SWITCH(name, load_s5, load_fs3, load_frm)                          \
  ".text\n"                                                                                   \
  ".p2align 2\n"                                                                              \
  ".globl " name "\n"                                                                         \
  ".hidden " name "\n"                                                                        \
  ".type " name ",%function\n"                                                                \
  name ":\n"                                                                                  \
  "addi sp, sp, -208\n"                                                                       \
  "sd ra, 200(sp)\n"                                                                          \
  CONTRACT_RV_EACH_S(CONTRACT_RV_SAVE_S)                                                      \
  CONTRACT_RV_EACH_S(CONTRACT_RV_SAVE_FS)                                                     \
  "frrm t0\n sd t0, 0(sp)\n"                                                                  \
  "sd sp, 0(a0)\n mv sp, a1\n"                                                                \
  load_frm                                                                                    \
  CONTRACT_RV_S_LOAD(0) CONTRACT_RV_S_LOAD(1) CONTRACT_RV_S_LOAD(2) CONTRACT_RV_S_LOAD(3)     \
  CONTRACT_RV_S_LOAD(4) load_s5 CONTRACT_RV_S_LOAD(6) CONTRACT_RV_S_LOAD(7)                   \
  CONTRACT_RV_S_LOAD(8) CONTRACT_RV_S_LOAD(9) CONTRACT_RV_S_LOAD(10) CONTRACT_RV_S_LOAD(11)   \
  CONTRACT_RV_FS_LOAD(0) CONTRACT_RV_FS_LOAD(1) CONTRACT_RV_FS_LOAD(2) load_fs3               \
  CONTRACT_RV_FS_LOAD(4) CONTRACT_RV_FS_LOAD(5) CONTRACT_RV_FS_LOAD(6) CONTRACT_RV_FS_LOAD(7) \
  CONTRACT_RV_FS_LOAD(8) CONTRACT_RV_FS_LOAD(9) CONTRACT_RV_FS_LOAD(10) CONTRACT_RV_FS_LOAD(11) \
  "ld t1, 200(sp)\n addi sp, sp, 208\n jr t1\n"                                               \
  ".size " name ", .-" name "\n"

__asm__(
    CONTRACT_RV_BROKEN_SWITCH("ebb_contract_switch_forgets_s5", "", CONTRACT_RV_FS_LOAD(3),
                              "ld t0, 0(sp)\n fsrm t0\n")
    CONTRACT_RV_BROKEN_SWITCH("ebb_contract_switch_forgets_fs3", CONTRACT_RV_S_LOAD(5), "",
                              "ld t0, 0(sp)\n fsrm t0\n")
    CONTRACT_RV_BROKEN_SWITCH("ebb_contract_switch_forgets_frm", CONTRACT_RV_S_LOAD(5), CONTRACT_RV_FS_LOAD(3), "")
    ".text\n"
    ".p2align 2\n"
    ".globl ebb_contract_switch_clobbers_s4\n"
    ".hidden ebb_contract_switch_clobbers_s4\n"
    ".type ebb_contract_switch_clobbers_s4,%function\n"
    "ebb_contract_switch_clobbers_s4:\n"
    "addi sp, sp, -16\n"
    "sd ra, 8(sp)\n"
    "call " EBB_RISCV64_SWITCH "\n"
    "li s4, 0x5a5a5a5a5a5a5a5a\n"
    "ld ra, 8(sp)\n"
    "addi sp, sp, 16\n"
    "ret\n"
    ".size ebb_contract_switch_clobbers_s4, .-ebb_contract_switch_clobbers_s4\n");

extern "C" {
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_s5(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_fs3(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_frm(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_clobbers_s4(void**, void*);
}

namespace contract_port {

constexpr std::array<const char*, 12> general_registers{
    {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11"}};
constexpr std::array<const char*, 12> fp_registers{
    {"fs0", "fs1", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9", "fs10", "fs11"}};


// frm only: fflags are status the port deliberately does not carry (arch/riscv64_lp64d.hpp).
struct fp_control {
  std::uint32_t frm;
  bool operator==(const fp_control& o) const { return frm == o.frm; }
};
inline fp_control read_fp_control() {
  unsigned long frm;
  __asm__ volatile("frrm %0" : "=r"(frm));
  return fp_control{static_cast<std::uint32_t>(frm)};
}
inline void write_fp_control(const fp_control& c) {
  __asm__ volatile("fsrm %0" : : "r"(static_cast<unsigned long>(c.frm)));
}
inline std::string describe(const fp_control& c) {
  char text[32];
  std::snprintf(text, sizeof text, "frm %u", static_cast<unsigned>(c.frm));
  return text;
}
inline std::string differing_words(const fp_control& want, const fp_control& got) {
  return want.frm != got.frm ? "frm " : "";
}
// Rounding modes unlike the default (0, to nearest even) and unlike each other.
constexpr fp_control setting_a{2};  // RDN, toward -infinity
constexpr fp_control setting_b{3};  // RUP, toward +infinity


// RISC-V has no store that faults on a 16-byte misalignment (and misaligned scalar accesses may be
// handled in hardware or trapped and emulated). What matters is what compiled code assumes: GCC
// places an alignas(16) local at a fixed offset from sp, without realigning, because the ABI
// promises a 16-byte sp; so the local's address is the check, and the doubleword store to it is one
// that a wrongly aligned frame would have turned into a misaligned access.
inline bool aligned_vector_store() {
  alignas(16) unsigned char slot[16];
  __asm__ volatile("sd zero, %0" : "=m"(*reinterpret_cast<std::uint64_t*>(slot)));
  return reinterpret_cast<std::uintptr_t>(slot) % 16 == 0 && slot[0] == 0;
}

inline const std::vector<broken_routine>& broken_routines() {
  static const std::vector<broken_routine> all{
      {"a copy of the switch that does not restore s5", &ebb_contract_switch_forgets_s5, "s5"},
      {"a copy of the switch that does not restore fs3", &ebb_contract_switch_forgets_fs3, "fs3"},
      {"the switch followed by a write to s4", &ebb_contract_switch_clobbers_s4, "s4"},
      {"a copy of the switch that does not restore frm", &ebb_contract_switch_forgets_frm, "frm"},
  };
  return all;
}

}  // namespace contract_port
