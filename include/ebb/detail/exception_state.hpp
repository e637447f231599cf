// SPDX-License-Identifier: BSL-1.0
// ebb/detail/exception_state.hpp — per-fiber exception state.
//
// The C++ runtime keeps, per thread, the stack of exceptions being handled (what
// std::current_exception and a bare `throw;` see) and the count of exceptions in flight (what
// std::uncaught_exceptions returns): __cxa_eh_globals, reached through __cxa_get_globals(). A fiber
// that yields inside a catch block and a fiber resumed meanwhile would otherwise share and corrupt
// that state. So each switch saves the leaving side's record and installs the other side's.
//
// Both libstdc++ and libc++abi lay the record out as {caught exceptions, uncaught count}, with a third
// field (propagating exceptions) under the ARM EHABI. Reading it costs about 7 ns per switch through
// __cxa_get_globals(), which glibc reaches through TLS; caching its address per thread brings that
// to about 2.4 ns. The cache is only read through the opaque thread accessor (thread_state.hpp),
// never across a switch, so a fiber that migrates to another thread never uses a stale address.
// MSVC keeps this state in undocumented runtime data: nothing is promised there. So the record's
// accessor exists only where <cxxabi.h> does (config.hpp's EBB_HAS_CXXABI), and elsewhere
// EBB_SWAP_EXCEPTION_STATE defaults to 0; the record type stays, because fiber_context has fields of
// it in every configuration (its layout must not depend on the build's settings).
#pragma once

#include "ebb/config.hpp"

#if EBB_HAS_CXXABI
#include <cxxabi.h>
#endif
#if EBB_SWAP_EXCEPTION_STATE && !EBB_HAS_CXXABI
#error "ebb: EBB_SWAP_EXCEPTION_STATE=1 needs the C++ ABI header <cxxabi.h>, which this library lacks"
#endif

EBB_RUNTIME_BEGIN

// The record as whole machine words (its padding included, which belongs to it), so a switch copies
// it with a couple of plain moves instead of field by field.
struct exception_state {
#if defined(__ARM_EABI_UNWINDER__)
  void* words[3] = {};  // caught exceptions, uncaught count, propagating exceptions
#else
  void* words[2] = {};  // caught exceptions, uncaught count (and padding)
#endif
};

#if EBB_SWAP_EXCEPTION_STATE
inline exception_state* thread_exception_state() noexcept {
  return reinterpret_cast<exception_state*>(abi::__cxa_get_globals());
}
#endif

EBB_RUNTIME_END
