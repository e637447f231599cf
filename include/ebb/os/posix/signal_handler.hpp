// SPDX-License-Identifier: BSL-1.0
// ebb/os/posix/signal_handler.hpp — stack faults delivered as POSIX signals (SIGSEGV, SIGBUS), fed to
// the portable classification (os/fault_classification.hpp).
//
// The handler must run somewhere other than the overflowed stack, so every thread that runs fibers
// gets an alternate signal stack — unless it already has one: ASan, Go, Rust and crash reporters
// install their own, and replacing it would break them. Ours is installed lazily, the first time a
// thread resumes a fiber, and released when the thread exits.
//
// A fault that is not ebb's goes to the handler that was installed before ebb's, as that handler asked
// (SA_SIGINFO or not, its mask, SA_RESETHAND), or to the default action. A host that installs its own
// handler after ebb's calls ebb::try_handle_stack_fault first.
//
// Only async-signal-safe calls happen in the handler: write, sigaction, sigprocmask, raise, abort, and
// what the classification does.
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/install_once.hpp"
#include "ebb/os/fault_classification.hpp"
#include "ebb/os/memory.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/os/signal_frame.hpp"
#include "ebb/os/thread_exit.hpp"

#include <csignal>
#include <cstddef>

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

EBB_RUNTIME_BEGIN
namespace os {

struct fault_handler_state {
  // Held by fork()'s prepare handler too (detail/fork_safety.hpp): a child forked while another thread
  // installed the handler inherited "being installed" for ever and spun at its first resume (the fork
  // test, 4 children in 100 runs under TSan, when the install was a bare compare-exchange).
  install_once install;
  struct sigaction previous_segv {};  // value-initialised: constant initialisation, no global constructor
  struct sigaction previous_bus {};
};

// One per process (os/process_wide.hpp): a second copy would chain to ebb's own handler as "previous".
EBB_PROCESS_WIDE(fault_handler_state, process_fault_handler, {});

// The POSIX entry: decode the signal into what the portable classification asks.
inline bool handle_stack_fault(int signal_number, siginfo_t* info, void* ucontext) noexcept {
  if (signal_number != SIGSEGV && signal_number != SIGBUS) return false;
  char* address = static_cast<char*>(info->si_addr);
  char* sp = ucontext ? static_cast<char*>(arch::interrupted_stack_pointer(ucontext)) : nullptr;
  // SI_KERNEL faults carry no address (the kernel could not push a signal frame, for instance):
  // judge by where the stack pointer was.
#ifdef SI_KERNEL
  const bool kernel_fault = info->si_code == SI_KERNEL;
#else
  const bool kernel_fault = false;
#endif
  return handle_fault_at(address, sp, kernel_fault);
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
  // (No capture: on ELF the state is a global, and clang's -Wunused-lambda-capture says so.)
  process_fault_handler.install.run([]() noexcept {
    fault_handler_state& state = process_fault_handler;
    struct sigaction action {};
    action.sa_sigaction = &fault_handler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGSEGV, &action, &state.previous_segv);
    ::sigaction(SIGBUS, &action, &state.previous_bus);
  });
}

// The alternate signal stack ebb installed on this thread, if it had to. Freed at thread exit after
// every thread_local destructor (os/thread_exit.hpp), which may still resume or destroy fibers and so
// need it; from then on the thread counts as not prepared again.
struct signal_stack_owner {
  void* base = nullptr;
  std::size_t bytes = 0;
};
// thread_local, not EBB_PROCESS_WIDE: one per thread (os/process_wide.hpp says why those stay as they are).
EBB_VISIBLE inline thread_local signal_stack_owner thread_signal_stack;
EBB_PROCESS_WIDE(thread_exit_key, signal_stack_exit_key, {});

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

inline std::size_t signal_stack_bytes() noexcept {
  // Room for several signal frames (Linux's AT_MINSIGSTKSZ: about 3.4 KiB with AVX-512, more with AMX).
  std::size_t minimum = minimum_signal_frame_bytes();
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
