// SPDX-License-Identifier: BSL-1.0
// Test helper: what changes when the suite runs under ASan, TSan, Valgrind or an emulator.
#pragma once

#include <ebb/ebb.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#if defined(_WIN32)
#include "ebb/os/windows/process_memory.hpp"
#endif

// Divides the long tests' iteration and fiber counts (test_support::scaled). The build sets it:
// 1 natively, 16 for targets run under qemu-user (cmake/toolchains/cross-common.cmake, the meson cross
// files' test_scale option); the environment variable of the same name overrides it at run time.
#ifndef EBB_TEST_SCALE
#define EBB_TEST_SCALE 1
#endif

#if EBB_VALGRIND
#include <valgrind/valgrind.h>
#endif

// Keep a function's locals on the real stack: with detect_stack_use_after_return ASan moves them to
// heap-allocated "fake frames", and a test that means to go deep would not.
#if EBB_ASAN
#define TEST_REAL_STACK __attribute__((no_sanitize("address")))
#else
#define TEST_REAL_STACK
#endif

namespace test_support {

// A field of /proc/self/status in KiB ("VmRSS:", "VmPTE:", "VmHWM:"), or -1.
#if defined(_WIN32)
// Windows: the same questions asked of the process's working set (ebb/os/windows/process_memory.hpp).
// Windows has no per-process page-table count: VmPTE is 0, so sums of RSS and page tables stay the RSS.
inline long status_kib(const char* key) {
  const auto ws = ebb::windows_process_memory::process_working_set();
  if (!ws.known) return -1;
  const std::string k(key);
  // RssAnon (Linux: resident anonymous memory) has no separate counter: the working set includes the
  // image's pages too, which tests comparing before and after do not see change.
  if (k == "VmRSS:" || k == "RssAnon:") return static_cast<long>(ws.current / 1024);
  if (k == "VmHWM:") return static_cast<long>(ws.peak / 1024);
  if (k == "VmPTE:") return 0;
  return -1;
}
#else
inline long status_kib(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string k;
  while (status >> k) {
    if (k == key) {
      long v = -1;
      status >> v;
      return v;
    }
    status.ignore(1 << 20, '\n');
  }
  return -1;
}
#endif

// The process's resident anonymous memory in KiB, counted exactly, or -1.
//
// Tests that compare a reading before and after a shrink need an exact count, and /proc/self/status
// is not one on most kernels: its RSS figures are counters the kernel keeps per thread (before 6.2,
// flushed every 64 page faults) or per CPU (6.2 on, percpu_counter; read without summing the CPUs'
// shares until a 2025 fix), so a reading may miss up to a batch of pages per CPU. CI's run on 21c9a04
// saw a release of 804 KiB of stack lower VmRSS by only 644 KiB on its machine, a shortfall this
// machine's kernel (6.18, which sums) never shows. smaps_rollup walks the page tables instead: exact
// on every kernel since 4.14, and anonymous only, so code pages faulted in by the first call to a
// function between two readings do not count either. Windows: the working set (status_kib).
inline long resident_anon_kib() {
#if defined(_WIN32)
  return status_kib("RssAnon:");
#else
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string k;
  while (rollup >> k) {
    if (k == "Anonymous:") {
      long v = -1;
      rollup >> v;
      return v;
    }
    rollup.ignore(1 << 20, '\n');
  }
  return status_kib("RssAnon:");  // before 4.14
#endif
}

// Page-aligned heap blocks for test allocators (the Windows CRT has no aligned_alloc).
inline void* aligned_block(std::size_t alignment, std::size_t bytes) {
#if defined(_WIN32)
  return ::_aligned_malloc(bytes, alignment);
#else
  return std::aligned_alloc(alignment, bytes);
#endif
}
inline void free_aligned_block(void* p) {
#if defined(_WIN32)
  ::_aligned_free(p);
#else
  std::free(p);
#endif
}

// True when the process runs under Valgrind (only a build with EBB_VALGRIND=1 can tell).
inline bool under_valgrind() {
#if EBB_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

// True when a memory tool adds its own memory to the process (shadow memory, redzones, its own
// stacks), so per-fiber RSS figures are not ebb's alone.
inline bool under_memory_tool() {
#if EBB_ASAN || EBB_TSAN
  return true;
#else
  return under_valgrind();
#endif
}

// The one setting for emulation (see EBB_TEST_SCALE above): every test keeps running, the ones that
// loop or spawn many fibers do less of it. Never below 1.
inline std::uint64_t test_scale() {
  static const std::uint64_t scale = [] {
    const char* text = std::getenv("EBB_TEST_SCALE");
    const std::uint64_t v = text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 0) : EBB_TEST_SCALE;
    return v == 0 ? std::uint64_t{1} : v;
  }();
  return scale;
}
template <class T>
T scaled(T count) {
  const T v = static_cast<T>(static_cast<std::uint64_t>(count) / test_scale());
  return v < 1 ? T{1} : v;
}

// True when the tests run under an emulator (qemu-user): the cross targets' test commands set
// EBB_TEST_EMULATOR. What the emulator cannot reproduce is listed in docs/reliability.md, and a test
// that cannot hold there says why with EBB_TEST_NOT_UNDER_EMULATION.
inline bool emulated() {
  const char* text = std::getenv("EBB_TEST_EMULATOR");
  return text != nullptr && *text != '\0';
}
// Leaves the current test case with a warning naming the reason (visible in every run's output, and
// each use is listed in docs/reliability.md, "Under emulation").
#define EBB_TEST_NOT_UNDER_EMULATION(reason)                                                   \
  do {                                                                                          \
    if (::test_support::emulated()) {                                                           \
      WARN("not run under emulation (docs/reliability.md): " << reason);                        \
      return;                                                                                   \
    }                                                                                           \
  } while (false)

// qemu-i386 7.2 (linux-user) keeps one GDT for all guest threads: when a signal handler returns, the
// sigreturn reloads %gs from it, and the thread's thread pointer becomes that of the thread created
// last (shown by a static i386 program: the thread pointer read with `movl %gs:0` before and after
// raise(SIGUSR1) in the older of two threads differs). Every thread-local access after that reads
// another thread's variables. Tests in which a thread other than the newest one takes a signal (a
// tripwire fiber's growth fault) cannot hold there; natively and under the other emulators they run.
// Use: if (test_support::emulated_signals_break_threads) EBB_TEST_NOT_UNDER_EMULATION(...).
#if defined(EBB_ARCH_I386)
constexpr bool emulated_signals_break_threads = true;
#else
constexpr bool emulated_signals_break_threads = false;
#endif
#define EBB_QEMU_I386_SIGNAL_TLS_REASON                                                          \
  "qemu-i386 reloads %gs from one GDT shared by all threads when a signal handler returns: a "  \
  "thread that took a signal (a tripwire growth fault) then reads the newest thread's thread-locals"

// The page size the tests' bounds are written in: read at run time, as ebb does (AArch64 Linux runs
// with 4, 16 or 64 KiB pages; cross/aarch64-64k runs the suite with 64 KiB).
inline std::size_t page() { return ebb::runtime_v1::os::page_size(); }
inline std::size_t round_up_to_page(std::size_t bytes) { return (bytes + page() - 1) / page() * page(); }

// The floating-point control bit a test flips to see that the switch keeps it per side:
// flush-to-zero, in MXCSR (bit 15) on x86-64 and i386, in FPCR (bit 24) on AArch64 and in FPSCR
// (bit 24) on ARM32. RISC-V's fcsr has no such bit (only the rounding mode, which the tests set
// through <cfenv> everywhere): fp_flush_to_zero is 0 there and the tests skip that half.
inline std::uint64_t fp_control_register() {
  std::uint64_t value;
#if defined(EBB_ARCH_X86_64) || defined(EBB_ARCH_I386)
  std::uint32_t mxcsr;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  value = mxcsr;
#elif defined(EBB_ARCH_AARCH64)
  __asm__ volatile("mrs %0, fpcr" : "=r"(value));
#elif defined(EBB_ARCH_ARM32)
  std::uint32_t fpscr;
  __asm__ volatile("vmrs %0, fpscr" : "=r"(fpscr));
  value = fpscr;
#elif defined(EBB_ARCH_RISCV64)
  __asm__ volatile("frcsr %0" : "=r"(value));
#else
#error "tool_support.hpp: add this architecture's FP control register"
#endif
  return value;
}
inline void set_fp_control_register(std::uint64_t value) {
#if defined(EBB_ARCH_X86_64) || defined(EBB_ARCH_I386)
  const std::uint32_t mxcsr = static_cast<std::uint32_t>(value);
  __asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
#elif defined(EBB_ARCH_AARCH64)
  __asm__ volatile("msr fpcr, %0" : : "r"(value));
#elif defined(EBB_ARCH_ARM32)
  __asm__ volatile("vmsr fpscr, %0" : : "r"(static_cast<std::uint32_t>(value)));
#elif defined(EBB_ARCH_RISCV64)
  __asm__ volatile("fscsr %0" : : "r"(value));
#endif
}
#if defined(EBB_ARCH_X86_64) || defined(EBB_ARCH_I386)
constexpr std::uint64_t fp_flush_to_zero = 1u << 15;
#elif defined(EBB_ARCH_AARCH64) || defined(EBB_ARCH_ARM32)
constexpr std::uint64_t fp_flush_to_zero = 1u << 24;
#else
constexpr std::uint64_t fp_flush_to_zero = 0;
#endif

// Numbers every thread that asks (thread ids are reused after a join; these are not). Opaque, so the
// compiler cannot reuse an answer from before a yield after which the fiber is on another thread.
__attribute__((noinline)) inline int thread_serial() {
  static std::atomic<int> next{0};
  thread_local int serial = ++next;
  __asm__ volatile("" ::: "memory");
  return serial;
}

// Sets the process's tripwire budget for one test and restores an unlimited one however it ends.
struct budget_scope {
  explicit budget_scope(std::size_t bytes) { ebb::set_stack_budget(bytes); }
  ~budget_scope() { ebb::set_stack_budget(static_cast<std::size_t>(-1)); }
  budget_scope(const budget_scope&) = delete;
  budget_scope& operator=(const budget_scope&) = delete;
};

}  // namespace test_support
