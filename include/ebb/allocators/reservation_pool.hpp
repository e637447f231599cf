// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/reservation_pool.hpp — reuse of stack reservations across fibers.
//
// One mmap per fiber costs 12–20 µs, two orders of magnitude more than creating and running a fiber
// should. So finished stacks are kept and handed to the next fiber that asks for the same shape
// (guard bytes + stack bytes). Each thread keeps a few in a private cache (thread_stack_cache.hpp);
// the rest sit in one process-wide list behind a mutex, here. Both are bounded.
//
// A pooled stack keeps its top page resident (that page holds the fiber's control block and entry
// frames, so reuse costs no page fault). Releasing deeper pages at every destruction would cost a
// system call per fiber (0.3 µs and up, several times the rest of a fiber's life), so a fiber releases
// them only when it saw itself deeper than the top page; each pooled entry records how far down it may
// be dirty (clean_below), and the next fiber on it counts anything resident above that as its own
// committed memory, released at its first shrink point. A fiber that went deep between two switches
// was not seen doing so: its reservation is pooled dirty down to its guard. Registry passes that
// complete and trim_stack_pool() clean every pooled reservation, in every thread's cache and in the
// process pool, down to its top page (clean_pooled_reservations). trim() unmaps everything pooled.
//
// The per-thread caches in front of this pool: allocators/thread_stack_cache.hpp.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/detail/never_destroyed.hpp"
#include "ebb/os/memory.hpp"

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

EBB_RUNTIME_BEGIN

struct pooled_reservation {
  void* base;
  std::size_t guard_bytes;
  std::size_t stack_bytes;
  void* clean_below;  // no page below this address holds memory (base + guard_bytes when unknown)

  char* top_page() const noexcept {
    return static_cast<char*>(base) + guard_bytes + stack_bytes - os::page_size();
  }
};

// Give back the memory of a pooled reservation below its top page (nobody runs on it). Returns the
// bytes that held memory.
inline std::size_t clean_reservation(pooled_reservation& r) noexcept {
  char* top_page = r.top_page();
  char* lo = static_cast<char*>(r.clean_below);
  char* limit = static_cast<char*>(r.base) + r.guard_bytes;
  if (lo < limit) lo = limit;
  if (lo >= top_page) return 0;
  const os::held_memory held = os::memory_held(lo, top_page);  // swapped-out pages count: swap is freed too
  if (held.worth_releasing() && os::decommit(lo, top_page) == 0) return 0;  // refused: it stays dirty
  r.clean_below = top_page;
  return held.bytes();
}

class reservation_pool {
 public:
  static constexpr std::size_t thread_cache_capacity = 16;
  static constexpr std::size_t default_capacity = 1024;

  bool take(std::size_t guard_bytes, std::size_t stack_bytes, pooled_reservation& out) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = free_.size(); i-- > 0;) {
      if (free_[i].guard_bytes == guard_bytes && free_[i].stack_bytes == stack_bytes) {
        out = free_[i];
        free_[i] = free_.back();
        free_.pop_back();
        return true;
      }
    }
    return false;
  }

  // Keep the reservation if there is room; otherwise unmap it.
  void give(const pooled_reservation& r) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (free_.size() < capacity_) {
#if EBB_HAS_EXCEPTIONS
        try {
          free_.push_back(r);
          return;
        } catch (...) {
          // vector growth failed: fall through and unmap
        }
#else
        free_.push_back(r);
        return;
#endif
      }
    }
    os::release(r.base, r.guard_bytes + r.stack_bytes);
  }

  // Unmap every pooled reservation; returns the bytes of address space released.
  std::size_t trim() noexcept {
    std::vector<pooled_reservation> victims;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      victims.swap(free_);
    }
    std::size_t bytes = 0;
    for (auto& r : victims) {
      os::release(r.base, r.guard_bytes + r.stack_bytes);
      bytes += r.guard_bytes + r.stack_bytes;
    }
    return bytes;
  }

  // Clean every dirty reservation (clean_reservation). They are taken out a batch at a time and
  // cleaned outside the mutex, so creating fibers never waits for the system calls; a fiber that
  // misses one meanwhile takes another or a new slab. Returns the bytes released.
  std::size_t clean() noexcept {
    std::size_t bytes = 0;
    std::size_t rounds = size() / batch + 2;  // entries dirtied meanwhile wait for the next pass
    for (; rounds > 0; --rounds) {
      pooled_reservation dirty[batch];
      std::size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t i = free_.size(); i-- > 0 && n < batch;) {
          if (free_[i].clean_below < free_[i].top_page()) {
            dirty[n++] = free_[i];
            free_[i] = free_.back();
            free_.pop_back();
          }
        }
      }
      if (n == 0) break;
      for (std::size_t i = 0; i < n; ++i) bytes += clean_reservation(dirty[i]);
      for (std::size_t i = 0; i < n; ++i) give(dirty[i]);
    }
    return bytes;
  }

  void set_capacity(std::size_t reservations) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_ = reservations;
  }
  std::size_t size() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return free_.size();
  }
  template <class Visit>
  void for_each(Visit&& visit) const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& r : free_) visit(r);
  }

  // fork(): held across it so the child never inherits it locked by a thread it does not have.
  void lock_for_fork() noexcept { mutex_.lock(); }
  void unlock_after_fork() noexcept { mutex_.unlock(); }

 private:
  static constexpr std::size_t batch = 64;
  mutable std::mutex mutex_;
  std::vector<pooled_reservation> free_;
  std::size_t capacity_ = default_capacity;
};

// One pool per process: default visibility so every shared library's copy of these inline variables
// binds to the same object.
EBB_NO_DESTROY EBB_PROCESS_WIDE(never_destroyed<reservation_pool>, process_pool_storage, {});
inline reservation_pool& process_pool() noexcept { return process_pool_storage.value; }

EBB_RUNTIME_END
