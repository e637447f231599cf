// SPDX-License-Identifier: BSL-1.0
// ebb/os/stack_fault.hpp — turning a touch of a fiber's guard into a clear report (or, in tripwire
// mode, into more stack): the portable classification plus the system's fault delivery.
//
// A fiber that runs past its stack touches the guard below it and the system raises a fault. What to
// do about it is the same everywhere and lives in os/fault_classification.hpp: given the faulting
// address, the interrupted stack pointer and whether the kernel raised it itself, walk this thread's
// resume chain; report and abort, open a tripwire window, or say "not ebb's".
//
// Each system provides, in namespace ebb::runtime_v1::os:
//   void prepare_thread_for_faults(thread_state*)   once per thread, the first time it resumes a
//                                                    fiber (fiber.hpp): install the process's handler
//                                                    if not yet, give the thread whatever the handler
//                                                    needs to run after an overflow; sets faults_ready
//   std::size_t minimum_signal_frame_bytes()        (os/signal_frame.hpp, behind signal_frame_margin)
// and a handler that calls handle_fault_at and passes on what is not ebb's to whoever handled faults
// before.
//
// POSIX (posix/signal_handler.hpp): SIGSEGV/SIGBUS via sigaction with SA_ONSTACK, an alternate signal
// stack per thread, SI_KERNEL and ucontext decoded; chains to the previous handler exactly as it asked.
// Public: ebb::try_handle_stack_fault(int, siginfo_t*, void*) for hosts with their own handler.
//
// Windows (windows/exception_handler.hpp): AddVectoredExceptionHandler (first in the chain) receives
// EXCEPTION_ACCESS_VIOLATION / EXCEPTION_GUARD_PAGE / EXCEPTION_STACK_OVERFLOW with the address in
// ExceptionInformation[1] and the stack pointer in ContextRecord->Rsp; "raised by the kernel" is a
// STATUS_STACK_OVERFLOW. The system runs the handler on the faulting stack, so there is no alternate
// stack: the guard must leave room for it, which is what signal_frame_margin reserves. Windows grows
// a thread's stack itself through a moving PAGE_GUARD page and the TEB's StackLimit/DeallocationStack;
// a fiber's stack either takes that scheme over (set StackLimit and the guard page on every switch)
// or keeps ebb's fixed guard with the TEB's limits set to the whole reservation so the system does not
// call it an overflow first. Returning EXCEPTION_CONTINUE_EXECUTION is "handled";
// EXCEPTION_CONTINUE_SEARCH passes it on. Public there: ebb::try_handle_stack_fault_at.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/fault_classification.hpp"
#include "ebb/os/signal_frame.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include "ebb/os/posix/signal_handler.hpp"
#elif defined(_WIN32)
#include "ebb/os/windows/exception_handler.hpp"
#else
#error "ebb: no stack fault delivery for this system (see ebb/os/stack_fault.hpp)"
#endif
