// SPDX-License-Identifier: BSL-1.0
// ebb/config.hpp — platform detection, build configuration and the versioned namespace.
//
// Every other header starts here. The configuration a translation unit was compiled with is part of
// the inline namespace name, so two units built with different settings (say one lean, one checked)
// produce different symbols instead of silently violating the one-definition rule.
#pragma once

#if !defined(__cplusplus) || (__cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#error "ebb needs C++17 or later: compile with -std=c++17 (MSVC: /std:c++17)"
// A missing header is a fatal error: compilation stops here instead of burying the line above under
// a cascade of errors from the rest of ebb.
#include <ebb_needs_cplusplus17_or_later>
#endif

// ---- operating system, architecture, ABI, binary format ------------------------------------------
// Four separate answers, because a port is chosen by all of them together: the ISA fixes the
// instructions of the switch, the calling convention (ABI) which registers it must save, the object
// format how the routine is emitted (ELF sections and COMDAT groups, Mach-O, COFF), and the OS how a
// signal handler's context is decoded and how memory is reserved. arch/switch.hpp selects the port
// from the first three; os/ implements the fourth. Each is checked here, so an unsupported target
// stops at the first line of ebb with a message naming what is supported, not deep inside a header
// that assumed Linux.
#if defined(__linux__)
#define EBB_OS_LINUX 1
#elif defined(_WIN32)
// Windows x64: arch/x86_64_ms.hpp and os/windows/ (MinGW-w64 tested under wine; MSVC compiled by
// no one here: docs/design.md, "Windows").
#define EBB_OS_WINDOWS 1
#else
#error "ebb: unsupported operating system (supported: Linux; Windows x64)"
#include <ebb_supports_only_linux>  // stop here (see the C++17 check above)
#endif

#if defined(__x86_64__) && !defined(_WIN32) && !defined(__CYGWIN__)
#define EBB_ARCH_X86_64 1
#define EBB_ABI_SYSV 1
#elif (defined(__x86_64__) || (defined(_M_X64) && !defined(_M_ARM64EC))) && (defined(_WIN32) || defined(__CYGWIN__))
// The Microsoft x64 convention: xmm6-xmm15, rdi and rsi callee-saved, arguments in rcx, rdx, r8, r9.
// (ARM64EC defines _M_X64 too but runs AArch64 code.)
#define EBB_ARCH_X86_64 1
#define EBB_ABI_MS 1
#elif defined(__aarch64__) && !defined(_WIN32) && !defined(__ILP32__)
#define EBB_ARCH_AARCH64 1
#define EBB_ABI_AAPCS64 1
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double)
// lp64d: doubles passed in FP registers, so fs0-fs11 are callee-saved (lp64/lp64f would differ).
#define EBB_ARCH_RISCV64 1
#define EBB_ABI_LP64D 1
#elif defined(__arm__) && !defined(__aarch64__) && defined(__ARM_EABI__) && defined(__ARM_PCS_VFP) && \
    defined(__ARM_FP) && (__ARM_FP & 8)
// AAPCS with the VFP variant (armhf): d8-d15 callee-saved; needs double-precision VFP (__ARM_FP bit 3).
#define EBB_ARCH_ARM32 1
#define EBB_ABI_AAPCS_HF 1
#elif defined(__i386__) && !defined(_WIN32)
#define EBB_ARCH_I386 1
#define EBB_ABI_SYSV 1
#else
#error "ebb: no context-switch routine for this architecture/ABI yet (supported: x86-64 System V and Microsoft x64, AArch64 AAPCS64, RISC-V 64 lp64d, ARM32 AAPCS hard-float, i386 System V)"
#include <ebb_supports_only_x86_64_sysv>
#endif

#if defined(__ELF__)
#define EBB_FORMAT_ELF 1
#elif defined(_WIN32) || defined(__CYGWIN__)
#define EBB_FORMAT_PE 1  // PE images from COFF objects
#else
#error "ebb: unsupported object file format (supported: ELF, PE/COFF)"
#include <ebb_supports_only_elf>
#endif

#include "ebb/version.hpp"

#include <cstddef>

// Tripwire mode (tripwire_stack_allocator) grows a stack from inside the fault handler, which must run
// on another stack than the one that faulted: POSIX's alternate signal stack. Windows delivers
// exceptions on the faulting stack, where at a tripwire there is no room; there the allocator is a
// compile-time error and the OS's own PAGE_GUARD growth is the Windows way (docs/tripwire.md).
#if defined(_WIN32)
#define EBB_HAS_TRIPWIRE 0
#else
#define EBB_HAS_TRIPWIRE 1
#endif

// ---- compiler features --------------------------------------------------------------------------
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define EBB_HAS_EXCEPTIONS 1
#else
#define EBB_HAS_EXCEPTIONS 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EBB_NOINLINE __attribute__((noinline))
#define EBB_ALWAYS_INLINE inline __attribute__((always_inline))
#define EBB_LIKELY(x) __builtin_expect(!!(x), 1)
#define EBB_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define EBB_VISIBLE __attribute__((visibility("default")))
#else
#define EBB_NOINLINE
#define EBB_ALWAYS_INLINE inline
#define EBB_LIKELY(x) (x)
#define EBB_UNLIKELY(x) (x)
#define EBB_VISIBLE
#endif

// GCC's interprocedural analysis can prove a non-inlined function "const" and merge calls to it;
// `noipa` forbids that. Clang has no such pass across a noinline function with an asm memory clobber.
#if defined(__GNUC__) && !defined(__clang__)
#define EBB_OPAQUE __attribute__((noinline, noipa))
#else
#define EBB_OPAQUE __attribute__((noinline))
#endif

// Process-wide objects that must outlive static destruction (detail/never_destroyed.hpp) say so to
// clang, which then registers no exit-time destructor for them (and -Wglobal-constructors is quiet).
// Not on Windows: there EBB_PROCESS_WIDE declares a reference to an object in a mapping that is
// never destroyed (os/windows/process_objects.hpp), and the attribute means nothing on a reference.
#if defined(__clang__) && !defined(_WIN32)
#define EBB_NO_DESTROY [[clang::no_destroy]]
#else
#define EBB_NO_DESTROY
#endif

#define EBB_STRINGIFY_(x) #x
#define EBB_STRINGIFY(x) EBB_STRINGIFY_(x)

// ---- tools watching the program (detail/tool_hooks.hpp tells them about stacks and switches) ----
#if defined(__SANITIZE_ADDRESS__)
#define EBB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EBB_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define EBB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EBB_TSAN 1
#endif
#endif
#ifndef EBB_ASAN
#define EBB_ASAN 0
#endif
// A function whose memory accesses AddressSanitizer must not check (copies of compact fibers' frames).
#if EBB_ASAN && (defined(__GNUC__) || defined(__clang__))
#define EBB_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define EBB_NO_SANITIZE_ADDRESS
#endif
#ifndef EBB_TSAN
#define EBB_TSAN 0
#endif
// Valgrind is opt-in (EBB_VALGRIND=1, CMake -DEBB_VALGRIND=ON, meson -Dvalgrind=true): its client
// requests change the generated code and <valgrind/valgrind.h> defines dozens of unprefixed macros,
// so whether a build has them must not depend on which packages the machine happens to have.
#ifndef EBB_VALGRIND
#define EBB_VALGRIND 0
#endif
#if EBB_VALGRIND
#define EBB_ABI_VG 1
#else
#define EBB_ABI_VG 0
#endif

// ---- build configuration ------------------------------------------------------------------------
// EBB_LEAN=1 compiles out the per-fiber exception-state swap and the misuse checks on resume/yield.
// It is for measured hot paths whose fibers never yield from inside a catch block and whose callers
// are known to be correct. Each switch is then only the assembly routine plus a little bookkeeping.
#ifndef EBB_LEAN
#define EBB_LEAN 0
#endif
#ifndef EBB_CHECKS
#define EBB_CHECKS (!EBB_LEAN)
#endif
// The swap reads the C++ runtime's per-thread exception record through <cxxabi.h>
// (detail/exception_state.hpp); a runtime without that header (MSVC's) offers no way to do it, so
// there it is off, and asking for it is an error (detail/exception_state.hpp).
#ifndef EBB_HAS_CXXABI
#if defined(__has_include)
#if __has_include(<cxxabi.h>)
#define EBB_HAS_CXXABI 1
#endif
#endif
#endif
#ifndef EBB_HAS_CXXABI
#define EBB_HAS_CXXABI 0
#endif
#ifndef EBB_SWAP_EXCEPTION_STATE
#define EBB_SWAP_EXCEPTION_STATE (!EBB_LEAN && EBB_HAS_EXCEPTIONS && EBB_HAS_CXXABI)
#endif

// EBB_SWITCH_HOOKS=1 compiles in the profiler and tracer hooks (ebb::set_switch_hooks,
// detail/switch_hooks.hpp): every switch then tests whether hooks are set. Off, they cost nothing.
#ifndef EBB_SWITCH_HOOKS
#define EBB_SWITCH_HOOKS 0
#endif
#if EBB_SWITCH_HOOKS
#define EBB_ABI_H 1
#else
#define EBB_ABI_H 0
#endif

// The inline namespace: ABI version, then one tag per setting that changes generated code
// (c = misuse checks, x = exception-state swap, e = exceptions enabled, vg = Valgrind client
// requests, h = switch hooks, k = compact fibers' checked mode; 1 on, 0 off).
#if EBB_CHECKS
#define EBB_ABI_C 1
#else
#define EBB_ABI_C 0
#endif
#if EBB_SWAP_EXCEPTION_STATE
#define EBB_ABI_X 1
#else
#define EBB_ABI_X 0
#endif
// Compact fibers' checked mode (mappers/shared_stack.hpp): saved frames are poisoned (ASan) or filled
// with a canary. On by default under AddressSanitizer. Tag k.
#ifndef EBB_COMPACT_CHECKS
#define EBB_COMPACT_CHECKS EBB_ASAN
#endif
#if EBB_COMPACT_CHECKS
#define EBB_ABI_K 1
#else
#define EBB_ABI_K 0
#endif
#define EBB_ABI_PASTE_(chk, swp, exc, grind, hk, cc) v1_c##chk##x##swp##e##exc##vg##grind##h##hk##k##cc
#define EBB_ABI_PASTE(c, x, e, grind, hk, cc) EBB_ABI_PASTE_(c, x, e, grind, hk, cc)
#define EBB_ABI_NAMESPACE \
  EBB_ABI_PASTE(EBB_ABI_C, EBB_ABI_X, EBB_HAS_EXCEPTIONS, EBB_ABI_VG, EBB_ABI_H, EBB_ABI_K)

#define EBB_NAMESPACE_BEGIN namespace ebb { inline namespace EBB_ABI_NAMESPACE {
#define EBB_NAMESPACE_END } }

// Assembly symbols carry the version in their names; they are hidden, one copy per executable or
// shared library, so two libraries built with different ebb versions never call each other's routine.
#define EBB_ASM_VERSION "v1"
// The one per-thread variable of the runtime, named so assembly can address it.
#define EBB_THREAD_STATE_SYMBOL "ebb_" EBB_ASM_VERSION "_thread_state"
// The function each copy of the runtime exports to answer it (os/linux/loaded_objects.hpp says why).
#define EBB_COPY_THREAD_STATE_SYMBOL "ebb_" EBB_ASM_VERSION "_copy_thread_state"
// Its size: four pointer-sized words (detail/context.hpp asserts thread_state matches). Spelled for
// the preprocessor, because the assembly that defines the variable (arch/format/) needs it as text.
#if defined(__SIZEOF_POINTER__)
#define EBB_THREAD_STATE_BYTES (4 * __SIZEOF_POINTER__)
#elif defined(_WIN64)
#define EBB_THREAD_STATE_BYTES (4 * 8)
#else
#define EBB_THREAD_STATE_BYTES (4 * 4)
#endif

// Process-wide runtime: state that must exist once per process however many translation units and
// shared libraries include ebb, whatever configuration each was built with (the current fiber of each
// thread, the reservation pool). Its layout depends on no setting above, and its data symbols carry
// default visibility so the dynamic linker merges every library's copy into one.
#define EBB_RUNTIME_BEGIN namespace ebb { namespace runtime_v1 {
#define EBB_RUNTIME_END } }
