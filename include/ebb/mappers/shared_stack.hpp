// SPDX-License-Identifier: BSL-1.0
// ebb/mappers/shared_stack.hpp — the copying FrameMapper: compact fibers' frames run on a shared
// execution stack and are saved, exactly sized, while the fiber is suspended.
//
// THE CONTRACT, FIRST: while a compact fiber is suspended its frames are not at their addresses. A
// pointer into them — to a local, an argument, a std::map's header, an intrusive wait-queue node on
// its stack — may not be dereferenced by anything outside the fiber until the fiber runs again. And a
// compact fiber runs only on the thread that first resumed it.
//
// Why: a thread's compact fibers take turns on one of a few execution stacks (mappers/
// execution_stack.hpp). The fiber whose frames are on a stack (its occupant) keeps them there after it
// yields; only when another fiber needs the stack are the occupant's live frames — the bytes between
// its saved stack pointer and the stack's top — copied into storage sized by the policies (2 KiB at
// first, doubled when the live frames outgrow it, halved at shrink points while under a quarter is in
// use), and copied back to the same addresses when it resumes. So a fiber resumed on the stack it last
// left, with nobody there since, copies nothing; an idle fiber costs its storage and its control
// block, both from dense size classes (allocators/block_heap.hpp), and no page of its own.
//
// What is enforced:
//   - resuming on another thread: fiber_error (wrong_thread), as for fiber_options().pin_to_thread;
//   - resuming a fiber whose execution stack another running fiber is on (a compact fiber resuming a
//     compact fiber bound to its own stack): fiber_error (execution_stack_busy) — the copy would
//     overwrite the resumer. A fiber that never ran is bound to a free stack, so nesting works as long
//     as the thread has enough of them (ExecutionStacks);
//   - this_fiber::switch_to between two fibers of one stack is routed through the resumer's stack:
//     the one switching away is saved and the other copied in there;
//   - destroying a suspended compact fiber on another thread stops the program: its frames can only be
//     unwound on their own stack.
//   - Checked mode (EBB_COMPACT_CHECKS, on by default under AddressSanitizer): a fiber is saved as it
//     suspends and the frames it leaves are poisoned (ASan reports any access at once) or filled with a
//     canary that is verified before the stack is used again (a write is reported with the fiber's id;
//     a read returns the canary, 0xEB bytes). What it cannot catch: a read without ASan that goes
//     unnoticed, and accesses after another fiber's frames were copied over the same addresses.
//
// How many execution stacks: ExecutionStacks per thread (default 2), made as fibers first run. More
// let more fibers keep their frames in place (two that alternate, on two stacks, never copy) and let
// compact fibers nest that deep; each costs StackBytes of address space and the pages it touches.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/integer_cast.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/page_bounds.hpp"
#include "ebb/detail/registry_shards.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/error.hpp"
#include "ebb/mappers/execution_stack.hpp"
#include "ebb/mappers/mapped_stack.hpp"
#include "ebb/mappers/saved_frames.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

EBB_NAMESPACE_BEGIN


template <std::size_t ExecutionStacks = 2, std::size_t StackBytes = 1024 * 1024,
          std::size_t GuardBytes = 16 * 1024>
class shared_stack {
  static_assert(ExecutionStacks >= 1, "ebb::shared_stack: ExecutionStacks must be at least 1");
  static_assert(StackBytes >= 16 * 1024, "ebb::shared_stack: StackBytes must be at least 16 KiB");
  using context = runtime_v1::fiber_context;
  using estack = runtime_v1::execution_stack;

 public:
  static constexpr frame_residency residency = frame_residency::absent_while_suspended;
  static constexpr std::size_t execution_stacks = ExecutionStacks;
  static constexpr std::size_t stack_bytes = StackBytes;
  static constexpr bool checked = EBB_COMPACT_CHECKS != 0;

  // Unused for this mapper (the control block is the whole allocation); present for the contract.
  static frame_placement place(const stack_region& region) noexcept { return {region.top, nullptr, nullptr}; }
  // A compact fiber may use StackBytes: its execution stack is a page larger, so a power-of-two
  // maximum stays one (the policies halve from it down to their minimum).
  static std::size_t limit_max_size(std::size_t wanted) noexcept { return wanted < StackBytes ? wanted : StackBytes; }
  // A fiber's block starts with room for its frames at the GrowthPolicy's minimum size: creation
  // asks how much (constexpr), then hands the fiber its first function and that room.
  static constexpr std::size_t inline_storage_bytes(std::size_t min_size) noexcept { return storage_bytes(min_size); }
  template <class A>
  void prepare(mapped_stack<A>& s, void (*entry)(void*), std::size_t inline_bytes) noexcept {
    storage_ = static_cast<char*>(s.region().base);
    capacity_ = runtime_v1::integer_cast<std::uint32_t>(inline_bytes);
    // Until the fiber first runs, its storage holds nothing but the function its first frame calls.
    std::memcpy(storage_, &entry, sizeof entry);
  }

  template <class A>
  mapper_refusal on_create(mapped_stack<A>&) noexcept { return mapper_refusal::none; }

  // First thing in resume(), before any of the fiber is read: its saved frames, while small, lie just
  // below its control block (`room` bytes of its own block), and loading their first lines now puts
  // those cache misses in flight beside the control block's, instead of after them. Loads, not
  // prefetch instructions: in bench/entity_scripts_bench.cpp (50,000 fibers) a __builtin_prefetch here
  // left the copy back stalled on its first line as before, while these loads took a frame from 337 to
  // 94 ns a fiber. Relaxed atomic loads, since a pass on another thread may be moving saved frames into
  // that room: the values are never used (compiled out under TSan, which would still see the race).
  static void prefetch_saved(const void* control, std::size_t room) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && !EBB_TSAN
    // Four lines, written out.
    const char* top = static_cast<const char*>(control);
    if (room >= 64) touch_line(top - 64);
    if (room >= 128) touch_line(top - 128);
    if (room >= 192) touch_line(top - 192);
    if (room >= 256) touch_line(top - 256);
#else
    (void)control, (void)room;
#endif
  }

#if defined(__GNUC__) || defined(__clang__)
  static void touch_line(const char* at) noexcept {
    const char line = __atomic_load_n(at, __ATOMIC_RELAXED);
    __asm__ volatile("" : : "r"(line));
  }
#endif

  // On the resuming thread, before the fiber is published as running: what would make the resume
  // unsafe is refused here, with an exception. `leaving` is the fiber a switch_to replaces.
  void admit(context& c, const char* what, context* leaving) {
    if (stack_ == nullptr) {
      if (!may_add() && !any_usable(leaving))
        detail::misuse(fiber_errc::execution_stack_busy,
               std::string(what) + " of compact fiber '" + detail::display_name(c.name) + "': all " +
                   std::to_string(ExecutionStacks) +
                   " execution stacks of this thread run compact fibers (compact fibers nested that deep); "
                   "give ebb::shared_stack more ExecutionStacks");
      return;
    }
    context* runner = stack_->running;
    if (runner != nullptr && runner != leaving)
      detail::misuse(fiber_errc::execution_stack_busy,
             std::string(what) + " of compact fiber '" + detail::display_name(c.name) + "' from fiber '" +
                 detail::display_name(runner->name) +
                 "', which runs on the same execution stack (its frames would be overwritten); resume it "
                 "from another stack, or give ebb::shared_stack more ExecutionStacks");
  }

  // switch_to: false when the stack is in use by the fiber switching away, so the copy must be made
  // from another stack (detail/direct_switch.hpp routes it through the resumer).
  template <class A>
  bool resume_here(mapped_stack<A>& s) noexcept {
    if (stack_ == nullptr) {
      estack* free_one = pick(nullptr, /*make=*/true);
      if (free_one == nullptr) return false;  // only the leaving fiber's stack is left: bind it there
      bind(context_of(s), *free_one);
    } else if (stack_->running != nullptr) {
      return false;
    }
    on_resume(s);
    return true;
  }

  // About to run, on its thread, from a stack other than its execution stack.
  template <class A>
  void on_resume(mapped_stack<A>& s) noexcept {
    context& c = context_of(s);
    if (EBB_UNLIKELY(stack_ == nullptr)) {
      estack* free_one = pick(nullptr, /*make=*/true);  // admit() made sure there is one
      if (free_one == nullptr)
        detail::fatal("cannot make an execution stack for compact fiber '%s'", detail::display_name(c.name));
      bind(c, *free_one);
    }
    estack& e = *stack_;
    if (e.occupant != &c) {
      if (e.occupant != nullptr) e.occupant->ops->evict(*e.occupant);
      if (checked && e.canary_lo != nullptr) detail::clear_checked_region(e);
      if (EBB_UNLIKELY(c.sp == nullptr))
        make_first_frame(c, e);
      else
        restore(s, c, e);
      e.occupant = &c;
    }
    e.running = &c;
    e.ran_since_trim = true;
  }

  template <class A>
  void on_suspend(mapped_stack<A>& s) noexcept {
    estack& e = *stack_;
    e.running = nullptr;
    if constexpr (checked) {
      context& c = context_of(s);
      // A fiber suspending with this_fiber::yield_then keeps f in its frames until resume() has moved f
      // out, which is after this: saved and poisoned now, f would run with the canary's bytes (or ASan
      // would report the move). Its frames stay where they are, as in unchecked mode, until another
      // fiber needs the stack.
      if (c.then_run != nullptr) return;
      save(s, c, e);
      detail::poison_left_frames(c, e);
    }
  }

  template <class A>
  void on_finish(mapped_stack<A>& s) noexcept {
    estack& e = *stack_;
    e.running = nullptr;
    context& c = context_of(s);
    if (e.occupant == &c) e.occupant = nullptr;
#if EBB_ASAN
    // Its last frames never return (the final switch leaves them): their redzones would stay poisoned
    // on the stack, under whichever fiber's frames come there next.
    if (c.sp != nullptr) ASAN_UNPOISON_MEMORY_REGION(c.sp, static_cast<std::size_t>(e.top - static_cast<char*>(c.sp)));
#endif
    free_storage(s);  // its frames are gone for good
  }

  template <class A>
  void on_destroy(mapped_stack<A>& s) noexcept {
    context& c = context_of(s);
    if (stack_ != nullptr) {
      // Only a fiber that did not finish still has anything on the stack, and then this runs on the
      // stack's own thread (basic_fiber::destroy checked); a finished one may be destroyed anywhere.
      if (c.state.load(std::memory_order_relaxed) != runtime_v1::fiber_state::finished) {
        if (stack_->occupant == &c) stack_->occupant = nullptr;
        if (stack_->canary_fiber == c.id) detail::clear_checked_region(*stack_);
      }
      runtime_v1::drop_execution_stack(stack_);
      stack_ = nullptr;
    }
    free_storage(s);
  }

  // The storage it holds (its frames on the execution stack count to the stack).
  template <class A>
  std::size_t committed(mapped_stack<A>&) noexcept { return capacity_; }

  // The live frames at each suspension are the whole truth for a copying mapper: nothing deeper is kept.
  std::size_t seen_in_use(const fiber_view&) noexcept { return 0; }

  // The storage follows the logical size down (back into the fiber's own block at the minimum).
  // Reached with the fiber held (a pass, shrink_stack()) or from inside it (its frames are on the
  // execution stack then, and the storage holds nothing).
  template <class A>
  std::size_t shrink(mapped_stack<A>& s, const shrink_step& step) noexcept {
    if (stack_ == nullptr || is_inline(s)) return 0;  // never ran (the storage holds its entry), or at the minimum
    const std::size_t bytes = storage_bytes(step.new_size);
    const std::size_t room = inline_room(s);
    const bool home = bytes <= room;
    const std::size_t want = home ? room : A::frames_capacity(bytes);
    if (want >= capacity_) return 0;
    char* smaller = home ? static_cast<char*>(s.region().base) : static_cast<char*>(s.allocator().allocate_frames(want));
    if (smaller == nullptr) return 0;  // keep the larger block: nothing is lost but the release
    if (saved_ != 0) detail::move_saved_frames(smaller, want, storage_, capacity_, saved_);
    s.allocator().deallocate_frames(storage_, capacity_);
    const std::size_t released = capacity_ - want;
    storage_ = smaller;
    capacity_ = static_cast<std::uint32_t>(want);
    return released;
  }

  template <class A>
  bool release(mapped_stack<A>&, stack_region&, bool) noexcept { return true; }

  // fiber_ops::evict: the occupant of a stack another fiber needs is saved. Runs on the stack's thread
  // (the occupant is pinned to it), never on the stack itself. A pass on another thread may be visiting
  // the suspended occupant: it is taken the way a resume takes a fiber (detail/registry_shards.hpp), so
  // the pass either skipped it or is waited for.
  template <class A>
  void evict(mapped_stack<A>& s) noexcept {
    context& c = context_of(s);
    estack& e = *stack_;
    const bool published = c.state.load(std::memory_order_relaxed) == runtime_v1::fiber_state::suspended;
    if (published) {
      c.state.store(runtime_v1::fiber_state::running, runtime_v1::os::handshake_store);
      runtime_v1::wait_if_inspected(c);
    }
    save(s, c, e);
    if (published) c.state.store(runtime_v1::fiber_state::suspended, std::memory_order_release);
  }

  // This thread's execution stacks lose the pages no fiber's frames occupy (a shrink point for them).
  static std::size_t trim_execution_stacks() noexcept { return runtime_v1::trim_this_thread_execution_stacks(); }

 private:
  estack* stack_ = nullptr;        // bound when the fiber first runs
  // Where its frames go while another fiber uses the stack: the start of its own block (the room
  // creation left for the minimum size) or, while it needs more, a block of the allocator's. Saved
  // frames sit at the storage's top, against the control block that follows the room: a resume that
  // reads the control block has the frames' first lines in the same page, often in the same prefetch.
  char* storage_ = nullptr;
  std::uint32_t capacity_ = 0;         // bytes of storage_
  std::uint32_t saved_ = 0;            // bytes of frames in storage_ now (0: on the stack, or never ran)
  // (The room in its own block is not kept: it is everything below the control block, inline_room.)

  static context& context_of(const fiber_view& v) noexcept { return detail::mapper_access::context(v); }

  // Under ASan the storage also keeps the frames' shadow (one byte per 8) after them.
  static constexpr std::size_t storage_bytes(std::size_t frames) noexcept {
#if EBB_ASAN
    return frames + frames / 8 + 16;
#else
    return frames;
#endif
  }

  static std::size_t rounded_stack_bytes() noexcept { return runtime_v1::execution_stack_bytes(StackBytes); }
  static bool any_usable(const context* leaving) noexcept {
    return runtime_v1::any_usable_execution_stack(rounded_stack_bytes(), leaving);
  }
  static bool may_add() noexcept { return runtime_v1::may_add_execution_stack(rounded_stack_bytes(), ExecutionStacks); }
  static estack* pick(const context* leaving, bool make) noexcept {
    return runtime_v1::pick_execution_stack(rounded_stack_bytes(), ExecutionStacks, GuardBytes, leaving, make);
  }

  void bind(context& c, estack& e) noexcept {
    e.holds.fetch_add(1, std::memory_order_relaxed);
    stack_ = &e;
    c.stack_top = e.top;
    c.stack_limit = e.top - c.max_size;
    c.guard_lo = e.base;
    c.guard_hi = e.limit;
    c.tool_stack_lo = e.limit;
    c.tool_stack_hi = e.top;
    runtime_v1::hooks::stack_bounds_changed(c, e.limit);
  }

  void (*first_function() const noexcept)(void*) {
    void (*entry)(void*);
    std::memcpy(&entry, storage_, sizeof entry);
    return entry;
  }
  template <class A>
  bool is_inline(mapped_stack<A>& s) const noexcept { return storage_ == s.region().base; }
  // The room for frames in the fiber's own block: everything below its control block.
  template <class A>
  static std::size_t inline_room(mapped_stack<A>& s) noexcept {
    return static_cast<std::size_t>(reinterpret_cast<char*>(&context_of(s)) - static_cast<char*>(s.region().base));
  }

  void make_first_frame(context& c, estack& e) noexcept {
#if defined(EBB_ABI_MS)
    runtime_v1::arch::tib_stack_bounds bounds;
    bounds.limit = e.limit;
    bounds.deallocation = e.limit;
    c.sp = runtime_v1::arch::make_initial_frame_with_tib(e.top, first_function(), &c, bounds);
#else
    c.sp = runtime_v1::arch::make_initial_frame(e.top, first_function(), &c);
#endif
  }

  // The live frames [sp, top) into the top of the storage, which grows to the logical size first if
  // it must (under ASan their shadow goes to the storage's bottom).
  template <class A>
  void save(mapped_stack<A>& s, context& c, estack& e) noexcept {
    char* sp = static_cast<char*>(c.sp);
    const auto live = static_cast<std::size_t>(e.top - sp);
    if (capacity_ < storage_bytes(live)) {
      const std::size_t need = storage_bytes(live > c.size ? live : c.size);
      void* bigger = s.allocator().allocate_frames(need);
      if (bigger == nullptr)
        detail::fatal("out of memory saving the %zu bytes of frames of compact fiber '%s'", live,
                      detail::display_name(c.name));
      if (!is_inline(s)) s.allocator().deallocate_frames(storage_, capacity_);
      storage_ = static_cast<char*>(bigger);
      capacity_ = static_cast<std::uint32_t>(A::frames_capacity(need));
    }
    detail::copy_frames(storage_ + capacity_ - live, sp, live);
#if EBB_ASAN
    detail::copy_frames(storage_, detail::asan_shadow(sp), live / 8);
    ASAN_UNPOISON_MEMORY_REGION(sp, live);  // the stack is clean for whoever comes next
#endif
    saved_ = static_cast<std::uint32_t>(live);
    if (e.occupant == &c) e.occupant = nullptr;
  }

  template <class A>
  void restore(mapped_stack<A>&, context& c, estack& e) noexcept {
    char* sp = static_cast<char*>(c.sp);
    runtime_v1::hooks::frames_arriving(sp, saved_);
    detail::copy_frames(sp, storage_ + capacity_ - saved_, saved_);
#if EBB_ASAN
    detail::copy_frames(detail::asan_shadow(sp), storage_, saved_ / 8);
#endif
    (void)e;
    saved_ = 0;
  }

  // A block of the allocator's goes back; the room in the fiber's own block goes with the fiber.
  template <class A>
  void free_storage(mapped_stack<A>& s) noexcept {
    if (storage_ != nullptr && !is_inline(s)) s.allocator().deallocate_frames(storage_, capacity_);
    storage_ = static_cast<char*>(s.region().base);
    capacity_ = static_cast<std::uint32_t>(inline_room(s));
    saved_ = 0;
  }
};

EBB_NAMESPACE_END
