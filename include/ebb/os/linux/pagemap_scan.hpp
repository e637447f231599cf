// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/pagemap_scan.hpp — which pages of a range hold memory, asked of Linux in a few calls.
//
// Linux 6.7 added PAGEMAP_SCAN, an ioctl on /proc/self/pagemap that returns the present pages of a
// range as a few [start, end) runs: about 0.9 µs per stack here, against about 6 µs for mincore,
// which returns one byte per page. ebb uses it where the kernel has it and mincore otherwise
// (os/linux/memory.hpp). Pages mapped to the shared zero page (read but never written) are not
// counted: they cost no memory.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/install_once.hpp"
#include "ebb/detail/integer_cast.hpp"
#include "ebb/os/posix/memory.hpp"
#include "ebb/os/per_thread.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/os/valgrind_presence.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

struct pagemap_state {
  std::atomic<int> fd{-2};  // -2: not tried yet, -1: unavailable
  registration_once forget_after_fork;  // the atfork handler below
};
EBB_PROCESS_WIDE(pagemap_state, process_pagemap, {});

inline void forget_pagemap_after_fork() noexcept {
  process_pagemap.forget_after_fork.mark_done();
  // The descriptor would describe the parent's address space in the child.
  int fd = process_pagemap.fd.exchange(-2);
  if (fd >= 0) ::close(fd);
}

inline int pagemap_fd() noexcept {
  int fd = process_pagemap.fd.load(std::memory_order_acquire);
  if (fd != -2) return fd;
  // Not a function-local static: a child forked while another thread ran its initialiser would
  // inherit the guard taken and wait for ever at its first query.
  process_pagemap.forget_after_fork.run([]() noexcept { ::pthread_atfork(nullptr, nullptr, &forget_pagemap_after_fork); });
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

// What a registry pass learned of the stacks it holds, in one scan per group of nearby stacks rather
// than two per fiber (os/linux/pass_memory.hpp takes it). While a snapshot is active on a thread, the
// queries below answer from it for any range it covers. That is exact: it was taken after the fibers
// were taken for the visit, and nothing touches a held fiber's stack but the holder, which reads it.
struct residency_snapshot {
  static constexpr std::size_t max_runs = 1024;  // pages in RAM or swap, as the kernel merges them
  static constexpr std::size_t max_spans = 64;
  pagemap_region runs[max_runs];  // sorted, from scans with_swap (present or swapped, never zero-page)
  std::size_t run_count = 0;
  struct span { std::uintptr_t lo, hi; } spans[max_spans];  // what the runs describe completely
  std::size_t span_count = 0;

  bool covers(std::uintptr_t first, std::uintptr_t last) const noexcept {
    for (std::size_t i = 0; i < span_count; ++i)
      if (spans[i].lo <= first && last <= spans[i].hi) return true;
    return false;
  }

  // The kernel's answer for [first, last) under this filter, replayed: runs clipped to the range,
  // swapped ones left out unless with_swap. (max_pages only makes the kernel stop a call early;
  // scan_pages goes on from there, so the pages reported are the same.)
  template <class Run>
  void replay(std::uintptr_t first, std::uintptr_t last, bool with_swap, Run& run) const noexcept {
    std::size_t lo = 0, hi = run_count;  // the first run ending above `first`
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (runs[mid].end <= first) lo = mid + 1; else hi = mid;
    }
    for (std::size_t i = lo; i < run_count && runs[i].start < last; ++i) {
      if (!with_swap && (runs[i].categories & page_is_present) == 0) continue;
      const std::uint64_t start = runs[i].start < first ? first : runs[i].start;
      const std::uint64_t end = runs[i].end > last ? last : runs[i].end;
      if (!run(integer_cast<std::uintptr_t>(start), integer_cast<std::uintptr_t>(end), runs[i].categories)) return;
    }
  }
};
EBB_PER_THREAD(residency_snapshot*, thread_residency_snapshot, this_thread_residency_snapshot)

// Calls run(start, end, categories) for each run of pages in [first, last) the filter selects (see
// set_scan_filter), lowest first, until run returns false. Returns false if PAGEMAP_SCAN is unavailable.
template <class Run>
bool scan_pages(std::uintptr_t first, std::uintptr_t last, bool with_swap, Run&& run,
                std::uint64_t max_pages = 0) noexcept {
  if (const residency_snapshot* snapshot = this_thread_residency_snapshot();
      snapshot != nullptr && snapshot->covers(first, last)) {
    snapshot->replay(first, last, with_swap, run);
    return true;
  }
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
      if (!run(integer_cast<std::uintptr_t>(regions[i].start), integer_cast<std::uintptr_t>(regions[i].end),
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

}  // namespace os
EBB_RUNTIME_END
