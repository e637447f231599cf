// SPDX-License-Identifier: BSL-1.0
// ebb/registry.hpp — every live fiber of the process, for shrink passes and stack profiles.
//
// Go shrinks stacks while its garbage collector scans them. ebb has no collector, so the program says
// when: a game at a frame boundary, a server when a burst is over. stack_registry::shrink_all() is
// that scan: a shrink point for every suspended fiber, whatever thread created it. shrink_some(n) does
// at most n fibers and continues where it stopped on the next call, so a frame loop can spread a pass
// over several frames.
//
// Fibers join a shard of the registry when they are created (chosen by the creating thread, so
// threads rarely contend on a shard's spin lock) and leave it when destroyed. A pass never blocks a
// resume for long and never races one: it marks a batch of fibers "inspecting", makes every thread
// execute a full fence once (os/asymmetric_fence.hpp), and then touches only those whose state is
// still suspended. resume() stores "running" and then, after a compiler-only fence, checks the mark;
// if set, it waits until the pass is done with that fiber. Either the pass sees "running" and skips
// the fiber, or the resumer sees the mark and waits: never both proceed.
//
// Within a shard, fibers visited by the current pass move to the back of the list, so an incremental
// pass finds the next unvisited fiber at the front without rescanning.
#pragma once

#include "ebb/allocators/reservation_pool.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/never_destroyed.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/os/asymmetric_fence.hpp"
#include "ebb/stack_stats.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include <sched.h>

EBB_RUNTIME_BEGIN

// One step of a spin-wait. The waits here are short (a pass holds a fiber for the few microseconds its
// shrink point takes), but the holder may be descheduled, and under a serialising tool such as
// Valgrind it cannot run at all while we spin: after a few dozen pauses, give the CPU away.
struct spinner {
  unsigned spins = 0;
  void pause() noexcept {
    if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      ::sched_yield();
    }
  }
};

struct registry_shard {
  std::atomic<bool> locked{false};
  fiber_context* head = nullptr;
  fiber_context* tail = nullptr;
  std::size_t count = 0;

  void lock() noexcept {
    spinner wait;
    while (locked.exchange(true, std::memory_order_acquire))
      while (locked.load(std::memory_order_relaxed)) wait.pause();
  }
  void unlock() noexcept { locked.store(false, std::memory_order_release); }

  void push_front(fiber_context& c) noexcept {
    c.registry_prev = nullptr;
    c.registry_next = head;
    if (head) head->registry_prev = &c; else tail = &c;
    head = &c;
    ++count;
  }
  void unlink(fiber_context& c) noexcept {
    if (c.registry_prev) c.registry_prev->registry_next = c.registry_next; else head = c.registry_next;
    if (c.registry_next) c.registry_next->registry_prev = c.registry_prev; else tail = c.registry_prev;
    c.registry_prev = c.registry_next = nullptr;
    --count;
  }
  void push_back(fiber_context& c) noexcept {
    c.registry_next = nullptr;
    c.registry_prev = tail;
    if (tail) tail->registry_next = &c; else head = &c;
    tail = &c;
    ++count;
  }
};

struct registry_state {
  static constexpr std::size_t shard_count = 16;
  registry_shard shards[shard_count];
  std::atomic<std::uint32_t> next_shard{0};
  std::mutex pass_mutex;      // one pass at a time; guards the two fields below
  std::uint64_t pass = 1;     // the current pass; a fiber with registry_pass == pass was visited
  std::size_t pass_shard = 0; // where an incremental pass continues
};

EBB_NO_DESTROY EBB_VISIBLE inline never_destroyed<registry_state> process_registry_storage;
inline registry_state& process_registry() noexcept { return process_registry_storage.value; }

inline void register_fiber(fiber_context& c, thread_state* ts) noexcept {
  registry_state& registry = process_registry();
  if (ts->registry_shard == 0)
    ts->registry_shard = 1 + registry.next_shard.fetch_add(1, std::memory_order_relaxed) % registry_state::shard_count;
  c.registry_shard = static_cast<std::uint32_t>(ts->registry_shard - 1);
  registry_shard& shard = registry.shards[c.registry_shard];
  shard.lock();
  shard.push_front(c);
  shard.unlock();
}

// After this returns no pass can reach the fiber, and none is still looking at it.
inline void unregister_fiber(fiber_context& c) noexcept {
  registry_shard& shard = process_registry().shards[c.registry_shard];
  shard.lock();
  shard.unlink(c);
  shard.unlock();
  spinner wait;
  while (c.inspecting.load(std::memory_order_acquire)) wait.pause();
}

// ThreadSanitizer does not model membarrier (nor fences): under it the handshake is the textbook
// sequentially consistent Dekker, which it understands, at the price of a locked store per resume.
#if EBB_TSAN
inline constexpr std::memory_order handshake_store = std::memory_order_seq_cst;
inline constexpr std::memory_order handshake_load = std::memory_order_seq_cst;
#else
inline constexpr std::memory_order handshake_store = std::memory_order_relaxed;
inline constexpr std::memory_order handshake_load = std::memory_order_acquire;
#endif

// resume()'s side of the handshake, after it stored "running" (with handshake_store).
EBB_ALWAYS_INLINE void wait_if_inspected(fiber_context& c) noexcept {
  os::light_fence();
  if (EBB_UNLIKELY(c.inspecting.load(handshake_load)))
    for (spinner wait; c.inspecting.load(std::memory_order_acquire);) wait.pause();
}

// Claim the fiber for an outside shrink or inspection by its owner; false if a pass has it now.
inline bool try_claim(fiber_context& c) noexcept {
  bool expected = false;
  return c.inspecting.compare_exchange_strong(expected, true, std::memory_order_seq_cst);
}
inline void release_claim(fiber_context& c) noexcept { c.inspecting.store(false, std::memory_order_release); }

// The claimed fibers are visited with one fence for the whole batch: from the fence on, a resume
// either is visible as "running" or will see its fiber's mark and wait. Each is released right after
// its visit, so resumers wait as little as possible.
template <class Visit>
void inspect_claimed(const std::vector<fiber_context*>& batch, Visit& visit) {
  if (batch.empty()) return;
  if (EBB_UNLIKELY(!os::heavy_fence())) {  // nothing proves a fiber is not running: leave them all
    for (fiber_context* c : batch) release_claim(*c);
    return;
  }
  for (fiber_context* c : batch) {
    const fiber_state s = c->state.load(std::memory_order_seq_cst);
    if (s == fiber_state::suspended || s == fiber_state::created) visit(*c);
    release_claim(*c);
  }
}

// Visit every suspended or never-started fiber once, outside any pass.
template <class Visit>
void visit_all_suspended(Visit&& visit) {
  std::vector<fiber_context*> batch;
  for (auto& shard : process_registry().shards) {
    shard.lock();
    for (fiber_context* c = shard.head; c; c = c->registry_next)
      if (try_claim(*c)) batch.push_back(c);
    shard.unlock();
  }
  inspect_claimed(batch, visit);
}

struct pass_progress {
  std::size_t visited = 0;
  bool complete = false;
};

// Visit up to `budget` fibers that the current pass has not seen, calling visit(fiber) for each
// one that is suspended (or created and never run) while no resume can start on it.
template <class Visit>
pass_progress visit_suspended(std::size_t budget, Visit&& visit, bool fresh_pass = false) {
  registry_state& registry = process_registry();
  std::lock_guard<std::mutex> pass_lock(registry.pass_mutex);
  if (fresh_pass) {
    // A pass of its own, abandoning any that shrink_some() left unfinished: every fiber is unvisited.
    ++registry.pass;
    registry.pass_shard = 0;
  }
  pass_progress progress;
  std::vector<fiber_context*> batch;

  // 1. Mark a batch: under each shard's lock, claim unvisited fibers from the front and move them to
  //    the back as visited.
  while (batch.size() < budget && registry.pass_shard < registry_state::shard_count) {
    registry_shard& shard = registry.shards[registry.pass_shard];
    shard.lock();
    while (batch.size() < budget && shard.head && shard.head->registry_pass != registry.pass) {
      fiber_context* c = shard.head;
      shard.unlink(*c);
      c->registry_pass = registry.pass;
      shard.push_back(*c);
      if (try_claim(*c)) batch.push_back(c);  // else its owner is shrinking it right now
      ++progress.visited;
    }
    const bool shard_done = !shard.head || shard.head->registry_pass == registry.pass;
    shard.unlock();
    if (shard_done) ++registry.pass_shard;
  }
  inspect_claimed(batch, visit);
  if (registry.pass_shard == registry_state::shard_count) {
    progress.complete = true;
    ++registry.pass;
    registry.pass_shard = 0;
  }
  return progress;
}

EBB_RUNTIME_END

EBB_NAMESPACE_BEGIN

struct shrink_report {
  std::size_t visited = 0;         // fibers the pass reached in this call
  std::size_t shrunk = 0;          // suspended fibers given a shrink point
  std::size_t released_bytes = 0;  // memory returned to the OS
  bool complete = false;           // the pass reached every fiber (the next call starts a new one)
};

struct stack_profile {
  std::size_t fibers = 0;                      // suspended or never-started fibers seen
  std::size_t committed = 0;                   // their resident stack bytes
  std::size_t reserved = 0;                    // their reserved address space, guards included
  std::size_t used = 0;                        // their bytes in use
  std::map<std::size_t, std::size_t> by_size;  // logical size -> how many fibers have it
};

class stack_registry {
  static shrink_report shrink_pass(std::size_t budget, bool fresh) {
    shrink_report report;
    auto progress = runtime_v1::visit_suspended(
        budget,
        [&](runtime_v1::fiber_context& c) {
          report.released_bytes += c.ops->shrink(c, c.sp, /*inside=*/false);
          ++report.shrunk;
        },
        fresh);
    report.visited = progress.visited;
    report.complete = progress.complete;
    // Dead fibers' stacks too: one that went deep between switches was pooled with its pages.
    if (progress.complete) report.released_bytes += runtime_v1::clean_pooled_reservations();
    return report;
  }

 public:
  // A shrink point for every suspended fiber in the process. Safe while other threads resume, yield,
  // create and destroy fibers; running fibers are skipped.
  // It starts a pass of its own: fibers that an unfinished shrink_some() pass already visited get
  // their shrink point too.
  static shrink_report shrink_all() {
    shrink_report total;
    for (bool first = true;; first = false) {
      shrink_report part = shrink_pass(static_cast<std::size_t>(-1), first);
      total.visited += part.visited;
      total.shrunk += part.shrunk;
      total.released_bytes += part.released_bytes;
      if (part.complete) break;
    }
    total.complete = true;
    return total;
  }

  // At most `budget` fibers, continuing the current pass where the previous call stopped.
  static shrink_report shrink_some(std::size_t budget) { return shrink_pass(budget, false); }

  // What Go's stack profile answers: how many fibers at each size, and what they hold. Counts the
  // fibers that are suspended or not started; running ones are not stopped to be measured.
  static stack_profile profile() {
    stack_profile profile;
    runtime_v1::visit_all_suspended([&](runtime_v1::fiber_context& c) {
      ebb::stack_stats s = c.ops->stats(c, c.sp);
      ++profile.fibers;
      profile.committed += s.committed;
      profile.reserved += s.reserved;
      profile.used += s.used;
      ++profile.by_size[s.size];
    });
    return profile;
  }

  // Live fibers known to the registry (running ones included).
  static std::size_t size() noexcept {
    std::size_t n = 0;
    for (auto& shard : runtime_v1::process_registry().shards) {
      shard.lock();
      n += shard.count;
      shard.unlock();
    }
    return n;
  }
};

EBB_NAMESPACE_END
