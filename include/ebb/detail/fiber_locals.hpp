// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fiber_locals.hpp — the tables behind ebb::fiber_local<T>: one per fiber, one per thread.
//
// Every fiber_local object owns a slot number, taken from a process-wide counter the first time it is
// used and never handed out again. A table is an array indexed by slot; each entry holds the value
// (allocated on first use) and the function that destroys it. A fiber's table hangs off its context
// (fiber_context::locals) and is destroyed with the fiber; the thread's own table (what fiber_local
// gives outside any fiber) is destroyed at thread exit.
//
// Slots are never reused, so a value always meets the destroy function it was stored with even after
// its fiber_local object is gone: a later fiber_local can never find a stale value of another type in
// its slot. The price is that a table is as long as the highest slot its owner touched, so fiber_local
// objects are meant to be few and long-lived (statics), like thread_local variables.
//
// Everything here is in the process-wide runtime: a fiber created by one library may use fiber_locals
// of another, so the layout and the slot counter must be the same for all of them.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/per_thread.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/os/thread_exit.hpp"

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>

EBB_RUNTIME_BEGIN

struct local_entry {
  void* value;                       // null until the fiber (or thread) first asks for this slot
  void (*destroy)(void*) noexcept;   // deletes value; stored with it, so it outlives its fiber_local
};

// Followed in the same allocation by `capacity` entries.
struct local_table {
  std::size_t capacity;
  local_entry* entries() noexcept { return std::launder(reinterpret_cast<local_entry*>(this + 1)); }
};

// Slot 0 is never handed out: a fiber_local whose slot is still 0 (never used, or not yet constructed
// when a static initialiser elsewhere reaches it) always falls through to the slow path that assigns one.
EBB_PROCESS_WIDE(std::atomic<std::size_t>, process_local_slots, {1});

inline std::size_t assign_local_slot(std::atomic<std::size_t>& slot) noexcept {
  std::size_t seen = slot.load(std::memory_order_acquire);
  if (seen != 0) return seen;
  const std::size_t fresh = process_local_slots.fetch_add(1, std::memory_order_relaxed);
  // Two threads may race on the first use: the loser's number is simply never used.
  if (slot.compare_exchange_strong(seen, fresh, std::memory_order_acq_rel, std::memory_order_acquire))
    return fresh;
  return seen;
}

// The table at `home`, grown (doubling, from 8 entries) to hold `slot`. Tables only grow while their
// owner lives, so an entry index stays valid; the entries move, the values they point to never do.
inline local_table* reserve_locals(void*& home, std::size_t slot) {
  local_table* old = static_cast<local_table*>(home);
  const std::size_t have = old ? old->capacity : 0;
  if (slot < have) return old;
  std::size_t want = have ? have * 2 : 8;
  while (want <= slot) want *= 2;
  void* raw = ::operator new(sizeof(local_table) + want * sizeof(local_entry));
  local_table* fresh = ::new (raw) local_table{want};
  local_entry* to = reinterpret_cast<local_entry*>(fresh + 1);
  for (std::size_t i = 0; i < want; ++i)
    ::new (static_cast<void*>(to + i)) local_entry{i < have ? old->entries()[i].value : nullptr,
                                                   i < have ? old->entries()[i].destroy : nullptr};
  home = fresh;
  ::operator delete(old);
  return fresh;
}

// get()'s slow path: the slot is not assigned yet, the table is missing or too short, or this owner has
// no value there yet. make() runs T's constructor, which may itself use other fiber_locals (growing the
// table under us: it is looked up again afterwards) or throw (nothing is stored then).
EBB_NOINLINE inline void* make_local(void*& home, std::atomic<std::size_t>& slot_of, void* (*make)(),
                                     void (*destroy)(void*) noexcept) {
  const std::size_t slot = assign_local_slot(slot_of);
  if (void* existing = reserve_locals(home, slot)->entries()[slot].value) return existing;
  void* value = make();
  static_cast<local_table*>(home)->entries()[slot] = local_entry{value, destroy};
  return value;
}

// Destroy every value of the table at `home` and free it. The table is detached first: a destructor
// that uses a fiber_local reaches a fresh table (for a fiber's table: the destroying thread's own).
inline void destroy_locals(void*& home) noexcept {
  local_table* table = static_cast<local_table*>(std::exchange(home, nullptr));
  if (table == nullptr) return;
  local_entry* e = table->entries();
  for (std::size_t i = 0; i < table->capacity; ++i)
    if (e[i].value != nullptr) e[i].destroy(e[i].value);
  ::operator delete(table);
}

// ---- the thread's own values (fiber_local used outside any fiber) --------------------------------

// Trivially destructible, and emptied by a pthread key destructor (os/thread_exit.hpp): those run
// after every C++ thread_local destructor, so a thread_local object whose destructor uses a fiber_local
// still finds its value. One that runs later still (another key's destructor) makes a new table, which
// re-arms the key (glibc calls key destructors again while values remain, up to four rounds). The main
// thread runs no key destructors: its values stay with the process at exit().
EBB_PER_THREAD(void*, thread_locals, this_thread_locals)
EBB_PROCESS_WIDE(os::thread_exit_key, thread_locals_exit_key, {});

inline void release_thread_locals(void*) noexcept { destroy_locals(this_thread_locals()); }

// Out of line and opaque: inline, the compiler could compute thread_locals' address in a fiber before
// a switch and use it after the fiber moved to another thread (only outside fibers is it reached, but
// the compiler does not know that).
EBB_OPAQUE inline void* thread_local_value(std::atomic<std::size_t>& slot_of, void* (*make)(),
                                           void (*destroy)(void*) noexcept) {
  void*& home = this_thread_locals();
  if (local_table* t = static_cast<local_table*>(home)) {
    const std::size_t slot = slot_of.load(std::memory_order_relaxed);
    if (EBB_LIKELY(slot < t->capacity)) {
      if (void* v = t->entries()[slot].value; EBB_LIKELY(v != nullptr)) return v;
    }
  } else {
    // The key's value only has to be non-null for its destructor to run; it reads thread_locals itself.
    // Without a key left, the thread's values are never destroyed.
    (void)os::run_at_thread_exit(thread_locals_exit_key, &release_thread_locals, &thread_locals_exit_key);
  }
  return make_local(home, slot_of, make, destroy);
}

EBB_RUNTIME_END
