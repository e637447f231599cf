// SPDX-License-Identifier: BSL-1.0
// The run-time half of the architecture contract (the compile-time half is include/ebb/arch/contract.hpp):
// what every port's context switch must do that no static_assert can see. A new port passes this file
// by adding one block in the "per-architecture" section below; everything after it is shared.
//
//   (a) every callee-saved general register survives ebb_switch_context, in both directions;
//   (b) so does every callee-saved FP/SIMD register (none on x86-64 System V; d8-d15 on AArch64);
//   (c) so do the FP control words the ABI makes callee-saved (x86-64: MXCSR and the x87 control
//       word; AArch64: FPCR), and a new fiber starts with its creator's words as they were at make_initial_frame;
//   (d) a fiber's entry function sees the stack aligned as the ABI promises a called function;
//   (e) a backtrace from deep inside a fiber ends at the entry trampoline, with END_OF_STACK, after a
//       bounded number of frames, none of them garbage;
//   (f) the checks of (a) and (c) catch a broken switch: the harness takes the routine as a function
//       pointer, and deliberately broken routines (one that forgets a register, one that clobbers one
//       after resuming, ones that skip a control word) must each be reported.
//
// (a)-(d) run on the raw routine with make_initial_frame on a heap stack, not only through
// ebb::fiber, so a port is tested before anything else in ebb depends on it. Registers are set and read
// by a small assembly "probe" around the switch, because compiled code gives no control over which
// values sit in which callee-saved register at the call. The probe itself saves and restores its
// caller's registers, so even a broken routine leaves the C++ code around it intact and the harness
// reports instead of crashing.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <unwind.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#if EBB_VALGRIND
#include <valgrind/valgrind.h>
#endif

namespace arch = ebb::runtime_v1::arch;

namespace {
using switch_routine = void (*)(void** save_sp, void* target_sp);
}

// The two assembly routines every port's block defines. A word is a general register's width.
extern "C" {
__attribute__((visibility("hidden"))) void ebb_contract_probe(const std::uintptr_t* in, std::uintptr_t* out,
                                                              switch_routine routine, void** save_sp,
                                                              void* target_sp);
__attribute__((visibility("hidden"))) std::uintptr_t ebb_contract_entry_sp();
}
namespace contract_port {
using word = std::uintptr_t;
// The stack pointer a called function sees, which the ABI requires to be stack_alignment-aligned.
inline std::uintptr_t entry_stack_pointer() { return ebb_contract_entry_sp(); }
// What each port's broken_routines() lists.
struct broken_routine {
  const char* what;
  switch_routine routine;
  const char* must_report;  // a word every report of this defect contains
};
}  // namespace contract_port

// ==== per-architecture block =======================================================================
// A port provides, in namespace contract_port:
//   general_registers / fp_registers   names of the callee-saved registers, in the probe's order
//                                      (fp_registers may be empty)
//   ebb_contract_probe(in, out, routine, save_sp, target_sp)   (assembly) load in[] into those
//                                      registers (general first, then FP), call routine(save_sp,
//                                      target_sp), store the registers to out[] once it returns, and
//                                      leave the caller's own registers as they were
//   fp_control, read_fp_control(), write_fp_control(), fp_control_names, two distinct settings
//   ebb_contract_entry_sp()            (assembly, declared above) the stack pointer a called function sees
//   aligned_vector_store()             an instruction that faults on a misaligned stack slot
//   broken_routines                    switch routines with one defect each, and what must be caught
#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_SYSV)

#if defined(__CET__) && (__CET__ & 1)
#define CONTRACT_ENDBR "endbr64\n"
#else
#define CONTRACT_ENDBR ""
#endif

// void ebb_contract_probe(const uint64_t* in /*rdi*/, uint64_t* out /*rsi*/, switch_routine /*rdx*/,
//                         void** save_sp /*rcx*/, void* target_sp /*r8*/)
// The caller's six registers are pushed first and popped last; `out` rides on the stack (which the
// switch must give back intact). After the seven pushes rsp is 16-byte aligned for the call.
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl ebb_contract_probe\n"
    ".hidden ebb_contract_probe\n"
    ".type ebb_contract_probe,@function\n"
    "ebb_contract_probe:\n"
    ".cfi_startproc\n"
    CONTRACT_ENDBR
    "pushq %rbp\n .cfi_adjust_cfa_offset 8\n .cfi_offset %rbp, -16\n"
    "pushq %rbx\n .cfi_adjust_cfa_offset 8\n .cfi_offset %rbx, -24\n"
    "pushq %r12\n .cfi_adjust_cfa_offset 8\n .cfi_offset %r12, -32\n"
    "pushq %r13\n .cfi_adjust_cfa_offset 8\n .cfi_offset %r13, -40\n"
    "pushq %r14\n .cfi_adjust_cfa_offset 8\n .cfi_offset %r14, -48\n"
    "pushq %r15\n .cfi_adjust_cfa_offset 8\n .cfi_offset %r15, -56\n"
    "pushq %rsi\n .cfi_adjust_cfa_offset 8\n"
    "movq %rdi, %rax\n"
    "movq %rdx, %r11\n"
    "movq %rcx, %rdi\n"
    "movq %r8, %rsi\n"
    "movq 0(%rax), %rbx\n"
    "movq 8(%rax), %rbp\n"
    "movq 16(%rax), %r12\n"
    "movq 24(%rax), %r13\n"
    "movq 32(%rax), %r14\n"
    "movq 40(%rax), %r15\n"
    "callq *%r11\n"
    "movq (%rsp), %rax\n"
    "movq %rbx, 0(%rax)\n"
    "movq %rbp, 8(%rax)\n"
    "movq %r12, 16(%rax)\n"
    "movq %r13, 24(%rax)\n"
    "movq %r14, 32(%rax)\n"
    "movq %r15, 40(%rax)\n"
    "addq $8, %rsp\n .cfi_adjust_cfa_offset -8\n"
    "popq %r15\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r15\n"
    "popq %r14\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r14\n"
    "popq %r13\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r13\n"
    "popq %r12\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r12\n"
    "popq %rbx\n .cfi_adjust_cfa_offset -8\n .cfi_restore %rbx\n"
    "popq %rbp\n .cfi_adjust_cfa_offset -8\n .cfi_restore %rbp\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size ebb_contract_probe, .-ebb_contract_probe\n"
    // The stack pointer the caller had before its call: rsp + 8 at entry, 16-byte aligned by the ABI.
    ".p2align 4\n"
    ".globl ebb_contract_entry_sp\n"
    ".hidden ebb_contract_entry_sp\n"
    ".type ebb_contract_entry_sp,@function\n"
    "ebb_contract_entry_sp:\n"
    ".cfi_startproc\n"
    CONTRACT_ENDBR
    "leaq 8(%rsp), %rax\n"
    "ret\n"
    ".cfi_endproc\n"
    ".size ebb_contract_entry_sp, .-ebb_contract_entry_sp\n");

// Broken routines. The first three are the switch with one instruction left out (the frame layout
// unchanged, so everything else works; r14 rather than r12 or r13, which carry a new fiber's entry
// and argument into the trampoline: forgetting those would crash the first entry, not be reported); the last calls the real switch and then clobbers rbx, as a
// port whose resume path reused a callee-saved register as scratch would. No CFI: nothing unwinds
// through them.
#define CONTRACT_BROKEN_SWITCH(name, pop_r14, load_mxcsr, load_x87) \
  ".text\n"                                                         \
  ".p2align 4\n"                                                    \
  ".globl " name "\n"                                               \
  ".hidden " name "\n"                                              \
  ".type " name ",@function\n"                                      \
  name ":\n"                                                        \
  CONTRACT_ENDBR                                                    \
  "pushq %rbp\n pushq %rbx\n pushq %r12\n pushq %r13\n"             \
  "pushq %r14\n pushq %r15\n pushq $0\n"                            \
  "stmxcsr (%rsp)\n fnstcw 4(%rsp)\n"                               \
  "movq %rsp, (%rdi)\n movq %rsi, %rsp\n"                           \
  load_mxcsr load_x87                                               \
  "addq $8, %rsp\n popq %r15\n"                                     \
  pop_r14                                                           \
  "popq %r13\n popq %r12\n popq %rbx\n popq %rbp\n ret\n"            \
  ".size " name ", .-" name "\n"

__asm__(
    CONTRACT_BROKEN_SWITCH("ebb_contract_switch_forgets_r14", "addq $8, %rsp\n", "ldmxcsr (%rsp)\n", "fldcw 4(%rsp)\n")
    CONTRACT_BROKEN_SWITCH("ebb_contract_switch_forgets_mxcsr", "popq %r14\n", "", "fldcw 4(%rsp)\n")
    CONTRACT_BROKEN_SWITCH("ebb_contract_switch_forgets_x87", "popq %r14\n", "ldmxcsr (%rsp)\n", "")
    ".text\n"
    ".p2align 4\n"
    ".globl ebb_contract_switch_clobbers_rbx\n"
    ".hidden ebb_contract_switch_clobbers_rbx\n"
    ".type ebb_contract_switch_clobbers_rbx,@function\n"
    "ebb_contract_switch_clobbers_rbx:\n"
    CONTRACT_ENDBR
    "subq $8, %rsp\n"
    "callq " EBB_X86_64_SWITCH "\n"
    "movabsq $0x5a5a5a5a5a5a5a5a, %rbx\n"
    "addq $8, %rsp\n"
    "ret\n"
    ".size ebb_contract_switch_clobbers_rbx, .-ebb_contract_switch_clobbers_rbx\n");

extern "C" {
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_r14(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_mxcsr(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_forgets_x87(void**, void*);
__attribute__((visibility("hidden"))) void ebb_contract_switch_clobbers_rbx(void**, void*);
}

namespace contract_port {

constexpr std::array<const char*, 6> general_registers{{"rbx", "rbp", "r12", "r13", "r14", "r15"}};
// System V makes no vector or x87 data register callee-saved (all of xmm0-15 are scratch): the FP
// check has nothing to do here. AArch64 lists d8-d15, Windows x64 xmm6-xmm15.
constexpr std::array<const char*, 0> fp_registers{};

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
      {"the switch followed by a write to rbx", &ebb_contract_switch_clobbers_rbx, "rbx"},
      {"a copy of the switch that does not reload MXCSR", &ebb_contract_switch_forgets_mxcsr, "MXCSR"},
      {"a copy of the switch that does not reload the x87 control word", &ebb_contract_switch_forgets_x87,
       "x87-control-word"},
  };
  return all;
}

}  // namespace contract_port

#elif defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
#include "arch_contract_x86_64_ms.hpp"
#elif defined(EBB_ARCH_AARCH64) && defined(EBB_ABI_AAPCS64)
#include "arch_contract_aarch64_aapcs64.hpp"
#elif defined(EBB_ARCH_RISCV64) && defined(EBB_ABI_LP64D)
#include "arch_contract_riscv64_lp64d.hpp"
#elif defined(EBB_ARCH_ARM32) && defined(EBB_ABI_AAPCS_HF)
#include "arch_contract_arm32_aapcs_hf.hpp"
#elif defined(EBB_ARCH_I386) && defined(EBB_ABI_SYSV)
#include "arch_contract_i386_sysv.hpp"
#else
#error "test_arch_contract.cpp: add this architecture's block (registers, probe, FP control, broken routines)"
#endif
// ==== end of the per-architecture block ============================================================
// Where a port's compiler points the frame address other than at the stack pointer after the
// frame-pointer push, its block says how far above that it is.
#ifndef CONTRACT_FRAME_ADDRESS_BIAS
#define CONTRACT_FRAME_ADDRESS_BIAS 0
#endif

namespace {

using contract_port::word;
constexpr std::size_t general_count = contract_port::general_registers.size();
constexpr std::size_t fp_count = contract_port::fp_registers.size();
constexpr std::size_t probe_words = general_count + fp_count;
using register_values = std::array<word, probe_words == 0 ? 1 : probe_words>;

const char* register_name(std::size_t i) {
  return i < general_count ? contract_port::general_registers[i] : contract_port::fp_registers[i - general_count];
}

// Distinct, recognisable values per side and per round, so a register carried from the other side
// (or left as a neighbour's) is told apart.
register_values pattern(word side, word round) {
  register_values v{};
  // The side in the top nibble of a word of any width (a 32-bit port's word would drop a 2^60 factor
  // and make both sides' patterns equal), the round above the index.
  constexpr unsigned side_shift = 8 * sizeof(word) - 4;
  for (std::size_t i = 0; i < probe_words; ++i)
    v[i] = (static_cast<word>(side) << side_shift) + (static_cast<word>(round) << 16) + static_cast<word>(i + 1);
  return v;
}

// A stack on the heap, registered with Valgrind when the build tells it about stacks.
class heap_stack {
 public:
  explicit heap_stack(std::size_t bytes) : memory_(new unsigned char[bytes]), bytes_(bytes) {
#if EBB_VALGRIND
    id_ = VALGRIND_STACK_REGISTER(memory_.get(), memory_.get() + bytes_);
#endif
  }
  ~heap_stack() {
#if EBB_VALGRIND
    VALGRIND_STACK_DEREGISTER(id_);
#endif
  }
  heap_stack(const heap_stack&) = delete;
  heap_stack& operator=(const heap_stack&) = delete;
  void* top() const {
    auto end = reinterpret_cast<std::uintptr_t>(memory_.get() + bytes_);
    return reinterpret_cast<void*>(end & ~(std::uintptr_t{arch::stack_alignment} - 1));
  }

 private:
  std::unique_ptr<unsigned char[]> memory_;
  std::size_t bytes_;
#if EBB_VALGRIND
  unsigned id_ = 0;
#endif
};

// ---- (a)-(c): the switch harness ------------------------------------------------------------------

struct session {
  switch_routine routine = nullptr;
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  register_values fiber_in{}, fiber_out{}, fiber_last{}, scratch{};
  contract_port::fp_control fiber_control_at_start{}, fiber_control_after{};
  std::uintptr_t fiber_entry_sp = 0;
  bool fiber_store_ok = false;
};

void harness_fiber(void* arg) {
  auto* s = static_cast<session*>(arg);
  s->fiber_entry_sp = contract_port::entry_stack_pointer();
  s->fiber_store_ok = contract_port::aligned_vector_store();
  s->fiber_control_at_start = contract_port::read_fp_control();
  contract_port::write_fp_control(contract_port::setting_b);
  // Load the fiber's values, go back to main; main's next switch brings us back here.
  ebb_contract_probe(s->fiber_in.data(), s->fiber_out.data(), s->routine, &s->fiber_sp, s->main_sp);
  s->fiber_control_after = contract_port::read_fp_control();
  s->fiber_last = pattern(3, 3);
  ebb_contract_probe(s->fiber_last.data(), s->scratch.data(), s->routine, &s->fiber_sp, s->main_sp);
  std::abort();  // never resumed: main abandons this stack
}

// Runs the register and control-word checks with `routine` as the switch; returns one line per
// defect seen (empty: the routine keeps the contract).
std::vector<std::string> check_switch_routine(switch_routine routine) {
  std::vector<std::string> defects;
  heap_stack stack(256 * 1024);
  session s;
  s.routine = routine;
  s.fiber_in = pattern(2, 1);
  const contract_port::fp_control original = contract_port::read_fp_control();

  s.fiber_sp = arch::make_initial_frame(stack.top(), &harness_fiber, &s);
  contract_port::write_fp_control(contract_port::setting_a);

  // Main -> fiber (new frame) -> main: main's registers must come back.
  register_values main_in = pattern(1, 1), main_out{};
  ebb_contract_probe(main_in.data(), main_out.data(), routine, &s.main_sp, s.fiber_sp);
  const contract_port::fp_control main_after_first = contract_port::read_fp_control();
  // Main -> fiber (suspended) -> main: the fiber's registers must have come back to it, main's again.
  register_values main_in2 = pattern(1, 2), main_out2{};
  ebb_contract_probe(main_in2.data(), main_out2.data(), routine, &s.main_sp, s.fiber_sp);
  const contract_port::fp_control main_after_second = contract_port::read_fp_control();
  contract_port::write_fp_control(original);

  for (std::size_t i = 0; i < probe_words; ++i) {
    if (main_out[i] != main_in[i])
      defects.push_back(std::string(register_name(i)) + " not preserved for the resumer (fiber -> main, first return)");
    if (main_out2[i] != main_in2[i])
      defects.push_back(std::string(register_name(i)) + " not preserved for the resumer (fiber -> main, second return)");
    if (s.fiber_out[i] != s.fiber_in[i])
      defects.push_back(std::string(register_name(i)) + " not preserved for the suspended fiber (main -> fiber)");
  }
  auto control = [&](const char* when, const contract_port::fp_control& want, const contract_port::fp_control& got) {
    if (!(want == got))
      defects.push_back("FP control " + contract_port::differing_words(want, got) + "wrong " + when + ": want " +
                        contract_port::describe(want) + ", got " + contract_port::describe(got));
  };
  control("at the fiber's start (its creator's at make_initial_frame)", original, s.fiber_control_at_start);
  control("in main after the fiber set its own", contract_port::setting_a, main_after_first);
  control("in the fiber after main ran with its own", contract_port::setting_b, s.fiber_control_after);
  control("in main after the second round", contract_port::setting_a, main_after_second);
  return defects;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  return all;
}

// The raw routine on a heap stack switches stacks behind the back of ASan and TSan (ebb::fiber tells
// them, detail/tool_hooks.hpp; this harness deliberately goes around ebb::fiber): there the raw checks
// are left to the other builds.
#if EBB_ASAN || EBB_TSAN
constexpr bool raw_switch_testable = false;
#else
constexpr bool raw_switch_testable = true;
#endif

// Used as `if (RAW_SWITCH_TESTABLE()) { ... }`: the block is skipped, with a warning, under the
// sanitizers. (Not an early return: Catch2 finds a test case's later SECTIONs only by running into them.)
bool raw_switch_testable_here() {
  if (!raw_switch_testable) WARN("the raw-routine contract checks do not run under ASan/TSan (see the comment)");
  return raw_switch_testable;
}
#define RAW_SWITCH_TESTABLE() raw_switch_testable_here()

// ---- (e): backtraces -------------------------------------------------------------------------------

struct trace {
  std::vector<std::uintptr_t> ips;
  bool overflowed = false;
};
constexpr std::size_t trace_limit = 256;

_Unwind_Reason_Code collect_frame(_Unwind_Context* context, void* arg) {
  auto* t = static_cast<trace*>(arg);
  if (t->ips.size() >= trace_limit) {
    t->overflowed = true;
#if defined(__ARM_EABI_UNWINDER__)
    return _URC_FAILURE;  // the ARM EHABI unwinder has no _URC_NORMAL_STOP; any other code stops it
#else
    return _URC_NORMAL_STOP;
#endif
  }
  t->ips.push_back(static_cast<std::uintptr_t>(_Unwind_GetIP(context)));
  return _URC_NO_REASON;
}

struct backtrace_result {
  _Unwind_Reason_Code code = _URC_NO_REASON;
  trace frames;
};

EBB_NOINLINE void take_backtrace(backtrace_result& out) {
  out.code = _Unwind_Backtrace(&collect_frame, &out.frames);
  __asm__ volatile("" ::: "memory");  // not a tail call: this frame stays in the trace
}

constexpr int backtrace_depth = 24;

EBB_NOINLINE void recurse_then_backtrace(int depth, backtrace_result& out) {
  if (depth == 0)
    take_backtrace(out);
  else
    recurse_then_backtrace(depth - 1, out);
  __asm__ volatile("" ::: "memory");  // not a tail call
}

// The function a code address belongs to, by its unwind information (null: no FDE covers it).
// The ARM EHABI unwinder has no _Unwind_FindEnclosingFunction: the port's block looks the address up
// in the .ARM.exidx index instead.
void* enclosing_function(std::uintptr_t ip) {
#if defined(__ARM_EABI_UNWINDER__)
  return contract_port::enclosing_function(ip - 1);
#else
  return _Unwind_FindEnclosingFunction(reinterpret_cast<void*>(ip - 1));
#endif
}

// The trampoline a new frame "returns" into: read from the frame make_initial_frame built.
void* trampoline_of(void* initial_sp) {
  std::uintptr_t resume;
  std::memcpy(&resume, static_cast<char*>(initial_sp) + arch::frame_return_offset, sizeof resume);
#if defined(EBB_ARCH_AARCH64)
  // Under pac-ret the saved address is signed (arch/aarch64_aapcs.hpp): strip the code as an unwinder
  // does (xpaclri, a hint: a no-op without pointer authentication).
  register std::uintptr_t lr __asm__("x30") = resume;
  __asm__("hint #7" : "+r"(lr));
  resume = lr;
#endif
#if defined(__ARM_EABI_UNWINDER__)
  return contract_port::enclosing_function(resume);
#else
  return _Unwind_FindEnclosingFunction(reinterpret_cast<void*>(resume));
#endif
}

void check_backtrace(const backtrace_result& r, void* trampoline) {
  std::vector<std::uintptr_t> ips = r.frames.ips;
  // libgcc calls back once more for the frame past the outermost one, with ip 0, and then returns
  // END_OF_STACK (LLVM's libunwind does not): that call marks the end, it is not a frame.
  if (!ips.empty() && ips.back() == 0) ips.pop_back();
  INFO("frames: " << ips.size());
#if defined(__ARM_EABI_UNWINDER__)
  // libgcc's EHABI walk stops at a function marked EXIDX_CANTUNWIND (checked below for the
  // trampoline) returning get_eit_entry's code: END_OF_STACK in newer libgcc, FAILURE in gcc 12's,
  // which is also how every backtrace of a thread's own stack ends there (glibc's _start is
  // .cantunwind). Garbage would show in the frame checks below, and our own stop in `overflowed`.
  CHECK((r.code == _URC_END_OF_STACK || r.code == _URC_FAILURE));
#else
  CHECK(r.code == _URC_END_OF_STACK);
#endif
  CHECK_FALSE(r.frames.overflowed);
  CHECK(ips.size() >= static_cast<std::size_t>(backtrace_depth) + 2);
  CHECK(ips.size() <= static_cast<std::size_t>(backtrace_depth) + 16);
  for (std::size_t i = 0; i < ips.size(); ++i) {
    INFO("frame #" << i << " ip " << reinterpret_cast<void*>(ips[i]));
    CHECK(ips[i] != 0);
    CHECK(enclosing_function(ips[i]) != nullptr);  // inside code with unwind information: no garbage
  }
  REQUIRE_FALSE(ips.empty());
  REQUIRE(trampoline != nullptr);
#if defined(__ARM_EABI_UNWINDER__)
  // EHABI: the walk stops when it reaches a function whose index entry is EXIDX_CANTUNWIND, with
  // END_OF_STACK and without reporting that frame; so the trampoline is never the last frame seen.
  // What makes the walk stop there is the trampoline's entry: check it is that.
  CHECK(contract_port::cannot_unwind(trampoline));
#else
  CHECK(enclosing_function(ips.back()) == trampoline);  // the outermost frame is ebb's entry trampoline
#endif
}

struct raw_backtrace_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  backtrace_result result;
};

void raw_backtrace_fiber(void* arg) {
  auto* s = static_cast<raw_backtrace_session*>(arg);
  recurse_then_backtrace(backtrace_depth, s->result);
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);
  std::abort();
}

// ---- (d): alignment --------------------------------------------------------------------------------

struct alignment_seen {
  std::uintptr_t entry_sp = 0;
  std::uintptr_t frame_address = 0;
  std::uintptr_t local = 0;
  bool vector_store = false;
};

EBB_NOINLINE void look_at_alignment(alignment_seen& seen) {
  alignas(16) volatile unsigned char local[16] = {};
  seen.entry_sp = contract_port::entry_stack_pointer();
  seen.frame_address = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  seen.local = reinterpret_cast<std::uintptr_t>(&local[0]);
  seen.vector_store = contract_port::aligned_vector_store();
}

void check_alignment(const alignment_seen& seen) {
  CHECK(seen.entry_sp % arch::stack_alignment == 0);
  CHECK(seen.local % 16 == 0);
  CHECK(seen.vector_store);
  // The frame address of a function is its stack pointer after the frame-pointer push: aligned on
  // every port whose ABI aligns the stack at calls (x86-64: entry rsp + 8 - 16; AArch64: entry sp - 16).
  CHECK((seen.frame_address - CONTRACT_FRAME_ADDRESS_BIAS) % arch::stack_alignment == 0);
}

}  // namespace

TEST_CASE("arch contract (a): callee-saved general registers survive the switch both ways", "[arch]") {
  if (RAW_SWITCH_TESTABLE()) {
    const auto defects = check_switch_routine(&arch::ebb_switch_context);
    INFO(joined(defects));
    CHECK(defects.empty());
  }
}

TEST_CASE("arch contract (b): callee-saved FP/SIMD registers survive the switch both ways", "[arch]") {
  if (RAW_SWITCH_TESTABLE()) {
    // The probe of (a) carries the FP registers after the general ones, so one run checks both; on
    // x86-64 System V the list is empty (no vector register is callee-saved) and this only says so.
    if (fp_count == 0) {
      SUCCEED("no callee-saved FP/SIMD registers on this ABI");
      return;
    }
    const auto defects = check_switch_routine(&arch::ebb_switch_context);
    INFO(joined(defects));
    CHECK(defects.empty());
  }
}

TEST_CASE("arch contract (c): FP control words survive the switch both ways, and a fiber starts with its creator's",
          "[arch]") {
  SECTION("raw routine, make_initial_frame on a heap stack") {
    if (RAW_SWITCH_TESTABLE()) {
      // The harness of (a) sets different control words on each side (contract_port::setting_a in
      // main, setting_b in the fiber) and reads them after every switch; its report names any that
      // leaked, or a fiber that did not start with its creator's.
      const auto defects = check_switch_routine(&arch::ebb_switch_context);
      INFO(joined(defects));
      for (const auto& line : defects) CHECK(line.find("FP control") == std::string::npos);
    }
  }
  SECTION("ebb::fiber") {
    // A control word set inside must not leak to the resumer, nor the resumer's into the fiber.
    const contract_port::fp_control original = contract_port::read_fp_control();
    contract_port::fp_control inside_at_start{}, inside_later{}, outside{};
    ebb::fiber f([&] {
      inside_at_start = contract_port::read_fp_control();
      contract_port::write_fp_control(contract_port::setting_b);
      ebb::this_fiber::yield();
      inside_later = contract_port::read_fp_control();
    });
    f.resume();
    outside = contract_port::read_fp_control();
    contract_port::write_fp_control(contract_port::setting_a);
    f.resume();
    const contract_port::fp_control outside_after = contract_port::read_fp_control();
    contract_port::write_fp_control(original);
    CHECK(inside_at_start == original);
    CHECK(outside == original);
    CHECK(inside_later == contract_port::setting_b);
    CHECK(outside_after == contract_port::setting_a);
  }
}

TEST_CASE("arch contract (d): a fiber's entry function sees an ABI-aligned stack", "[arch]") {
  SECTION("raw routine, make_initial_frame on a heap stack") {
    if (RAW_SWITCH_TESTABLE()) {
      heap_stack stack(64 * 1024);
      struct local_session {
        void* main_sp = nullptr;
        void* fiber_sp = nullptr;
        alignment_seen seen;
      } s;
      s.fiber_sp = arch::make_initial_frame(stack.top(), [](void* arg) {
        auto* ls = static_cast<local_session*>(arg);
        look_at_alignment(ls->seen);
        arch::ebb_switch_context(&ls->fiber_sp, ls->main_sp);
        std::abort();
      }, &s);
      arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
      check_alignment(s.seen);
    }
  }
  SECTION("the harness fiber's own entry") {
    if (RAW_SWITCH_TESTABLE()) {
      // harness_fiber reads the stack pointer first thing, from a function it calls.
      heap_stack stack(64 * 1024);
      session s;
      s.routine = &arch::ebb_switch_context;
      s.fiber_sp = arch::make_initial_frame(stack.top(), &harness_fiber, &s);
      register_values in = pattern(1, 1), out{};
      ebb_contract_probe(in.data(), out.data(), s.routine, &s.main_sp, s.fiber_sp);
      CHECK(s.fiber_entry_sp % arch::stack_alignment == 0);
      CHECK(s.fiber_store_ok);
    }
  }
  SECTION("ebb::fiber") {
    alignment_seen seen;
    ebb::fiber f([&] { look_at_alignment(seen); });
    f.resume();
    check_alignment(seen);
  }
}

TEST_CASE("arch contract (e): a backtrace from inside a fiber ends at its entry", "[arch]") {
  SECTION("raw routine, make_initial_frame on a heap stack") {
    if (RAW_SWITCH_TESTABLE()) {
      heap_stack stack(256 * 1024);
      raw_backtrace_session s;
      s.fiber_sp = arch::make_initial_frame(stack.top(), &raw_backtrace_fiber, &s);
      void* trampoline = trampoline_of(s.fiber_sp);
      arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
      check_backtrace(s.result, trampoline);
    }
  }
  SECTION("ebb::fiber") {
    backtrace_result result;
    void* trampoline = nullptr;
    {
      // Any fiber's trampoline: one made frame tells which function it is.
      heap_stack stack(4096);
      trampoline = trampoline_of(arch::make_initial_frame(stack.top(), &raw_backtrace_fiber, nullptr));
    }
    ebb::fiber f([&] { recurse_then_backtrace(backtrace_depth, result); });
    f.resume();
    check_backtrace(result, trampoline);
  }
}

TEST_CASE("arch contract (f): the harness catches broken switch routines", "[arch]") {
  if (RAW_SWITCH_TESTABLE()) {
    REQUIRE(check_switch_routine(&arch::ebb_switch_context).empty());  // the real one passes
    for (const auto& broken : contract_port::broken_routines()) {
      const auto defects = check_switch_routine(broken.routine);
      INFO(broken.what << " reported:\n" << joined(defects));
      CHECK_FALSE(defects.empty());
      // Every line names the defect: the harness tells which register or word broke, not just that
      // something did.
      bool all_named = true;
      for (const auto& line : defects) all_named = all_named && line.find(broken.must_report) != std::string::npos;
      CHECK(all_named);
    }
  }
}
