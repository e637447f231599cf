// SPDX-License-Identifier: BSL-1.0
// ebb/detail/registry_shards.hpp — the registry's machinery: shards of live fibers, and the claim
// handshake that lets a pass visit a suspended fiber while its owner may resume it on any thread.
//
// Fibers join a shard of the registry when they are created (chosen by the creating thread, so
// threads rarely contend on a shard's spin lock) and leave it when destroyed. A pass never races a
// resume and never blocks one for longer than one group's visit: it claims at most 512 fibers at a
// time, makes every thread execute a full fence once (os/asymmetric_fence.hpp), then visits those
// whose state is still suspended, 64 at a time (a group: one residency scan per run of nearby
// stacks, the visits, one release call; os/linux/pass_memory.hpp). resume() stores "running" and then, after a
// compiler-only fence, checks the mark (detail/context.hpp, inspect_mark): a fiber that is only
// claimed it takes back and runs; one being visited it waits for. Either the pass sees "running" and
// skips the fiber, or the resumer sees the mark: never both proceed.
//
// Within a shard, fibers visited by the current pass move to the back of the list, so an incremental
// pass finds the next unvisited fiber at the front without rescanning. No allocation happens while a
// shard lock or a claim is held.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/integer_cast.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/never_destroyed.hpp"
#include "ebb/detail/registry_slots.hpp"
#include "ebb/detail/spin_wait.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/os/asymmetric_fence.hpp"
#include "ebb/os/memory.hpp"
#include "ebb/os/thread_exit.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>

EBB_RUNTIME_BEGIN

struct registry_state {
  static constexpr std::size_t shard_count = 16;
  registry_shard shards[shard_count];
  std::atomic<std::uint32_t> next_shard{0};
  std::mutex pass_mutex;      // one pass or profile walk at a time; guards the fields below
  std::size_t pass_shard = 0; // where an incremental pass continues
  // For tests: called inside every visit of a pass, while the fiber is held for it.
  void (*visit_hook)(fiber_context&) noexcept = nullptr;
  // For tests and benchmarks: called with true once a group is held, before its scan, and with false
  // after its release call, before its fibers are let go.
  void (*group_hook)(bool held) noexcept = nullptr;
  // The held group's residency snapshot and release batch (os/linux/pass_memory.hpp), and the bytes
  // its visits counted as released that the system refused, which the pass takes back off its report.
  os::pass_memory memory;
  std::size_t unreleased = 0;
};

EBB_NO_DESTROY EBB_PROCESS_WIDE(never_destroyed<registry_state>, process_registry_storage, {});
inline registry_state& process_registry() noexcept { return process_registry_storage.value; }

EBB_PROCESS_WIDE(os::thread_exit_key, registry_slots_exit_key, {});

// At a thread's exit, its kept empty slots go back to their shard.
inline void return_thread_slots(void*) noexcept {
  registry_slot_cache& cache = this_thread_slot_cache();
  if (cache.count == 0) return;
  registry_shard& shard = process_registry().shards[cache.shard_plus_one - 1];
  shard.lock();
  for (; cache.count > 0; --cache.count) shard.give_back(*cache.slots[cache.count - 1]);
  shard.unlock();
}

// Take half a cache's worth of empty slots from the shard (one lock for 16 fibers). False when none
// could be had: out of memory for a new chunk of slots.
EBB_NOINLINE inline bool refill_slot_cache(registry_slot_cache& cache, std::uint32_t shard_plus_one) noexcept {
  if (!cache.exit_armed) {
    cache.exit_armed = true;
    (void)os::run_at_thread_exit(registry_slots_exit_key, &return_thread_slots, &registry_slots_exit_key);
  }
  registry_shard& shard = process_registry().shards[shard_plus_one - 1];
  cache.shard_plus_one = shard_plus_one;
  shard.lock();
  while (cache.count < registry_slot_cache::capacity / 2 && grow_shard(shard)) cache.slots[cache.count++] = &shard.take();
  shard.unlock();
  return cache.count != 0;
}

// False when no memory was left for the fiber's slot (the fiber is then not created).
EBB_ALWAYS_INLINE bool register_fiber(fiber_context& c, thread_state* ts) noexcept {
  if (EBB_UNLIKELY(ts->registry_shard == 0))
    ts->registry_shard = 1 + process_registry().next_shard.fetch_add(1, std::memory_order_relaxed) % registry_state::shard_count;
  const auto shard_plus_one = integer_cast<std::uint32_t>(ts->registry_shard);
  c.registry_shard = shard_plus_one - 1;
  registry_slot_cache& cache = this_thread_slot_cache();
  if (EBB_UNLIKELY(cache.count == 0) && !refill_slot_cache(cache, shard_plus_one)) return false;
  registry_slot& slot = *cache.slots[--cache.count];
  slot.settled.store(0, std::memory_order_relaxed);
  c.registry_entry = &slot;
  slot.fiber.store(&c, std::memory_order_release);  // publishes everything the creation wrote
  return true;
}

// After this returns no pass can reach the fiber, and none is still looking at it (registry_slots.hpp
// gives the protocol: the slot is emptied, then a walk in progress is waited for, then any claim).
EBB_ALWAYS_INLINE void unregister_fiber(fiber_context& c) noexcept {
  registry_slot& slot = *c.registry_entry;
  registry_shard& shard = process_registry().shards[c.registry_shard];
  slot.fiber.store(nullptr, os::handshake_store);
  os::light_fence();
  if (EBB_UNLIKELY(shard.walking.load(os::handshake_load))) {
    shard.lock();  // the walk claims under the lock: once we hold it, whatever it claimed is marked
    shard.unlock();
  }
  if (EBB_UNLIKELY(c.inspecting.load(std::memory_order_acquire) != mark_free)) {
    spinner wait;
    while (c.inspecting.load(std::memory_order_acquire) != mark_free) wait.pause();
  }
  // No pass can hold the fiber now: the slot may serve another.
  slot.settled.store(0, std::memory_order_relaxed);
  registry_slot_cache& cache = this_thread_slot_cache();
  if (EBB_LIKELY(cache.shard_plus_one == c.registry_shard + 1 && cache.count < registry_slot_cache::capacity)) {
    cache.slots[cache.count++] = &slot;
  } else {
    shard.lock();
    shard.give_back(slot);
    shard.unlock();
  }
}

// resume() found a mark: take the fiber back if the holder has only claimed it, wait if it is
// visiting it now (one visit). Out of line: the resume path only tests the mark.
EBB_NOINLINE inline void wait_for_visit(fiber_context& c) noexcept {
  for (spinner wait;;) {
    std::uint8_t mark = c.inspecting.load(std::memory_order_acquire);
    if (mark == mark_free || mark == mark_cancelled) return;
    if (mark == mark_claimed) {
      if (c.inspecting.compare_exchange_weak(mark, mark_cancelled, std::memory_order_acq_rel)) return;
      continue;
    }
    wait.pause();
  }
}

// resume()'s side of the handshake, after it stored "running" (with handshake_store).
EBB_ALWAYS_INLINE void wait_if_inspected(fiber_context& c) noexcept {
  os::light_fence();
  if (EBB_UNLIKELY(c.inspecting.load(os::handshake_load) != mark_free)) wait_for_visit(c);
}

// Claim the fiber; false if someone else holds it now.
inline bool try_claim(fiber_context& c) noexcept {
  std::uint8_t expected = mark_free;
  return c.inspecting.compare_exchange_strong(expected, mark_claimed, std::memory_order_seq_cst);
}
// After the fence and the state check: take the claimed fiber for the visit, unless a resume took it
// back meanwhile.
inline bool begin_visit(fiber_context& c) noexcept {
  std::uint8_t expected = mark_claimed;
  return c.inspecting.compare_exchange_strong(expected, mark_visiting, std::memory_order_acquire);
}
// Whatever became of the claim, the holder ends it (and never touches the fiber afterwards).
inline void release_claim(fiber_context& c) noexcept { c.inspecting.store(mark_free, std::memory_order_release); }

// fiber::shrink_stack() and stack_stats() from outside the fiber: a pass's handshake for one fiber,
// since its owner may resume it on another thread at any moment. True when the caller may touch the
// fiber (then it calls release_claim); false, with nothing held, when the fiber is running.
inline bool claim_one(fiber_context& c) noexcept {
  for (spinner wait; !try_claim(c);) wait.pause();  // a pass holds it for at most one batch
  // Without a fence nothing proves the fiber is not running on another thread: leave it alone.
  if (EBB_LIKELY(os::heavy_fence()) && c.state.load(std::memory_order_seq_cst) != fiber_state::running &&
      begin_visit(c))
    return true;
  release_claim(c);
  return false;
}

// Fibers held for their visits at once (and so the longest a resume may wait: one group). Their
// shrink points' residency queries and releases are made together, one scan per run of nearby stacks
// and one release call, as os/linux/pass_memory.hpp explains.
inline constexpr std::size_t visit_group_size = 64;

// Fibers claimed together behind one fence. A pass holds at most this many claims at once, in this
// fixed array: nothing is allocated while a claim or a shard lock is held, so running out of memory
// can never leave either behind.
struct claim_batch {
  // Large, because each batch costs a process-wide fence (a membarrier, 1.3 µs measured here: with
  // batches of 64, the fences doubled the time of a pass over 1000 idle fibers, 29 -> 49 µs), and
  // free for resumes, which never wait for a claim, only for a visit. Small enough for a fiber's
  // stack (4 KiB here, as much again in profile()).
  static constexpr std::size_t capacity = 512;
  fiber_context* fibers[capacity];
  std::size_t count = 0;
  bool full() const noexcept { return count == capacity; }
  void add(fiber_context& c) noexcept { fibers[count++] = &c; }
};

// Visit the held group: one residency scan per run of nearby stacks before the visits, one release
// call for what they released after them (os/linux/pass_memory.hpp), then let the fibers go. A resume
// of one of them waits for all of this, and for nothing more.
template <class Visit>
void visit_group(fiber_context** group, std::size_t count, Visit& visit) noexcept {
  if (count == 0) return;
  registry_state& registry = process_registry();
  os::pass_memory::span spans[visit_group_size];
  std::size_t span_count = 0;
  for (std::size_t i = 0; i < count; ++i)
    if (group[i]->ops->residency_span != nullptr) {
      group[i]->ops->residency_span(*group[i], spans[span_count].lo, spans[span_count].hi);
      if (spans[span_count].hi > spans[span_count].lo) ++span_count;
    }
  void (*group_hook)(bool) noexcept = registry.group_hook;
  if (EBB_UNLIKELY(group_hook != nullptr)) group_hook(true);
  registry.memory.begin(spans, span_count);
  void (*hook)(fiber_context&) noexcept = registry.visit_hook;
  for (std::size_t i = 0; i < count; ++i) {
    if (EBB_UNLIKELY(hook != nullptr)) hook(*group[i]);
    visit(*group[i]);
  }
  registry.unreleased += registry.memory.end();
  if (EBB_UNLIKELY(group_hook != nullptr)) group_hook(false);
  for (std::size_t i = 0; i < count; ++i) release_claim(*group[i]);
}

// Visit the batch's fibers that are still suspended (or never started), with one fence for all:
// from the fence on, a resume either is visible as "running" or finds its fiber's mark. A resume
// that comes before the pass reaches its fiber takes the claim back and does not wait; one that
// comes during its group's visit waits for that group alone.
template <class Visit>
void inspect_claimed(claim_batch& batch, Visit& visit) noexcept {
  if (batch.count == 0) return;
  if (EBB_UNLIKELY(!os::heavy_fence())) {  // nothing proves a fiber is not running: leave them all
    for (std::size_t i = 0; i < batch.count; ++i) release_claim(*batch.fibers[i]);
    batch.count = 0;
    return;
  }
  fiber_context* group[visit_group_size];
  std::size_t held = 0;
  for (std::size_t i = 0; i < batch.count; ++i) {
    fiber_context& c = *batch.fibers[i];
    const fiber_state s = c.state.load(std::memory_order_seq_cst);
    if ((s == fiber_state::suspended || s == fiber_state::created) && begin_visit(c)) {
      group[held++] = &c;
      if (held == visit_group_size) {
        visit_group(group, held, visit);
        held = 0;
      }
    } else {
      release_claim(c);
    }
  }
  visit_group(group, held, visit);
  batch.count = 0;
}

// Visit every suspended or never-started fiber once, outside any shrink pass, a batch at a time;
// after_batch() runs after each batch, with no claim or lock held (where allocating is safe).
template <class Visit, class AfterBatch>
void visit_all_suspended(Visit&& visit, AfterBatch&& after_batch) {
  registry_state& registry = process_registry();
  std::lock_guard<std::mutex> pass_lock(registry.pass_mutex);
  claim_batch batch;
  for (registry_shard& shard : registry.shards) {
    std::size_t next = 0;  // slots never move: an index stays valid while the lock is let go
    shard.lock();
    for (;;) {
      shard.walking.store(true, std::memory_order_seq_cst);
      if (os::heavy_fence()) {  // else nothing proves a slot's fiber is not being freed: skip the shard
        for (; !batch.full() && next < shard.used; ++next)
          if (fiber_context* c = shard.slot(next).fiber.load(std::memory_order_seq_cst); c != nullptr && try_claim(*c))
            batch.add(*c);  // (a fiber not claimed is being inspected by its owner right now)
      } else {
        next = shard.used;
      }
      shard.walking.store(false, std::memory_order_release);
      const bool shard_done = next == shard.used;
      shard.unlock();
      if (batch.full()) {
        inspect_claimed(batch, visit);
        after_batch();
      }
      if (shard_done) break;
      shard.lock();
    }
  }
  inspect_claimed(batch, visit);
  after_batch();
}

struct pass_progress {
  std::size_t visited = 0;
  std::size_t settled = 0;     // of those, skipped as settled (registry_slots.hpp): nothing to do
  std::size_t unreleased = 0;  // bytes the visits counted as released that the system refused
  bool complete = false;
};

inline void start_new_pass(registry_state& registry) noexcept {
  registry.pass_shard = 0;
  for (registry_shard& shard : registry.shards) shard.pass_cursor = 0;
}

// Visit up to `budget` fibers that the current pass has not seen, calling visit(fiber) for each
// one that is suspended (or created and never run) while no resume can start on it. Settled fibers
// count as seen without being touched. A fiber created during an incremental pass, in a slot the
// pass has passed, waits for the next pass.
template <class Visit>
pass_progress visit_suspended(std::size_t budget, Visit&& visit, bool fresh_pass = false) {
  registry_state& registry = process_registry();
  std::lock_guard<std::mutex> pass_lock(registry.pass_mutex);
  if (fresh_pass) start_new_pass(registry);  // abandoning any pass shrink_some() left unfinished
  pass_progress progress;
  claim_batch batch;
  while (progress.visited < budget && registry.pass_shard < registry_state::shard_count) {
    registry_shard& shard = registry.shards[registry.pass_shard];
    shard.lock();
    // First what needs no claim: empty slots and settled fibers, read without touching a fiber.
    while (progress.visited < budget && shard.pass_cursor < shard.used) {
      registry_slot& slot = shard.slot(shard.pass_cursor);
      if (slot.fiber.load(std::memory_order_relaxed) != nullptr) {
        if (slot.settled.load(std::memory_order_relaxed) == 0) break;
        ++progress.visited;
        ++progress.settled;
      }
      ++shard.pass_cursor;
    }
    // Then, from the first fiber to claim on, the walk (registry_slots.hpp): a fence before any
    // fiber's address is read.
    if (!batch.full() && progress.visited < budget && shard.pass_cursor < shard.used) {
      shard.walking.store(true, std::memory_order_seq_cst);
      if (os::heavy_fence()) {
        while (!batch.full() && progress.visited < budget && shard.pass_cursor < shard.used) {
          registry_slot& slot = shard.slot(shard.pass_cursor++);
          fiber_context* c = slot.fiber.load(std::memory_order_seq_cst);
          if (c == nullptr) continue;
          ++progress.visited;
          if (slot.settled.load(std::memory_order_relaxed) != 0) {
            ++progress.settled;
            continue;
          }
          if (try_claim(*c)) batch.add(*c);  // else its owner is shrinking it right now
        }
      } else {
        // Nothing proves a slot's fiber is not being freed: reach them (for the report) and leave them.
        for (; progress.visited < budget && shard.pass_cursor < shard.used; ++shard.pass_cursor)
          if (shard.slot(shard.pass_cursor).fiber.load(std::memory_order_relaxed) != nullptr) ++progress.visited;
      }
      shard.walking.store(false, std::memory_order_release);
    }
    const bool shard_done = shard.pass_cursor >= shard.used;
    shard.unlock();
    if (shard_done) ++registry.pass_shard;
    if (batch.full()) inspect_claimed(batch, visit);
  }
  inspect_claimed(batch, visit);
  progress.unreleased = std::exchange(registry.unreleased, 0);
  if (registry.pass_shard == registry_state::shard_count) {
    progress.complete = true;
    start_new_pass(registry);
  }
  return progress;
}

// During a visit: the fiber is at its policies' fixed point and has not run since its shrink point,
// so passes may skip it until it runs again (switch_protocol.hpp clears the mark then).
// The pass holds c, so its slot cannot serve another fiber yet (destruction waits for the claim before
// the slot is reused, and clears the mark then).
inline void mark_settled(fiber_context& c) noexcept {
  c.registry_entry->settled.store(1, std::memory_order_relaxed);
}

EBB_RUNTIME_END
