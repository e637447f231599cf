// SPDX-License-Identifier: BSL-1.0
// ebb/fiber.hpp — ebb::basic_fiber, a stackful coroutine whose stack grows and shrinks.
//
// Life of a fiber:
//
//   created ──resume()──▶ running ──this_fiber::yield()──▶ suspended ──resume()──▶ running ...
//                            └──callable returns or throws──▶ finished
//
// A basic_fiber is a handle: it owns one fiber, whose control block lives inside the fiber's own stack
// reservation (detail/fiber_creation.hpp draws the layout). The jobs behind the handle each have a file:
//   detail/fiber_creation.hpp   stack, placement, control block, first frame, creation failures
//   detail/switch_protocol.hpp  the bookkeeping around each switch, a fiber's end, unwinding at destruction
//   detail/stack_accounting.hpp logical size, growth, shrink points, statistics, handing the stack back
//   mappers/in_place.hpp        the memory behind the frames (the FrameMapper), tripwire windows in
//                               detail/tripwire_window.hpp
// After this_fiber::yield_then(f), resume() calls f last, once the fiber is published as suspended.
#pragma once

#include "ebb/allocators/virtual_stack_allocator.hpp"
#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/create_report.hpp"
#include "ebb/detail/direct_switch.hpp"
#include "ebb/detail/fiber_control.hpp"
#include "ebb/detail/fiber_creation.hpp"
#include "ebb/detail/fiber_reports.hpp"
#include "ebb/detail/stack_accounting.hpp"
#include "ebb/detail/switch_protocol.hpp"
#include "ebb/error.hpp"
#include "ebb/fiber_options.hpp"
#include "ebb/mappers/in_place.hpp"
#include "ebb/policies/growth.hpp"
#include "ebb/policies/requirements.hpp"
#include "ebb/policies/shrink.hpp"
#include "ebb/detail/registry_shards.hpp"
#include "ebb/stack_stats.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN

template <class GrowthPolicy = doubling_growth<>, class ShrinkPolicy = quarter_shrink<>,
          class StackAllocator = virtual_stack_allocator<>, class FrameMapper = in_place>
class basic_fiber {
  static_assert(detail::check_growth_policy<GrowthPolicy>(), "ebb::basic_fiber: invalid GrowthPolicy");
  static_assert(detail::check_shrink_policy<ShrinkPolicy>(), "ebb::basic_fiber: invalid ShrinkPolicy");
  static_assert(detail::check_stack_allocator<StackAllocator>(),
                "ebb::basic_fiber: invalid StackAllocator");
  static_assert(detail::check_frame_mapper<FrameMapper, StackAllocator>(), "ebb::basic_fiber: invalid FrameMapper");

  using context = runtime_v1::fiber_context;
  using state = runtime_v1::fiber_state;
  friend struct detail::fiber_access;

  using control = detail::fiber_control<GrowthPolicy, ShrinkPolicy, StackAllocator, FrameMapper>;
  using accounting = detail::stack_accounting<control>;
  using protocol = detail::switch_protocol<control>;
  using creation = detail::fiber_creation<control, FrameMapper>;

 public:
  using growth_policy = GrowthPolicy;
  using shrink_policy = ShrinkPolicy;
  using stack_allocator = StackAllocator;
  using frame_mapper = FrameMapper;

  basic_fiber() noexcept = default;

  template <class Fn, class = std::enable_if_t<!std::is_same<std::decay_t<Fn>, basic_fiber>::value &&
                                               !std::is_same<std::decay_t<Fn>, fiber_options>::value>>
  explicit basic_fiber(Fn&& fn)
      : basic_fiber(std::allocator_arg, StackAllocator(), detail::default_fiber_options(), std::forward<Fn>(fn)) {}

  template <class Fn>
  basic_fiber(const fiber_options& options, Fn&& fn)
      : basic_fiber(std::allocator_arg, StackAllocator(), options, std::forward<Fn>(fn)) {}

  template <class Fn>
  basic_fiber(std::allocator_arg_t, StackAllocator allocator, const fiber_options& options, Fn&& fn) {
    using callable_type = std::decay_t<Fn>;
    static_assert(std::is_invocable<callable_type&>::value,
                  "ebb::basic_fiber: the fiber's function must be callable with no arguments");
    ctl_ = creation::template create<callable_type>(std::move(allocator), options, std::forward<Fn>(fn),
                                                    detail::raise_failure{});
  }

  // Creation that says no with a value: where the constructors throw fiber_error (or, without
  // exceptions, report and abort), try_create returns nullopt and, given a create_error, fills in the
  // code and the message the fiber_error would have carried. An exception from the StackAllocator is
  // caught and reported as fiber_errc::out_of_memory. The callable's own copy or move constructor is
  // the user's code: what it throws propagates, as from the constructors (the stack is released first).
  template <class Fn>
  static std::optional<basic_fiber> try_create(Fn&& fn) {
    return try_create(std::allocator_arg, StackAllocator(), detail::default_fiber_options(), std::forward<Fn>(fn),
                      nullptr);
  }
  template <class Fn>
  static std::optional<basic_fiber> try_create(const fiber_options& options, Fn&& fn) {
    return try_create(std::allocator_arg, StackAllocator(), options, std::forward<Fn>(fn), nullptr);
  }
  template <class Fn>
  static std::optional<basic_fiber> try_create(const fiber_options& options, Fn&& fn, create_error& why) {
    return try_create(std::allocator_arg, StackAllocator(), options, std::forward<Fn>(fn), &why);
  }
  template <class Fn>
  static std::optional<basic_fiber> try_create(std::allocator_arg_t, StackAllocator allocator,
                                               const fiber_options& options, Fn&& fn, create_error& why) {
    return try_create(std::allocator_arg, std::move(allocator), options, std::forward<Fn>(fn), &why);
  }
  // `why` may be nullptr.
  template <class Fn>
  static std::optional<basic_fiber> try_create(std::allocator_arg_t, StackAllocator allocator,
                                               const fiber_options& options, Fn&& fn, create_error* why) {
    using callable_type = std::decay_t<Fn>;
    static_assert(std::is_invocable<callable_type&>::value,
                  "ebb::basic_fiber::try_create: the fiber's function must be callable with no arguments");
    std::optional<basic_fiber> made;
    if (control* c = creation::template create<callable_type>(std::move(allocator), options, std::forward<Fn>(fn),
                                                              detail::keep_failure{why}))
      made.emplace().ctl_ = c;
    return made;
  }

  basic_fiber(basic_fiber&& other) noexcept : ctl_(std::exchange(other.ctl_, nullptr)) {}
  basic_fiber& operator=(basic_fiber&& other) noexcept {
    if (this != &other) {
      destroy();
      ctl_ = std::exchange(other.ctl_, nullptr);
    }
    return *this;
  }
  basic_fiber(const basic_fiber&) = delete;
  basic_fiber& operator=(const basic_fiber&) = delete;

  ~basic_fiber() { destroy(); }

  // Run the fiber until it yields or finishes. Returns true while it can be resumed again. An
  // exception that escaped the fiber's function is rethrown here.
  // Always inlined: out of line, the `ret` that follows the switch back would be predicted from the
  // other side's return address and miss every time (measured: 3–4 ns a switch).
  EBB_ALWAYS_INLINE bool resume() {
    control* c = ctl_;
    if constexpr (detail::copies_frames<FrameMapper, StackAllocator>())
      FrameMapper::prefetch_saved(c, detail::compact_inline_bytes<FrameMapper>(GrowthPolicy::min_size));
#if EBB_CHECKS
    if (EBB_UNLIKELY(c == nullptr))
      detail::misuse(fiber_errc::empty_fiber, "resume() of an empty fiber (default-constructed or moved from)");
    // A plain load and store, not a compare-exchange: a locked instruction would cost as much as the
    // rest of the switch. Resuming from two threads at the same instant is outside the contract (one
    // thread at a time); every sequential misuse, which is what happens in practice, is caught.
    const state before = c->state.load(std::memory_order_acquire);
    if (EBB_UNLIKELY(before == state::running || before == state::finished)) detail::report_resume_misuse(*c);
#endif
    if (EBB_UNLIKELY(c->pin_requested)) detail::enforce_pin(*c, "resume()");
    c->state.store(state::running, runtime_v1::os::handshake_store);
    runtime_v1::wait_if_inspected(*c);  // a registry pass on another thread may be shrinking it
    // Usually the fiber itself comes back; after this_fiber::switch_to, the fiber it switched to.
    if (context* other = protocol::switch_in(*c); EBB_UNLIKELY(other != c)) return detail::finish_return_of(other, *c);
    if (EBB_UNLIKELY(c->finishing)) {
      protocol::publish_finished(*c);
      return false;
    }
    protocol::suspended(*c);
    if (EBB_UNLIKELY(c->then_run != nullptr)) {
      runtime_v1::suspend_then_run(*c);  // this_fiber::yield_then(f): f may hand the fiber away
      return true;
    }
    c->state.store(state::suspended, std::memory_order_release);
    return true;
  }

  // Like resume(), but fn() runs first, on top of the fiber — on its stack, as the fiber, at the point
  // where it is suspended (before its function starts, if it never ran) — and then the fiber continues.
  // An exception from fn() is thrown into the fiber at that point, where the fiber may catch it;
  // escaping the fiber, it comes back out of resume_with() as from resume(). fn is called in place
  // (it lives in the caller's frame until resume_with returns). P0876's resume_with, without the
  // handle passing (the resumer stays the one to return to).
  template <class Fn>
  bool resume_with(Fn&& fn) {
    static_assert(std::is_invocable<std::remove_reference_t<Fn>&>::value,
                  "ebb::basic_fiber::resume_with(fn): fn must be callable with no arguments");
    control& c = checked_control("resume_with()");
    const state before = c.state.load(std::memory_order_acquire);
    if (EBB_UNLIKELY(before == state::running || before == state::finished))
      detail::report_resume_misuse(c, "resume_with()");
    if (EBB_UNLIKELY(c.pin_requested)) detail::enforce_pin(c, "resume_with()");
    c.on_top_arg = const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
    c.on_top = [](context&, void* p) { (*static_cast<std::remove_reference_t<Fn>*>(p))(); };
    return resume();
  }

  // True once the fiber's function returned or threw (false for an empty fiber).
  bool done() const noexcept {
    return ctl_ != nullptr && ctl_->state.load(std::memory_order_acquire) == state::finished;
  }
  // True if this object holds a fiber.
  explicit operator bool() const noexcept { return ctl_ != nullptr; }
  bool running() const noexcept {
    return ctl_ != nullptr && ctl_->state.load(std::memory_order_acquire) == state::running;
  }

  std::string_view name() const noexcept { return ctl_ ? std::string_view(ctl_->name) : std::string_view(); }
  // Unique in the process and never reused (0 for an empty fiber); this_fiber::id() from inside.
  std::uint64_t id() const noexcept { return ctl_ ? ctl_->id : 0; }
  // fiber_options().user_data(p): p (nullptr for an empty fiber); this_fiber::user_data() from inside.
  void* user_data() const noexcept { return ctl_ ? ctl_->user_data : nullptr; }

  // From any thread. Another thread may resume the fiber at any moment, so an outside caller claims it
  // the way a registry pass does; a fiber that is running (on another thread, or as the resumer of the
  // one running here) is refused with fiber_errc::not_suspended.
  ebb::stack_stats stack_stats() const {
    control& c = checked_control("stack_stats()");
    if (runtime_v1::this_thread()->current == &c) return accounting::collect_stats(c, runtime_v1::arch::stack_pointer());
    if (!runtime_v1::claim_one(c)) detail::report_running(c, "stack_stats()");
    ebb::stack_stats s = accounting::collect_stats(c, c.sp);
    runtime_v1::release_claim(c);
    return s;
  }

  // A shrink point for a suspended fiber: the ShrinkPolicy picks the new logical size and every page
  // below it goes back to the OS. Returns the bytes released. From any thread, as stack_stats(); a
  // running fiber is refused (it shrinks its own stack with ebb::this_fiber::shrink_stack()).
  std::size_t shrink_stack() {
    control& c = checked_control("shrink_stack()");
    if (c.state.load(std::memory_order_acquire) == state::finished) return 0;
    if (!runtime_v1::claim_one(c)) detail::report_running(c, "shrink_stack()");
    const std::size_t released =
        c.state.load(std::memory_order_relaxed) == state::finished ? 0 : accounting::shrink_at(c, c.sp, /*inside=*/false);
    runtime_v1::release_claim(c);
    return released;
  }

 private:
  control* ctl_ = nullptr;

  control& checked_control(const char* what) const {
    if (ctl_ == nullptr)
      detail::misuse(fiber_errc::empty_fiber,
                     std::string(what) + " of an empty fiber (default-constructed or moved from)");
    return *ctl_;
  }

  void destroy() noexcept {
    control* c = std::exchange(ctl_, nullptr);
    if (c == nullptr) return;
    // Another copy's registry and pool hold this fiber; unlinking it here would corrupt both.
    if (EBB_UNLIKELY(c->runtime != &runtime_v1::runtime_identity))
      detail::fatal("fiber '%s' destroyed by a library other than the one that created it, and %s",
                    detail::display_name(c->name), runtime_v1::runtime_split_remedy);
    runtime_v1::unregister_fiber(*c);
    const state last = c->state.load(std::memory_order_acquire);
    switch (last) {
      case state::created:
        c->drop_callable(c->callable);
        break;
      case state::finished:
        break;
      case state::running:
        detail::fatal("fiber '%s' destroyed while it runs", detail::display_name(c->name));
      case state::suspended:
        if (EBB_UNLIKELY(c->ops->admit != nullptr)) detail::check_compact_destruction(*c);
        protocol::unwind_suspended(*c);
        break;
    }
    accounting::release_stack(c, last != state::created);
  }
};

using fiber = basic_fiber<>;

// Thrown from the suspension point of a suspended fiber that is being destroyed, so its destructors
// run (fiber_options().on_destroy(destroy_action::unwind), the default). Not a std::exception; a
// `catch (...)` inside a fiber must rethrow it (one that does not is reported).
using forced_unwind = runtime_v1::forced_unwind;

EBB_NAMESPACE_END
