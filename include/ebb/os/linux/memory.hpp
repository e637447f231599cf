// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/memory.hpp — os/memory.hpp's contract on Linux: the POSIX pieces, guard install where
// the kernel has it (linux/guard_install.hpp), PAGEMAP_SCAN for residency with mincore behind it
// (linux/pagemap_scan.hpp), and sysinfo for whether swap exists.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/linux/guard_install.hpp"
#include "ebb/os/linux/pagemap_scan.hpp"
#include "ebb/os/linux/pass_memory.hpp"
#include "ebb/os/memory_units.hpp"
#include "ebb/os/posix/memory.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include <sys/sysinfo.h>

EBB_RUNTIME_BEGIN
namespace os {

// Reserve `count` adjacent [guard | stack] reservations in one mapping (a slab) and return the lowest
// address, or nullptr with errno set. One mmap per stack costs 12–20 µs; one per slab, plus a guard
// install per stack, is a fraction of that. With guard install the slab stays one mapping; with
// mprotect guards each stack adds two, which is what vm.max_map_count (65530 by default) limits.
inline void* reserve(std::size_t guard_bytes, std::size_t stack_bytes, std::size_t count = 1) noexcept {
  const std::size_t each = guard_bytes + stack_bytes;
  const std::size_t total = each * count;
  void* base = nullptr;
  if (!map_reservation(total, base)) return nullptr;
  for (std::size_t i = 0; i < count; ++i) {
    if (!install_guard(static_cast<char*>(base) + i * each, guard_bytes)) {
      const int saved = errno;
      release(base, total);
      errno = saved;
      return nullptr;
    }
  }
  return base;
}

inline long max_map_count() noexcept {
  long value = -1;
  if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%ld", &value) != 1) value = -1;
    std::fclose(f);
  }
  return value;
}

// The process's memory mappings: lines of /proc/self/maps (-1 if it cannot be read).
inline long mapping_count() noexcept {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  long lines = 0;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0)
    for (std::size_t i = 0; i < n; ++i) lines += buffer[i] == '\n';
  std::fclose(f);
  return lines;
}

// On a 64-bit process out of address space is rarely what ENOMEM means here: without guard install,
// the mappings that mprotect guards split off reach vm.max_map_count first. But a 32-bit process (or
// one under RLIMIT_AS) runs out of address space with mappings to spare: about 15,000 default stacks
// fill 4 GiB with 30,000 of 65,530 mappings. The hint is given only when the mappings are near the
// limit: within a tenth of it, which also covers mappings that count against the limit but are not
// listed (under qemu-user the guest's /proc/self/maps hides qemu's own: an i386 guest saw 65,380 of
// 65,530 at the host's limit).
inline std::string reserve_failure_hint(int error) {
  if (error != ENOMEM || guard_method_in_use().load() != static_cast<int>(guard_method::mprotect)) return {};
  const long limit = max_map_count(), in_use = mapping_count();
  if (limit > 0 && in_use >= 0 && in_use < limit - limit / 10) return {};
  return " (this kernel lacks guard install, so each stack's mprotect guard costs two memory "
         "mappings, and vm.max_map_count is " + std::to_string(limit) + ")";
}

// Give the pages wholly inside [lo, hi) back to the OS. Returns the bytes of address range covered.
inline std::size_t decommit(void* lo, void* hi) noexcept {
  const std::size_t page = page_size();
  auto first = round_up(reinterpret_cast<std::uintptr_t>(lo), page);
  auto last = round_down(reinterpret_cast<std::uintptr_t>(hi), page);
  if (last <= first) return 0;
  if (!discard_pages(reinterpret_cast<void*>(first), last - first)) return 0;
  return last - first;
}

// decommit, for a range the caller counted as holding `accounted` bytes: returns them, or 0 if
// refused. Inside a registry pass's group the range joins the group's one release call instead
// (os/linux/pass_memory.hpp), made before any of the group's fibers can run again.
inline std::size_t decommit_accounted(void* lo, void* hi, std::size_t accounted) noexcept {
  const std::size_t page = page_size();
  auto first = round_up(reinterpret_cast<std::uintptr_t>(lo), page);
  auto last = round_down(reinterpret_cast<std::uintptr_t>(hi), page);
  if (last <= first) return 0;
  if (pass_memory* batch = pass_memory::active()) {
    batch->defer_release(reinterpret_cast<void*>(first), last - first, accounted);
    return accounted;  // a refusal at the group's release call is taken back off the pass's report
  }
  return discard_pages(reinterpret_cast<void*>(first), last - first) ? accounted : 0;
}

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

// Opening /proc/self/pagemap registers an atfork handler, which must not happen under fork()'s locks.
inline void prepare_residency_queries() noexcept { (void)pagemap_fd(); }

}  // namespace os
EBB_RUNTIME_END
