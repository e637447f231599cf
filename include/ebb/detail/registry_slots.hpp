// SPDX-License-Identifier: BSL-1.0
// ebb/detail/registry_slots.hpp — a registry shard's fibers in a dense table of slots, so that a pass
// can pass over a fiber without touching it.
//
// An in-place fiber's control block sits at the top of its own stack reservation: one page, and one
// page-table walk, per fiber. A pass that read every control block cost 24 µs per 1000 idle fibers with
// warm caches and 180 µs with cold ones, all of it to learn that nothing had changed. So each fiber
// has a slot here, 16 bytes, 256 to a chunk, and the slot says what a pass needs to skip it: the fiber
// is *settled* when its last visit left it at its policies' fixed point (a shrink point now would
// release nothing and change nothing) and it has not run since. The visit sets the mark; the first
// switch into the fiber after a shrink point clears it (detail/switch_protocol.hpp, where the fiber's
// ran_since_shrink goes from false to true: one store, once per shrink point, not per switch). A pass
// reads the mark without claiming the fiber: a fiber resumed meanwhile is running, and a pass skips
// running fibers anyway.
//
// Slots never move (a fiber keeps its slot for life and a freed slot is reused), so the running fiber
// can clear its mark without the shard's lock, and an incremental pass is a cursor over slot indices.
// Chunks are never freed: a shard keeps the slots of the most fibers it ever held, 16 bytes each.
//
// Creating and destroying a fiber takes no lock either (two locked instructions were 7 ns of a 42 ns
// create + run + destroy). Each thread keeps up to 32 empty slots of its shard, taken and given back
// under the shard's lock in bulk; a fiber fills one of them with a release store. Giving a slot up is
// the hard half: a pass may have read the fiber's address from it and be about to claim the fiber. So
// the pass walks a shard only with `walking` set, and fences every thread (os::heavy_fence) before it
// reads any slot; the destroying thread empties the slot and then, after a compiler barrier only,
// reads `walking`. Either the pass reads the empty slot, or the destroyer sees the walk and waits for
// it on the shard's lock (the pass claims under it); then the destroyer waits for any claim to end,
// as it always did, and only then may the slot serve another fiber.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/integer_cast.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/spin_wait.hpp"
#include "ebb/os/per_thread.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

EBB_RUNTIME_BEGIN

struct registry_slot {
  std::atomic<fiber_context*> fiber{nullptr};  // null: empty (free, or kept by a thread for its next fiber)
  std::uint32_t link = 0;                       // in use: this slot's index; free: 1 + the next free one's
  std::atomic<std::uint8_t> settled{0};         // 1: a pass may skip the fiber (see above)
};

struct registry_chunk {
  static constexpr std::size_t slots_per_chunk = 256;  // a 4 KiB page of slots
  registry_slot slots[slots_per_chunk];
};

// A block of chunk pointers, allocated as the shard grows. Neither blocks nor chunks ever move or go
// away, so nothing is reallocated under a reader, and a shard that never held a fiber costs its
// 64-pointer directory (the registry is a process-wide object: a flat directory of every possible
// chunk would be zeroed, and made resident, at start-up).
struct registry_chunk_block {
  static constexpr std::size_t chunks_per_block = 1024;
  registry_chunk* chunks[chunks_per_block] = {};
};

struct registry_shard : spin_lock {
  // 64 blocks of 1024 chunks of 256 slots: 16.7 million fibers per shard.
  static constexpr std::size_t max_blocks = 64;
  static constexpr std::size_t max_chunks = max_blocks * registry_chunk_block::chunks_per_block;
  registry_chunk_block* blocks[max_blocks] = {};
  std::size_t chunk_count = 0;
  std::size_t used = 0;          // slots [0, used) have been handed out at some time
  std::uint32_t free_head = 0;   // 1 + the first free slot below `used`, 0 for none
  std::size_t pass_cursor = 0;   // the next slot the current pass looks at
  std::atomic<bool> walking{false};  // a pass reads fibers' addresses from the slots (see above)

  registry_chunk* chunk(std::size_t k) const noexcept {
    return blocks[k / registry_chunk_block::chunks_per_block]->chunks[k % registry_chunk_block::chunks_per_block];
  }
  registry_slot& slot(std::size_t index) const noexcept {
    return chunk(index / registry_chunk::slots_per_chunk)->slots[index % registry_chunk::slots_per_chunk];
  }
  bool full() const noexcept { return free_head == 0 && used == chunk_count * registry_chunk::slots_per_chunk; }

  // Under the lock, when not full(): an empty slot, out of the free list.
  registry_slot& take() noexcept {
    std::size_t index;
    if (free_head != 0) {
      index = free_head - 1;
      free_head = slot(index).link;
    } else {
      index = used++;
    }
    registry_slot& s = slot(index);
    s.link = integer_cast<std::uint32_t>(index);
    return s;
  }

  // Under the lock: an empty slot back into the free list.
  void give_back(registry_slot& s) noexcept {
    const std::uint32_t index = s.link;
    s.link = free_head;
    free_head = index + 1;
  }

  // Under the lock: calls f(fiber) for every fiber of the shard. Only for a program that knows no
  // fiber is being destroyed meanwhile (tests, debuggers); passes use the walk protocol above.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < used; ++i)
      if (fiber_context* c = slot(i).fiber.load(std::memory_order_acquire)) f(*c);
  }
};

// Under the lock: make room for one more slot (false: out of memory, or the shard is at its limit;
// the lock is held again either way).
inline bool grow_shard(registry_shard& shard) noexcept {
  while (shard.full()) {
    // Allocated unlocked (a pass may be walking the shard), adopted under the lock if still needed.
    const bool needs_block = shard.chunk_count % registry_chunk_block::chunks_per_block == 0;
    shard.unlock();
    auto* chunk = new (std::nothrow) registry_chunk;
    auto* block = needs_block ? new (std::nothrow) registry_chunk_block : nullptr;
    shard.lock();
    if (chunk == nullptr || (needs_block && block == nullptr)) {
      shard.unlock();
      delete chunk;
      delete block;
      shard.lock();
      return false;
    }
    const std::size_t k = shard.chunk_count;
    if (!shard.full() || k == registry_shard::max_chunks ||
        (k % registry_chunk_block::chunks_per_block == 0) != needs_block) {
      // Another thread added a chunk meanwhile (then go round again), or the shard is at its limit.
      const bool at_limit = shard.full() && k == registry_shard::max_chunks;
      shard.unlock();
      delete chunk;
      delete block;
      shard.lock();
      if (at_limit) return false;
      continue;
    }
    if (needs_block) shard.blocks[k / registry_chunk_block::chunks_per_block] = block;
    shard.blocks[k / registry_chunk_block::chunks_per_block]->chunks[k % registry_chunk_block::chunks_per_block] = chunk;
    shard.chunk_count = k + 1;
  }
  return true;
}

// A thread's empty slots of its shard, so that creating and destroying a fiber on it takes no lock.
// Trivially destructible: at the thread's exit they go back to the shard (registry_shards.hpp).
struct registry_slot_cache {
  static constexpr std::size_t capacity = 32;
  std::uint32_t shard_plus_one = 0;  // the shard they belong to, + 1 (0: none yet)
  std::uint32_t count = 0;
  bool exit_armed = false;
  registry_slot* slots[capacity];
};
EBB_PER_THREAD(registry_slot_cache, thread_registry_slots, this_thread_registry_slots)

// Out of line and opaque, like every per-thread object ebb reaches on the create and destroy paths:
// those paths are inlined into the caller, which may be a fiber that creates a fiber, switches, moves
// to another thread and creates or destroys the next one; inline, the compiler may keep the first
// thread's address of the object across the switch (caught on RISC-V: a fiber creating fibers in a
// loop across switch_to raced another thread's cache and crashed).
EBB_OPAQUE inline registry_slot_cache& this_thread_slot_cache() noexcept { return this_thread_registry_slots(); }

// The fiber runs for the first time since its last shrink point: a pass must look at it again. Once
// per shrink point (the caller tests ran_since_shrink), so the switch path pays a test, not a store
// into the table, which other threads' fibers share.
EBB_NOINLINE inline void note_first_run_since_shrink(fiber_context& c) noexcept {
  c.ran_since_shrink = true;
  if (c.registry_entry != nullptr) c.registry_entry->settled.store(0, std::memory_order_relaxed);
}

EBB_RUNTIME_END
