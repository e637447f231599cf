// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/memory.hpp — os/memory.hpp's contract on Windows: VirtualAlloc / VirtualFree for the
// states, QueryWorkingSetEx for residency. Same names and signatures as os/linux/memory.hpp, so the
// portable code includes it unchanged.
//
// Windows separates two things Linux merges: commit *charge* (a promise of RAM or page file, counted
// against the system's commit limit at MEM_COMMIT) and pages (which still arrive on first touch, as
// zero pages). So "accessible" is MEM_COMMIT + PAGE_READWRITE (charged, no pages yet), "guarded" is
// reserved and not committed (every access faults with an access violation: no charge, no pages), and
// the guard needs no protection change at all, only VirtualFree(MEM_DECOMMIT). "Decommitted" is
// MEM_DECOMMIT then MEM_COMMIT again: the only pair that both drops the pages at once and makes the
// next touch read zero (DiscardVirtualMemory and MEM_RESET keep the charge but leave the contents
// undefined, which the contract does not allow).
//
// Async-signal-safety: Windows has no signals. The operations marked async-signal-safe in the
// contract are called from a vectored exception handler on the faulting thread; VirtualAlloc and
// VirtualFree are thin wrappers over system calls (NtAllocateVirtualMemory, NtFreeVirtualMemory), so
// they are safe there. (Under wine those calls take wine's own virtual-memory lock with signals
// blocked: safe too, unless the fault came from inside wine's allocator.)
#pragma once

#include "ebb/config.hpp"

// Empty on other systems (every header compiles on its own anywhere); os/memory.hpp includes it only
// for Windows.
#if defined(_WIN32)
#include "ebb/os/memory_units.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "ebb/os/windows/pass_memory.hpp"
#include "ebb/os/windows/windows_h.hpp"

EBB_RUNTIME_BEGIN
namespace os {

inline const SYSTEM_INFO& system_info() noexcept {
  static const SYSTEM_INFO info = [] {
    SYSTEM_INFO i{};
    ::GetSystemInfo(&i);
    return i;
  }();
  return info;
}

// The unit of commit, decommit and protection (4 KiB on x64).
inline std::size_t page_size() noexcept { return system_info().dwPageSize; }

// The unit of reservation (64 KiB everywhere so far): a reservation starts on this boundary, and the
// address space up to the next boundary is lost to every other reservation.
inline std::size_t allocation_granularity() noexcept { return system_info().dwAllocationGranularity; }

inline std::uintptr_t page_floor_of(void* p) noexcept { return round_down(reinterpret_cast<std::uintptr_t>(p), page_size()); }
inline std::uintptr_t page_ceil_of(void* p) noexcept { return round_up(reinterpret_cast<std::uintptr_t>(p), page_size()); }

// The contract reports failure through errno; Windows reports it through GetLastError.
inline void set_errno_from_last_error() noexcept {
  switch (::GetLastError()) {
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT:
    case ERROR_COMMITMENT_MINIMUM:
      errno = ENOMEM;
      break;
    default:
      errno = EINVAL;
      break;
  }
}

// Give back every reservation in [base, base + bytes): one stack of a slab or a whole slab.
// VirtualFree(MEM_RELEASE) frees only a whole reservation, named by its base with size 0 (it cannot
// cut one in two), which is why reserve makes each stack of a slab a reservation of its own.
inline void release(void* base, std::size_t bytes) noexcept {
  auto at = reinterpret_cast<std::uintptr_t>(base);
  const auto end = at + bytes;
  while (at < end) {
    MEMORY_BASIC_INFORMATION mbi{};
    if (::VirtualQuery(reinterpret_cast<void*>(at), &mbi, sizeof mbi) == 0) return;
    if (mbi.State == MEM_FREE) {
      at = reinterpret_cast<std::uintptr_t>(mbi.BaseAddress) + mbi.RegionSize;
      continue;
    }
    // The reservation ends where a region with another AllocationBase (or free space) begins.
    void* const allocation = mbi.AllocationBase;
    auto next = reinterpret_cast<std::uintptr_t>(mbi.BaseAddress) + mbi.RegionSize;
    for (;;) {
      MEMORY_BASIC_INFORMATION more{};
      if (::VirtualQuery(reinterpret_cast<void*>(next), &more, sizeof more) == 0) break;
      if (more.State == MEM_FREE || more.AllocationBase != allocation) break;
      next = reinterpret_cast<std::uintptr_t>(more.BaseAddress) + more.RegionSize;
    }
    ::VirtualFree(allocation, 0, MEM_RELEASE);
    at = next;
  }
}

// Plain read-write memory for ebb's own dense storage (compact fibers' blocks), committed at once:
// `bytes` (a multiple of the page size) aligned to `alignment`, which VirtualAlloc gives up to its
// allocation granularity (64 KiB) by itself. For more, a range with room to align is reserved to
// find free address space, given back, and the aligned part taken (VirtualFree cannot trim a
// reservation); another thread may take it in between, so that is retried.
inline void* map_block(std::size_t bytes, std::size_t alignment) noexcept {
  if (alignment <= allocation_granularity()) {
    void* at = ::VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (at == nullptr) set_errno_from_last_error();
    return at;
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    void* probe = ::VirtualAlloc(nullptr, bytes + alignment, MEM_RESERVE, PAGE_NOACCESS);
    if (probe == nullptr) {
      set_errno_from_last_error();
      return nullptr;
    }
    ::VirtualFree(probe, 0, MEM_RELEASE);
    void* want = reinterpret_cast<void*>(round_up(reinterpret_cast<std::uintptr_t>(probe), alignment));
    if (void* at = ::VirtualAlloc(want, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)) return at;
  }
  errno = ENOMEM;
  return nullptr;
}
inline void unmap_block(void* at, std::size_t) noexcept { ::VirtualFree(at, 0, MEM_RELEASE); }

// accessible -> guarded: an uncommitted page of a reservation faults on any access
// (STATUS_ACCESS_VIOLATION), and decommitting drops its pages and its commit charge in one call.
// No PAGE_NOACCESS/PAGE_GUARD protection is needed (PAGE_GUARD is one-shot: the first touch
// clears it, which is what the OS's own stack growth wants and a guard must not do).
inline bool install_guard(void* lo, std::size_t bytes) noexcept {
  if (bytes == 0) return true;
  if (::VirtualFree(lo, bytes, MEM_DECOMMIT) != 0) return true;
  set_errno_from_last_error();
  return false;
}

// guarded -> accessible: commit charge again (fails with ENOMEM at the commit limit); the pages
// arrive zeroed on first touch.
inline bool remove_guard(void* lo, std::size_t bytes) noexcept {
  if (bytes == 0) return true;
  if (::VirtualAlloc(lo, bytes, MEM_COMMIT, PAGE_READWRITE) != nullptr) return true;
  set_errno_from_last_error();
  return false;
}

// committed -> guarded with the memory freed: decommit does both at once. A refused decommit changes
// nothing (the range is still accessible), so the range is never stuck.
inline bool guard_and_free(void* lo, std::size_t bytes, bool& stuck) noexcept {
  stuck = false;
  return install_guard(lo, bytes);
}

// The guard below a stack, laid out so that an overflow can be reported: a vectored handler runs on
// the faulting stack (Windows has no alternate signal stack), so the guard must leave it room.
//
//   [ reserved page | committed read-write pages | one PAGE_GUARD page ]   stack above
//
// A fiber that runs past its stack touches the PAGE_GUARD page first: large frames probe their pages
// from the top (__chkstk / ___chkstk_ms), and a frame under a page cannot step over it. The system
// clears the page's guard and raises STATUS_GUARD_PAGE_VIOLATION, whose record and the handler's frames
// go on the read-write pages below; ebb's handler (os/windows/exception_handler.hpp) reports the fiber
// and its limit and ends the process. The page at the bottom stays reserved: a runaway that gets past
// all of it faults there with nowhere to report, as a plain guard would.
//
// The TIB's DeallocationStack and StackLimit of the fiber are the guard's top, so the system never
// takes the guard page for its own stack growth (which it does for a PAGE_GUARD page inside
// [DeallocationStack, StackBase): it would move StackLimit down and say nothing until the guard was
// used up, letting a fiber run 12 KiB past its limit unreported).
//
// A plain reserved guard would leave no room: Windows ends such a process without a word, and wine
// 8.0 dies with SIGSEGV (tests/windows/switch_test.cpp --growth-probe). The cost: the guard minus a
// page counts against the commit limit (12 KiB a stack with the default 16 KiB guard); its pages
// arrive only if touched. A guard under three pages stays plain reserved (no room to report in).
inline bool arm_overflow_zone(void* guard_lo, std::size_t guard_bytes) noexcept {
  const std::size_t page = page_size();
  if (guard_bytes < 3 * page) return true;
  char* const lo = static_cast<char*>(guard_lo);
  if (::VirtualAlloc(lo + page, guard_bytes - 2 * page, MEM_COMMIT, PAGE_READWRITE) != nullptr &&
      ::VirtualAlloc(lo + guard_bytes - page, page, MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD) != nullptr)
    return true;
  set_errno_from_last_error();
  return false;
}

// Reserve `count` adjacent [guard | stack] reservations, guards armed (above), stacks committed, and
// return the lowest address, or nullptr with errno set.
//
// Each stack is committed to its full size here: MEM_COMMIT charges, it does not allocate, so this
// costs no RAM, only commit limit (RAM + page file): 100,000 default fibers (1 MiB maximum) ask for
// 100 GB of it. Committing only the top and letting the OS grow the stack through a moving PAGE_GUARD
// page, as it does for threads, would charge what is used; it is not written yet (wine 8.0 grows a
// fiber's stack only through pages already committed: tests/windows/switch_test.cpp --growth-probe).
//
// Adjacent stacks of a slab are separate reservations (the caller releases them one by one, and
// VirtualFree cannot release part of a reservation): the slab's size is reserved once to find a free
// range, given back, and taken again stack by stack at the same addresses. That needs every
// [guard | stack] to be a multiple of the 64 KiB allocation granularity; otherwise a slab of more
// than one is refused with EINVAL (the caller then asks for one). Another thread may take part of the
// range between the two steps: then what was taken is given back and the whole is tried again.
inline void* reserve(std::size_t guard_bytes, std::size_t stack_bytes, std::size_t count = 1) noexcept {
  const std::size_t each = guard_bytes + stack_bytes;
  const std::size_t total = each * count;
  if (count == 0 || each == 0 || total / count != each) {
    errno = EINVAL;
    return nullptr;
  }
  // Committing stacks inside a reservation just made can fail for one reason, the commit limit:
  // ENOMEM whatever the code (Windows says ERROR_COMMITMENT_LIMIT or ERROR_NOT_ENOUGH_MEMORY; wine
  // 8.0, whose commit is Linux's mmap under overcommit, says ERROR_ACCESS_DENIED: memory_test's probe).
  auto commit_stacks = [&](char* base) {
    for (std::size_t i = 0; i < count; ++i)
      if (!remove_guard(base + i * each + guard_bytes, stack_bytes) || !arm_overflow_zone(base + i * each, guard_bytes)) {
        errno = ENOMEM;
        return false;
      }
    return true;
  };
  if (count == 1) {
    void* base = ::VirtualAlloc(nullptr, total, MEM_RESERVE, PAGE_NOACCESS);
    if (base == nullptr) {
      set_errno_from_last_error();
      return nullptr;
    }
    if (!commit_stacks(static_cast<char*>(base))) {
      const int saved = errno;
      ::VirtualFree(base, 0, MEM_RELEASE);
      errno = saved;
      return nullptr;
    }
    return base;
  }
  if (each % allocation_granularity() != 0) {
    errno = EINVAL;
    return nullptr;
  }
  for (int attempt = 0; attempt < 8; ++attempt) {
    char* const base = static_cast<char*>(::VirtualAlloc(nullptr, total, MEM_RESERVE, PAGE_NOACCESS));
    if (base == nullptr) {
      set_errno_from_last_error();
      return nullptr;
    }
    ::VirtualFree(base, 0, MEM_RELEASE);
    std::size_t taken = 0;
    while (taken < count && ::VirtualAlloc(base + taken * each, each, MEM_RESERVE, PAGE_NOACCESS) == base + taken * each)
      ++taken;
    if (taken == count) {
      if (commit_stacks(base)) return base;
      const int saved = errno;
      release(base, total);
      errno = saved;
      return nullptr;
    }
    release(base, taken * each);  // raced with another reservation: try elsewhere
  }
  errno = ENOMEM;
  return nullptr;
}

// ENOMEM from reserve on a 64-bit process is the commit limit, not address space: each stack is
// charged at its full size when it is reserved.
inline std::string reserve_failure_hint(int error) {
  if (error != ENOMEM) return {};
  MEMORYSTATUSEX status{};
  status.dwLength = sizeof status;
  std::string hint =
      " (Windows charges each stack's full size against the commit limit, RAM plus page file, when it is "
      "reserved";
  if (::GlobalMemoryStatusEx(&status))
    hint += ": " + std::to_string(status.ullAvailPageFile >> 20) + " MiB of " +
            std::to_string(status.ullTotalPageFile >> 20) + " MiB of commit is free";
  return hint + ")";
}

// The pages wholly inside [lo, hi) lose their memory at once and read zero when touched next; returns
// the bytes covered, 0 if refused (errno set). Decommit frees the pages and the charge; the commit
// that follows takes the charge back (no pages). If that second step fails (the commit limit was
// reached in between, by another thread) the range is left guarded: 0 is returned, and a touch there
// faults as a guard would. (DiscardVirtualMemory would keep the charge, but not promise zero pages.)
inline std::size_t decommit(void* lo, void* hi) noexcept {
  const std::size_t page = page_size();
  const auto first = round_up(reinterpret_cast<std::uintptr_t>(lo), page);
  const auto last = round_down(reinterpret_cast<std::uintptr_t>(hi), page);
  if (last <= first) return 0;
  void* const at = reinterpret_cast<void*>(first);
  if (!install_guard(at, last - first)) return 0;
  if (!remove_guard(at, last - first)) return 0;
  return last - first;
}

inline std::size_t decommit_accounted(void* lo, void* hi, std::size_t accounted) noexcept {
  return decommit(lo, hi) != 0 ? accounted : 0;
}

// QueryWorkingSetEx answers, per page asked about, whether it is in the process's working set (Valid):
// a resident page. It lives in kernel32 as K32QueryWorkingSetEx since Windows 7; it is looked up at
// run time so that a header-only library adds no link dependency (psapi.lib) to its users.
struct working_set_ex_entry {  // PSAPI_WORKING_SET_EX_INFORMATION
  void* virtual_address;
  std::uintptr_t attributes;  // bit 0: Valid
};
using query_working_set_ex_fn = BOOL(WINAPI*)(HANDLE, void*, DWORD);

inline query_working_set_ex_fn query_working_set_ex() noexcept {
  static std::atomic<query_working_set_ex_fn> fn{nullptr};
  static std::atomic<bool> resolved{false};
  if (!resolved.load(std::memory_order_acquire)) {
    query_working_set_ex_fn f = nullptr;
    if (HMODULE k32 = ::GetModuleHandleW(L"kernel32.dll"))
      f = reinterpret_cast<query_working_set_ex_fn>(reinterpret_cast<void*>(::GetProcAddress(k32, "K32QueryWorkingSetEx")));
    fn.store(f, std::memory_order_relaxed);
    resolved.store(true, std::memory_order_release);
  }
  return fn.load(std::memory_order_relaxed);
}

// Calls run(start, end) for each resident page in [first, last), lowest first, until run returns
// false; 128 pages per call (2 KiB of entries on the caller's stack). False if the query is
// unavailable or refused.
template <class Run>
bool scan_working_set(std::uintptr_t first, std::uintptr_t last, Run&& run) noexcept {
  const auto query = query_working_set_ex();
  if (query == nullptr) return false;
  const std::size_t page = page_size();
  working_set_ex_entry entries[128];
  const HANDLE self = ::GetCurrentProcess();
  for (auto at = first; at < last;) {
    std::size_t pages = (last - at) / page;
    if (pages > sizeof entries / sizeof entries[0]) pages = sizeof entries / sizeof entries[0];
    for (std::size_t i = 0; i < pages; ++i) {
      entries[i].virtual_address = reinterpret_cast<void*>(at + i * page);
      entries[i].attributes = 0;
    }
    if (!query(self, entries, static_cast<DWORD>(pages * sizeof entries[0]))) return false;
    for (std::size_t i = 0; i < pages; ++i)
      if ((entries[i].attributes & 1u) != 0 && !run(at + i * page, at + (i + 1) * page)) return true;
    at += pages * page;
  }
  return true;
}

// Bytes of [lo, hi) (bounds rounded out to pages) backed by pages in the working set.
inline std::size_t resident_bytes(void* lo, void* hi) noexcept {
  std::size_t resident = 0;
  scan_working_set(page_floor_of(lo), page_ceil_of(hi), [&](std::uintptr_t start, std::uintptr_t end) {
    resident += end - start;
    return true;
  });
  return resident;
}

// True if any page of [first, last) is committed (VirtualQuery): only those can hold memory unseen.
inline bool any_committed(std::uintptr_t first, std::uintptr_t last) noexcept {
  for (auto at = first; at < last;) {
    MEMORY_BASIC_INFORMATION mbi{};
    if (::VirtualQuery(reinterpret_cast<void*>(at), &mbi, sizeof mbi) == 0) return true;  // unknown
    if (mbi.State == MEM_COMMIT) return true;
    at = reinterpret_cast<std::uintptr_t>(mbi.BaseAddress) + mbi.RegionSize;
  }
  return false;
}

// Windows does not say whether a committed page outside the working set was never touched, waits on
// the standby or modified list, or is in the page file: swapped stays 0 and, when nothing is resident
// but something is committed, swap_unknown says memory may be held unseen (as mincore does on Linux).
inline held_memory memory_held(void* lo, void* hi) noexcept {
  held_memory held;
  const auto first = page_floor_of(lo), last = page_ceil_of(hi);
  const bool scanned = scan_working_set(first, last, [&](std::uintptr_t start, std::uintptr_t end) {
    held.resident += end - start;
    return true;
  });
  held.swap_unknown = (!scanned || held.resident == 0) && last > first && any_committed(first, last);
  return held;
}

// The lowest resident page in [lo, hi), or hi if none (resident only, as with mincore on Linux).
inline void* lowest_resident(void* lo, void* hi) noexcept {
  void* lowest = hi;
  scan_working_set(page_floor_of(lo), page_ceil_of(hi), [&](std::uintptr_t start, std::uintptr_t) {
    lowest = reinterpret_cast<void*>(start);
    return false;
  });
  return lowest;
}

// Resolve K32QueryWorkingSetEx now (GetModuleHandle/GetProcAddress take the loader lock). Windows has
// no fork(), so this is about doing it once, early.
inline void prepare_residency_queries() noexcept { (void)query_working_set_ex(); }

}  // namespace os
EBB_RUNTIME_END

#endif  // defined(_WIN32)
