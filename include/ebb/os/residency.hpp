// SPDX-License-Identifier: BSL-1.0
// ebb/os/residency.hpp — which pages of a range hold memory (in RAM, or in swap).
//
// Linux 6.7 added PAGEMAP_SCAN, an ioctl on /proc/self/pagemap that returns the present pages of a
// range as a few [start, end) runs: about 0.9 µs per stack here, against about 6 µs for mincore,
// which returns one byte per page. ebb uses it where the kernel has it and mincore otherwise. Pages
// mapped to the shared zero page (read but never written) are not counted: they cost no memory.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/virtual_memory.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#if EBB_VALGRIND
#include <valgrind/valgrind.h>
#endif

EBB_RUNTIME_BEGIN
namespace os {

struct pagemap_region {
  std::uint64_t start, end, categories;
};
struct pagemap_scan_arg {
  std::uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  std::uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
inline constexpr unsigned long pagemap_scan_request = _IOWR('f', 16, pagemap_scan_arg);
inline constexpr std::uint64_t page_is_present = 1u << 3;
inline constexpr std::uint64_t page_is_swapped = 1u << 4;
inline constexpr std::uint64_t page_is_zero_pfn = 1u << 5;

// Which pages a scan reports: resident ones, or (with_swap) also those swapped out. A range whose
// pages are all in swap has nothing resident, yet releasing it frees its swap: the decision to
// release asks with_swap. Pages mapped to the shared zero page are never counted.
constexpr void set_scan_filter(pagemap_scan_arg& arg, bool with_swap) noexcept {
  arg.category_inverted = page_is_zero_pfn;
  arg.category_mask = page_is_zero_pfn | (with_swap ? 0 : page_is_present);
  arg.category_anyof_mask = with_swap ? page_is_present | page_is_swapped : 0;
  arg.return_mask = page_is_present | page_is_swapped;
}

// Whether the kernel reports a page of these categories under this filter (fs/proc/task_mmu.c,
// pagemap_scan_is_interesting_page): the inverted bits flip, then every bit of category_mask must be
// set and, if category_anyof_mask is not zero, one of its bits.
constexpr bool scan_selects(const pagemap_scan_arg& arg, std::uint64_t categories) noexcept {
  categories ^= arg.category_inverted;
  if ((categories & arg.category_mask) != arg.category_mask) return false;
  return arg.category_anyof_mask == 0 || (categories & arg.category_anyof_mask) != 0;
}

inline bool running_on_valgrind() noexcept {
#if EBB_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

struct pagemap_state {
  std::atomic<int> fd{-2};  // -2: not tried yet, -1: unavailable
};
EBB_VISIBLE inline pagemap_state process_pagemap;

inline void forget_pagemap_after_fork() noexcept {
  // The descriptor would describe the parent's address space in the child.
  int fd = process_pagemap.fd.exchange(-2);
  if (fd >= 0) ::close(fd);
}

inline int pagemap_fd() noexcept {
  int fd = process_pagemap.fd.load(std::memory_order_acquire);
  if (fd != -2) return fd;
  static const bool registered = (::pthread_atfork(nullptr, nullptr, &forget_pagemap_after_fork), true);
  (void)registered;
  // Valgrind does not know this ioctl and would call its results undefined: mincore there.
  int opened = running_on_valgrind() ? -1 : ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (opened >= 0) {
    // Probe: an old kernel answers ENOTTY (or EINVAL) and mincore serves instead.
    pagemap_region one;
    pagemap_scan_arg probe{};
    probe.size = sizeof probe;
    probe.start = reinterpret_cast<std::uint64_t>(&one) / page_size() * page_size();
    probe.end = probe.start + page_size();
    probe.vec = reinterpret_cast<std::uint64_t>(&one);
    probe.vec_len = 1;
    probe.category_mask = page_is_present;
    probe.return_mask = page_is_present;
    if (::ioctl(opened, pagemap_scan_request, &probe) < 0) {
      ::close(opened);
      opened = -1;
    }
  }
  int expected = -2;
  if (!process_pagemap.fd.compare_exchange_strong(expected, opened) && opened >= 0) ::close(opened);
  return process_pagemap.fd.load(std::memory_order_acquire);
}

// The kernel reports addresses as u64. A template keeps the conversion explicit for 32-bit targets
// without g++'s -Wuseless-cast firing on 64-bit ones, where the two types are the same.
template <class To, class From>
constexpr To kernel_address(From value) noexcept {
  return static_cast<To>(value);
}

// Calls run(start, end, categories) for each run of pages in [first, last) the filter selects (see
// set_scan_filter), lowest first, until run returns false. Returns false if PAGEMAP_SCAN is unavailable.
template <class Run>
bool scan_pages(std::uintptr_t first, std::uintptr_t last, bool with_swap, Run&& run,
                std::uint64_t max_pages = 0) noexcept {
  const int fd = pagemap_fd();
  if (fd < 0) return false;
  pagemap_region regions[32];
  pagemap_scan_arg arg{};
  arg.size = sizeof arg;
  arg.end = last;
  arg.vec = reinterpret_cast<std::uint64_t>(regions);
  arg.vec_len = sizeof regions / sizeof regions[0];
  set_scan_filter(arg, with_swap);
  arg.max_pages = max_pages;  // 0: no limit; 1 when only the first page matters
  for (std::uint64_t at = first; at < last;) {
    arg.start = at;
    long n = ::ioctl(fd, pagemap_scan_request, &arg);
    if (n < 0) return false;
    for (long i = 0; i < n; ++i)
      if (!run(kernel_address<std::uintptr_t>(regions[i].start), kernel_address<std::uintptr_t>(regions[i].end),
               regions[i].categories))
        return true;
    if (arg.walk_end <= at) break;
    at = arg.walk_end;
  }
  return true;
}

// Calls run(start, end) for each run of present pages in [first, last), lowest first, until run
// returns false. Returns false if PAGEMAP_SCAN is unavailable.
template <class Run>
bool scan_present(std::uintptr_t first, std::uintptr_t last, Run&& run, std::uint64_t max_pages = 0) noexcept {
  return scan_pages(
      first, last, false, [&](std::uintptr_t start, std::uintptr_t end, std::uint64_t) { return run(start, end); },
      max_pages);
}

// The same walk through mincore, one byte per page, for kernels without PAGEMAP_SCAN. It cannot see
// swapped-out pages (see memory_held).
template <class Run>
void scan_present_mincore(std::uintptr_t first, std::uintptr_t last, Run&& run) noexcept {
  const std::size_t page = page_size();
  unsigned char vec[256];
  for (auto at = first; at < last;) {
    std::size_t pages = (last - at) / page;
    if (pages > sizeof vec) pages = sizeof vec;
    if (::mincore(reinterpret_cast<void*>(at), pages * page, vec) != 0) return;
    for (std::size_t i = 0; i < pages; ++i)
      if ((vec[i] & 1u) && !run(at + i * page, at + (i + 1) * page)) return;
    at += pages * page;
  }
}

inline std::uintptr_t page_floor_of(void* p) noexcept { return round_down(reinterpret_cast<std::uintptr_t>(p), page_size()); }
inline std::uintptr_t page_ceil_of(void* p) noexcept { return round_up(reinterpret_cast<std::uintptr_t>(p), page_size()); }

// Calls run(start, end) for the present pages of [lo, hi) (bounds rounded out to pages), lowest
// first, until run returns false.
template <class Run>
void for_each_present(void* lo, void* hi, Run&& run, std::uint64_t max_pages = 0) noexcept {
  const auto first = page_floor_of(lo), last = page_ceil_of(hi);
  if (!scan_present(first, last, run, max_pages)) scan_present_mincore(first, last, run);
}

// Bytes of [lo, hi) backed by resident pages.
inline std::size_t resident_bytes(void* lo, void* hi) noexcept {
  std::size_t resident = 0;
  for_each_present(lo, hi, [&](std::uintptr_t start, std::uintptr_t end) {
    resident += end - start;
    return true;
  });
  return resident;
}

inline bool swap_configured() noexcept {
  struct sysinfo info {};
  return ::sysinfo(&info) != 0 || info.totalswap != 0;  // unknown counts as possible
}

// What a range holds: resident bytes, swapped-out bytes, and whether swap may hold some unseen (mincore
// cannot see it; then any range may hold swap when the system has swap at all).
struct held_memory {
  std::size_t resident = 0;
  std::size_t swapped = 0;
  bool swap_unknown = false;
  bool worth_releasing() const noexcept { return resident != 0 || swapped != 0 || swap_unknown; }
  std::size_t bytes() const noexcept { return resident + swapped; }
};

inline held_memory memory_held(void* lo, void* hi) noexcept {
  held_memory held;
  const auto first = page_floor_of(lo), last = page_ceil_of(hi);
  const bool scanned = scan_pages(first, last, true, [&](std::uintptr_t start, std::uintptr_t end, std::uint64_t categories) {
    (categories & page_is_present ? held.resident : held.swapped) += end - start;
    return true;
  });
  if (!scanned) {
    scan_present_mincore(first, last, [&](std::uintptr_t start, std::uintptr_t end) {
      held.resident += end - start;
      return true;
    });
    held.swap_unknown = held.resident == 0 && last > first && swap_configured();
  }
  return held;
}

// The lowest page in [lo, hi) that holds memory, resident or swapped (mincore: resident only), or hi if
// none: how deep the stack has been touched since its pages were last released.
inline void* lowest_resident(void* lo, void* hi) noexcept {
  void* lowest = hi;
  // One page is all it needs: without the limit the kernel would go on walking every present page
  // (measured 1.5 us against 3.2 us for a 1 MiB stack with 200 of them).
  const auto first = page_floor_of(lo), last = page_ceil_of(hi);
  const bool scanned = scan_pages(
      first, last, true,
      [&](std::uintptr_t start, std::uintptr_t, std::uint64_t) {
        lowest = reinterpret_cast<void*>(start);
        return false;
      },
      1);
  if (!scanned)
    scan_present_mincore(first, last, [&](std::uintptr_t start, std::uintptr_t) {
      lowest = reinterpret_cast<void*>(start);
      return false;
    });
  return lowest;
}

}  // namespace os
EBB_RUNTIME_END
