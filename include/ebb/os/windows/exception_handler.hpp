// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/exception_handler.hpp — stack faults delivered as Windows exceptions, fed to the
// portable classification (os/fault_classification.hpp; os/stack_fault.hpp has the whole picture).
//
// A vectored exception handler, first in the chain, sees every exception of the process before any
// frame-based (SEH, C++) handler, on the faulting thread and on its stack. So there is no alternate
// stack as with POSIX signals: a fault can be reported only while there is room below the stack
// pointer for the exception record and the handler. That is what Windows' own stack scheme provides
// and what ebb's guard takes part in (allocators/windows_guard, os/windows/memory.hpp): the top of
// each guard is committed PAGE_GUARD pages and the TIB's DeallocationStack is the guard's base, so a
// fiber that runs past its stack walks into pages the system treats as its stack's growth, and when
// only the bottom of the guard is left the system raises STATUS_STACK_OVERFLOW with that room to run
// this handler in. An access far into a guard (a large frame's probe, ___chkstk_ms / __chkstk) faults
// with the stack pointer still above, as an access violation at an address in the guard.
//
//   STATUS_STACK_OVERFLOW       "raised by the kernel": judged by the stack pointer
//   EXCEPTION_ACCESS_VIOLATION  the address is ExceptionInformation[1]
//   EXCEPTION_GUARD_PAGE        the same; one-shot, the system already cleared the page's guard
//
// What is not ebb's returns EXCEPTION_CONTINUE_SEARCH: the next vectored handler, then SEH frames
// and C++ catch clauses, then the top-level filter, as if ebb were not there.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include "ebb/detail/context.hpp"
#include "ebb/detail/install_once.hpp"
#include "ebb/os/fault_classification.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/os/windows/windows_h.hpp"

EBB_RUNTIME_BEGIN
namespace os {

struct fault_handler_state {
  install_once install;  // the vectored handler, added once and never removed
};
EBB_PROCESS_WIDE(fault_handler_state, process_fault_handler, {});

inline bool handle_stack_exception(EXCEPTION_POINTERS* pointers) noexcept {
  const EXCEPTION_RECORD* record = pointers->ExceptionRecord;
  char* sp = reinterpret_cast<char*>(pointers->ContextRecord->Rsp);
  switch (record->ExceptionCode) {
    case STATUS_STACK_OVERFLOW:
      return handle_fault_at(nullptr, sp, true);
    case EXCEPTION_ACCESS_VIOLATION:
    case EXCEPTION_GUARD_PAGE:
      if (record->NumberParameters < 2) return false;
      return handle_fault_at(reinterpret_cast<char*>(record->ExceptionInformation[1]), sp, false);
    default:
      return false;
  }
}

inline LONG WINAPI vectored_fault_handler(EXCEPTION_POINTERS* pointers) noexcept {
  return handle_stack_exception(pointers) ? EXCEPTION_CONTINUE_EXECUTION : EXCEPTION_CONTINUE_SEARCH;
}

// Called once per thread, the first time it resumes a fiber: the handler is process-wide, so only the
// first call of the process installs it, and a thread that comes while another installs waits for
// it (a thread that went on would run a fiber with no handler to grow its stack or report its
// overflow). SetThreadStackGuarantee is the thread's own business: the switch carries each stack's
// GuaranteedStackBytes with it, so a guarantee the host set for its thread stays with the thread's
// stack.
inline void prepare_thread_for_faults(thread_state* ts) noexcept {
  ts->faults_ready = 1;
  process_fault_handler.install.run([]() noexcept { ::AddVectoredExceptionHandler(1, &vectored_fault_handler); });
}

}  // namespace os
EBB_RUNTIME_END

EBB_NAMESPACE_BEGIN
// For hosts whose own vectored handler runs before ebb's (added at the front of the list after ebb
// added its own at the process's first resume): call this first with what the handler received.
// True: a fiber's stack fault was handled (return EXCEPTION_CONTINUE_EXECUTION); an overflow is
// reported and aborts instead of returning. False: not ebb's.
inline bool try_handle_stack_fault(EXCEPTION_POINTERS* pointers) noexcept {
  return runtime_v1::os::handle_stack_exception(pointers);
}
EBB_NAMESPACE_END

#endif  // defined(_WIN32)
