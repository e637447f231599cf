// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/thread_stack_cache.hpp — each thread's private cache of stack reservations, in front
// of the process-wide pool (reservation_pool.hpp), and the operations that use both: acquire,
// recycle, clean, trim, fork.
//
// Passes on other threads must reach a thread's cache too (to clean it), yet a locked instruction on
// the create/destroy path would cost about 10% of a fiber's whole life (measured: a spin lock here made
// create + run + destroy 6.5 ns slower, 72 ns against 65.5). So the cache is guarded by the same
// asymmetric handshake as a fiber's registry mark (os/asymmetric_fence.hpp): the owner raises
// owner_busy with a plain store and then checks held_by_cleaner; a cleaner raises held_by_cleaner,
// makes every thread execute a full fence, and then waits for owner_busy to fall. Either the owner
// sees the cleaner and steps aside until it is done, or the cleaner sees the owner and waits for it.
// A cleaner holds a cache only while it copies the dirty entries out: the system calls that clean
// them happen after the owner has its cache back.
//
// Thread exit order does not matter: the cache is trivially destructible and flushed to the process
// pool by a thread-exit key (os/thread_exit.hpp) after every thread_local destructor has run; stacks
// freed later on that thread go straight to the process pool.
#pragma once

#include "ebb/allocators/reservation_pool.hpp"
#include "ebb/config.hpp"
#include "ebb/os/per_thread.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/detail/spin_wait.hpp"
#include "ebb/os/asymmetric_fence.hpp"
#include "ebb/os/thread_exit.hpp"
#include "ebb/os/memory.hpp"

#include <atomic>
#include <cstddef>

EBB_RUNTIME_BEGIN

// A thread's private cache. Trivially destructible, so it is valid until the thread's storage goes
// (see the top of this file); listed process-wide so a pass on any thread can clean it.
struct reservation_cache {
  enum : unsigned char { unlisted, listed, closed };
  std::atomic<bool> owner_busy{false};      // the owner is taking or putting (the cheap side)
  std::atomic<bool> held_by_cleaner{false};  // another thread holds it (the side that pays the fence)
  unsigned char status = unlisted;
  std::size_t count = 0;
  reservation_cache* prev = nullptr;
  reservation_cache* next = nullptr;
  pooled_reservation slots[reservation_pool::thread_cache_capacity] = {};
};

struct reservation_cache_list {
  spin_lock lock;  // held by every cleaner for its whole visit, and to list or unlist a cache
  reservation_cache* head = nullptr;
  os::thread_exit_key exit_key;
};

// One list per process, one cache per thread: default visibility, so every shared library's copy of
// these inline variables binds to the same object.
EBB_PROCESS_WIDE(reservation_cache_list, process_reservation_caches, {});
EBB_PER_THREAD(reservation_cache, thread_reservations, this_thread_reservations)

// Out of line and opaque: acquire_reservation is inlined into whoever creates a fiber, which may be a
// fiber that moves to another thread between two creations (detail/registry_slots.hpp says more).
EBB_OPAQUE inline reservation_cache& this_thread_reservation_cache() noexcept { return this_thread_reservations(); }

// The owner's side of the handshake, out of line: a cleaner holds the cache. Step aside until it is done.
EBB_NOINLINE inline void wait_for_cache_cleaner(reservation_cache& cache) noexcept {
  do {
    cache.owner_busy.store(false, std::memory_order_release);
    for (spinner wait; cache.held_by_cleaner.load(std::memory_order_acquire);) wait.pause();
    cache.owner_busy.store(true, os::handshake_store);
    os::light_fence();
  } while (cache.held_by_cleaner.load(os::handshake_load));
}

// The owning thread's use of its cache: no locked instruction unless a cleaner holds it right now.
class cache_use {
 public:
  explicit cache_use(reservation_cache& cache) noexcept : cache_(cache) {
    cache.owner_busy.store(true, os::handshake_store);
    os::light_fence();
    if (EBB_UNLIKELY(cache.held_by_cleaner.load(os::handshake_load))) wait_for_cache_cleaner(cache);
  }
  ~cache_use() { cache_.owner_busy.store(false, std::memory_order_release); }
  cache_use(const cache_use&) = delete;
  cache_use& operator=(const cache_use&) = delete;

 private:
  reservation_cache& cache_;
};

// The other side: hold every listed cache (the list's lock held throughout). Owners that create or
// destroy a fiber meanwhile wait until their own cache is released. False when no fence works
// (os::heavy_fence): then only the calling thread's own cache is held, since nothing can keep the
// other owners out.
inline bool hold_thread_caches(reservation_cache_list& list) noexcept {
  for (reservation_cache* cache = list.head; cache; cache = cache->next)
    cache->held_by_cleaner.store(true, std::memory_order_seq_cst);
  const bool fenced = os::heavy_fence();
  for (reservation_cache* cache = list.head; cache; cache = cache->next) {
    if (!fenced && cache != &this_thread_reservations()) {
      cache->held_by_cleaner.store(false, std::memory_order_release);
      continue;
    }
    // seq_cst: under ThreadSanitizer there is no fence and the handshake is the plain sequentially
    // consistent Dekker (os::handshake_store/load on the owner's side); elsewhere the fence orders it.
    for (spinner wait; cache->owner_busy.load(std::memory_order_seq_cst);) wait.pause();
  }
  return fenced;
}
inline void release_thread_cache(reservation_cache& cache) noexcept {
  cache.held_by_cleaner.store(false, std::memory_order_release);
}

// At thread exit, after every thread_local destructor: hand the cache to the process pool and close it.
// Cleaners hold the list's lock for as long as they hold any cache, so with it held no cleaner is
// inside this one.
inline void close_thread_cache(void* p) noexcept {
  auto& cache = *static_cast<reservation_cache*>(p);
  auto& list = process_reservation_caches;
  list.lock.lock();
  if (cache.prev) cache.prev->next = cache.next; else list.head = cache.next;
  if (cache.next) cache.next->prev = cache.prev;
  cache.prev = cache.next = nullptr;
  cache.status = reservation_cache::closed;
  pooled_reservation slots[reservation_pool::thread_cache_capacity];
  const std::size_t count = cache.count;
  for (std::size_t i = 0; i < count; ++i) slots[i] = cache.slots[i];
  cache.count = 0;
  list.lock.unlock();
  for (std::size_t i = 0; i < count; ++i) process_pool().give(slots[i]);
}

// This thread's cache, listed on first use; nullptr once the thread is exiting (or if it cannot be
// listed): callers then use the process pool.
inline reservation_cache* thread_cache() noexcept {
  reservation_cache& cache = this_thread_reservation_cache();
  if (EBB_LIKELY(cache.status == reservation_cache::listed)) return &cache;
  if (cache.status == reservation_cache::closed) return nullptr;
  auto& list = process_reservation_caches;
  if (!os::run_at_thread_exit(list.exit_key, &close_thread_cache, &cache)) {
    cache.status = reservation_cache::closed;
    return nullptr;
  }
  list.lock.lock();
  cache.next = list.head;
  if (list.head) list.head->prev = &cache;
  list.head = &cache;
  cache.status = reservation_cache::listed;
  list.lock.unlock();
  return &cache;
}

// The most recently freed stack goes to the thread cache (its top page is the likeliest to be warm in
// the CPU caches); when the cache is full its oldest entry moves to the process pool.
// The fields come as values and are stored into the slot one by one: a pooled_reservation built in
// memory by the caller and copied into the slot was read back in 16-byte loads over 8-byte stores,
// which the CPU cannot forward (measured: 2.7 ns of every fiber's create + run + destroy).
inline void recycle_reservation(void* base, std::size_t guard_bytes, std::size_t stack_bytes,
                                void* clean_below) noexcept {
  reservation_cache* cache = thread_cache();
  if (EBB_UNLIKELY(cache == nullptr)) return process_pool().give({base, guard_bytes, stack_bytes, clean_below});
  pooled_reservation oldest;
  bool evicted = false;
  {
    cache_use use(*cache);
    if (EBB_UNLIKELY(cache->count == reservation_pool::thread_cache_capacity)) {
      oldest = cache->slots[0];
      evicted = true;
      for (std::size_t i = 1; i < cache->count; ++i) cache->slots[i - 1] = cache->slots[i];
      --cache->count;
    }
    pooled_reservation& slot = cache->slots[cache->count++];
    slot.base = base;
    slot.guard_bytes = guard_bytes;
    slot.stack_bytes = stack_bytes;
    slot.clean_below = clean_below;
  }
  if (evicted) process_pool().give(oldest);
}

// The entry is read field by field (its shape is the one asked for): the slot was usually written by
// the fiber destroyed just before, field by field (recycle_reservation), and a whole-entry copy read
// those 8-byte stores back in 16-byte loads, which the CPU cannot forward. The last entry fills the
// hole only when the hole is elsewhere (the common case takes the last one: no copy at all).
inline bool take_from_cache(reservation_cache* cache, std::size_t guard_bytes, std::size_t stack_bytes,
                            pooled_reservation& out) noexcept {
  if (cache == nullptr) return false;
  cache_use use(*cache);
  for (std::size_t i = cache->count; i-- > 0;) {
    pooled_reservation& slot = cache->slots[i];
    if (slot.guard_bytes == guard_bytes && slot.stack_bytes == stack_bytes) {
      void* const base = slot.base;
      void* const clean_below = slot.clean_below;
      out.base = base;
      out.guard_bytes = guard_bytes;
      out.stack_bytes = stack_bytes;
      out.clean_below = clean_below;
      if (i != --cache->count) slot = cache->slots[cache->count];
      return true;
    }
  }
  return false;
}

// acquire_reservation's way when the thread cache has none of this shape: the pool, then the OS.
EBB_NOINLINE inline bool acquire_uncached_reservation(reservation_cache* cache, std::size_t guard_bytes,
                                                      std::size_t stack_bytes, pooled_reservation& out) noexcept {
  if (process_pool().take(guard_bytes, stack_bytes, out)) return true;
  // A slab: this reservation plus up to 31 more of the same shape for the pool, about 32 MiB of
  // address space at most. If the slab cannot be had (address space or mappings exhausted), one.
  const std::size_t each = guard_bytes + stack_bytes;
  std::size_t count = (32u << 20) / each;
  count = count < 1 ? 1 : (count > 32 ? 32 : count);
  void* base = os::reserve(guard_bytes, stack_bytes, count);
  if (base == nullptr && count > 1) base = os::reserve(guard_bytes, stack_bytes, count = 1);
  if (base == nullptr) return false;
  std::size_t i = 1;
  if (cache != nullptr) {
    cache_use use(*cache);
    for (; i < count && cache->count < reservation_pool::thread_cache_capacity; ++i) {
      char* spare = static_cast<char*>(base) + i * each;
      cache->slots[cache->count++] = {spare, guard_bytes, stack_bytes, spare + each};
    }
  }
  for (; i < count; ++i) {
    char* spare = static_cast<char*>(base) + i * each;
    process_pool().give({spare, guard_bytes, stack_bytes, spare + each});
  }
  out = {base, guard_bytes, stack_bytes, static_cast<char*>(base) + each};
  return true;
}

// Get a [guard | stack] reservation of this shape: the thread cache, then the pool, then the OS.
// Returns false (errno set) when the OS refuses. The thread cache's way is inlined into creation (out
// of line, the call and its six saved registers cost 2 ns of a fiber's create + run + destroy).
EBB_ALWAYS_INLINE bool acquire_reservation(std::size_t guard_bytes, std::size_t stack_bytes,
                                           pooled_reservation& out) noexcept {
  reservation_cache* cache = thread_cache();
  if (EBB_LIKELY(take_from_cache(cache, guard_bytes, stack_bytes, out))) return true;
  return acquire_uncached_reservation(cache, guard_bytes, stack_bytes, out);
}

// Calls visit(cache) for every listed thread cache while it is held, then after_release(cache) once its
// owner has it back (still under the list's lock, so the cache stays listed). Without a working fence
// only the calling thread's cache is visited; returns whether the others were.
template <class Visit, class AfterRelease>
bool for_each_thread_cache(Visit&& visit, AfterRelease&& after_release) noexcept {
  auto& list = process_reservation_caches;
  list.lock.lock();
  const bool fenced = hold_thread_caches(list);
  for (reservation_cache* cache = list.head; cache; cache = cache->next) {
    if (!fenced && cache != &this_thread_reservations()) continue;
    visit(*cache);
    release_thread_cache(*cache);
    after_release(*cache);
  }
  list.lock.unlock();
  return fenced;
}
template <class Visit>
bool for_each_thread_cache(Visit&& visit) noexcept {
  return for_each_thread_cache(visit, [](reservation_cache&) noexcept {});
}

// Give back the memory below the top page of every pooled reservation: every thread's cache and the
// process pool. A cache's dirty entries are taken out while it is held and cleaned after its owner has
// it back, then kept in the process pool. Returns the bytes that held memory.
inline std::size_t clean_pooled_reservations() noexcept {
  std::size_t bytes = 0;
  pooled_reservation dirty[reservation_pool::thread_cache_capacity];
  std::size_t n = 0;
  for_each_thread_cache(
      [&](reservation_cache& cache) noexcept {
        n = 0;
        std::size_t kept = 0;
        for (std::size_t i = 0; i < cache.count; ++i) {
          if (cache.slots[i].clean_below < cache.slots[i].top_page())
            dirty[n++] = cache.slots[i];
          else
            cache.slots[kept++] = cache.slots[i];
        }
        cache.count = kept;
      },
      [&](reservation_cache&) noexcept {
        for (std::size_t i = 0; i < n; ++i) bytes += clean_reservation(dirty[i]);
        for (std::size_t i = 0; i < n; ++i) process_pool().give(dirty[i]);
      });
  return bytes + process_pool().clean();
}

// fork(): every lock here is taken before and released after, in the parent and in the child, so the
// child never inherits one held by a thread it does not have. The child keeps only its own thread's
// cache: the others belong to threads that do not exist there, whose storage the child may reuse for
// new threads. Their reservations go to the process pool (glibc's malloc is usable here: it resets
// its own locks in the child before the handlers run).
// Without a working fence the other caches cannot be held: in the child their entries, possibly
// half-written, are then dropped (their address space stays reserved, unused).
EBB_PROCESS_WIDE(bool, pool_fenced_for_fork, {false});
inline void lock_pool_for_fork() noexcept {
  auto& list = process_reservation_caches;
  list.lock.lock();
  pool_fenced_for_fork = hold_thread_caches(list);
  process_pool().lock_for_fork();
}
inline void unlock_pool_after_fork(bool in_child) noexcept {
  process_pool().unlock_after_fork();
  auto& list = process_reservation_caches;
  reservation_cache* mine = &this_thread_reservations();
  for (reservation_cache* cache = list.head; cache;) {
    reservation_cache* next = cache->next;
    if (in_child && cache != mine) {
      if (pool_fenced_for_fork)
        for (std::size_t i = 0; i < cache->count; ++i) process_pool().give(cache->slots[i]);
      cache->count = 0;
      cache->owner_busy.store(false, std::memory_order_relaxed);  // its thread is not in the child
    }
    release_thread_cache(*cache);
    cache = next;
  }
  if (in_child) {
    list.head = mine->status == reservation_cache::listed ? mine : nullptr;
    mine->prev = mine->next = nullptr;
  }
  list.lock.unlock();
}

// Release the calling thread's cache and every reservation in the process pool; clean what other
// threads' caches hold. Returns the bytes of address space unmapped.
inline std::size_t trim_reservations() noexcept {
  std::size_t bytes = 0;
  if (reservation_cache* cache = thread_cache()) {
    pooled_reservation slots[reservation_pool::thread_cache_capacity];
    std::size_t count;
    {
      cache_use use(*cache);
      count = cache->count;
      for (std::size_t i = 0; i < count; ++i) slots[i] = cache->slots[i];
      cache->count = 0;
    }
    for (std::size_t i = 0; i < count; ++i) {
      os::release(slots[i].base, slots[i].guard_bytes + slots[i].stack_bytes);
      bytes += slots[i].guard_bytes + slots[i].stack_bytes;
    }
  }
  bytes += process_pool().trim();
  clean_pooled_reservations();
  return bytes;
}

EBB_RUNTIME_END
