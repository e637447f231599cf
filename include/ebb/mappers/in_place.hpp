// SPDX-License-Identifier: BSL-1.0
// ebb/mappers/in_place.hpp — the default FrameMapper, and the FrameMapper contract it implements.
//
// in_place runs a fiber's frames in the fiber's own reservation and never moves them. C++ keeps
// pointers into the stack where no scan can find them (a local std::map's nodes point back at its
// header; intrusive wait-queue nodes live on the waiter's stack), so moving frames without the
// compiler's pointer maps that Go has would corrupt memory silently. Growth and shrinking therefore
// happen in place: the kernel commits pages as they are touched, and a shrink point decommits every
// page below the new logical size. Contract for the fiber's code: none. Any C++ code and any system
// call is safe, and a fiber may resume on another thread.
//
// The FrameMapper contract (checked at compile time with one message per missing member, see
// policies/mapper_requirements.hpp). S is ebb::mapped_stack<StackAllocator> (mappers/mapped_stack.hpp); a
// hook that needs no memory may take ebb::fiber_view instead, and a template over S is fine.
//
//   static constexpr ebb::frame_residency residency;
//   static ebb::frame_placement place(const ebb::stack_region&) noexcept;     where the fiber goes
//   ebb::mapper_refusal on_create(S&) noexcept;   the fiber is laid out; it has not run
//   void on_resume(S&) noexcept;                  about to run (from resume() or a switch_to)
//   void on_suspend(S&) noexcept;                 has switched away and may run again
//   void on_finish(S&) noexcept;                  has switched away for the last time (its function
//                                                 ended, or destruction unwound it)
//   void on_destroy(S&) noexcept;                 about to be destroyed, whatever its state
//   std::size_t committed(S&) noexcept;           bytes of memory the frames hold now
//   std::size_t seen_in_use(S&) noexcept;         the most bytes the memory shows were in use since the
//                                                 last shrink point (0: no evidence)
//   std::size_t shrink(S&, const ebb::shrink_step&) noexcept;   release what the new logical size
//                                                 does not cover; returns the bytes released
//   bool release(S&, ebb::stack_region&, bool ran) noexcept;   last, before the reservation goes
//                                                 back to the allocator: say how clean it is; false if
//                                                 it must be discarded rather than reused
//
// The mapper object lives in the fiber's control block, one per fiber, default-constructed. To adapt
// in_place, derive from it and hide the hooks you change (calling in_place's from yours).
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/page_bounds.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/detail/tripwire_window.hpp"
#include "ebb/mappers/mapped_stack.hpp"
#include "ebb/policies/detection.hpp"

#include <cstddef>

EBB_NAMESPACE_BEGIN

class in_place {
 public:
  static constexpr frame_residency residency = frame_residency::in_place;

  // Control block and callable at the top of the reservation, frames right below them: creating a
  // fiber touches one page, which a pooled reservation already has resident.
  static frame_placement place(const stack_region& region) noexcept { return {region.top, nullptr, nullptr}; }

  template <class A>
  mapper_refusal on_create(mapped_stack<A>& s) noexcept {
    // Pages of a reused reservation above clean_below may still be resident from its last fiber: they
    // count as this fiber's until its first shrink point releases them.
    const stack_region& region = s.region();
    char* frame_page = detail::page_floor(s.saved_stack_pointer());
    kept_floor_ = region.clean_below ? detail::page_floor(region.clean_below) : static_cast<char*>(region.limit);
    if (kept_floor_ > frame_page) kept_floor_ = frame_page;
    held_floor_ = static_cast<char*>(region.top);  // nothing measured yet
    if constexpr (detail::has_tripwire<A>::value)
      return detail::tripwire_window<A>::open_initial(context(s), s.allocator(), region, kept_floor_);
    return mapper_refusal::none;
  }

  void on_resume(const fiber_view&) noexcept {}
  void on_suspend(const fiber_view&) noexcept {}
  void on_finish(const fiber_view&) noexcept {}
  void on_destroy(const fiber_view&) noexcept {}

  template <class A>
  std::size_t committed(mapped_stack<A>& s) noexcept {
    if constexpr (detail::has_committed<A>::value)
      return s.allocator().committed(s.region());
    else
      return s.region().usable();  // nothing better is known: all of it may be
  }

  // A page below kept_floor that is resident was touched after the last shrink point, so the fiber
  // used at least down to that page's top.
  template <class A>
  std::size_t seen_in_use(mapped_stack<A>& s) noexcept {
    if constexpr (detail::has_lowest_committed<A>::value && !detail::has_tripwire<A>::value) {
      if (!context(s).ran_since_shrink) return 0;
      char* lowest = static_cast<char*>(s.allocator().lowest_committed(s.region()));
      if (lowest >= kept_floor_) return 0;
      char* touched = lowest + runtime_v1::os::page_size();  // some byte below this was touched
      return touched < s.frames_top() ? s.used_at(touched) + 1 : 0;
    } else {
      (void)s;
      return 0;
    }
  }

  template <class A>
  std::size_t shrink(mapped_stack<A>& s, const shrink_step& step) noexcept {
    runtime_v1::fiber_context& c = context(s);
    char* sp_page = detail::page_floor(step.stack_pointer);
    if constexpr (detail::has_tripwire<A>::value) {
      char* lo = detail::tripwire_window<A>::lowest_for(c, s.region(), step.new_size);
      if (lo > sp_page) lo = sp_page;
      const std::size_t released = detail::tripwire_window<A>::close_below(c, s.allocator(), s.region(), lo, step.inside);
      kept_floor_ = c.window_lo;
      return released;
    } else {
      // Nothing below the saved stack pointer is live in a suspended fiber (no red zone survives a
      // call), so the boundary may go as high as the page holding it. Every page the logical size does
      // not wholly cover goes: the control block above frames_top would otherwise make a 4 KiB size
      // straddle two pages and keep both. A page released here that the fiber touches again simply
      // comes back, as any page of an in-place stack does.
      char* boundary = detail::page_ceil(s.frames_top() - step.new_size);
      if (boundary > sp_page) boundary = sp_page;
      // If the fiber has not run since the last point, nothing below kept_floor can be resident: only
      // the band between it and the new boundary needs a system call (none if the boundary did not rise).
      // And if a pass measured, at an earlier point, that every page from held_floor up holds memory,
      // that band needs no question either: pages keep holding memory until ebb releases them.
      std::size_t released = 0;
      if (c.ran_since_shrink) {
        released = decommit_below(s, static_cast<char*>(s.region().limit), boundary, step.inside);
        held_floor_ = measured_held_floor(s, boundary);
      } else if (boundary > kept_floor_) {
        released = band_known_held(s) ? decommit_held_band(s, kept_floor_, boundary)
                                      : decommit_below(s, kept_floor_, boundary, step.inside);
      }
      kept_floor_ = boundary;
      c.ran_since_shrink = step.inside;  // the running fiber keeps touching pages after this point
      return released;
    }
  }

  // Whether the next shrink point of the suspended fiber, if its size goes down, must ask the system
  // which pages hold memory. Not when it has not run since the last one and the band it would give up
  // is known to hold memory throughout: a registry pass then leaves its stack out of the group's scan.
  template <class A>
  bool shrink_needs_query(mapped_stack<A>& s) noexcept {
    return !band_known_held(s);
  }

  // A fiber seen deeper than its top page releases everything below that page now, so the pooled
  // reservation holds one page. Otherwise a system call here would cost more than the fiber's whole
  // life; the region records instead how far down it is known to be clean.
  template <class A>
  bool release(mapped_stack<A>& s, stack_region& region, bool ran) noexcept {
    runtime_v1::fiber_context& c = context(s);
    char* top_page = detail::page_floor(s.frames_top());
    region.clean_below = ran && c.ran_since_shrink ? nullptr : kept_floor_;
    if constexpr (detail::has_decommit<A>::value) {
      if (s.peak() + runtime_v1::arch::initial_frame_bytes > static_cast<std::size_t>(s.frames_top() - top_page)) {
        s.allocator().decommit(region, region.limit, top_page);
        region.clean_below = top_page;
      }
    }
    if constexpr (detail::has_tripwire<A>::value) return detail::tripwire_window<A>::reopen(c, s.allocator(), region);
    return true;
  }

 protected:
  static runtime_v1::fiber_context& context(const fiber_view& v) noexcept { return detail::mapper_access::context(v); }

 private:
  char* kept_floor_ = nullptr;  // lowest page kept at the last shrink point (or creation)
  // Every page from here to the top held memory when a pass last measured (the top: not measured).
  // Only pages above kept_floor matter, and those stay held until a shrink point releases them.
  char* held_floor_ = nullptr;

  template <class A>
  bool band_known_held(mapped_stack<A>& s) noexcept {
    if constexpr (detail::has_held_floor<A>::value && detail::has_decommit_held<A>::value &&
                  !detail::has_tripwire<A>::value)
      return !context(s).ran_since_shrink && held_floor_ <= kept_floor_;
    else
      return (void)s, false;
  }

  // What the pass holding the fiber measured above the new boundary (answered from its snapshot, no
  // system call); the top when nothing was measured.
  template <class A>
  static char* measured_held_floor(mapped_stack<A>& s, char* boundary) noexcept {
    if constexpr (detail::has_held_floor<A>::value) {
      if (void* floor = s.allocator().held_floor(s.region(), boundary)) return static_cast<char*>(floor);
    }
    return static_cast<char*>(s.region().top);
  }

  // A suspended fiber's band known to hold memory: released without asking (never from inside).
  template <class A>
  static std::size_t decommit_held_band(mapped_stack<A>& s, char* from, char* boundary) noexcept {
    if constexpr (detail::has_decommit_held<A>::value) {
      runtime_v1::hooks::stack_released(from, boundary);
      return s.allocator().decommit_held(s.region(), from, boundary);
    } else {
      (void)s, (void)from, (void)boundary;
      return 0;
    }
  }

  // The pages of [from, boundary) go back to the OS. From inside the running fiber the boundary is
  // clamped here, in a frame that is not inlined, below this function's own stack pointer.
  template <class A>
  EBB_NOINLINE static std::size_t decommit_below(mapped_stack<A>& s, char* from, char* boundary, bool inside) noexcept {
    if constexpr (detail::has_decommit<A>::value) {
      if (inside) boundary = detail::below_running_frames(boundary);
      if (boundary <= from) return 0;
      runtime_v1::hooks::stack_released(from, boundary);
      return s.allocator().decommit(s.region(), from, boundary);
    } else {
      (void)s, (void)from, (void)boundary, (void)inside;
      return 0;
    }
  }
};

EBB_NAMESPACE_END
