// SPDX-License-Identifier: BSL-1.0
// ebb/mappers/execution_stack.hpp — the stacks compact fibers run on, a few per thread.
//
// An execution stack is an ordinary guarded, elastic reservation ([guard | stack], pages committed by
// the system as they are touched), owned by one thread. Compact fibers (mappers/shared_stack.hpp) of
// that thread take turns on it: the one whose frames are on it now is its occupant; the one running on
// it now, if any, is `running`. A fiber is bound to one execution stack when it first runs and stays
// there, since its frames hold pointers into it.
//
// Execution stacks are shared by every configuration of compact fiber with the same stack size, and by
// every library of the process (the thread's list is one per-thread object, os/per_thread.hpp), so a
// stack's occupant may be a fiber of another configuration: it is saved through its own fiber_ops.
//
// Lifetime: the thread holds each of its stacks, and each fiber bound to one holds it too. A thread
// that exits drops its holds; the last fiber bound to a stack releases it when it is destroyed.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/page_bounds.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/os/memory.hpp"
#include "ebb/os/per_thread.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/os/thread_exit.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

EBB_RUNTIME_BEGIN

struct execution_stack {
  char* base = nullptr;          // the reservation: [base, limit) guard, [limit, top) stack
  std::size_t reserved = 0;
  char* limit = nullptr;
  char* top = nullptr;            // 16-byte aligned; frames start here (execution_stack_top_room below the mapping's end)
  std::size_t frames_bytes = 0;   // the stack's size in pages (top - limit is a little less)
  fiber_context* occupant = nullptr;  // whose frames are on the stack now (running or not saved yet)
  fiber_context* running = nullptr;   // who runs on it now
  execution_stack* next = nullptr;    // the owning thread's list
  std::atomic<std::size_t> holds{1};  // the thread's, plus one per bound fiber
  // Checked mode without ASan: the canary written over a saved fiber's frames reaches down to here.
  char* canary_lo = nullptr;
  std::uint64_t canary_fiber = 0;     // the id of the fiber whose frames it covers
  bool ran_since_trim = false;        // a fiber ran on it since its last trim (else nothing new is resident)
};

// Bytes left unused between an execution stack's top and the end of its mapping (16-byte aligned).
inline constexpr std::size_t execution_stack_top_room = 64;

struct thread_execution_stacks {
  execution_stack* head;
  std::size_t count;
  std::size_t turn;      // where the next new fiber looks first, so fibers spread over the stacks
  bool exit_armed;
};

EBB_PER_THREAD(thread_execution_stacks, thread_execution_stacks_v1, this_thread_execution_stacks_slot)
EBB_PROCESS_WIDE(os::thread_exit_key, execution_stacks_exit_key, {});

inline void drop_execution_stack(execution_stack* e) noexcept {
  if (e->holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  hooks::stack_released(e->limit, e->top);
  os::release(e->base, e->reserved);
  delete e;
}

inline void release_thread_execution_stacks(void*) noexcept {
  thread_execution_stacks& mine = this_thread_execution_stacks_slot();
  for (execution_stack* e = mine.head; e != nullptr;) {
    execution_stack* next = e->next;
    drop_execution_stack(e);
    e = next;
  }
  mine = thread_execution_stacks{};
}

// Out of line: the address of a thread's object must never be computed on one side of a switch and
// used on the other.
EBB_NOINLINE inline thread_execution_stacks& this_thread_execution_stacks() noexcept {
  return this_thread_execution_stacks_slot();
}

// A new execution stack for the calling thread, or nullptr (errno set). The guard is a hard one: a
// compact fiber that reaches it has overflowed, and the fault handler reports it by the fiber's name.
inline execution_stack* add_execution_stack(std::size_t frames_bytes, std::size_t guard_bytes) noexcept {
  thread_execution_stacks& mine = this_thread_execution_stacks();
  const std::size_t page = os::page_size();
  frames_bytes = (frames_bytes + page - 1) / page * page;
  guard_bytes = (guard_bytes + page - 1) / page * page;
  void* base = os::reserve(guard_bytes, frames_bytes);
  if (base == nullptr) return nullptr;
  execution_stack* e = new (std::nothrow) execution_stack;
  if (e == nullptr) {
    os::release(base, guard_bytes + frames_bytes);
    return nullptr;
  }
  e->base = static_cast<char*>(base);
  e->reserved = guard_bytes + frames_bytes;
  e->limit = e->base + guard_bytes;
  // A little room above the top, inside the mapping, as an in-place stack has its control block there:
  // unwinders read a word or two above the entry frame (Valgrind's did, past the end of the mapping,
  // and Memcheck died of SIGSEGV inside itself once a thread had two execution stacks).
  e->top = e->limit + frames_bytes - execution_stack_top_room;
  e->frames_bytes = frames_bytes;
  if (!mine.exit_armed)
    mine.exit_armed = os::run_at_thread_exit(execution_stacks_exit_key, &release_thread_execution_stacks,
                                             &execution_stacks_exit_key);
  e->next = mine.head;
  mine.head = e;
  ++mine.count;
  return e;
}

// Give back the memory of the calling thread's execution stacks that no fiber's frames occupy: below
// the occupant's saved stack pointer (or the canary of checked mode), or all of it when the stack is free. Stacks something runs on
// are left alone. Returns the bytes released.
inline std::size_t trim_this_thread_execution_stacks() noexcept {
  thread_execution_stacks& mine = this_thread_execution_stacks();
  std::size_t released = 0;
  for (execution_stack* e = mine.head; e != nullptr; e = e->next) {
    if (e->running != nullptr || !e->ran_since_trim) continue;
    char* keep = e->occupant ? static_cast<char*>(e->occupant->sp) : e->top;
    if (e->canary_lo != nullptr && e->canary_lo < keep) keep = e->canary_lo;  // checked mode verifies it later
    keep = detail::page_floor(keep);
    e->ran_since_trim = false;
    if (keep <= e->limit) continue;
    // What the trim releases is what was resident (the decommit covers the whole range, touched or not).
    const std::size_t resident = os::resident_bytes(e->limit, keep);
    if (resident == 0) continue;
    hooks::stack_released(e->limit, keep);
    if (os::decommit(e->limit, keep) != 0) released += resident;
  }
  return released;
}

// ---- choosing a stack for a compact fiber's first run (mappers/shared_stack.hpp) ----------------
// Stacks are told apart by size: `bytes` is execution_stack_bytes(StackBytes) of the configuration.

// Whole pages and one more, so a fiber may use all of StackBytes below the room kept at the top.
inline std::size_t execution_stack_bytes(std::size_t stack_bytes) noexcept {
  const std::size_t page = os::page_size();
  return (stack_bytes + page - 1) / page * page + page;
}

// Is there a stack of this size that nothing but `leaving` runs on? (A question only: the turn
// advances when a stack is really taken, in pick_execution_stack.)
inline bool any_usable_execution_stack(std::size_t bytes, const fiber_context* leaving) noexcept {
  for (const execution_stack* e = this_thread_execution_stacks().head; e != nullptr; e = e->next)
    if (e->frames_bytes == bytes && (e->running == nullptr || e->running == leaving)) return true;
  return false;
}

inline bool may_add_execution_stack(std::size_t bytes, std::size_t most) noexcept {
  std::size_t same = 0;
  for (const execution_stack* e = this_thread_execution_stacks().head; e != nullptr; e = e->next)
    same += e->frames_bytes == bytes;
  return same < most;
}

// A stack of this thread for a fiber's first run: a new one while the thread has fewer than `most`,
// else the next one in turn that nothing runs on (nor `leaving`, which a switch_to would then have to
// route), else one that `leaving` runs on. nullptr if none (make: or none can be made).
inline execution_stack* pick_execution_stack(std::size_t bytes, std::size_t most, std::size_t guard,
                                             const fiber_context* leaving, bool make) noexcept {
  thread_execution_stacks& mine = this_thread_execution_stacks();
  if (make && may_add_execution_stack(bytes, most)) {
    if (execution_stack* fresh = add_execution_stack(bytes, guard)) return fresh;
  }
  execution_stack* fallback = nullptr;
  execution_stack* chosen = nullptr;
  const std::size_t start = mine.turn++;
  for (std::size_t round = 0; round < 2 && chosen == nullptr; ++round) {
    std::size_t index = 0;
    for (execution_stack* e = mine.head; e != nullptr; e = e->next, ++index) {
      if (e->frames_bytes != bytes) continue;
      if (round == 0 && index < start % (mine.count ? mine.count : 1)) continue;
      if (e->running == nullptr) {
        chosen = e;
        break;
      }
      if (e->running == leaving && fallback == nullptr) fallback = e;
    }
  }
  return chosen ? chosen : fallback;
}

EBB_RUNTIME_END
