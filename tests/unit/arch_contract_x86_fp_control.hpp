// SPDX-License-Identifier: BSL-1.0
// The FP control state of every x86 ABI (x86-64 System V, Windows x64, i386 System V): the control
// fields of MXCSR and the x87 control word are callee-saved in all three, so a switch must carry both.
// Included inside namespace contract_port by each x86 block of test_arch_contract.cpp.

struct fp_control {
  std::uint32_t mxcsr;
  std::uint16_t x87;
  bool operator==(const fp_control& o) const { return mxcsr == o.mxcsr && x87 == o.x87; }
};
inline fp_control read_fp_control() {
  fp_control c{};
  __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(c.mxcsr), "=m"(c.x87));
  return c;
}
inline void write_fp_control(const fp_control& c) {
  __asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(c.mxcsr), "m"(c.x87));
}
inline std::string describe(const fp_control& c) {
  char text[64];
  std::snprintf(text, sizeof text, "MXCSR %#x, x87 CW %#x", static_cast<unsigned>(c.mxcsr),
                static_cast<unsigned>(c.x87));
  return text;
}
// Which words of two settings differ, by name (what a report of (c) names).
inline std::string differing_words(const fp_control& want, const fp_control& got) {
  std::string names;
  if (want.mxcsr != got.mxcsr) names += "MXCSR ";
  if (want.x87 != got.x87) names += "x87-control-word ";
  return names;
}
// Two settings unlike the start-up values (MXCSR 0x1f80; x87 0x037f on Linux and under MinGW-w64's
// runtime, 0x027f under MSVC's) and unlike each other: different rounding modes in each unit (MXCSR
// RC bits 13-14, x87 RC bits 10-11).
constexpr fp_control setting_a{0x1f80u | 0x2000u, 0x037fu | 0x0800u};  // SSE down, x87 up
constexpr fp_control setting_b{0x1f80u | 0x4000u, 0x037fu | 0x0c00u};  // SSE up, x87 toward zero
