// SPDX-License-Identifier: BSL-1.0
// The machine-code form of the Windows x64 switch (include/ebb/arch/x86_64_ms_machine_code.hpp, run by
// x86_64_ms_code_block.hpp: MSVC's path), tested under wine with MinGW-w64, which also assembles the
// original (x86_64_ms.hpp). tests/windows/run.sh builds it twice, at -O2 and -O0 each:
//   machine_code_test       the assembled routines are linked in; the header's bytes are compared with
//                           them, then fibers run through a copy installed by install_code_block.
//   machine_code_msvc_path  built with -DEBB_X86_64_MS_MACHINE_CODE=1, the selection MSVC gets: no
//                           assembly at all; arch::ebb_switch_context and make_initial_frame_with_tib
//                           are the machine-code ones, and the same fibers run through them.
// What it checks:
//   identical   (first build) each routine's code, from its label to the end of its last unwind
//               region as the linked image's .pdata says, equals the header's bytes; so do the
//               regions and every UNWIND_INFO byte; the two fields the linker fills hold, in the
//               image, the frame layout's and the handler's RVAs. And the comparison itself fails
//               for a one-byte change at every position (a harness that cannot fail proves nothing).
//   block       the installed copy: the header's bytes, PAGE_EXECUTE_READ, the handler thunk aimed at
//               ebb_fiber_start_handler, RtlLookupFunctionEntry finding each region and nothing in the
//               gaps.
//   fibers      ping-pong through the copy: values, the TIB (StackBase, ExceptionList) inside the
//               fiber and the thread's back afterwards, MXCSR of each side kept apart.
//   exceptions  C++ exceptions thrown and caught on a fiber (through 8 frames with destructors, and
//               after a round trip), and in main while the fiber is suspended.
//   unwind      from inside a fiber, RtlVirtualUnwind and RtlCaptureStackBackTrace end in the copy's
//               fiber_start (return address 0 at rsp == StackBase); a suspended frame unwinds to its
//               resume address from the body region and from the return region; fiber_start's
//               unwind data names the thunk as its handler.
//   escape      in a child process: a C++ exception escaping a fiber's entry reaches std::terminate
//               through the thunk and the handler, as on a thread.
// switch_test.cpp checks the assembled routine instruction by instruction (registers, every prologue
// and epilogue step); "identical" is what carries those checks over to the copy.
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00
#endif
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include "check_report.hpp"
#include <windows.h>

#include <ebb/arch/switch.hpp>
#include <ebb/arch/x86_64_ms_code_block.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace arch = ebb::runtime_v1::arch;
namespace mc = ebb::runtime_v1::arch::machine_code;
using word = std::uint64_t;
using check_report::check;

namespace {
std::string hex(word v) {
  char text[32];
  std::snprintf(text, sizeof text, "%#llx", static_cast<unsigned long long>(v));
  return text;
}
__attribute__((noinline)) word teb_qword(unsigned long offset) {
  word v;
  __asm__ volatile("movq %%gs:(%1), %0" : "=r"(v) : "r"(offset) : "memory");
  return v;
}

// The routines under test: a copy installed here (first build) or the one arch:: itself uses.
struct routines {
  mc::switch_routine switch_context;  // what the fibers here call: the copy, or arch's call into it
  const unsigned char* fiber_start;
  const unsigned char* base;
  mc::switch_routine copy_switch;     // the copy's own entry
};
routines under_test;
void switch_to(void** save, void* target) { under_test.switch_context(save, target); }

class vm_stack {
 public:
  explicit vm_stack(std::size_t bytes) : bytes_(bytes) {
    base_ = static_cast<char*>(VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    if (!base_) std::exit(2);
  }
  ~vm_stack() { VirtualFree(base_, 0, MEM_RELEASE); }
  vm_stack(const vm_stack&) = delete;
  vm_stack& operator=(const vm_stack&) = delete;
  void* top() const { return base_ + bytes_; }
  arch::tib_stack_bounds bounds() const {
    arch::tib_stack_bounds b;
    b.limit = base_;
    b.deallocation = base_;
    return b;
  }
  void* make(void (*entry)(void*), void* arg) const {
    return arch::make_initial_frame_in(under_test.fiber_start, top(), entry, arg, bounds());
  }

 private:
  char* base_;
  std::size_t bytes_;
};

#if !EBB_X86_64_MS_MACHINE_CODE
// ==== identical: the header against the linked, assembled routines ================================
// A 4-byte field the linker filled in the image and the header leaves 0: where, and what it must hold.
struct filled {
  std::size_t offset;
  std::uint32_t image_value;
};
// The first difference between the header's bytes and the image's, or "" when none.
std::string first_difference(const unsigned char* header, std::size_t size, const unsigned char* image,
                             const std::vector<filled>& fields) {
  for (std::size_t i = 0; i < size; ++i) {
    const filled* field = nullptr;
    for (const auto& f : fields)
      if (i >= f.offset && i < f.offset + 4) field = &f;
    if (!field) {
      if (header[i] != image[i])
        return "byte " + hex(i) + ": header " + hex(header[i]) + ", assembled " + hex(image[i]);
      continue;
    }
    std::uint32_t in_image, in_header;
    std::memcpy(&in_image, image + field->offset, 4);
    std::memcpy(&in_header, header + field->offset, 4);
    if (in_header != 0 || in_image != field->image_value)
      return "linker-filled field at " + hex(field->offset) + ": header " + hex(in_header) + ", image " +
             hex(in_image) + " (want " + hex(field->image_value) + ")";
    i = field->offset + 3;
  }
  return "";
}
// Every single-byte change to `header` is reported by first_difference.
bool every_byte_change_caught(const unsigned char* header, std::size_t size, const unsigned char* image,
                              const std::vector<filled>& fields) {
  std::vector<unsigned char> copy(header, header + size);
  for (std::size_t i = 0; i < size; ++i) {
    copy[i] ^= 0x40;
    const bool caught = !first_difference(copy.data(), size, image, fields).empty();
    copy[i] ^= 0x40;
    if (!caught) return false;
  }
  return true;
}

void check_identical(const char* name, const void* routine, const unsigned char* code, std::size_t code_size,
                     const mc::unwind_region* regions, std::size_t region_count, const unsigned char* unwind,
                     std::size_t unwind_size, const std::vector<filled>& code_fields,
                     const std::vector<filled>& unwind_fields) {
  const word begin = reinterpret_cast<word>(routine);
  // The image's RUNTIME_FUNCTIONs, region after region from the label: where the routine ends.
  std::vector<mc::unwind_region> image_regions;
  DWORD64 image_base = 0;
  word first_unwind = 0;
  for (word at = begin; image_regions.size() < 8;) {
    PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(at, &image_base, nullptr);
    if (!f || image_base + f->BeginAddress != at) break;
    if (image_regions.empty()) first_unwind = image_base + f->UnwindData;
    image_regions.push_back({static_cast<std::uint32_t>(image_base + f->BeginAddress - begin),
                             static_cast<std::uint32_t>(image_base + f->EndAddress - begin),
                             static_cast<std::uint32_t>(image_base + f->UnwindData - first_unwind)});
    at = image_base + f->EndAddress;
  }
  bool same_regions = image_regions.size() == region_count;
  for (std::size_t i = 0; same_regions && i < region_count; ++i)
    same_regions = image_regions[i].begin == regions[i].begin && image_regions[i].end == regions[i].end &&
                   image_regions[i].unwind == regions[i].unwind;
  check(same_regions, "identical",
        std::string(name) + ": the header's " + std::to_string(region_count) +
            " unwind regions are the image's .pdata entries (" + std::to_string(image_regions.size()) + " found)");
  const std::size_t image_size = image_regions.empty() ? 0 : image_regions.back().end;
  const auto* image_code = reinterpret_cast<const unsigned char*>(begin);
  const std::string code_diff =
      image_size == code_size ? first_difference(code, code_size, image_code, code_fields) : "sizes differ";
  check(code_diff.empty(), "identical",
        std::string(name) + ": " + std::to_string(code_size) + " code bytes equal the assembled routine's, label to " +
            "end (" + std::to_string(image_size) + " in the image)" + (code_diff.empty() ? "" : ": " + code_diff));
  const auto* image_unwind = reinterpret_cast<const unsigned char*>(first_unwind);
  const std::string unwind_diff =
      first_unwind ? first_difference(unwind, unwind_size, image_unwind, unwind_fields) : "no unwind data";
  check(unwind_diff.empty(), "identical",
        std::string(name) + ": " + std::to_string(unwind_size) + " UNWIND_INFO bytes equal the image's" +
            (unwind_diff.empty() ? "" : ": " + unwind_diff));
  check(image_size == code_size && every_byte_change_caught(code, code_size, image_code, code_fields) &&
            first_unwind && every_byte_change_caught(unwind, unwind_size, image_unwind, unwind_fields),
        "identical", std::string(name) + ": the comparison reports a one-byte change at every code and unwind byte");
}

extern "C" const unsigned char ebb_frame_layout_object[] __asm__(EBB_FRAME_LAYOUT_SYMBOL);
extern "C" IMAGE_DOS_HEADER __ImageBase;

void check_identical_to_assembly() {
  const word image = reinterpret_cast<word>(&__ImageBase);
  check_identical("switch", reinterpret_cast<const void*>(&arch::ebb_switch_context), mc::switch_code,
                  sizeof mc::switch_code, mc::switch_regions, std::size(mc::switch_regions), mc::switch_unwind,
                  sizeof mc::switch_unwind, {}, {});
  const auto layout_rva = static_cast<std::uint32_t>(reinterpret_cast<word>(ebb_frame_layout_object) - image);
  const auto handler_rva = static_cast<std::uint32_t>(reinterpret_cast<word>(&arch::ebb_fiber_start_handler) - image);
  check_identical("fiber_start", reinterpret_cast<const void*>(&arch::ebb_fiber_start), mc::fiber_start_code,
                  sizeof mc::fiber_start_code, mc::fiber_start_regions, std::size(mc::fiber_start_regions),
                  mc::fiber_start_unwind, sizeof mc::fiber_start_unwind,
                  {{mc::fiber_start_layout_rva_offset, layout_rva}},
                  {{mc::fiber_start_handler_rva_offset, handler_rva}});
}
#endif

// ==== block: the installed copy =====================================================================
void check_block() {
  const unsigned char* base = under_test.base;
  bool bytes = std::memcmp(base + mc::switch_offset, mc::switch_code, sizeof mc::switch_code) == 0 &&
               std::memcmp(base + mc::fiber_start_offset, mc::fiber_start_code, sizeof mc::fiber_start_code) == 0;
  check(bytes && under_test.fiber_start == base + mc::fiber_start_offset &&
            reinterpret_cast<const unsigned char*>(under_test.copy_switch) == base,
        "block", "the copy holds the header's code at the switch and fiber_start addresses in use");
  MEMORY_BASIC_INFORMATION info{};
  VirtualQuery(base, &info, sizeof info);
  check(info.Protect == PAGE_EXECUTE_READ, "block", "the copy is PAGE_EXECUTE_READ (" + hex(info.Protect) + ")");
  word target = 0;
  std::memcpy(&target, base + mc::thunk_offset + sizeof mc::handler_thunk, sizeof target);
  check(std::memcmp(base + mc::thunk_offset, mc::handler_thunk, sizeof mc::handler_thunk) == 0 &&
            target == reinterpret_cast<word>(&arch::ebb_fiber_start_handler),
        "block", "the handler thunk jumps to ebb_fiber_start_handler");
  // Each region is found at its first and last byte, from the copy's own table; the gaps are not.
  bool found = true;
  std::string why;
  auto expect = [&](const mc::unwind_region& r, std::size_t code) {
    for (word at : {word(code + r.begin), word(code + r.end - 1)}) {
      DWORD64 image_base = 0;
      PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(reinterpret_cast<word>(base) + at, &image_base, nullptr);
      if (!f || image_base != reinterpret_cast<word>(base) || f->BeginAddress != code + r.begin ||
          f->EndAddress != code + r.end) {
        found = false;
        why += " at " + hex(at);
      }
    }
  };
  for (const auto& r : mc::switch_regions) expect(r, mc::switch_offset);
  for (const auto& r : mc::fiber_start_regions) expect(r, mc::fiber_start_offset);
  DWORD64 gap_base = 0;
  const bool gap_empty =
      RtlLookupFunctionEntry(reinterpret_cast<word>(base) + mc::thunk_offset, &gap_base, nullptr) == nullptr;
  check(found && gap_empty, "block",
        "RtlLookupFunctionEntry finds each region of the copy at its first and last byte, and nothing at the thunk" +
            why);
}

// ==== fibers ======================================================================================
constexpr std::uint32_t fiber_mxcsr = 0x1f80 | 0x2000;  // exceptions masked, rounding toward -infinity
constexpr std::uint32_t mxcsr_flags = 0x3f;                // sticky status bits: not compared
struct ping_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  int value = 0;
  word top = 0;
  bool tib_ok = true;
  std::uint32_t fiber_mxcsr = 0;
};
void ping_fiber(void* arg) {
  auto* s = static_cast<ping_session*>(arg);
  s->tib_ok = teb_qword(EBB_WIN64_TEB_STACK_BASE) == s->top && teb_qword(EBB_WIN64_TEB_EXCEPTION_LIST) == ~word{0};
  std::uint32_t round_down = fiber_mxcsr;
  __asm__ volatile("ldmxcsr %0" : : "m"(round_down));
  for (;;) {
    s->value = s->value * 3 + 1;
    std::uint32_t now;
    __asm__ volatile("stmxcsr %0" : "=m"(now));
    s->fiber_mxcsr = now;
    switch_to(&s->fiber_sp, s->main_sp);
  }
}
void check_fibers() {
  vm_stack stack(256 * 1024);
  ping_session s;
  s.top = reinterpret_cast<word>(stack.top());
  s.fiber_sp = stack.make(&ping_fiber, &s);
  const word base_before = teb_qword(EBB_WIN64_TEB_STACK_BASE), list_before = teb_qword(EBB_WIN64_TEB_EXCEPTION_LIST);
  std::uint32_t main_mxcsr, main_after;
  __asm__ volatile("stmxcsr %0" : "=m"(main_mxcsr));
  int expected = 0;
  bool values = true, mxcsr_apart = true;
  for (int i = 0; i < 1000; ++i) {
    switch_to(&s.main_sp, s.fiber_sp);
    expected = expected * 3 + 1;
    __asm__ volatile("stmxcsr %0" : "=m"(main_after));
    values = values && s.value == expected;
    mxcsr_apart = mxcsr_apart && (main_after & ~mxcsr_flags) == (main_mxcsr & ~mxcsr_flags) &&
                  (s.fiber_mxcsr & ~mxcsr_flags) == fiber_mxcsr && main_mxcsr != fiber_mxcsr;
  }
  check(values, "fibers", "1000 round trips through the copy, the fiber's state intact each time");
  check(s.tib_ok, "fibers", "inside the fiber StackBase is its top and ExceptionList is -1");
  check(teb_qword(EBB_WIN64_TEB_STACK_BASE) == base_before && teb_qword(EBB_WIN64_TEB_EXCEPTION_LIST) == list_before,
        "fibers", "the thread's StackBase and ExceptionList are back after the round trips");
  check(mxcsr_apart, "fibers", "each side keeps its own MXCSR (rounding modes differ: " + hex(main_mxcsr) + " / " +
                                   hex(s.fiber_mxcsr) + ")");
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
  bool simple = false, nested = false, after_round_trip = false;
  int destructors = 0;
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
    throw_from_depth(7);
  } catch (const depth_error& e) {
    s->nested = e.depth == 0;
    s->destructors = destructors_run;
  }
  switch_to(&s->fiber_sp, s->main_sp);
  try {
    throw_from_depth(3);
  } catch (const depth_error&) {
    s->after_round_trip = true;
  }
  switch_to(&s->fiber_sp, s->main_sp);
  std::abort();
}
void check_exceptions() {
  vm_stack stack(256 * 1024);
  exception_session s;
  s.fiber_sp = stack.make(&exception_fiber, &s);
  switch_to(&s.main_sp, s.fiber_sp);
  bool main_ok = false;
  try {
    throw std::logic_error("in main");
  } catch (const std::logic_error&) {
    main_ok = true;
  }
  switch_to(&s.main_sp, s.fiber_sp);
  check(s.simple, "exceptions", "thrown and caught inside a fiber running on the copy");
  check(s.nested && s.destructors == 8, "exceptions",
        "thrown through 8 frames, caught at the entry, 8 destructors ran (" + std::to_string(s.destructors) + ")");
  check(main_ok, "exceptions", "thrown and caught in main while the fiber is suspended in the copy");
  check(s.after_round_trip, "exceptions", "thrown and caught in the fiber after a round trip");
}

// ==== unwind ======================================================================================
bool in_fiber_start(word ip) {
  return ip >= reinterpret_cast<word>(under_test.fiber_start) &&
         ip < reinterpret_cast<word>(under_test.fiber_start) + sizeof mc::fiber_start_code;
}
struct unwind_session {
  void* main_sp = nullptr;
  void* fiber_sp = nullptr;
  word top = 0;
  int frames = 0;
  bool all_found = true, last_in_fiber_start = false;
  word final_rip = 1, final_rsp = 0;
  USHORT captured = 0;
  void* captured_frames[64] = {};
};
__attribute__((noinline)) void walk(unwind_session& s) {
  CONTEXT context;
  RtlCaptureContext(&context);
  while (context.Rip != 0 && s.frames < 64) {
    DWORD64 image_base = 0;
    PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(context.Rip, &image_base, nullptr);
    ++s.frames;
    if (!f) {
      s.all_found = false;
      break;
    }
    s.last_in_fiber_start = in_fiber_start(image_base + f->BeginAddress);
    void* data = nullptr;
    DWORD64 establisher = 0;
    RtlVirtualUnwind(UNW_FLAG_NHANDLER, image_base, context.Rip, f, &context, &data, &establisher, nullptr);
  }
  s.final_rip = context.Rip;
  s.final_rsp = context.Rsp;
  s.captured = RtlCaptureStackBackTrace(0, 64, s.captured_frames, nullptr);
  __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void recurse_then_walk(int depth, unwind_session& s) {
  if (depth == 0)
    walk(s);
  else
    recurse_then_walk(depth - 1, s);
  __asm__ volatile("" ::: "memory");  // not a tail call
}
void unwind_fiber(void* arg) {
  auto* s = static_cast<unwind_session*>(arg);
  recurse_then_walk(6, *s);
  for (;;) switch_to(&s->fiber_sp, s->main_sp);
}
// Unwind the suspended frame at `sp` as if interrupted at `rip`, with r10 as the return region has it.
// In the body the callee-saved registers are found in the frame; in the return region they are
// already the resumed code's, in the registers.
bool suspended_frame_unwinds(word rip, word sp, bool in_body, std::string& why) {
  CONTEXT context{};
  context.Rip = rip;
  context.Rsp = sp;
  context.R10 = sp + EBB_X86_64_MS_FRAME_RETURN;
  DWORD64 image_base = 0;
  PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(rip, &image_base, nullptr);
  if (!f) return why += " no entry at " + hex(rip), false;
  void* data = nullptr;
  DWORD64 establisher = 0;
  RtlVirtualUnwind(UNW_FLAG_NHANDLER, image_base, rip, f, &context, &data, &establisher, nullptr);
  const auto* frame = reinterpret_cast<const word*>(sp);
  const bool ok = context.Rip == frame[EBB_X86_64_MS_FRAME_RETURN / 8] && context.Rsp == sp + EBB_X86_64_MS_FRAME_BYTES &&
                  (!in_body || (context.Rbx == frame[EBB_X86_64_MS_FRAME_RBX / 8] &&
                                context.R12 == frame[EBB_X86_64_MS_FRAME_R12 / 8]));
  if (!ok) why += " from " + hex(rip - reinterpret_cast<word>(under_test.base)) + ": rip " + hex(context.Rip);
  return ok;
}
void check_unwind() {
  vm_stack stack(256 * 1024);
  unwind_session s;
  s.top = reinterpret_cast<word>(stack.top());
  s.fiber_sp = stack.make(&unwind_fiber, &s);
  switch_to(&s.main_sp, s.fiber_sp);
  check(s.all_found && s.frames >= 8 && s.frames < 64, "unwind",
        "RtlVirtualUnwind walk from a fiber: unwind data for every frame (" + std::to_string(s.frames) + ")");
  check(s.last_in_fiber_start && s.final_rip == 0 && s.final_rsp == s.top, "unwind",
        "the walk's last frame is the copy's fiber_start, then return address 0 at rsp == StackBase (rip " +
            hex(s.final_rip) + ")");
  check(s.captured >= 8 && s.captured < 64 && in_fiber_start(reinterpret_cast<word>(s.captured_frames[s.captured - 1])),
        "unwind", "RtlCaptureStackBackTrace: " + std::to_string(s.captured) + " frames, the last in the copy's fiber_start");
  // The fiber is suspended in the copy's switch: unwind its frame from inside the body (just after
  // the stack swap) and from each instruction of the return region.
  const word sp = reinterpret_cast<word>(s.fiber_sp), code = reinterpret_cast<word>(under_test.base);
  std::string why;
  // The body's last instruction, `lea 280(%rsp), %r10` (8 bytes), and the return region's three.
  bool ok = suspended_frame_unwinds(code + mc::switch_regions[0].end - 8, sp, true, why);
  for (const word offset : {word(0), word(3), word(11)})
    ok = suspended_frame_unwinds(code + mc::switch_regions[1].begin + offset, sp, false, why) && ok;
  check(ok, "unwind", "a suspended frame unwinds to its resume address from the body and the return region" + why);
  // fiber_start's own unwind data, as the exception dispatcher reads it, names the thunk.
  DWORD64 image_base = 0;
  const word after_call = reinterpret_cast<word>(under_test.fiber_start) + 11;
  PRUNTIME_FUNCTION f = RtlLookupFunctionEntry(after_call, &image_base, nullptr);
  void* handler = nullptr;
  if (f) {
    CONTEXT context{};
    context.Rip = after_call;
    context.Rsp = s.top - 16 - 32;
    void* data = nullptr;
    DWORD64 establisher = 0;
    handler = reinterpret_cast<void*>(RtlVirtualUnwind(UNW_FLAG_EHANDLER, image_base, after_call, f, &context, &data,
                                                       &establisher, nullptr));
  }
  check(handler == under_test.base + mc::thunk_offset, "unwind",
        "RtlVirtualUnwind at fiber_start's call returns the thunk as its exception handler");
}

// ==== escape ======================================================================================
void uncaught_fiber(void*) {
  throw_from_depth(3);
  std::abort();
}
int run_escape_child() {
  std::set_terminate([] { _exit(5); });
  vm_stack stack(256 * 1024);
  void* main_sp = nullptr;
  switch_to(&main_sp, stack.make(&uncaught_fiber, nullptr));
  return 9;
}
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
}  // namespace

int main(int argc, char** argv) {
#if EBB_X86_64_MS_MACHINE_CODE
  const char* build = "MSVC's selection: EBB_X86_64_MS_MACHINE_CODE, no assembly";
  const auto& block = arch::machine_code::installed();
  under_test = {&arch::ebb_switch_context, static_cast<const unsigned char*>(arch::fiber_start_address()), block.base,
                block.switch_context};
#else
  const char* build = "assembled routines linked, copy installed by the test";
  mc::code_block block = mc::install_code_block(reinterpret_cast<const void*>(&arch::ebb_fiber_start_handler));
  under_test = {block.switch_context, block.fiber_start, block.base, block.switch_context};
#endif
  if (argc > 1 && std::strcmp(argv[1], "--uncaught-child") == 0) return block.base ? run_escape_child() : 8;
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  std::printf("ebb Windows x64 machine-code switch test (%s, %s)\n", build,
#if defined(__OPTIMIZE__)
              "optimised"
#else
              "-O0"
#endif
  );
#if !EBB_X86_64_MS_MACHINE_CODE
  check_identical_to_assembly();
#else
  HMODULE owner = nullptr;
  const bool outside_images = !GetModuleHandleExA(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                                      GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                                                  static_cast<const char*>(arch::fiber_start_address()), &owner);
  check(outside_images, "block", "arch::fiber_start_address() is the copy's, outside every loaded image");
#endif
  check(block.base != nullptr, "block", "install_code_block: copied, protected and registered");
  if (!block.base) return check_report::summary();
  check_block();
  check_fibers();
  check_exceptions();
  check_unwind();
  const long uncaught = run_child("--uncaught-child");
  check(uncaught == 5, "escape",
        "a C++ exception escaping a fiber on the copy reaches std::terminate through the handler thunk (child "
        "status " + std::to_string(uncaught) + ", want 5)");
  return check_report::summary();
}
