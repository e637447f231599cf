// SPDX-License-Identifier: BSL-1.0
// ebb/os/stack_fault.hpp — turning a touch of a fiber's guard into a clear report.
//
// A fiber that runs past its stack touches the guard below it and the kernel raises SIGSEGV (SIGBUS on
// some systems). The handler must run somewhere other than the overflowed stack, so every thread that
// runs fibers gets an alternate signal stack — unless it already has one: ASan, Go, Rust and crash
// reporters install their own, and replacing it would break them. Ours is installed lazily, the first
// time a thread resumes a fiber, and released when the thread exits.
//
// The handler asks one question: does the fault lie in the guard of a fiber on this thread's resume
// chain (the running fiber, the one that resumed it, and so on up), or, for faults the kernel raises
// itself with SI_KERNEL such as a signal frame that did not fit, does the interrupted stack pointer?
// If so it writes one line (fiber, bytes needed, limit) and aborts. In tripwire mode a touch just
// below the fiber's window first asks the GrowthPolicy for more, and only a refusal (maximum or
// budget) is reported. Everything else goes to the handler that was installed before ebb's, as that
// handler asked (SA_SIGINFO or not, its mask, SA_RESETHAND), or to the default action. A host that
// installs its own handler after ebb's calls ebb::try_handle_stack_fault first.
//
// Only async-signal-safe calls happen in the handler: write, sigaction, sigprocmask, raise, abort, and
// for tripwire growth madvise or mprotect (plain system calls) and the policy's noexcept next_size.
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/os/stack_budget.hpp"
#include "ebb/os/thread_exit.hpp"
#include "ebb/os/virtual_memory.hpp"

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

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
  void write_to_stderr() noexcept {
    std::size_t done = 0;
    while (done < length) {
      ssize_t n = ::write(2, text + done, length - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }
};

struct fault_handler_state {
  std::atomic<int> installed{0};  // 0: not yet, 1: being installed, 2: installed
  struct sigaction previous_segv {};  // value-initialised: constant initialisation, no global constructor
  struct sigaction previous_bus {};
};

// One per process: default visibility merges every library's copy.
EBB_VISIBLE inline fault_handler_state process_fault_handler;

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
// at most one fiber of the chain claims the fault.
inline bool handle_stack_fault(int signal_number, siginfo_t* info, void* ucontext) noexcept {
  if (signal_number != SIGSEGV && signal_number != SIGBUS) return false;
  char* address = static_cast<char*>(info->si_addr);
  char* sp = ucontext ? static_cast<char*>(arch::interrupted_stack_pointer(ucontext)) : nullptr;
  // SI_KERNEL faults carry no address (the kernel could not push a signal frame, for instance):
  // judge by where the stack pointer was.
  const bool kernel_fault = info->si_code == SI_KERNEL;
  // The bound only keeps a corrupted chain from hanging the handler; real chains are short.
  std::size_t hops = 0;
  for (fiber_context* fiber = this_thread()->current; fiber != nullptr && hops < (std::size_t{1} << 20);
       fiber = fiber->parent, ++hops) {
    if (handle_fault_of(*fiber, address, sp, kernel_fault)) return true;
  }
  return false;
}

// Hand a fault that is not ebb's to whoever handled it before, the way they asked to be called.
inline void forward_fault(int signal_number, siginfo_t* info, void* ucontext) noexcept {
  const struct sigaction& previous = signal_number == SIGSEGV ? process_fault_handler.previous_segv
                                                              : process_fault_handler.previous_bus;
  const bool has_siginfo_handler = (previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction != nullptr;
  const bool has_plain_handler = !(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL &&
                                 previous.sa_handler != SIG_IGN;
  if (!has_siginfo_handler && !has_plain_handler) {
    // The default action (an ignored fault is fatal too: the kernel forces the default). Restore it;
    // a real fault re-executes the instruction and dies with the original information, a sent
    // signal is raised again.
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    ::sigaction(signal_number, &fallback, nullptr);
    if (info->si_code <= 0) ::raise(signal_number);
    return;
  }
  if (static_cast<unsigned>(previous.sa_flags) & SA_RESETHAND) {
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    ::sigaction(signal_number, &fallback, nullptr);
  }
  // Block what the previous handler asked to have blocked while it runs.
  sigset_t mask = previous.sa_mask, saved;
  if (!(previous.sa_flags & SA_NODEFER)) sigaddset(&mask, signal_number);
  ::pthread_sigmask(SIG_BLOCK, &mask, &saved);
  if (has_siginfo_handler)
    previous.sa_sigaction(signal_number, info, ucontext);
  else
    previous.sa_handler(signal_number);
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

inline void fault_handler(int signal_number, siginfo_t* info, void* ucontext) noexcept {
  if (handle_stack_fault(signal_number, info, ucontext)) return;
  forward_fault(signal_number, info, ucontext);
}

inline void install_fault_handler() noexcept {
  auto& state = process_fault_handler;
  int expected = 0;
  if (!state.installed.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    while (state.installed.load(std::memory_order_acquire) != 2) {
    }
    return;
  }
  struct sigaction action {};
  action.sa_sigaction = &fault_handler;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGSEGV, &action, &state.previous_segv);
  ::sigaction(SIGBUS, &action, &state.previous_bus);
  state.installed.store(2, std::memory_order_release);
}

// The alternate signal stack ebb installed on this thread, if it had to. Freed at thread exit after
// every thread_local destructor (os/thread_exit.hpp), which may still resume or destroy fibers and so
// need it; from then on the thread counts as not prepared again.
struct signal_stack_owner {
  void* base = nullptr;
  std::size_t bytes = 0;
};
EBB_VISIBLE inline thread_local signal_stack_owner thread_signal_stack;
EBB_VISIBLE inline thread_exit_key signal_stack_exit_key;

inline void free_signal_stack(void* p) noexcept {
  auto& owner = *static_cast<signal_stack_owner*>(p);
  this_thread()->faults_ready = 0;
  if (owner.base == nullptr) return;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && current.ss_sp == static_cast<char*>(owner.base) + page_size()) {
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
  }
  ::munmap(owner.base, owner.bytes);
  owner.base = nullptr;
}

// Tripwire mode keeps this much accessible below a fiber's logical size, so a signal frame pushed on
// the fiber's stack fits: AT_MINSIGSTKSZ (about 3.4 KiB with AVX-512, more with AMX) plus a page.
inline std::size_t signal_frame_margin() noexcept {
  std::size_t minimum = ::getauxval(AT_MINSIGSTKSZ);
  if (minimum < 2048) minimum = 2048;
  return (minimum + 2 * page_size() - 1) / page_size() * page_size();
}

inline std::size_t signal_stack_bytes() noexcept {
  // Room for several signal frames: AT_MINSIGSTKSZ is about 3.4 KiB with AVX-512, more with AMX.
  std::size_t minimum = ::getauxval(AT_MINSIGSTKSZ);
  std::size_t bytes = 64 * 1024;
  if (minimum * 8 > bytes) bytes = minimum * 8;
  return (bytes + page_size() - 1) / page_size() * page_size();
}

// Called once per thread, the first time it resumes a fiber.
inline void prepare_thread_for_faults(thread_state* ts) noexcept {
  ts->faults_ready = 1;
  install_fault_handler();
  stack_t current{};
  if (::sigaltstack(nullptr, &current) != 0) return;
  if (!(current.ss_flags & SS_DISABLE)) return;  // the host has one already: use it, never replace it
  const std::size_t bytes = signal_stack_bytes() + page_size();  // plus a guard page below
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return;
  ::mprotect(base, page_size(), PROT_NONE);
  stack_t ours{};
  ours.ss_sp = static_cast<char*>(base) + page_size();
  ours.ss_size = bytes - page_size();
  if (::sigaltstack(&ours, nullptr) != 0) {
    ::munmap(base, bytes);
    return;
  }
  signal_stack_owner& owner = thread_signal_stack;
  owner.base = base;
  owner.bytes = bytes;
  if (!run_at_thread_exit(signal_stack_exit_key, &free_signal_stack, &owner)) {
    // No key to free it with at exit: better no signal stack of ours than one leaked per thread.
    free_signal_stack(&owner);
    ts->faults_ready = 1;
  }
}

}  // namespace os
EBB_RUNTIME_END

EBB_NAMESPACE_BEGIN
// For hosts that install their own SIGSEGV/SIGBUS handler after ebb's: call this first. A fiber's stack
// overflow is reported and aborts. A tripwire fiber's growth is handled and it returns true: return
// from your handler and the faulting instruction runs again. Otherwise it returns false and the host
// handles the fault as usual.
inline bool try_handle_stack_fault(int signal_number, siginfo_t* info, void* ucontext) noexcept {
  return runtime_v1::os::handle_stack_fault(signal_number, info, ucontext);
}
EBB_NAMESPACE_END
