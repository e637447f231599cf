// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_ms_start_handler.hpp — fiber_start's exception handler on Windows x64: how an
// exception that no frame of a fiber handles reaches the process's top-level filter, as it does on a
// thread's own stack. arch/x86_64_ms.hpp names the handler in fiber_start's unwind information
// (.seh_handler) and includes this file after its EBB_X86_64_MS_* names; the machine-code form (MSVC)
// passes the handler's address to arch/x86_64_ms_code_block.hpp instead.
//
// Windows calls the process's top-level filter (UnhandledExceptionFilter, which calls what
// SetUnhandledExceptionFilter installed: the C runtime's handler, crash reporters) from the exception
// handler of its own thread and fiber start routines; a stack that does not begin there never reaches
// it. Seen under wine 8.0 without this handler: a C++ exception escaping a fiber's entry ended the
// process ("Unhandled exception code 20474343", status 67) where on the thread's stack MinGW's filter
// resumed it and std::terminate ran the terminate handler; an access violation would likewise bypass
// every crash reporter. So fiber_start carries an exception handler that does what kernel32's fiber
// start does: in the search phase, ask UnhandledExceptionFilter; EXCEPTION_CONTINUE_EXECUTION resumes
// the faulting code (how MinGW's filter sends an uncaught C++ exception back to std::terminate),
// anything else lets the search end, after which the system ends the process with the exception's
// code (the thread start routine calls ExitProcess with it instead: the same end).
#pragma once

#include "ebb/arch/x86_64_ms.hpp"

#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
#include <cstdint>
#include <cstring>

extern "C" {
__declspec(dllimport) long __stdcall UnhandledExceptionFilter(struct _EXCEPTION_POINTERS* exception);
}

EBB_RUNTIME_BEGIN
namespace arch {

#if !EBB_X86_64_MS_MACHINE_CODE
// fiber_start's language-specific handler (EXCEPTION_ROUTINE: record, establisher frame, context,
// dispatcher context; returns an EXCEPTION_DISPOSITION). Only fiber_start's unwind information refers
// to it, which the compiler does not see: `used` makes every unit that includes this emit it (COMDAT).
// The machine-code form takes its address instead (x86_64_ms_code_block.hpp).
extern "C" __attribute__((used)) inline int ebb_fiber_start_handler(void* record, void* establisher, void* context,
                                                                    void* dispatcher) noexcept
    __asm__(EBB_X86_64_MS_START_HANDLER);
#endif
inline int ebb_fiber_start_handler(void* record, void*, void* context, void*) noexcept {
  constexpr int continue_execution = 0, continue_search = 1;  // ExceptionContinueExecution / Search
  constexpr std::uint32_t unwinding = 0x66;  // EXCEPTION_UNWIND: unwinding, exit, target and collided unwinds
  std::uint32_t flags;  // EXCEPTION_RECORD::ExceptionFlags, after the 4-byte code
  std::memcpy(&flags, static_cast<const char*>(record) + 4, sizeof flags);
  if (flags & unwinding) return continue_search;
  struct {
    void* record;
    void* context;
  } pointers{record, context};  // EXCEPTION_POINTERS
  const long verdict = UnhandledExceptionFilter(reinterpret_cast<struct _EXCEPTION_POINTERS*>(&pointers));
  return verdict == -1 /* EXCEPTION_CONTINUE_EXECUTION */ ? continue_execution : continue_search;
}

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
