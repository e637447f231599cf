// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/pass_memory.hpp — a registry pass's memory work in a few system calls (Linux).
//
// A pass over a thousand fibers used to make two residency queries per fiber and one madvise per
// fiber it shrank. The queries cost a system call each; the madvise costs far more than its call:
// every MADV_DONTNEED ends in a TLB shootdown, an interrupt to every other CPU that ran the process,
// tens to hundreds of microseconds on a virtual machine. The pass now holds up to 64 fibers at a time
// (detail/registry_shards.hpp) and, for that group:
//   - asks PAGEMAP_SCAN once per run of nearby stacks (a slab's stacks are adjacent) and answers every
//     residency query of the visits from that snapshot (os/linux/pagemap_scan.hpp);
//   - collects the ranges the visits release and hands them to one process_madvise(PIDFD_SELF, ...,
//     MADV_DONTNEED), which the kernel flushes from the TLB once for the whole call.
// The fibers stay held until that call returns: a page discarded after its fiber resumed would lose
// the fiber's data. So a resume waits at most for one group: its visits, one scan per run of stacks
// and one release call.
//
// process_madvise on one's own process with MADV_DONTNEED and the PIDFD_SELF handle is accepted by
// Linux 6.15 and later (6.13 lifted the advice restriction for the caller's own process; PIDFD_SELF,
// which needs no descriptor and stays right across fork(), came in 6.15); the kernel batches the TLB
// flush of a multi-range call from 6.16. ebb does not trust version numbers: the first pass probes
// with a page of its own, and on any refusal (older kernel, seccomp filter, Valgrind, qemu-user) every
// range gets its own madvise, as before. EBB_BATCHED_RELEASE=0 at build time skips the probe.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/integer_cast.hpp"
#include "ebb/os/linux/pagemap_scan.hpp"
#include "ebb/os/per_thread.hpp"
#include "ebb/os/posix/memory.hpp"
#include "ebb/os/process_wide.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef EBB_BATCHED_RELEASE
#define EBB_BATCHED_RELEASE 1
#endif

EBB_RUNTIME_BEGIN
namespace os {

#if defined(SYS_process_madvise)
inline constexpr long process_madvise_call = SYS_process_madvise;
#else
inline constexpr long process_madvise_call = 440;  // the same number on every Linux architecture
#endif
inline constexpr int pidfd_self_process = -10001;  // PIDFD_SELF_THREAD_GROUP (linux/pidfd.h, 6.15)

// Whether process_madvise releases our own pages: -1 not probed, 0 no, 1 yes.
struct batched_release_support {
  std::atomic<int> state{EBB_BATCHED_RELEASE ? -1 : 0};
};
EBB_PROCESS_WIDE(batched_release_support, process_batched_release, {});

inline long release_ranges(const iovec* ranges, std::size_t count) noexcept {
  return ::syscall(process_madvise_call, pidfd_self_process, ranges, count, MADV_DONTNEED, 0u);
}

// Probe on a page of our own: the call must report the page released, and the page must read zero.
inline bool batched_release_available() noexcept {
  int state = process_batched_release.state.load(std::memory_order_acquire);
  if (EBB_LIKELY(state >= 0)) return state == 1;
  bool works = false;
  const std::size_t page = page_size();
  if (!running_on_valgrind()) {  // it does not know the call and would say so on every run
    void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      volatile unsigned char* byte = static_cast<unsigned char*>(p);
      *byte = 0xeb;
      iovec one{p, page};
      works = release_ranges(&one, 1) == static_cast<long>(page) && *byte == 0;
      ::munmap(p, page);
    }
  }
  process_batched_release.state.store(works ? 1 : 0, std::memory_order_release);
  return works;
}

// Counters for tests and benchmarks: what passes asked of the kernel, and how long the kernel took.
// The times let a benchmark split a pass into the system calls and ebb's own work around them (two
// clock reads per call: noise beside a call that walks page tables).
struct pass_memory_counters {
  std::uint64_t residency_scans = 0;  // PAGEMAP_SCAN snapshots taken (one per run of nearby stacks)
  std::uint64_t release_calls = 0;    // process_madvise calls, or madvise calls where those are refused
  std::uint64_t released_ranges = 0;  // ranges released through them
  std::uint64_t scan_ns = 0;          // spent inside the PAGEMAP_SCAN calls
  std::uint64_t release_ns = 0;       // spent inside the release calls
};

inline std::uint64_t monotonic_ns() noexcept {
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1000000000u + static_cast<std::uint64_t>(now.tv_nsec);
}

class pass_memory;
EBB_PER_THREAD(pass_memory*, thread_pass_memory, this_thread_pass_memory_slot)

// One per process, used under the registry's pass mutex, made active on the passing thread while it
// holds a group of fibers.
class pass_memory {
 public:
  static constexpr std::size_t max_ranges = 64;  // the group's fibers release one range each
  struct span { std::uintptr_t lo, hi; };

  // Scan the spans (the held fibers' stacks, any order; rewritten in place), merging those closer
  // than merge_gap, and make the snapshot and the release batch this thread's.
  void begin(span* spans, std::size_t count) noexcept {
    snapshot_.run_count = snapshot_.span_count = 0;
    range_count_ = 0;
    if (count != 0 && pagemap_fd() >= 0) take_snapshot(spans, count);
    this_thread_residency_snapshot() = &snapshot_;
    this_thread_pass_memory_slot() = this;
  }

  // Release what the visits queued, and stop answering for this thread. Returns the bytes the visits
  // counted as released that could not be (accounting stays exact).
  std::size_t end() noexcept {
    const std::size_t unreleased = flush();
    this_thread_residency_snapshot() = nullptr;
    this_thread_pass_memory_slot() = nullptr;
    return unreleased;
  }

  // Queue [lo, lo + bytes) (whole pages), which holds `accounted` bytes of memory.
  void defer_release(void* lo, std::size_t bytes, std::size_t accounted) noexcept {
    if (range_count_ == max_ranges) pending_unreleased_ += flush();
    ranges_[range_count_] = iovec{lo, bytes};
    accounted_[range_count_] = accounted;
    ++range_count_;
  }

  // The pass memory active on this thread, if any.
  static pass_memory* active() noexcept { return this_thread_pass_memory_slot(); }

  pass_memory_counters counters;

 private:
  residency_snapshot snapshot_;
  iovec ranges_[max_ranges];
  std::size_t accounted_[max_ranges];
  std::size_t range_count_ = 0;
  std::size_t pending_unreleased_ = 0;

  // Nearby stacks are scanned together: the kernel skips page tables that map nothing quickly, and a
  // gap this size (a default stack) costs it less than a second system call would.
  static constexpr std::uintptr_t merge_gap = std::uintptr_t{1} << 20;

  void take_snapshot(span* spans, std::size_t count) noexcept {
    // Not an insertion sort: the spans come in the order the pass walks its slots, which for fibers
    // created one after another is descending address order (a thread cache hands out a slab's
    // reservations highest first), an insertion sort's worst case: it took a tenth of a pass over 1000
    // fibers that ran since.
    std::sort(spans, spans + count, [](const span& a, const span& b) { return a.lo < b.lo; });
    for (std::size_t i = 0; i < count;) {
      span merged = spans[i++];
      while (i < count && spans[i].lo <= merged.hi + merge_gap) {
        if (spans[i].hi > merged.hi) merged.hi = spans[i].hi;
        ++i;
      }
      if (!scan_into_snapshot(merged)) return;
    }
  }

  // Append the span's runs; false when the snapshot is full (it then covers what it scanned).
  bool scan_into_snapshot(span s) noexcept {
    residency_snapshot& snap = snapshot_;
    if (snap.span_count == residency_snapshot::max_spans || snap.run_count == residency_snapshot::max_runs)
      return false;
    pagemap_scan_arg arg{};
    arg.size = sizeof arg;
    arg.start = s.lo;
    arg.end = s.hi;
    arg.vec = reinterpret_cast<std::uint64_t>(snap.runs + snap.run_count);
    arg.vec_len = residency_snapshot::max_runs - snap.run_count;
    set_scan_filter(arg, /*with_swap=*/true);
    ++counters.residency_scans;
    const std::uint64_t started = monotonic_ns();
    const long n = ::ioctl(pagemap_fd(), pagemap_scan_request, &arg);
    counters.scan_ns += monotonic_ns() - started;
    if (n < 0) return false;
    snap.run_count += static_cast<std::size_t>(n);
    // A full vector ends the walk early: the snapshot then answers only below where it stopped.
    const std::uintptr_t covered = arg.walk_end >= s.hi ? s.hi : integer_cast<std::uintptr_t>(arg.walk_end);
    if (covered > s.lo) snap.spans[snap.span_count++] = {s.lo, covered};
    return covered == s.hi;
  }

  std::size_t flush() noexcept {
    if (range_count_ == 0) return std::exchange(pending_unreleased_, 0);
    const std::uint64_t started = monotonic_ns();
    std::size_t done = 0;
    if (batched_release_available()) {
      ++counters.release_calls;
      const long advised = release_ranges(ranges_, range_count_);
      // The call stops at the first range it cannot advise and reports the bytes before it; those
      // ranges are done, the rest are tried one by one (advising a range twice is harmless).
      std::size_t left = advised > 0 ? static_cast<std::size_t>(advised) : 0;
      while (done < range_count_ && ranges_[done].iov_len <= left) left -= ranges_[done++].iov_len;
    }
    std::size_t unreleased = std::exchange(pending_unreleased_, 0);
    for (std::size_t i = done; i < range_count_; ++i) {
      ++counters.release_calls;
      if (!discard_pages(ranges_[i].iov_base, ranges_[i].iov_len)) unreleased += accounted_[i];
    }
    counters.released_ranges += range_count_;
    counters.release_ns += monotonic_ns() - started;
    range_count_ = 0;
    return unreleased;
  }
};

// The lowest address from which every page up to hi (rounded to pages) holds memory, in RAM or swap,
// as the snapshot of the registry pass that holds the fiber says; nullptr when no snapshot on this
// thread covers [lo, hi). Never a system call of its own: a shrink point outside a pass does not pay
// for what only a later pass can use (mappers/in_place.hpp keeps the answer, to release the band below
// its kept pages at the next pass without scanning it again).
inline void* held_floor_known(void* lo, void* hi) noexcept {
  const residency_snapshot* snapshot = this_thread_residency_snapshot();
  const auto first = page_floor_of(lo), last = page_ceil_of(hi);
  if (snapshot == nullptr || first >= last || !snapshot->covers(first, last)) return nullptr;
  std::uintptr_t run_lo = last, run_hi = 0;  // the run of held pages seen last, adjacent runs joined
  auto extend = [&](std::uintptr_t start, std::uintptr_t end, std::uint64_t) {
    if (start != run_hi) run_lo = start;
    run_hi = end;
    return true;
  };
  snapshot->replay(first, last, /*with_swap=*/true, extend);
  return reinterpret_cast<void*>(run_hi == last ? run_lo : last);
}

}  // namespace os
EBB_RUNTIME_END
