// SPDX-License-Identifier: BSL-1.0
// The Windows x64 context switch (include/ebb/arch/x86_64_ms.hpp), tested on its own: the Windows OS
// layer does not exist yet, so this includes only the arch headers and makes its stacks itself.
//
// Build and run (tests/windows/run.sh does both, at -O2 and -O0, and skips with 77 without the tools):
//     x86_64-w64-mingw32-g++-posix -std=c++17 -O2 -static -Iinclude tests/windows/switch_test.cpp -o t.exe
//     WINEDEBUG=-all wine64 t.exe
// Exit status 0 when every check passes, 1 otherwise; one line per check.
//
// What it checks, and why each matters on Windows:
//   registers   rbx, rbp, rdi, rsi, r12–r15 and xmm6–xmm15 survive the switch in both directions (an
//               assembly probe loads distinctive values, switches, reads them back), and so do MXCSR
//               and the x87 control word (different rounding modes on each side); a new fiber starts
//               with its creator's control words.
//   tib         inside a fiber the TEB describes the fiber's stack (StackBase = its top, StackLimit,
//               DeallocationStack and GuaranteedStackBytes as made, ExceptionList = -1) and the thread's
//               come back after switching back; values a fiber changes are its own the next time; and
//               FiberData is not swapped. Cross-checked with the TEB's NT_TIB and
//               GetCurrentThreadStackLimits, so the raw offsets are the ones Windows (wine) uses.
//   broken      the same checks catch a switch that drops r14, one that drops xmm15, one that skips
//               MXCSR and one that skips the TIB swap: a harness that cannot fail proves nothing.
//   exceptions  a C++ exception thrown and caught on a fiber, one thrown through eight frames with
//               destructors and caught at the fiber's entry, one thrown after a round trip, on a heap
//               stack (the contract's make_initial_frame) and on a VirtualAlloc stack with its bounds.
//   unwind      from deep inside a fiber, RtlVirtualUnwind, RtlCaptureStackBackTrace and libgcc's
//               _Unwind_Backtrace all end at the entry trampoline (return address 0, rsp = StackBase)
//               with unwind information for every frame; and a suspended switch frame unwinds to its
//               resume address at every prologue instruction, in the body and at every instruction of
//               the return region, with the unwind codes' register locations equal to the frame
//               layout's slots.
//   alignment   a fiber's entry function is entered with rsp + 8 16-byte aligned, with its 32 bytes of
//               home space below the 16-byte outermost frame, which stays zero.
//   win-fibers  ebb fibers inside a Windows fiber (FiberData not swapped, exceptions, the Windows
//               fiber's TIB back afterwards); and, as information, what SwitchToFiber called on an ebb
//               fiber's stack leaves in the TIB (not supported: see check_windows_fibers).
//   many        1000 fibers on one reservation, ping-ponged 20 rounds each, checking their TIB and
//               throwing on every fifth round.
//   escape      in child processes: a C++ exception escaping a fiber's entry reaches std::terminate,
//               and an access violation on a fiber reaches the SetUnhandledExceptionFilter filter, as
//               on a thread's stack (fiber_start's exception handler).
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00
#endif
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include "check_report.hpp"
#include <windows.h>
// winnt.h's inline GetCurrentFiber() reads gs:[0x20] through a constant address, which GCC 12 takes
// for an out-of-bounds array access.
#pragma GCC diagnostic ignored "-Warray-bounds"

#include <unwind.h>

#include <ebb/arch/switch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#if !defined(EBB_ARCH_X86_64) || !defined(EBB_ABI_MS) || !defined(EBB_FORMAT_PE)
#error "tests/windows/switch_test.cpp is for x86-64 Windows (the Microsoft x64 port)"
#endif

namespace arch = ebb::runtime_v1::arch;
using word = std::uint64_t;
using switch_routine = void (*)(void** save_sp, void* target_sp);

// ==== reporting ===================================================================================
namespace {
using check_report::check;
std::string hex(word v) {
  char text[32];
  std::snprintf(text, sizeof text, "%#llx", static_cast<unsigned long long>(v));
  return text;
}
}  // namespace

// ==== assembly: the probe, the entry-rsp recorder, the broken switches ==============================
// void ebb_test_probe(const word* in /*rcx*/, word* out /*rdx*/, switch_routine /*r8*/,
//                     void** save_sp /*r9*/, void* target_sp /*stack: 40(%rsp) at entry*/)
// in/out: rbx, rbp, rdi, rsi, r12, r13, r14, r15 (8 words), then xmm6..xmm15 (2 words each).
// Frame: the caller's 8 general registers pushed; below them 216 bytes: home space for the call
// (0..31), `out` (32), the caller's xmm6..xmm15 (48..207), padding. rsp is 16-byte aligned at the call.
// Unwind codes included, so a walk through the probe (none is expected) would be right too.
#define PROBE_SAVE_XMM(n, off) "movaps %xmm" #n ", " #off "(%rsp)\n .seh_savexmm %xmm" #n ", " #off "\n"
#define PROBE_LOAD_XMM(n, off) "movaps " #off "(%rsp), %xmm" #n "\n"
__asm__(
    ".text\n"
    ".globl ebb_test_probe\n"
    ".def ebb_test_probe; .scl 2; .type 32; .endef\n"
    ".p2align 4\n"
    ".seh_proc ebb_test_probe\n"
    "ebb_test_probe:\n"
    "pushq %rbp\n .seh_pushreg %rbp\n"
    "pushq %rbx\n .seh_pushreg %rbx\n"
    "pushq %rdi\n .seh_pushreg %rdi\n"
    "pushq %rsi\n .seh_pushreg %rsi\n"
    "pushq %r12\n .seh_pushreg %r12\n"
    "pushq %r13\n .seh_pushreg %r13\n"
    "pushq %r14\n .seh_pushreg %r14\n"
    "pushq %r15\n .seh_pushreg %r15\n"
    "subq $216, %rsp\n .seh_stackalloc 216\n"
    PROBE_SAVE_XMM(6, 48) PROBE_SAVE_XMM(7, 64) PROBE_SAVE_XMM(8, 80) PROBE_SAVE_XMM(9, 96)
    PROBE_SAVE_XMM(10, 112) PROBE_SAVE_XMM(11, 128) PROBE_SAVE_XMM(12, 144) PROBE_SAVE_XMM(13, 160)
    PROBE_SAVE_XMM(14, 176) PROBE_SAVE_XMM(15, 192)
    ".seh_endprologue\n"
    "movq %rdx, 32(%rsp)\n"
    "movq %rcx, %rax\n"
    "movq %r8, %r11\n"
    "movq %r9, %rcx\n"
    "movq 320(%rsp), %rdx\n"      // target_sp: 216 + 8 pushes + return address + 32 home bytes
    "movq 0(%rax), %rbx\n movq 8(%rax), %rbp\n movq 16(%rax), %rdi\n movq 24(%rax), %rsi\n"
    "movq 32(%rax), %r12\n movq 40(%rax), %r13\n movq 48(%rax), %r14\n movq 56(%rax), %r15\n"
    "movups 64(%rax), %xmm6\n movups 80(%rax), %xmm7\n movups 96(%rax), %xmm8\n movups 112(%rax), %xmm9\n"
    "movups 128(%rax), %xmm10\n movups 144(%rax), %xmm11\n movups 160(%rax), %xmm12\n"
    "movups 176(%rax), %xmm13\n movups 192(%rax), %xmm14\n movups 208(%rax), %xmm15\n"
    "callq *%r11\n"
    "movq 32(%rsp), %rax\n"
    "movq %rbx, 0(%rax)\n movq %rbp, 8(%rax)\n movq %rdi, 16(%rax)\n movq %rsi, 24(%rax)\n"
    "movq %r12, 32(%rax)\n movq %r13, 40(%rax)\n movq %r14, 48(%rax)\n movq %r15, 56(%rax)\n"
    "movups %xmm6, 64(%rax)\n movups %xmm7, 80(%rax)\n movups %xmm8, 96(%rax)\n movups %xmm9, 112(%rax)\n"
    "movups %xmm10, 128(%rax)\n movups %xmm11, 144(%rax)\n movups %xmm12, 160(%rax)\n"
    "movups %xmm13, 176(%rax)\n movups %xmm14, 192(%rax)\n movups %xmm15, 208(%rax)\n"
    PROBE_LOAD_XMM(6, 48) PROBE_LOAD_XMM(7, 64) PROBE_LOAD_XMM(8, 80) PROBE_LOAD_XMM(9, 96)
    PROBE_LOAD_XMM(10, 112) PROBE_LOAD_XMM(11, 128) PROBE_LOAD_XMM(12, 144) PROBE_LOAD_XMM(13, 160)
    PROBE_LOAD_XMM(14, 176) PROBE_LOAD_XMM(15, 192)
    "addq $216, %rsp\n"
    "popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rsi\n popq %rdi\n popq %rbx\n popq %rbp\n"
    "ret\n"
    ".seh_endproc\n"
    // A fiber entry written in assembly, to see rsp exactly as fiber_start's call leaves it:
    // void ebb_test_entry_recorder(entry_record* r /*rcx*/): r->entry_rsp = rsp, then switch to
    // r->main_sp saving into r->fiber_sp; never resumed.
    ".globl ebb_test_entry_recorder\n"
    ".def ebb_test_entry_recorder; .scl 2; .type 32; .endef\n"
    ".p2align 4\n"
    ".seh_proc ebb_test_entry_recorder\n"
    "ebb_test_entry_recorder:\n"
    "subq $40, %rsp\n .seh_stackalloc 40\n"
    ".seh_endprologue\n"
    "leaq 40(%rsp), %rax\n"
    "movq %rax, (%rcx)\n"
    "movq 16(%rcx), %rdx\n"
    "leaq 8(%rcx), %rcx\n"
    "callq " EBB_X86_64_MS_SWITCH "\n"
    "ud2\n"
    ".seh_endproc\n");

// Broken copies of the switch: the real one's instructions with one piece left out (frame layout
// unchanged). r14 rather than r12/r13, which carry a new fiber's entry and argument. No unwind
// information: nothing unwinds through them.
#define BROKEN_TIB_SAVE                                                       \
  "movq %gs:0x0, %rax\n movq %gs:0x8, %r8\n movq %gs:0x10, %r9\n"             \
  "movq %gs:0x1478, %r10\n movl %gs:0x1748, %r11d\n"                          \
  "movq %rax, 16(%rsp)\n movq %r8, 24(%rsp)\n movq %r9, 32(%rsp)\n"           \
  "movq %r10, 40(%rsp)\n movq %r11, 8(%rsp)\n"
#define BROKEN_TIB_LOAD                                                       \
  "movq 16(%rsp), %rax\n movq 24(%rsp), %r8\n movq 32(%rsp), %r9\n"           \
  "movq 40(%rsp), %r10\n movl 8(%rsp), %r11d\n"                               \
  "movq %rax, %gs:0x0\n movq %r8, %gs:0x8\n movq %r9, %gs:0x10\n"             \
  "movq %r10, %gs:0x1478\n movl %r11d, %gs:0x1748\n"
#define BROKEN_SWITCH(name, pop_r14, load_xmm15, load_mxcsr, tib_save, tib_load)                   \
  ".text\n"                                                                                       \
  ".globl " name "\n"                                                                             \
  ".def " name "; .scl 2; .type 32; .endef\n"                                                     \
  ".p2align 4\n"                                                                                  \
  name ":\n"                                                                                      \
  "pushq %rbp\n pushq %rbx\n pushq %rdi\n pushq %rsi\n pushq %r12\n pushq %r13\n pushq %r14\n"     \
  "pushq %r15\n subq $216, %rsp\n"                                                                \
  "movaps %xmm6, 48(%rsp)\n movaps %xmm7, 64(%rsp)\n movaps %xmm8, 80(%rsp)\n"                    \
  "movaps %xmm9, 96(%rsp)\n movaps %xmm10, 112(%rsp)\n movaps %xmm11, 128(%rsp)\n"                \
  "movaps %xmm12, 144(%rsp)\n movaps %xmm13, 160(%rsp)\n movaps %xmm14, 176(%rsp)\n"              \
  "movaps %xmm15, 192(%rsp)\n"                                                                    \
  "stmxcsr (%rsp)\n fnstcw 4(%rsp)\n"                                                             \
  tib_save                                                                                        \
  "movq %rsp, (%rcx)\n movq %rdx, %rsp\n"                                                         \
  load_mxcsr "fldcw 4(%rsp)\n"                                                                    \
  tib_load                                                                                        \
  "movaps 48(%rsp), %xmm6\n movaps 64(%rsp), %xmm7\n movaps 80(%rsp), %xmm8\n"                    \
  "movaps 96(%rsp), %xmm9\n movaps 112(%rsp), %xmm10\n movaps 128(%rsp), %xmm11\n"                \
  "movaps 144(%rsp), %xmm12\n movaps 160(%rsp), %xmm13\n movaps 176(%rsp), %xmm14\n"              \
  load_xmm15                                                                                      \
  "addq $216, %rsp\n popq %r15\n"                                                                 \
  pop_r14                                                                                         \
  "popq %r13\n popq %r12\n popq %rsi\n popq %rdi\n popq %rbx\n popq %rbp\n ret\n"

__asm__(
    BROKEN_SWITCH("ebb_test_switch_forgets_r14", "addq $8, %rsp\n", "movaps 192(%rsp), %xmm15\n",
                  "ldmxcsr (%rsp)\n", BROKEN_TIB_SAVE, BROKEN_TIB_LOAD)
    BROKEN_SWITCH("ebb_test_switch_forgets_xmm15", "popq %r14\n", "", "ldmxcsr (%rsp)\n", BROKEN_TIB_SAVE,
                  BROKEN_TIB_LOAD)
    BROKEN_SWITCH("ebb_test_switch_forgets_mxcsr", "popq %r14\n", "movaps 192(%rsp), %xmm15\n", "",
                  BROKEN_TIB_SAVE, BROKEN_TIB_LOAD)
    BROKEN_SWITCH("ebb_test_switch_skips_tib", "popq %r14\n", "movaps 192(%rsp), %xmm15\n",
                  "ldmxcsr (%rsp)\n", "", ""));

extern "C" {
void ebb_test_probe(const word* in, word* out, switch_routine routine, void** save_sp, void* target_sp);
void ebb_test_entry_recorder(void* record);
void ebb_test_switch_forgets_r14(void**, void*);
void ebb_test_switch_forgets_xmm15(void**, void*);
void ebb_test_switch_forgets_mxcsr(void**, void*);
void ebb_test_switch_skips_tib(void**, void*);
}

namespace {

// ==== the TEB, read the way the switch does, and cross-checked with the OS ============================
struct tib_view {
  word exception_list, stack_base, stack_limit, deallocation, fiber_data;
  std::uint32_t guaranteed;
  bool operator==(const tib_view& o) const {
    return exception_list == o.exception_list && stack_base == o.stack_base && stack_limit == o.stack_limit &&
           deallocation == o.deallocation && fiber_data == o.fiber_data && guaranteed == o.guaranteed;
  }
};
// gs-relative reads and writes (winnt.h's __readgsqword & co. draw -Warray-bounds from GCC 12).
inline word teb_qword(unsigned long offset) {
  word v;
  __asm__ volatile("movq %%gs:(%1), %0" : "=r"(v) : "r"(offset) : "memory");
  return v;
}
inline std::uint32_t teb_dword(unsigned long offset) {
  std::uint32_t v;
  __asm__ volatile("movl %%gs:(%1), %0" : "=r"(v) : "r"(offset) : "memory");
  return v;
}
inline void set_teb_qword(unsigned long offset, word v) {
  __asm__ volatile("movq %0, %%gs:(%1)" : : "r"(v), "r"(offset) : "memory");
}
inline void set_teb_dword(unsigned long offset, std::uint32_t v) {
  __asm__ volatile("movl %0, %%gs:(%1)" : : "r"(v), "r"(offset) : "memory");
}
__attribute__((noinline)) tib_view read_tib() {
  tib_view t;
  t.exception_list = teb_qword(EBB_WIN64_TEB_EXCEPTION_LIST);
  t.stack_base = teb_qword(EBB_WIN64_TEB_STACK_BASE);
  t.stack_limit = teb_qword(EBB_WIN64_TEB_STACK_LIMIT);
  t.deallocation = teb_qword(EBB_WIN64_TEB_DEALLOCATION_STACK);
  t.fiber_data = teb_qword(EBB_WIN64_TEB_FIBER_DATA);
  t.guaranteed = teb_dword(EBB_WIN64_TEB_GUARANTEED_STACK_BYTES);
  return t;
}
std::string describe(const tib_view& t) {
  return "ExceptionList " + hex(t.exception_list) + " StackBase " + hex(t.stack_base) + " StackLimit " +
         hex(t.stack_limit) + " DeallocationStack " + hex(t.deallocation) + " FiberData " + hex(t.fiber_data) +
         " GuaranteedStackBytes " + hex(t.guaranteed);
}
// Which fields differ, by name (what a report names).
std::string differing(const tib_view& want, const tib_view& got) {
  std::string names;
  if (want.exception_list != got.exception_list) names += "ExceptionList ";
  if (want.stack_base != got.stack_base) names += "StackBase ";
  if (want.stack_limit != got.stack_limit) names += "StackLimit ";
  if (want.deallocation != got.deallocation) names += "DeallocationStack ";
  if (want.fiber_data != got.fiber_data) names += "FiberData ";
  if (want.guaranteed != got.guaranteed) names += "GuaranteedStackBytes ";
  return names;
}
// The same fields through the OS's own accessors (NT_TIB from winnt.h; GetCurrentThreadStackLimits
// returns DeallocationStack and StackBase): equal when the raw offsets are right.
bool os_agrees(const tib_view& t) {
  // NtCurrentTeb() is gs:[0x30], NT_TIB::Self (read directly: winnt.h's inline version draws
  // -Warray-bounds from GCC 12).
  const NT_TIB* tib = reinterpret_cast<const NT_TIB*>(teb_qword(offsetof(NT_TIB, Self)));
  ULONG_PTR low = 0, high = 0;
  GetCurrentThreadStackLimits(&low, &high);
  return reinterpret_cast<word>(tib->ExceptionList) == t.exception_list &&
         reinterpret_cast<word>(tib->StackBase) == t.stack_base &&
         reinterpret_cast<word>(tib->StackLimit) == t.stack_limit &&
         reinterpret_cast<word>(tib->FiberData) == t.fiber_data && low == t.deallocation && high == t.stack_base;
}

// ==== stacks ======================================================================================
// A stack reserved with VirtualAlloc, its top `committed` bytes committed, described to the fiber's
// TIB as Windows describes a thread's stack.
class vm_stack {
 public:
  vm_stack(std::size_t reserve, std::size_t committed) : reserve_(reserve) {
    base_ = static_cast<char*>(VirtualAlloc(nullptr, reserve, MEM_RESERVE, PAGE_NOACCESS));
    if (!base_ || !VirtualAlloc(base_ + reserve - committed, committed, MEM_COMMIT, PAGE_READWRITE)) {
      std::printf("VirtualAlloc failed: %lu\n", GetLastError());
      std::exit(2);
    }
    limit_ = base_ + reserve - committed;
  }
  ~vm_stack() { VirtualFree(base_, 0, MEM_RELEASE); }
  vm_stack(const vm_stack&) = delete;
  vm_stack& operator=(const vm_stack&) = delete;
  void* top() const { return base_ + reserve_; }
  arch::tib_stack_bounds bounds(std::uint32_t guaranteed = 0) const {
    arch::tib_stack_bounds b;
    b.limit = limit_;
    b.deallocation = base_;
    b.guaranteed_bytes = guaranteed;
    return b;
  }

 private:
  char* base_ = nullptr;
  char* limit_ = nullptr;
  std::size_t reserve_;
};

// A committed heap block (what the contract's three-argument make_initial_frame is for).
class heap_stack {
 public:
  explicit heap_stack(std::size_t bytes) : memory_(new unsigned char[bytes]), bytes_(bytes) {}
  void* top() const {
    auto end = reinterpret_cast<std::uintptr_t>(memory_.get() + bytes_);
    return reinterpret_cast<void*>(end & ~std::uintptr_t{15});
  }

 private:
  std::unique_ptr<unsigned char[]> memory_;
  std::size_t bytes_;
};

// ==== (registers, FP control, TIB) through the probe ===============================================
constexpr std::size_t general_count = 8;
constexpr std::size_t probe_words = general_count + 2 * 10;
using register_values = std::array<word, probe_words>;
const char* const general_names[general_count] = {"rbx", "rbp", "rdi", "rsi", "r12", "r13", "r14", "r15"};
std::string register_name(std::size_t i) {
  if (i < general_count) return general_names[i];
  const std::size_t x = (i - general_count) / 2;
  return "xmm" + std::to_string(6 + x) + ((i - general_count) % 2 ? "[127:64]" : "[63:0]");
}
register_values pattern(word side, word round) {
  register_values v{};
  for (std::size_t i = 0; i < probe_words; ++i) v[i] = (side << 60) + (round << 16) + (i + 1);
  return v;
}

struct fp_control {
  std::uint32_t mxcsr;
  std::uint16_t x87;
  bool operator==(const fp_control& o) const { return mxcsr == o.mxcsr && x87 == o.x87; }
};
fp_control read_fp_control() {
  fp_control c{};
  __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(c.mxcsr), "=m"(c.x87));
  return c;
}
void write_fp_control(const fp_control& c) { __asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(c.mxcsr), "m"(c.x87)); }
std::string differing(const fp_control& want, const fp_control& got) {
  std::string names;
  if (want.mxcsr != got.mxcsr) names += "MXCSR ";
  if (want.x87 != got.x87) names += "x87-control-word ";
  return names;
}
constexpr fp_control setting_a{0x1f80u | 0x2000u, 0x027fu | 0x0800u};  // SSE down, x87 up
constexpr fp_control setting_b{0x1f80u | 0x4000u, 0x027fu | 0x0c00u};  // SSE up, x87 toward zero

struct session {
  switch_routine routine = nullptr;
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  register_values fiber_in{}, fiber_out{}, fiber_last{}, scratch{};
  fp_control fiber_control_at_start{}, fiber_control_after{};
  tib_view fiber_tib_at_start{}, fiber_tib_set{}, fiber_tib_after{};
  bool fiber_os_agrees = false;
};

void harness_fiber(void* arg) {
  auto* s = static_cast<session*>(arg);
  s->fiber_control_at_start = read_fp_control();
  s->fiber_tib_at_start = read_tib();
  s->fiber_os_agrees = os_agrees(s->fiber_tib_at_start);
  write_fp_control(setting_b);
  // Values of the fiber's own, as the OS would leave them after growing the stack by a page and after
  // SetThreadStackGuarantee: they must be the fiber's again after a round trip through main.
  s->fiber_tib_set = s->fiber_tib_at_start;
  s->fiber_tib_set.stack_limit = s->fiber_tib_at_start.stack_limit + 4096;
  s->fiber_tib_set.guaranteed = 0x3000;
  set_teb_qword(EBB_WIN64_TEB_STACK_LIMIT, s->fiber_tib_set.stack_limit);
  set_teb_dword(EBB_WIN64_TEB_GUARANTEED_STACK_BYTES, s->fiber_tib_set.guaranteed);
  ebb_test_probe(s->fiber_in.data(), s->fiber_out.data(), s->routine, &s->fiber_sp, s->main_sp);
  s->fiber_control_after = read_fp_control();
  s->fiber_tib_after = read_tib();
  s->fiber_last = pattern(3, 3);
  ebb_test_probe(s->fiber_last.data(), s->scratch.data(), s->routine, &s->fiber_sp, s->main_sp);
  std::abort();  // never resumed
}

// One line per defect seen with `routine` as the switch; empty when it keeps the contract.
std::vector<std::string> check_switch_routine(switch_routine routine) {
  std::vector<std::string> defects;
  vm_stack stack(256 * 1024, 64 * 1024);
  session s;
  s.routine = routine;
  s.fiber_in = pattern(2, 1);
  const fp_control original = read_fp_control();
  const tib_view main_tib = read_tib();
  tib_view fiber_want = main_tib;
  fiber_want.exception_list = ~word{0};
  fiber_want.stack_base = reinterpret_cast<word>(stack.top());
  fiber_want.stack_limit = reinterpret_cast<word>(stack.bounds().limit);
  fiber_want.deallocation = reinterpret_cast<word>(stack.bounds().deallocation);
  fiber_want.guaranteed = 0x2000;

  s.fiber_sp = arch::make_initial_frame_with_tib(stack.top(), &harness_fiber, &s, stack.bounds(0x2000));
  write_fp_control(setting_a);
  register_values main_in = pattern(1, 1), main_out{};
  ebb_test_probe(main_in.data(), main_out.data(), routine, &s.main_sp, s.fiber_sp);
  const fp_control main_after_first = read_fp_control();
  const tib_view main_tib_first = read_tib();
  register_values main_in2 = pattern(1, 2), main_out2{};
  ebb_test_probe(main_in2.data(), main_out2.data(), routine, &s.main_sp, s.fiber_sp);
  const fp_control main_after_second = read_fp_control();
  const tib_view main_tib_second = read_tib();
  write_fp_control(original);
  // A broken routine may have left the fiber's TIB values in the thread's TEB: put the thread's back.
  set_teb_qword(EBB_WIN64_TEB_EXCEPTION_LIST, main_tib.exception_list);
  set_teb_qword(EBB_WIN64_TEB_STACK_BASE, main_tib.stack_base);
  set_teb_qword(EBB_WIN64_TEB_STACK_LIMIT, main_tib.stack_limit);
  set_teb_qword(EBB_WIN64_TEB_DEALLOCATION_STACK, main_tib.deallocation);
  set_teb_dword(EBB_WIN64_TEB_GUARANTEED_STACK_BYTES, main_tib.guaranteed);

  for (std::size_t i = 0; i < probe_words; ++i) {
    if (main_out[i] != main_in[i]) defects.push_back(register_name(i) + " not preserved for the resumer (first return)");
    if (main_out2[i] != main_in2[i])
      defects.push_back(register_name(i) + " not preserved for the resumer (second return)");
    if (s.fiber_out[i] != s.fiber_in[i]) defects.push_back(register_name(i) + " not preserved for the suspended fiber");
  }
  auto control = [&](const char* when, const fp_control& want, const fp_control& got) {
    if (!(want == got)) defects.push_back("FP control " + differing(want, got) + "wrong " + when);
  };
  control("at the fiber's start", original, s.fiber_control_at_start);
  control("in main after the fiber set its own", setting_a, main_after_first);
  control("in the fiber after main ran with its own", setting_b, s.fiber_control_after);
  control("in main after the second round", setting_a, main_after_second);
  auto tib = [&](const char* when, const tib_view& want, const tib_view& got) {
    if (!(want == got)) defects.push_back("TIB " + differing(want, got) + "wrong " + when + ": got " + describe(got));
  };
  tib("in the new fiber", fiber_want, s.fiber_tib_at_start);
  tib("in main after the first return", main_tib, main_tib_first);
  tib("in the fiber after a round trip (its own changed values)", s.fiber_tib_set, s.fiber_tib_after);
  tib("in main after the second return", main_tib, main_tib_second);
  if (!s.fiber_os_agrees) defects.push_back("TIB the OS's accessors disagree with the raw reads in the fiber");
  return defects;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& line : lines) all += (all.empty() ? "" : "; ") + line;
  return all;
}

// ==== exceptions ==================================================================================
struct depth_error {
  int depth;
};
int destructors_run = 0;
struct counted {
  ~counted() { ++destructors_run; }
};
__attribute__((noinline)) void throw_from_depth(int depth) {
  counted c;
  if (depth == 0) throw depth_error{depth};
  throw_from_depth(depth - 1);
  __asm__ volatile("" ::: "memory");  // not a tail call
}

struct exception_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  bool simple = false, nested = false, after_round_trip = false, on_own_stack = false;
  int nested_destructors = 0;
};
void exception_fiber(void* arg) {
  auto* s = static_cast<exception_session*>(arg);
  try {
    throw std::runtime_error("inside a fiber");
  } catch (const std::exception& e) {
    s->simple = std::strcmp(e.what(), "inside a fiber") == 0;
  }
  destructors_run = 0;
  try {
    throw_from_depth(7);  // eight frames, each with a destructor
  } catch (const depth_error& e) {
    s->nested = e.depth == 0;
    s->nested_destructors = destructors_run;
    // The catch runs on the fiber's stack, inside the TIB's bounds.
    const word sp = reinterpret_cast<word>(arch::stack_pointer());
    s->on_own_stack = sp < teb_qword(EBB_WIN64_TEB_STACK_BASE) && sp >= teb_qword(EBB_WIN64_TEB_STACK_LIMIT);
  }
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);
  try {
    throw_from_depth(3);
  } catch (const depth_error&) {
    s->after_round_trip = true;
  }
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);
  std::abort();
}
void run_exception_session(const char* where, void* top, const arch::tib_stack_bounds* bounds) {
  exception_session s;
  s.fiber_sp = bounds ? arch::make_initial_frame_with_tib(top, &exception_fiber, &s, *bounds)
                      : arch::make_initial_frame(top, &exception_fiber, &s);
  const tib_view before = read_tib();
  arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
  bool main_ok = false;
  try {
    throw std::logic_error("in main between the fiber's throws");
  } catch (const std::logic_error&) {
    main_ok = true;
  }
  arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
  const tib_view after = read_tib();
  const std::string on = std::string(" (") + where + ")";
  check(s.simple, "exceptions", "thrown and caught inside a fiber" + on);
  check(s.nested && s.nested_destructors == 8,
        "exceptions", "thrown through 8 frames, caught at the fiber's entry, 8 destructors ran (" +
                          std::to_string(s.nested_destructors) + ")" + on);
  check(s.on_own_stack, "exceptions", "the catch block ran on the fiber's stack, inside its TIB bounds" + on);
  check(main_ok, "exceptions", "thrown and caught in main while the fiber is suspended" + on);
  check(s.after_round_trip, "exceptions", "thrown and caught in the fiber after a round trip" + on);
  check(before == after, "tib", "the thread's TIB is back after the exception fiber" + on);
}

// ==== unwinding ===================================================================================
struct walk_result {
  int frames = 0;
  bool all_have_unwind_info = true;
  bool last_is_trampoline = false;
  word final_rip = 1, final_rsp = 0;
};
// Walk with RtlLookupFunctionEntry + RtlVirtualUnwind from here to the end, as debuggers do.
__attribute__((noinline)) void virtual_unwind_walk(walk_result& r) {
  CONTEXT context;
  RtlCaptureContext(&context);
  const word trampoline = reinterpret_cast<word>(&arch::ebb_fiber_start);
  while (context.Rip != 0 && r.frames < 256) {
    DWORD64 image_base = 0;
    PRUNTIME_FUNCTION function = RtlLookupFunctionEntry(context.Rip, &image_base, nullptr);
    ++r.frames;
    if (!function) {
      r.all_have_unwind_info = false;
      context.Rip = *reinterpret_cast<DWORD64*>(context.Rsp);  // a leaf, as the OS would take it
      context.Rsp += 8;
      continue;
    }
    r.last_is_trampoline = image_base + function->BeginAddress == trampoline;
    void* handler_data = nullptr;
    DWORD64 establisher = 0;
    RtlVirtualUnwind(UNW_FLAG_NHANDLER, image_base, context.Rip, function, &context, &handler_data, &establisher,
                     nullptr);
  }
  r.final_rip = context.Rip;
  r.final_rsp = context.Rsp;
  __asm__ volatile("" ::: "memory");
}

struct gcc_trace {
  std::vector<word> ips;
};
_Unwind_Reason_Code collect(_Unwind_Context* context, void* arg) {
  auto* t = static_cast<gcc_trace*>(arg);
  if (t->ips.size() >= 256) return _URC_NORMAL_STOP;
  t->ips.push_back(static_cast<word>(_Unwind_GetIP(context)));
  return _URC_NO_REASON;
}

struct unwind_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  word top = 0;
  walk_result walk;
  USHORT captured = 0;
  void* captured_frames[128] = {};
  _Unwind_Reason_Code gcc_code = _URC_NO_REASON;
  gcc_trace gcc;
};
constexpr int unwind_depth = 12;
__attribute__((noinline)) void recurse_then_walk(int depth, unwind_session& s) {
  if (depth == 0) {
    virtual_unwind_walk(s.walk);
    s.captured = RtlCaptureStackBackTrace(0, 128, s.captured_frames, nullptr);
    s.gcc_code = _Unwind_Backtrace(&collect, &s.gcc);
  } else {
    recurse_then_walk(depth - 1, s);
  }
  __asm__ volatile("" ::: "memory");  // not a tail call
}
void unwind_fiber(void* arg) {
  auto* s = static_cast<unwind_session*>(arg);
  recurse_then_walk(unwind_depth, *s);
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);
  std::abort();
}
bool inside_trampoline(word ip) {
  DWORD64 image_base = 0;
  PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(ip, &image_base, nullptr);
  return f && image_base + f->BeginAddress == reinterpret_cast<word>(&arch::ebb_fiber_start);
}

void check_walks_from_a_fiber() {
  vm_stack stack(256 * 1024, 64 * 1024);
  unwind_session s;
  s.top = reinterpret_cast<word>(stack.top());
  s.fiber_sp = arch::make_initial_frame_with_tib(stack.top(), &unwind_fiber, &s, stack.bounds());
  arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
  const walk_result& w = s.walk;
  check(w.all_have_unwind_info, "unwind", "RtlVirtualUnwind walk: every frame has unwind information (" +
                                              std::to_string(w.frames) + " frames)");
  check(w.frames >= unwind_depth + 3 && w.frames <= unwind_depth + 8, "unwind",
        "RtlVirtualUnwind walk: bounded, " + std::to_string(w.frames) + " frames for depth " +
            std::to_string(unwind_depth));
  check(w.last_is_trampoline, "unwind", "RtlVirtualUnwind walk: the outermost frame is ebb's fiber_start");
  check(w.final_rip == 0 && w.final_rsp == s.top, "unwind",
        "RtlVirtualUnwind walk ends with return address 0 at rsp == StackBase (rip " + hex(w.final_rip) +
            ", rsp - top " + std::to_string(static_cast<long long>(w.final_rsp - s.top)) + ")");
  bool captured_ok = s.captured >= unwind_depth + 2 && s.captured < 128;
  for (USHORT i = 0; i < s.captured; ++i) captured_ok = captured_ok && s.captured_frames[i] != nullptr;
  check(captured_ok && inside_trampoline(reinterpret_cast<word>(s.captured_frames[s.captured - 1])), "unwind",
        "RtlCaptureStackBackTrace: " + std::to_string(s.captured) + " frames, the last in fiber_start");
  std::vector<word> ips = s.gcc.ips;
  while (!ips.empty() && ips.back() == 0) ips.pop_back();
  bool gcc_ok = s.gcc_code == _URC_END_OF_STACK && ips.size() >= unwind_depth + 2 && ips.size() < 256;
  bool gcc_last = false;
  for (word ip : ips) {
    DWORD64 image_base = 0;
    gcc_ok = gcc_ok && RtlLookupFunctionEntry(ip, &image_base, nullptr) != nullptr;
  }
  if (!ips.empty()) gcc_last = inside_trampoline(ips.back());
  check(gcc_ok && gcc_last, "unwind",
        "_Unwind_Backtrace: code " + std::to_string(static_cast<int>(s.gcc_code)) + " (END_OF_STACK = " +
            std::to_string(static_cast<int>(_URC_END_OF_STACK)) + "), " + std::to_string(ips.size()) +
            " frames, the last in fiber_start");
}

// The unwind codes of a routine, as the prologue left them: (end offset of the instruction, bytes it
// moved rsp by).
struct prologue_step {
  unsigned offset;
  unsigned rsp_delta;
};
std::vector<prologue_step> prologue_steps(const RUNTIME_FUNCTION* f, DWORD64 image_base, unsigned* prolog_size) {
  const auto* info = reinterpret_cast<const unsigned char*>(image_base + f->UnwindData);
  *prolog_size = info[1];
  const unsigned count = info[2];
  const auto* codes = info + 4;
  std::vector<prologue_step> steps;  // codes are listed last instruction first
  for (unsigned i = 0; i < count;) {
    const unsigned offset = codes[2 * i], op = codes[2 * i + 1] & 15, op_info = codes[2 * i + 1] >> 4;
    switch (op) {
      case 0:  // UWOP_PUSH_NONVOL
        steps.push_back({offset, 8});
        i += 1;
        break;
      case 1:  // UWOP_ALLOC_LARGE
        if (op_info == 0) {
          steps.push_back({offset, 8u * (codes[2 * i + 2] | (codes[2 * i + 3] << 8))});
          i += 2;
        } else {
          std::uint32_t bytes;
          std::memcpy(&bytes, codes + 2 * i + 2, 4);
          steps.push_back({offset, bytes});
          i += 3;
        }
        break;
      case 2:  // UWOP_ALLOC_SMALL
        steps.push_back({offset, 8u * op_info + 8});
        i += 1;
        break;
      case 8:  // UWOP_SAVE_XMM128
        steps.push_back({offset, 0});
        i += 2;
        break;
      default:
        steps.push_back({offset, 0xffffffffu});  // not expected in the switch
        i += 1;
        break;
    }
  }
  return {steps.rbegin(), steps.rend()};
}

// A suspended fiber's switch frame, unwound as if the thread had been interrupted at `rip` with rsp =
// frame + `rsp_offset`: the result must be the fiber's resume address and stack pointer, with every
// callee-saved register found in its frame slot.
// `saved`: whether the registers are still in the frame for the unwinder at that point (in the
// prologue, those already pushed; in the body, all; in the return region, none: it has restored them).
enum class saved_registers { pushed_so_far, all, none };
bool unwinds_to_resume(word rip, word frame, word rsp_offset, saved_registers saved, std::string& why) {
  DWORD64 image_base = 0;
  PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(rip, &image_base, nullptr);
  if (!f) {
    why = "no function entry";
    return false;
  }
  // The registers as they are at that instruction: before its push, each still holds the value it is
  // about to push; after its pop, the value popped. Either way, its frame slot's value.
  const auto value_at = [&](std::size_t offset) { return *reinterpret_cast<word*>(frame + offset); };
  CONTEXT context{};
  context.Rbx = value_at(EBB_X86_64_MS_FRAME_RBX);
  context.Rbp = value_at(EBB_X86_64_MS_FRAME_RBP);
  context.Rsi = value_at(EBB_X86_64_MS_FRAME_RSI);
  context.Rdi = value_at(EBB_X86_64_MS_FRAME_RDI);
  context.R12 = value_at(EBB_X86_64_MS_FRAME_R12);
  context.R13 = value_at(EBB_X86_64_MS_FRAME_R13);
  context.R14 = value_at(EBB_X86_64_MS_FRAME_R14);
  context.R15 = value_at(EBB_X86_64_MS_FRAME_R15);
  context.R10 = frame + arch::frame_return_offset;  // what the return region's frame register holds
  context.Rip = rip;
  context.Rsp = frame + rsp_offset;
  KNONVOLATILE_CONTEXT_POINTERS where{};
  void* handler_data = nullptr;
  DWORD64 establisher = 0;
  RtlVirtualUnwind(UNW_FLAG_NHANDLER, image_base, rip, f, &context, &handler_data, &establisher, &where);
  const auto slot = [&](std::size_t offset) { return frame + offset; };
  bool ok = context.Rip == *reinterpret_cast<word*>(slot(arch::frame_return_offset)) &&
            context.Rsp == frame + arch::initial_frame_bytes;
  if (!ok) why = "rip " + hex(context.Rip) + " rsp - frame " + std::to_string(context.Rsp - frame);
  // Every general register the frame layout names: its value from its slot (and, once the prologue has
  // saved it, the unwinder's pointer to it is that slot).
  for (const auto& s : arch::frame_slots) {
    if (s.kind != EBB_FRAME_SLOT_REGISTER) continue;
    const word want = *reinterpret_cast<word*>(slot(s.offset));
    const std::string name = s.name;
    // KNONVOLATILE_CONTEXT_POINTERS as MinGW declares it: IntegerContext[] in register-number order.
    word got = 0;
    int number = -1;
    if (name == "rbx") got = context.Rbx, number = 3;
    if (name == "rbp") got = context.Rbp, number = 5;
    if (name == "rsi") got = context.Rsi, number = 6;
    if (name == "rdi") got = context.Rdi, number = 7;
    if (name == "r12") got = context.R12, number = 12;
    if (name == "r13") got = context.R13, number = 13;
    if (name == "r14") got = context.R14, number = 14;
    if (name == "r15") got = context.R15, number = 15;
    const ULONG64* pointer = number >= 0 ? where.IntegerContext[number] : nullptr;
    // Where the unwinder says it found the register: its slot while the frame holds it for the unwinder,
    // nowhere otherwise.
    const bool on_stack = saved == saved_registers::all ||
                          (saved == saved_registers::pushed_so_far && s.offset >= rsp_offset);
    const bool pointer_ok = on_stack ? reinterpret_cast<word>(pointer) == slot(s.offset) : pointer == nullptr;
    if (got != want || !pointer_ok) {
      ok = false;
      why += " " + name + " wrong";
    }
  }
  return ok;
}

struct frame_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
};
void frame_fiber(void* arg) {
  auto* s = static_cast<frame_session*>(arg);
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);
  std::abort();
}

void check_switch_frame_unwinds_everywhere() {
  // A fiber suspended inside the switch: its frame holds what the switch pushed and stored.
  vm_stack stack(64 * 1024, 64 * 1024);
  frame_session s;
  s.fiber_sp = arch::make_initial_frame_with_tib(stack.top(), &frame_fiber, &s, stack.bounds());
  arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
  const word frame = reinterpret_cast<word>(s.fiber_sp);
  const word begin = reinterpret_cast<word>(&arch::ebb_switch_context);

  DWORD64 image_base = 0;
  PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(begin, &image_base, nullptr);
  check(f != nullptr && image_base + f->BeginAddress == begin, "unwind", "the switch has a RUNTIME_FUNCTION");
  if (!f) return;
  unsigned prolog_size = 0;
  const std::vector<prologue_step> steps = prologue_steps(f, image_base, &prolog_size);

  // The xmm locations the unwind codes give, against the frame layout's slots.
  {
    CONTEXT context{};
    context.Rip = begin + prolog_size;
    context.Rsp = frame;
    KNONVOLATILE_CONTEXT_POINTERS where{};
    void* handler_data = nullptr;
    DWORD64 establisher = 0;
    RtlVirtualUnwind(UNW_FLAG_NHANDLER, image_base, context.Rip, f, &context, &handler_data, &establisher, &where);
    bool xmm_ok = true;
    for (const auto& slot : arch::frame_slots) {
      const std::string name = slot.name;
      if (name.rfind("xmm", 0) != 0) continue;
      const int n = std::atoi(name.c_str() + 3);
      xmm_ok = xmm_ok && reinterpret_cast<word>(where.FloatingContext[n]) == frame + slot.offset;
    }
    check(xmm_ok, "unwind", "the unwind codes put xmm6-xmm15 where the frame layout says");
  }

  // Every prologue instruction boundary (the codes' offsets), the body, and every instruction of the
  // return region (the second RUNTIME_FUNCTION, right after the first).
  int points = 0, good = 0;
  std::string bad;
  auto at = [&](word rip, word rsp_offset, saved_registers saved, const char* where_in) {
    std::string why;
    ++points;
    if (unwinds_to_resume(rip, frame, rsp_offset, saved, why))
      ++good;
    else
      bad += std::string(" [") + where_in + " +" + std::to_string(rip - begin) + ": " + why + "]";
  };
  word pushed = 0;
  at(begin, arch::frame_return_offset, saved_registers::pushed_so_far, "entry");
  for (const auto& step : steps) {
    pushed += step.rsp_delta;
    at(begin + step.offset, arch::frame_return_offset - pushed, saved_registers::pushed_so_far, "prologue");
  }
  at(begin + prolog_size, 0, saved_registers::all, "body");
  at(image_base + f->EndAddress - 8, 0, saved_registers::all, "body, lea r10");  // lea 280(%rsp), %r10
  // The return region: mov (%r10), %r11 (4d 8b 1a); lea 288(%rsp), %rsp (48 8d a4 24 imm32); jmp *%r11.
  const word tail = image_base + f->EndAddress;
  DWORD64 tail_base = 0;
  PRUNTIME_FUNCTION tail_function = RtlLookupFunctionEntry(tail, &tail_base, nullptr);
  const auto* code = reinterpret_cast<const unsigned char*>(tail);
  const bool tail_as_expected = tail_function && tail_base + tail_function->BeginAddress == tail &&
                                code[0] == 0x4d && code[1] == 0x8b && code[2] == 0x1a && code[3] == 0x48 &&
                                code[4] == 0x8d && code[5] == 0xa4 && code[11] == 0x41 && code[12] == 0xff &&
                                code[13] == 0xe3;
  check(tail_as_expected, "unwind", "the switch returns through its own unwind region: mov (%r10),%r11; lea; jmp *%r11");
  if (tail_as_expected) {
    at(tail, 0, saved_registers::none, "return");
    at(tail + 3, 0, saved_registers::none, "return");
    at(tail + 11, arch::initial_frame_bytes, saved_registers::none, "return, jmp");
  }
  check(good == points, "unwind",
        "a suspended switch frame unwinds to its resume address at " + std::to_string(good) + "/" +
            std::to_string(points) + " instruction boundaries (entry, prologue, body, return region)" + bad);
}

// ==== alignment, home space and the outermost frame =================================================
struct entry_record {
  word entry_rsp = 0;
  void* fiber_sp = nullptr;
  void* main_sp = nullptr;
};
bool aligned_vector_store() {
  alignas(16) unsigned char slot[16];
  __asm__ volatile("xorps %%xmm0, %%xmm0\n\tmovaps %%xmm0, %0" : "=m"(slot) : : "xmm0");
  return reinterpret_cast<std::uintptr_t>(slot) % 16 == 0 && slot[0] == 0;
}
struct compiled_entry_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  bool store_ok = false;
  word home[4] = {};
};
// Compiled code in the entry: at -O0 GCC spills the argument into the home space.
void compiled_entry(void* arg) {
  auto* s = static_cast<compiled_entry_session*>(arg);
  s->store_ok = aligned_vector_store();
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);
  std::abort();
}
void check_alignment() {
  heap_stack stack(64 * 1024);
  entry_record r;
  r.fiber_sp = arch::make_initial_frame(stack.top(), &ebb_test_entry_recorder, &r);
  arch::ebb_switch_context(&r.main_sp, r.fiber_sp);
  const word top = reinterpret_cast<word>(stack.top());
  check((r.entry_rsp + 8) % 16 == 0, "alignment",
        "the entry function is entered with rsp + 8 16-byte aligned (rsp = top - " + std::to_string(top - r.entry_rsp) +
            ")");
  check(r.entry_rsp + 8 + 32 <= top - arch::outermost_frame_bytes, "alignment",
        "its 32-byte home space lies below the outermost frame");

  heap_stack stack2(64 * 1024);
  compiled_entry_session s;
  s.fiber_sp = arch::make_initial_frame(stack2.top(), &compiled_entry, &s);
  arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
  const word* outer = reinterpret_cast<const word*>(static_cast<char*>(stack2.top()) - arch::outermost_frame_bytes);
  check(s.store_ok, "alignment", "movaps to a 16-byte aligned local in a fiber works");
  check(outer[0] == 0 && outer[1] == 0, "alignment",
        "the outermost frame (zero rbp, zero return address) is intact after the entry ran");
}

// ==== Windows fibers and ebb fibers together =======================================================
// Supported: ebb fibers run inside a Windows fiber (a job system on Windows fibers using ebb inside one
// of them). The ebb fiber sees that Windows fiber as FiberData (not swapped), and the Windows fiber
// finds its own TIB again when the ebb fiber switches back.
// Not supported, and shown here as what it is: SwitchToFiber called on an ebb fiber's stack. Windows
// fibers keep StackBase and DeallocationStack as they were made (wine 8's SwitchToFiber saves only
// ExceptionList, StackLimit and the FLS/activation-context state of the fiber it leaves); so when the
// thread's Windows fiber is switched back to, the ebb fiber continues with the Windows fiber's
// StackBase and DeallocationStack over its own stack, and the next throw there ends in "Exception frame
// is not in stack limits". The probe below does not throw after it; it reports what the TIB holds.
struct windows_fiber_session {
  void* main_sp = nullptr;       // the ebb context that started the ebb fiber (inside a Windows fiber)
  void* fiber_sp = nullptr;
  void* thread_fiber = nullptr;
  void* windows_fiber = nullptr;
  word ebb_top = 0;
  tib_view windows_fiber_own{}, windows_fiber_after{};
  bool fiber_data_is_windows_fiber = false, caught_in_ebb_fiber = false;
  word base_after_switch_to_fiber = 0;
};
windows_fiber_session* wf_session = nullptr;

void ebb_fiber_inside_windows_fiber(void* arg) {
  auto* s = static_cast<windows_fiber_session*>(arg);
  s->fiber_data_is_windows_fiber = GetCurrentFiber() == s->windows_fiber;
  try {
    throw_from_depth(2);
  } catch (const depth_error&) {
    s->caught_in_ebb_fiber = true;
  }
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);
  std::abort();
}
void CALLBACK windows_fiber_running_ebb(void*) {
  windows_fiber_session* s = wf_session;
  s->windows_fiber_own = read_tib();
  vm_stack stack(256 * 1024, 64 * 1024);
  s->ebb_top = reinterpret_cast<word>(stack.top());
  s->fiber_sp = arch::make_initial_frame_with_tib(stack.top(), &ebb_fiber_inside_windows_fiber, s, stack.bounds());
  arch::ebb_switch_context(&s->main_sp, s->fiber_sp);
  s->windows_fiber_after = read_tib();
  SwitchToFiber(s->thread_fiber);
  std::abort();  // never switched back to
}

struct nesting_probe {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  void* thread_fiber = nullptr;
  void* windows_fiber = nullptr;
  word base_after = 0, deallocation_after = 0;
};
nesting_probe* np_session = nullptr;
void CALLBACK windows_fiber_switch_back(void*) {
  for (;;) SwitchToFiber(np_session->thread_fiber);
}
void ebb_fiber_calling_switch_to_fiber(void* arg) {
  auto* s = static_cast<nesting_probe*>(arg);
  SwitchToFiber(s->windows_fiber);
  s->base_after = teb_qword(EBB_WIN64_TEB_STACK_BASE);
  s->deallocation_after = teb_qword(EBB_WIN64_TEB_DEALLOCATION_STACK);
  arch::ebb_switch_context(&s->fiber_sp, s->main_sp);  // restores main's TIB from main's frame
  std::abort();
}

void check_windows_fibers() {
  windows_fiber_session s;
  wf_session = &s;
  const tib_view thread_tib = read_tib();
  s.thread_fiber = ConvertThreadToFiber(nullptr);
  s.windows_fiber = CreateFiber(256 * 1024, &windows_fiber_running_ebb, nullptr);
  if (!s.thread_fiber || !s.windows_fiber) {
    check(false, "win-fibers", "ConvertThreadToFiber / CreateFiber failed");
    return;
  }
  SwitchToFiber(s.windows_fiber);
  check(s.fiber_data_is_windows_fiber, "win-fibers",
        "an ebb fiber inside a Windows fiber sees it as FiberData (GetCurrentFiber; not swapped)");
  check(s.caught_in_ebb_fiber, "win-fibers", "exceptions work in an ebb fiber inside a Windows fiber");
  check(s.windows_fiber_own == s.windows_fiber_after && s.windows_fiber_own.stack_base != thread_tib.stack_base,
        "win-fibers", "the Windows fiber finds its own TIB again after the ebb fiber switched back");
  tib_view back = read_tib();
  back.fiber_data = thread_tib.fiber_data;  // ConvertThreadToFiber set it
  check(back == thread_tib, "win-fibers", "the thread's TIB is back after SwitchToFiber to the thread");
  DeleteFiber(s.windows_fiber);

  // The unsupported case, probed.
  nesting_probe p;
  np_session = &p;
  p.thread_fiber = s.thread_fiber;
  p.windows_fiber = CreateFiber(64 * 1024, &windows_fiber_switch_back, nullptr);
  vm_stack stack(256 * 1024, 64 * 1024);
  p.fiber_sp = arch::make_initial_frame_with_tib(stack.top(), &ebb_fiber_calling_switch_to_fiber, &p, stack.bounds());
  arch::ebb_switch_context(&p.main_sp, p.fiber_sp);
  const word ebb_top = reinterpret_cast<word>(stack.top());
  std::printf("info win-fibers: SwitchToFiber from an ebb fiber and back leaves StackBase %s (%s), "
              "DeallocationStack %s (%s): calling SwitchToFiber on an ebb fiber's stack is not supported\n",
              hex(p.base_after).c_str(), p.base_after == ebb_top ? "the ebb fiber's" : p.base_after == thread_tib.stack_base ? "the thread fiber's" : "other",
              hex(p.deallocation_after).c_str(),
              p.deallocation_after == reinterpret_cast<word>(stack.bounds().deallocation) ? "the ebb fiber's"
              : p.deallocation_after == thread_tib.deallocation ? "the thread fiber's" : "other");
  tib_view after = read_tib();
  after.fiber_data = thread_tib.fiber_data;
  check(after == thread_tib, "win-fibers", "main's TIB is right after that ebb fiber switched back");
  DeleteFiber(p.windows_fiber);
  ConvertFiberToThread();
}

// ==== many fibers ==================================================================================
constexpr int many_count = 1000;
constexpr int many_rounds = 20;
constexpr std::size_t many_slot = 64 * 1024, many_committed = 16 * 1024;
struct many_fiber {
  void* sp = nullptr;
  word top = 0, limit = 0, base = 0;
  int index = 0;
  int rounds_ok = 0, throws_caught = 0;
};
void* many_main_sp = nullptr;
many_fiber* many_current = nullptr;
void many_entry(void* arg) {
  auto* f = static_cast<many_fiber*>(arg);
  volatile int mine = f->index * 7919;  // a local on this fiber's stack
  for (int round = 0; round < many_rounds; ++round) {
    const tib_view t = read_tib();
    if (t.stack_base == f->top && t.stack_limit == f->limit && t.deallocation == f->base &&
        t.exception_list == ~word{0} && mine == f->index * 7919 && many_current == f)
      ++f->rounds_ok;
    if (round % 5 == f->index % 5) {
      try {
        throw_from_depth(1 + f->index % 4);
      } catch (const depth_error&) {
        ++f->throws_caught;
      }
    }
    arch::ebb_switch_context(&f->sp, many_main_sp);
  }
  arch::ebb_switch_context(&f->sp, many_main_sp);
  std::abort();
}
void check_many_fibers() {
  char* reservation =
      static_cast<char*>(VirtualAlloc(nullptr, many_count * many_slot, MEM_RESERVE, PAGE_NOACCESS));
  if (!reservation) {
    check(false, "many", "VirtualAlloc reservation failed");
    return;
  }
  std::vector<many_fiber> fibers(many_count);
  for (int i = 0; i < many_count; ++i) {
    char* slot = reservation + i * many_slot;
    VirtualAlloc(slot + many_slot - many_committed, many_committed, MEM_COMMIT, PAGE_READWRITE);
    many_fiber& f = fibers[i];
    f.index = i;
    f.top = reinterpret_cast<word>(slot + many_slot);
    f.limit = f.top - many_committed;
    f.base = reinterpret_cast<word>(slot);
    arch::tib_stack_bounds b;
    b.limit = slot + many_slot - many_committed;
    b.deallocation = slot;
    f.sp = arch::make_initial_frame_with_tib(slot + many_slot, &many_entry, &f, b);
  }
  const tib_view before = read_tib();
  const LARGE_INTEGER start = [] { LARGE_INTEGER t; QueryPerformanceCounter(&t); return t; }();
  long switches = 0;
  for (int round = 0; round <= many_rounds; ++round)
    for (auto& f : fibers) {
      many_current = &f;
      arch::ebb_switch_context(&many_main_sp, f.sp);
      switches += 2;
    }
  LARGE_INTEGER end, frequency;
  QueryPerformanceCounter(&end);
  QueryPerformanceFrequency(&frequency);
  const tib_view after = read_tib();
  int rounds_ok = 0, throws = 0;
  for (const auto& f : fibers) rounds_ok += f.rounds_ok, throws += f.throws_caught;
  check(rounds_ok == many_count * many_rounds, "many",
        std::to_string(many_count) + " fibers x " + std::to_string(many_rounds) + " rounds saw their own TIB and locals: " +
            std::to_string(rounds_ok) + "/" + std::to_string(many_count * many_rounds));
  check(throws == many_count * many_rounds / 5, "many",
        "exceptions caught on their own stacks: " + std::to_string(throws) + "/" +
            std::to_string(many_count * many_rounds / 5));
  check(before == after, "many", "the thread's TIB is back in main");
  const double seconds = double(end.QuadPart - start.QuadPart) / double(frequency.QuadPart);
  std::printf("info many: %ld switches and %d throws in %.3f s\n", switches, throws, seconds);
  VirtualFree(reservation, 0, MEM_RELEASE);
}

// ==== what escapes a fiber: the top-level filter, in a child process ================================
// On a thread's stack an exception nothing handles reaches the process's top-level filter (MinGW's
// CRT filter resumes an uncaught C++ exception so std::terminate runs; crash reporters install theirs
// with SetUnhandledExceptionFilter). fiber_start's exception handler gives a fiber the same end
// (arch/x86_64_ms.hpp). The child modes: --uncaught-child throws through five frames out of a fiber's
// entry (its terminate handler exits 5); --crash-child writes to address 16 on a fiber (its
// top-level filter exits 6).
void uncaught_fiber(void*) {
  throw_from_depth(4);
  std::abort();
}
void crashing_fiber(void*) {
  *reinterpret_cast<volatile int*>(std::uintptr_t{16}) = 1;
  std::abort();
}
LONG WINAPI top_level_filter(EXCEPTION_POINTERS* info) {
  const bool access_violation = info->ExceptionRecord->ExceptionCode == EXCEPTION_ACCESS_VIOLATION;
  ExitProcess(access_violation ? 6 : 7);
}
int run_escape_child(bool crash) {
  std::set_terminate([] { _exit(5); });
  if (crash) SetUnhandledExceptionFilter(&top_level_filter);
  vm_stack stack(256 * 1024, 256 * 1024);
  void* main_sp = nullptr;
  void* fiber_sp =
      arch::make_initial_frame_with_tib(stack.top(), crash ? &crashing_fiber : &uncaught_fiber, nullptr, stack.bounds());
  arch::ebb_switch_context(&main_sp, fiber_sp);
  return 9;  // never: the fiber does not come back
}
// Runs this program again with `mode`; its exit status (wine reports 0 for a child that died of a
// signal, so the checks expect distinctive non-zero values).
long run_child(const char* mode) {
  char path[MAX_PATH];
  GetModuleFileNameA(nullptr, path, MAX_PATH);
  std::string command = std::string("\"") + path + "\" " + mode;
  STARTUPINFOA startup{};
  startup.cb = sizeof startup;
  PROCESS_INFORMATION process{};
  if (!CreateProcessA(nullptr, &command[0], nullptr, nullptr, FALSE, 0, nullptr, nullptr, &startup, &process))
    return -1;
  WaitForSingleObject(process.hProcess, INFINITE);
  DWORD code = 0;
  GetExitCodeProcess(process.hProcess, &code);
  CloseHandle(process.hProcess);
  CloseHandle(process.hThread);
  return static_cast<long>(code);
}
void check_escapes() {
  const long uncaught = run_child("--uncaught-child");
  check(uncaught == 5, "escape",
        "a C++ exception escaping a fiber's entry reaches std::terminate, as on a thread (child status " +
            std::to_string(uncaught) + ", want 5)");
  const long crashed = run_child("--crash-child");
  check(crashed == 6, "escape",
        "an access violation on a fiber reaches the SetUnhandledExceptionFilter filter (child status " +
            std::to_string(crashed) + ", want 6)");
}

// ==== probes of the OS's stack growth (run separately: a failure kills the process) ==================
// Not checks of the switch: facts the later parts of the Windows port (growth through PAGE_GUARD, the
// overflow report) depend on. run.sh runs each mode and prints its exit status. A fiber's stack of
// 1 MiB, the top 64 KiB committed, StackLimit at the lowest committed page, DeallocationStack at the
// reservation's base; the fiber recurses in frames of about 100 bytes (each call's push touches the
// next page first, as on a thread's stack).
//   --growth-probe            below the committed top: one PAGE_GUARD page, the rest only reserved
//                             (how Windows lays out a thread's stack); 4000 frames, about 400 KiB
//   --growth-probe-committed  below the committed top: everything down to base + 4 KiB committed
//                             PAGE_GUARD; 4000 frames
//   --overflow-probe          as the committed one, 20000 frames (about 2 MiB: past the reservation),
//                             with a vectored exception handler that reports what it receives
// Seen under wine 8.0 here: wine moves StackLimit down page by page through committed PAGE_GUARD
// pages, re-arming the next one, using the fiber's TIB bounds (so --growth-probe-committed comes
// back with StackLimit lowered); but it does not commit reserved pages: --growth-probe ends with
// SIGSEGV of the wine process (status 139) as soon as the recursion passes the committed pages, and
// no exception reaches any handler. Wine commits the whole stack of its own threads and fibers
// (CreateFiberEx with 64 KiB commit and 1 MiB reserve starts with StackLimit 1016 KiB below StackBase),
// so it never needs to. --overflow-probe: the vectored handler receives STATUS_STACK_OVERFLOW on
// the fiber's stack (with a single guard page above the reservation's lowest page instead, wine
// itself aborts: "virtual_setup_exception stack overflow", status 1, no handler runs).
struct growth_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  word limit_before = 0, limit_after = 0;
  int depth = 0;
};
growth_session* growth = nullptr;
__attribute__((noinline)) int descend(int depth, int max_depth) {
  volatile char buffer[64];
  buffer[63] = static_cast<char>(depth);
  buffer[0] = static_cast<char>(depth);
  growth->depth = depth;
  const int below = depth < max_depth ? descend(depth + 1, max_depth) : 0;
  return below + buffer[0];
}
void growth_fiber(void* arg) {
  const int max_depth = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
  growth->limit_before = teb_qword(EBB_WIN64_TEB_STACK_LIMIT);
  descend(0, max_depth);
  growth->limit_after = teb_qword(EBB_WIN64_TEB_STACK_LIMIT);
  arch::ebb_switch_context(&growth->fiber_sp, growth->main_sp);
  std::abort();
}
LONG CALLBACK report_overflow(EXCEPTION_POINTERS* info) {
  const DWORD code = info->ExceptionRecord->ExceptionCode;
  if (code != EXCEPTION_STACK_OVERFLOW && code != EXCEPTION_ACCESS_VIOLATION && code != EXCEPTION_GUARD_PAGE)
    return EXCEPTION_CONTINUE_SEARCH;
  // On the overflowed stack: no printf (it may need more stack than is left).
  char text[160];
  const word rsp = reinterpret_cast<word>(arch::interrupted_stack_pointer(info->ContextRecord));
  const int n = wsprintfA(text, "info overflow: vectored handler saw %08lx at depth %d, rsp %p, StackLimit %p\n",
                          code, growth->depth, reinterpret_cast<void*>(rsp),
                          reinterpret_cast<void*>(teb_qword(EBB_WIN64_TEB_STACK_LIMIT)));
  DWORD written = 0;
  WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), text, n, &written, nullptr);
  ExitProcess(code == EXCEPTION_STACK_OVERFLOW ? 3 : 4);
}
int run_growth_probe(bool overflow, bool guard_committed) {
  constexpr std::size_t reserve = 1024 * 1024, committed = 64 * 1024, page = 4096;
  char* base = static_cast<char*>(VirtualAlloc(nullptr, reserve, MEM_RESERVE, PAGE_NOACCESS));
  char* top = base + reserve;
  VirtualAlloc(top - committed, committed, MEM_COMMIT, PAGE_READWRITE);
  if (guard_committed)
    VirtualAlloc(base + page, reserve - committed - page, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
  else
    VirtualAlloc(top - committed - page, page, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
  growth_session s;
  growth = &s;
  arch::tib_stack_bounds bounds;
  bounds.limit = top - committed;
  bounds.deallocation = base;
  // Frames of about 100 bytes: 4000 of them need about 400 KiB, inside the 1 MiB reservation;
  // 20000 need about 2 MiB, past it.
  const std::intptr_t depth = overflow ? 20000 : 4000;
  std::printf("info %s: recursing %d frames on a fiber with 64 KiB of its 1 MiB committed, below it %s\n",
              overflow ? "overflow" : "growth", static_cast<int>(depth),
              guard_committed ? "the rest committed PAGE_GUARD" : "one PAGE_GUARD page and the rest reserved");
  if (overflow) AddVectoredExceptionHandler(1, &report_overflow);
  s.fiber_sp = arch::make_initial_frame_with_tib(top, &growth_fiber, reinterpret_cast<void*>(depth), bounds);
  arch::ebb_switch_context(&s.main_sp, s.fiber_sp);
  MEMORY_BASIC_INFORMATION mbi{};
  VirtualQuery(reinterpret_cast<void*>(s.limit_after), &mbi, sizeof mbi);
  std::printf("info %s: came back after %d frames; StackLimit top-%llu KiB -> top-%llu KiB; the page at the new "
              "limit is %s%s\n",
              overflow ? "overflow" : "growth", s.depth,
              static_cast<unsigned long long>((reinterpret_cast<word>(top) - s.limit_before) / 1024),
              static_cast<unsigned long long>((reinterpret_cast<word>(top) - s.limit_after) / 1024),
              mbi.State == MEM_COMMIT ? "committed" : "not committed", (mbi.Protect & PAGE_GUARD) ? " (guard)" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--uncaught-child") == 0) return run_escape_child(false);
  if (argc > 1 && std::strcmp(argv[1], "--crash-child") == 0) return run_escape_child(true);
  if (argc > 1 && std::strcmp(argv[1], "--growth-probe") == 0) return run_growth_probe(false, false);
  if (argc > 1 && std::strcmp(argv[1], "--growth-probe-committed") == 0) return run_growth_probe(false, true);
  if (argc > 1 && std::strcmp(argv[1], "--overflow-probe") == 0) return run_growth_probe(true, true);
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  std::printf("ebb Windows x64 switch test (%s, %s)\n", EBB_X86_64_MS_SWITCH,
#if defined(__OPTIMIZE__)
              "optimised"
#else
              "-O0"
#endif
  );
  {
    CONTEXT c;
    RtlCaptureContext(&c);
    check(offsetof(CONTEXT, Rsp) == arch::context_rsp_offset &&
              arch::interrupted_stack_pointer(&c) == reinterpret_cast<void*>(c.Rsp),
          "contract", "interrupted_stack_pointer reads CONTEXT::Rsp (offset " + hex(offsetof(CONTEXT, Rsp)) + ")");
    check(os_agrees(read_tib()), "tib", "raw TEB offsets agree with NT_TIB and GetCurrentThreadStackLimits on the thread");
  }
  {
    const auto defects = check_switch_routine(&arch::ebb_switch_context);
    check(defects.empty(), "registers",
          "rbx rbp rdi rsi r12-r15 xmm6-xmm15, MXCSR, x87 CW and the TIB survive both ways" +
              (defects.empty() ? std::string() : ": " + joined(defects)));
  }
  struct broken {
    const char* what;
    switch_routine routine;
    const char* must_report;
  };
  const broken broken_routines[] = {
      {"a switch that does not restore r14", &ebb_test_switch_forgets_r14, "r14"},
      {"a switch that does not restore xmm15", &ebb_test_switch_forgets_xmm15, "xmm15"},
      {"a switch that does not reload MXCSR", &ebb_test_switch_forgets_mxcsr, "MXCSR"},
      {"a switch that does not swap the TIB", &ebb_test_switch_skips_tib, "TIB"},
  };
  for (const auto& b : broken_routines) {
    const auto defects = check_switch_routine(b.routine);
    bool all_named = !defects.empty();
    for (const auto& line : defects) all_named = all_named && line.find(b.must_report) != std::string::npos;
    check(all_named, "broken",
          std::string(b.what) + " is caught, every report naming " + b.must_report + " (" +
              std::to_string(defects.size()) + " reports" + (defects.empty() ? "" : ": " + defects.front()) + ")");
  }
  {
    heap_stack heap(256 * 1024);
    run_exception_session("heap stack, make_initial_frame", heap.top(), nullptr);
    vm_stack vm(1024 * 1024, 256 * 1024);
    const arch::tib_stack_bounds bounds = vm.bounds();
    run_exception_session("VirtualAlloc stack, make_initial_frame_with_tib", vm.top(), &bounds);
  }
  check_walks_from_a_fiber();
  check_switch_frame_unwinds_everywhere();
  check_alignment();
  check_windows_fibers();
  check_many_fibers();
  check_escapes();
  return check_report::summary();
}
