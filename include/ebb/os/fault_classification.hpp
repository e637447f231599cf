// SPDX-License-Identifier: BSL-1.0
// ebb/os/fault_classification.hpp — is a memory fault about a fiber's stack, and what then: the
// portable half of stack fault handling (os/stack_fault.hpp has the whole picture).
//
// The question is asked with what every system's fault delivery can tell: the faulting address, the
// stack pointer of the interrupted code, and whether the kernel raised the fault itself rather than
// an access (Linux's SI_KERNEL: a signal frame that did not fit carries no address). Does the address,
// or for a kernel-raised fault the stack pointer, lie in the guard of a fiber on this thread's resume
// chain (the running fiber, the one that resumed it, and so on up)? If so one line is written (fiber,
// bytes needed, limit) and the process aborts. In tripwire mode a touch just below the fiber's window
// first asks the GrowthPolicy for more, and only a refusal (maximum or budget) is reported.
//
// Everything here is async-signal-safe: no locks, no allocation, no stdio; growth calls the
// allocator's open_window (install/remove guard: plain system calls) and the policy's noexcept
// next_size.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/os/stack_budget.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#if defined(__unix__) || defined(__APPLE__)
#include "ebb/os/posix/write_stderr.hpp"
#elif defined(_WIN32)
#include "ebb/os/windows/write_stderr.hpp"
#else
#error "ebb: no way to write a fault report on this system (see ebb/os/stack_fault.hpp)"
#endif

EBB_RUNTIME_BEGIN
namespace os {

// One line built without allocation or locale: the handler cannot call printf.
struct signal_safe_line {
  char text[400];
  std::size_t length = 0;

  void put(const char* s) noexcept {
    while (*s && length < sizeof text - 1) text[length++] = *s++;
  }
  void put_unsigned(std::uintptr_t value) noexcept {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0 && length < sizeof text - 1) text[length++] = digits[--n];
  }
  void put_hex(std::uintptr_t value) noexcept {
    put("0x");
    char digits[20];
    int n = 0;
    do {
      digits[n++] = "0123456789abcdef"[value & 15];
      value >>= 4;
    } while (value != 0);
    while (n > 0 && length < sizeof text - 1) text[length++] = digits[--n];
  }
  void write_to_stderr() noexcept { write_stderr(text, length); }
};

inline void report_fault(fiber_context& fiber, const char* what, char* deepest, const char* where) noexcept {
  signal_safe_line line;
  line.put("ebb: ");
  line.put(what);
  line.put(" in fiber '");
  line.put(fiber.name && fiber.name[0] ? fiber.name : "(unnamed)");
  line.put("': needed at least ");
  line.put_unsigned(static_cast<std::uintptr_t>(fiber.stack_top - deepest));
  line.put(" bytes, limit ");
  line.put_unsigned(fiber.max_size);
  line.put(" bytes");
  if (fiber.window_lo != nullptr) {
    line.put("; tripwire fibers hold ");
    line.put_unsigned(process_stack_budget.granted.load(std::memory_order_relaxed));
    line.put(" of a ");
    line.put_unsigned(process_stack_budget.limit.load(std::memory_order_relaxed));
    line.put("-byte budget");
  }
  line.put(" (");
  line.put(where);
  line.put_hex(reinterpret_cast<std::uintptr_t>(deepest));
  line.put(")\n");
  line.write_to_stderr();
}

// Is this fault about the stack of `fiber`? In tripwire mode, a touch below the window opens it (one
// GrowthPolicy step at a time) and returns true: the faulting instruction then runs again. A touch of
// the hard guard, growth past the maximum or past the budget is reported and aborts. Anything else
// returns false.
inline bool handle_fault_of(fiber_context& fiber, char* address, char* sp, bool kernel_fault) noexcept {
  if (fiber.guard_hi == nullptr) return false;
  if (fiber.window_lo != nullptr) {
    char* touched = nullptr;
    if (address >= fiber.guard_hi && address < fiber.window_lo)
      touched = address;
    else if (kernel_fault && sp >= fiber.guard_hi && sp < fiber.window_lo + fiber.signal_margin)
      touched = sp - fiber.signal_margin;  // room for the signal frame the kernel could not write
    if (touched != nullptr) {
      if (touched < fiber.guard_hi) touched = fiber.guard_hi;
      switch (fiber.ops->open_window(fiber, touched)) {
        case trip_refusal::none:
          return true;
        case trip_refusal::budget:
          report_fault(fiber, "stack budget exhausted", touched, "tripwire touched at ");
          std::abort();
        case trip_refusal::limit:
          report_fault(fiber, "stack overflow", touched, "tripwire touched at ");
          std::abort();
        case trip_refusal::system:
          report_fault(fiber, "stack could not be opened", touched, "tripwire touched at ");
          std::abort();
      }
    }
  }

  const bool address_in_guard = address >= fiber.guard_lo && address < fiber.guard_hi;
  const bool sp_in_guard = sp != nullptr && sp >= fiber.guard_lo && sp < fiber.stack_limit;
  if (!address_in_guard && !(kernel_fault && sp_in_guard)) return false;
  char* deepest = address_in_guard ? address : sp;
  report_fault(fiber, "stack overflow", deepest,
               address_in_guard ? "touched the guard at " : "stack pointer in the guard at ");
  std::abort();
}

// Is this fault about the stack of a fiber on this thread? Not only the current one: every fiber on
// the resume chain (the current fiber, the fiber that resumed it, and so on) is blocked inside a
// resume() whose switch writes to that resumer's own stack after the resumed fiber became current.
// The first push below a resumer's window, or into its guard, happens there. Stacks never overlap, so
// at most one fiber of the chain claims the fault. `sp` may be null (unknown).
inline bool handle_fault_at(char* address, char* sp, bool kernel_fault) noexcept {
  // The bound only keeps a corrupted chain from hanging the handler; real chains are short.
  std::size_t hops = 0;
  for (fiber_context* fiber = this_thread()->current; fiber != nullptr && hops < (std::size_t{1} << 20);
       fiber = fiber->parent, ++hops) {
    if (handle_fault_of(*fiber, address, sp, kernel_fault)) return true;
  }
  return false;
}

}  // namespace os
EBB_RUNTIME_END

EBB_NAMESPACE_BEGIN
// For hosts whose system delivers faults other than by a POSIX signal, or that have already decoded
// one: `address` is the faulting address, `sp` the interrupted stack pointer (nullptr if unknown),
// `raised_by_kernel` whether the system raised the fault itself without an access (Linux: si_code ==
// SI_KERNEL). Same outcome as try_handle_stack_fault: a fiber's overflow is reported and aborts; a
// tripwire fiber's growth is handled and it returns true (resume the faulting instruction); false
// means the fault is not ebb's. Async-signal-safe.
inline bool try_handle_stack_fault_at(void* address, void* sp, bool raised_by_kernel) noexcept {
  return runtime_v1::os::handle_fault_at(static_cast<char*>(address), static_cast<char*>(sp), raised_by_kernel);
}
EBB_NAMESPACE_END
