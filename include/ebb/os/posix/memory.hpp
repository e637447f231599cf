// SPDX-License-Identifier: BSL-1.0
// ebb/os/posix/memory.hpp — the pieces of os/memory.hpp's contract that any POSIX system provides:
// mappings, protection, discarding pages and mincore. Which of them serve a given operation (and
// what a system has that is better) is decided by that system's own header, e.g. os/linux/memory.hpp.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/memory_units.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

EBB_RUNTIME_BEGIN
namespace os {

// Cached in an atomic rather than a function-local static: a static's guard, held by a thread that
// initialises it while another forks, stays held in the child, which would wait for ever at its
// first use. Two threads that both find it unset both ask, and store the same answer.
inline std::size_t page_size() noexcept {
  static std::atomic<std::size_t> size{0};  // constant-initialised: no guard
  std::size_t bytes = size.load(std::memory_order_relaxed);
  if (EBB_UNLIKELY(bytes == 0)) {
    bytes = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    size.store(bytes, std::memory_order_relaxed);
  }
  return bytes;
}

inline std::uintptr_t page_floor_of(void* p) noexcept { return round_down(reinterpret_cast<std::uintptr_t>(p), page_size()); }
inline std::uintptr_t page_ceil_of(void* p) noexcept { return round_up(reinterpret_cast<std::uintptr_t>(p), page_size()); }

// A slab of reservations: address space readable and writable, each page committed by the kernel when
// first touched. MAP_NORESERVE keeps untouched stacks out of the overcommit accounting; MAP_STACK
// says what it is for. False (errno set) on failure. (A flag, not a null pointer: mmap may return
// address 0, so testing for null would cost reserve a branch it did not have.)
inline bool map_reservation(std::size_t total, void*& base) noexcept {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_NORESERVE
  flags |= MAP_NORESERVE;
#endif
#ifdef MAP_STACK
  flags |= MAP_STACK;
#endif
  base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (base == MAP_FAILED) return false;
#ifdef MADV_NOHUGEPAGE
  // Under transparent huge pages one touched byte could otherwise become 2 MiB of RSS.
  ::madvise(base, total, MADV_NOHUGEPAGE);
#endif
  return true;
}

inline void release(void* base, std::size_t total) noexcept { ::munmap(base, total); }

// Plain read-write memory for ebb's own dense storage (compact fibers' blocks): `bytes` (a multiple of
// the page size) at an address aligned to `alignment` (a power of two, at least a page), or nullptr.
// mmap aligns only to pages, so a larger alignment maps the excess and trims both ends.
inline void* map_block(std::size_t bytes, std::size_t alignment) noexcept {
  const std::size_t page = page_size();
  const std::size_t extra = alignment > page ? alignment - page : 0;
  void* raw = ::mmap(nullptr, bytes + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto lo = reinterpret_cast<std::uintptr_t>(raw);
  const auto at = round_up(lo, alignment);
  if (at > lo) ::munmap(raw, at - lo);
  if (lo + bytes + extra > at + bytes) ::munmap(reinterpret_cast<void*>(at + bytes), lo + bytes + extra - at - bytes);
#ifdef MADV_NOHUGEPAGE
  ::madvise(reinterpret_cast<void*>(at), bytes, MADV_NOHUGEPAGE);  // dense storage is accounted page by page
#endif
  return reinterpret_cast<void*>(at);
}
inline void unmap_block(void* at, std::size_t bytes) noexcept { ::munmap(at, bytes); }

// Guards by protection: every call splits the mapping (a guarded range becomes a mapping of its own),
// which is what a per-process limit on mappings counts. Async-signal-safe.
inline bool protect_guard(void* lo, std::size_t bytes) noexcept { return ::mprotect(lo, bytes, PROT_NONE) == 0; }
inline bool unprotect_guard(void* lo, std::size_t bytes) noexcept {
  return ::mprotect(lo, bytes, PROT_READ | PROT_WRITE) == 0;
}

// Memory comes back with MADV_DONTNEED: on Linux it drops the pages from RSS at once, and the next
// touch maps a fresh zero page. MADV_FREE would leave RSS up until memory pressure (the reason Go went
// back to DONTNEED). Systems where DONTNEED is only advice (the BSDs, macOS) need their own choice
// here (MADV_FREE, or macOS's MADV_FREE_REUSABLE), made in their header. Async-signal-safe.
inline bool discard_pages(void* lo, std::size_t bytes) noexcept { return ::madvise(lo, bytes, MADV_DONTNEED) == 0; }

// How many bytes mincore writes for one page of page_size(): 1 on every kernel, but qemu-user run
// with a guest page size larger than the host's (`qemu-aarch64 -p 65536` on a 4 KiB host) passes the
// call through and the host kernel writes one byte per *host* page, 16 per guest page, past the end
// of a vector sized by the guest's page count. Measured once on a page of our own (at most 64 bytes
// are written: a 4 KiB host page inside a guest page up to 256 KiB; more would not fit our vectors,
// and then mincore serves as if it answered for whole pages, overflow-free: see the probe).
inline std::size_t mincore_entries_per_page() noexcept {
  static std::atomic<std::size_t> measured{0};  // as page_size(): no static's guard for a fork to catch
  std::size_t known = measured.load(std::memory_order_relaxed);
  if (EBB_LIKELY(known != 0)) return known;
  const std::size_t entries = [] {
    const std::size_t page = page_size();
    void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return std::size_t{1};
    unsigned char vec[256];
    std::memset(vec, 0xee, sizeof vec);
    std::size_t written = 1;
    if (page <= 64 * 4096 && ::mincore(p, page, vec) == 0) {
      written = 0;
      while (written < sizeof vec && vec[written] != 0xee) ++written;
      if (written == 0 || written > 64) written = 1;
    }
    ::munmap(p, page);
    return written;
  }();
  measured.store(entries, std::memory_order_relaxed);
  return entries;
}

// One mincore call over [at, at + pages * page): run(start, end) for each resident page, lowest first.
// Returns 1 when run asked to stop, 0 when the pages were answered, -1 when mincore refused (errno set).
template <class Run>
int mincore_pages(std::uintptr_t at, std::size_t pages, std::size_t per_page, unsigned char* vec, Run& run) noexcept {
  const std::size_t page = page_size();
  if (::mincore(reinterpret_cast<void*>(at), pages * page, vec) != 0) return -1;
  for (std::size_t i = 0; i < pages; ++i) {
    bool present = false;
    for (std::size_t j = 0; j < per_page; ++j) present = present || (vec[i * per_page + j] & 1u) != 0;
    if (present && !run(at + i * page, at + (i + 1) * page)) return 1;
  }
  return 0;
}

// Calls run(start, end) for each resident page in [first, last), lowest first, until run returns
// false. mincore answers one byte per page and cannot see swapped-out pages (see memory_held).
//
// mincore fails with ENOMEM for the whole call when any page of the range cannot be asked about: on
// Linux a page that is not mapped; under qemu-user (7.2) also a mapped page the guest cannot read
// (PROT_NONE or PROT_WRITE only), because qemu checks the range for guest read access before passing
// the call on (linux-user/syscall.c, TARGET_NR_mincore: lock_user(VERIFY_READ, ...) answers ENOMEM). So
// under qemu every query that spans an mprotect guard (the guard method there, see guard_install.hpp:
// tripwire zones below a window) failed, and read as "nothing resident". A refused batch is asked
// again page by page: a page that is refused on its own holds nothing that ebb counts (unmapped, or
// one of ebb's guards, whose memory guard_and_free discards before protecting it) and is skipped;
// after each page answered, the rest of the batch is tried in one call again (ebb's guarded ranges
// lie below the pages it asks about: a tripwire zone below the window).
template <class Run>
void scan_present_mincore(std::uintptr_t first, std::uintptr_t last, Run&& run) noexcept {
  const std::size_t page = page_size();
  const std::size_t per_page = mincore_entries_per_page();
  unsigned char vec[256];
  const int saved = errno;
  for (auto at = first; at < last;) {
    std::size_t pages = (last - at) / page;
    if (pages > sizeof vec / per_page) pages = sizeof vec / per_page;
    const std::uintptr_t end = at + pages * page;
    int answer = mincore_pages(at, pages, per_page, vec, run);
    for (auto p = at; answer < 0 && p < end;) {  // refused: page by page
      answer = mincore_pages(p, 1, per_page, vec, run);
      p += page;
      if (answer == 0 && p < end) answer = mincore_pages(p, (end - p) / page, per_page, vec, run);
    }
    if (answer > 0) break;  // run asked to stop
    at = end;
  }
  errno = saved;
}

}  // namespace os
EBB_RUNTIME_END
