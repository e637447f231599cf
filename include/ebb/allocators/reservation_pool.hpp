// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/reservation_pool.hpp — reuse of stack reservations across fibers.
//
// One mmap per fiber costs 12–20 µs, two orders of magnitude more than creating and running a fiber
// should. So finished stacks are kept and handed to the next fiber that asks for the same shape
// (guard bytes + stack bytes). Each thread keeps a few in a private cache (no lock on the common
// create/destroy path); the rest sit in one process-wide list behind a mutex. Both are bounded.
//
// A pooled stack keeps its top page resident (that page holds the fiber's control block and entry
// frames, so reuse costs no page fault). Releasing deeper pages at every destruction would cost a
// system call per fiber (0.3 µs and up, several times the rest of a fiber's life), so a fiber releases
// them only when it saw itself deeper than the top page; each pooled entry records how far down it is
// known to be clean, and the next fiber on it counts anything resident above that as its own committed
// memory, released at its first shrink point. trim() unmaps everything pooled.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/never_destroyed.hpp"
#include "ebb/os/virtual_memory.hpp"

#include <cstddef>
#include <mutex>
#include <vector>

EBB_RUNTIME_BEGIN

struct pooled_reservation {
  void* base;
  std::size_t guard_bytes;
  std::size_t stack_bytes;
  void* clean_below;  // no page below this address is resident (base + guard_bytes when unknown)
};

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

  void set_capacity(std::size_t reservations) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    capacity_ = reservations;
  }
  std::size_t size() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return free_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<pooled_reservation> free_;
  std::size_t capacity_ = default_capacity;
};

// A thread's private cache, flushed to the process pool when the thread exits.
struct reservation_cache {
  pooled_reservation slots[reservation_pool::thread_cache_capacity];
  std::size_t count = 0;
  ~reservation_cache();
};

// One pool per process: default visibility so every shared library's copy of these inline variables
// binds to the same object.
EBB_NO_DESTROY EBB_VISIBLE inline never_destroyed<reservation_pool> process_pool_storage;
EBB_VISIBLE inline thread_local reservation_cache thread_reservations;

inline reservation_pool& process_pool() noexcept { return process_pool_storage.value; }

inline reservation_cache::~reservation_cache() {
  for (std::size_t i = 0; i < count; ++i) process_pool().give(slots[i]);
  count = 0;
}

// The most recently freed stack goes to the thread cache (its top page is the likeliest to be warm in
// the CPU caches); when the cache is full its oldest entry moves to the process pool.
inline void recycle_reservation(const pooled_reservation& r) noexcept {
  reservation_cache& cache = thread_reservations;
  if (cache.count == reservation_pool::thread_cache_capacity) {
    process_pool().give(cache.slots[0]);
    for (std::size_t i = 1; i < cache.count; ++i) cache.slots[i - 1] = cache.slots[i];
    --cache.count;
  }
  cache.slots[cache.count++] = r;
}

// Get a [guard | stack] reservation of this shape: the thread cache, then the pool, then the OS.
// Returns false (errno set) when the OS refuses.
inline bool acquire_reservation(std::size_t guard_bytes, std::size_t stack_bytes,
                                pooled_reservation& out) noexcept {
  reservation_cache& cache = thread_reservations;
  for (std::size_t i = cache.count; i-- > 0;) {
    pooled_reservation& slot = cache.slots[i];
    if (slot.guard_bytes == guard_bytes && slot.stack_bytes == stack_bytes) {
      out = slot;
      slot = cache.slots[--cache.count];
      return true;
    }
  }
  if (process_pool().take(guard_bytes, stack_bytes, out)) return true;
  // A slab: this reservation plus up to 31 more of the same shape for the pool, about 32 MiB of
  // address space at most. If the slab cannot be had (address space or mappings exhausted), one.
  const std::size_t each = guard_bytes + stack_bytes;
  std::size_t count = (32u << 20) / each;
  count = count < 1 ? 1 : (count > 32 ? 32 : count);
  void* base = os::reserve(guard_bytes, stack_bytes, count);
  if (base == nullptr && count > 1) base = os::reserve(guard_bytes, stack_bytes, count = 1);
  if (base == nullptr) return false;
  for (std::size_t i = 1; i < count; ++i) {
    char* spare = static_cast<char*>(base) + i * each;
    const pooled_reservation r{spare, guard_bytes, stack_bytes, spare + each};
    if (cache.count < reservation_pool::thread_cache_capacity)
      cache.slots[cache.count++] = r;
    else
      process_pool().give(r);
  }
  out = {base, guard_bytes, stack_bytes, static_cast<char*>(base) + each};
  return true;
}

// Release the calling thread's cache and every reservation in the process pool.
inline std::size_t trim_reservations() noexcept {
  reservation_cache& cache = thread_reservations;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < cache.count; ++i) {
    os::release(cache.slots[i].base, cache.slots[i].guard_bytes + cache.slots[i].stack_bytes);
    bytes += cache.slots[i].guard_bytes + cache.slots[i].stack_bytes;
  }
  cache.count = 0;
  return bytes + process_pool().trim();
}

EBB_RUNTIME_END
