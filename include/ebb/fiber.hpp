// SPDX-License-Identifier: BSL-1.0
// ebb/fiber.hpp — ebb::basic_fiber, a stackful coroutine whose stack grows and shrinks.
//
// Life of a fiber:
//
//   created ──resume()──▶ running ──this_fiber::yield()──▶ suspended ──resume()──▶ running ...
//                            └──callable returns or throws──▶ finished
//
// Memory layout of one fiber, all inside the reservation its StackAllocator returned:
//
//     region.top ─▶ ┌───────────────────────────────┐
//                   │ control block (this file)     │  policies, allocator, statistics, name
//                   │ the callable                  │
//     stack_top ──▶ ├───────────────────────────────┤  frames start here and grow down
//                   │ frames ... (size: logical)    │
//     stack_limit ▶ ├ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ┤  stack_top - max_size
//     region.limit▶ ├───────────────────────────────┤
//                   │ guard                         │  touching it is a stack overflow
//     region.base ▶ └───────────────────────────────┘
//
// Keeping the control block on the stack's own top page means creating a fiber allocates nothing
// from the heap and touches one page that a pooled reservation already has resident.
//
// Switching is split so that the resumer does all bookkeeping: resume() installs the fiber as the
// thread's current one, swaps exception state, switches, and on return (the fiber yielded or
// finished) undoes both and publishes the new state. yield() only switches. Because the resumer never
// migrates while it waits inside resume(), nothing there reads thread state across a switch. After
// this_fiber::yield_then(f), resume() calls f last, once the fiber is published as suspended.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/allocators/virtual_stack_allocator.hpp"
#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/create_report.hpp"
#include "ebb/detail/direct_switch.hpp"
#include "ebb/detail/fiber_id.hpp"
#include "ebb/detail/fiber_control.hpp"
#include "ebb/detail/fiber_reports.hpp"
#include "ebb/detail/fiber_stack.hpp"
#include "ebb/detail/fork_safety.hpp"
#include "ebb/detail/shadow_stack.hpp"
#include "ebb/detail/switch_hooks.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/detail/unwind_report.hpp"
#include "ebb/error.hpp"
#include "ebb/fiber_options.hpp"
#include "ebb/mappers/in_place.hpp"
#include "ebb/os/runtime_copies.hpp"
#include "ebb/os/stack_budget.hpp"
#include "ebb/os/stack_fault.hpp"
#include "ebb/registry.hpp"
#include "ebb/os/memory.hpp"
#include "ebb/policies/growth.hpp"
#include "ebb/policies/requirements.hpp"
#include "ebb/policies/shrink.hpp"
#include "ebb/stack_stats.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
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
  static_assert(detail::check_frame_mapper<FrameMapper>(), "ebb::basic_fiber: invalid FrameMapper");

  using context = runtime_v1::fiber_context;
  using state = runtime_v1::fiber_state;
  friend struct detail::fiber_access;

  using control = detail::fiber_control<GrowthPolicy, ShrinkPolicy, StackAllocator>;
  using stack = detail::fiber_stack<GrowthPolicy, ShrinkPolicy, StackAllocator>;

 public:
  using growth_policy = GrowthPolicy;
  using shrink_policy = ShrinkPolicy;
  using stack_allocator = StackAllocator;
  using frame_mapper = FrameMapper;

  basic_fiber() noexcept = default;

  template <class Fn, class = std::enable_if_t<!std::is_same<std::decay_t<Fn>, basic_fiber>::value &&
                                               !std::is_same<std::decay_t<Fn>, fiber_options>::value>>
  explicit basic_fiber(Fn&& fn)
      : basic_fiber(std::allocator_arg, StackAllocator(), fiber_options(), std::forward<Fn>(fn)) {}

  template <class Fn>
  basic_fiber(const fiber_options& options, Fn&& fn)
      : basic_fiber(std::allocator_arg, StackAllocator(), options, std::forward<Fn>(fn)) {}

  template <class Fn>
  basic_fiber(std::allocator_arg_t, StackAllocator allocator, const fiber_options& options, Fn&& fn) {
    using callable_type = std::decay_t<Fn>;
    static_assert(std::is_invocable<callable_type&>::value,
                  "ebb::basic_fiber: the fiber's function must be callable with no arguments");
    create<callable_type>(std::move(allocator), options, std::forward<Fn>(fn), detail::raise_failure{});
  }

  // Creation that says no with a value: where the constructors throw fiber_error (or, without
  // exceptions, report and abort), try_create returns nullopt and, given a create_error, fills in the
  // code and the message the fiber_error would have carried. An exception from the StackAllocator is
  // caught and reported as fiber_errc::out_of_memory. The callable's own copy or move constructor is
  // the user's code: what it throws propagates, as from the constructors (the stack is released first).
  template <class Fn>
  static std::optional<basic_fiber> try_create(Fn&& fn) {
    return try_create(std::allocator_arg, StackAllocator(), fiber_options(), std::forward<Fn>(fn), nullptr);
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
    std::optional<basic_fiber> made(std::in_place);
    if (!made->template create<callable_type>(std::move(allocator), options, std::forward<Fn>(fn),
                                              detail::keep_failure{why}))
      made.reset();
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
    if (context* other = switch_in(*c); EBB_UNLIKELY(other != c)) return detail::finish_return_of(*other);
    if (EBB_UNLIKELY(c->finishing)) {
      publish_finished(*c);
      return false;
    }
    FrameMapper::on_suspend(*c);
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
    if (runtime_v1::this_thread()->current == &c) return stack::collect_stats(c, runtime_v1::arch::stack_pointer());
    if (!runtime_v1::claim_one(c)) detail::report_running(c, "stack_stats()");
    ebb::stack_stats s = stack::collect_stats(c, c.sp);
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
        c.state.load(std::memory_order_relaxed) == state::finished ? 0 : stack::shrink_at(c, c.sp, /*inside=*/false);
    runtime_v1::release_claim(c);
    return released;
  }

 private:
  control* ctl_ = nullptr;

  static constexpr std::size_t control_bytes = (sizeof(control) + 63) / 64 * 64;
  static_assert(alignof(control) <= 64, "ebb: policy types over-aligned beyond 64 bytes");


  // The allocator's stack. An allocator reports failure by throwing or, without exceptions, by
  // returning an empty region with errno set. The constructors turn a std::exception into fiber_error
  // and let others through; try_create reports any exception (and returns an empty region).
  template <class Report>
  static stack_region allocate_stack(StackAllocator& allocator, const stack_request& request,
                                     const fiber_options& options, const Report& report) {
#if EBB_HAS_EXCEPTIONS
    try {
      return allocator.allocate(request);
    } catch (const std::exception& e) {
      report(fiber_errc::out_of_memory, [&options, &e](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': %s", detail::display_name(options.name()),
                             e.what());
      });
    } catch (...) {
      if constexpr (Report::raises) {
        throw;
      } else {
        report(fiber_errc::out_of_memory, [&options](char* out, std::size_t size) noexcept {
          return std::snprintf(out, size, "cannot create fiber '%s': its StackAllocator threw an exception",
                               detail::display_name(options.name()));
        });
      }
    }
    return {};
#else
    (void)options, (void)report;
    return allocator.allocate(request);
#endif
  }

  // An empty region from the allocator itself (errno set), not one after an exception already reported.
  template <class Report>
  EBB_NOINLINE static void report_empty_region(const stack_request& request, const fiber_options& options,
                                               const Report& report) {
    const int error = errno;
    if constexpr (Report::raises) {
      (void)report, (void)error;
      detail::fatal("cannot reserve a %zu-byte stack for fiber '%s'", request.max_size,
                    detail::display_name(options.name()));
    } else {
      if (report.told()) return;
      report(fiber_errc::out_of_memory, [&options, &request, error](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': cannot reserve a %zu-byte stack: %s",
                             detail::display_name(options.name()), request.max_size,
                             error ? std::strerror(error) : "the StackAllocator returned no stack");
      });
    }
  }

  // Report: detail::raise_failure (the constructors) or detail::keep_failure (try_create). False once
  // the Report was told why; nothing is left allocated then.
  template <class Callable, class Fn, class Report>
  bool create(StackAllocator&& allocator, const fiber_options& options, Fn&& fn, const Report& report) {
    constexpr std::size_t callable_align = alignof(Callable) > 16 ? alignof(Callable) : 16;
    constexpr std::size_t callable_bytes = (sizeof(Callable) + callable_align - 1) / callable_align * callable_align;
    constexpr std::size_t header_bytes = control_bytes + callable_bytes + callable_align;

    runtime_v1::ensure_fork_handlers();
    if (!detail::check_shadow_stack(runtime_v1::arch::shadow_stack_pointer(), options.name().c_str(), report))
      return false;
    std::size_t max_size = options.max_size()
                               ? stack::clamp(options.max_size(), GrowthPolicy::min_size, GrowthPolicy::max_size)
                               : GrowthPolicy::max_size;
    const stack_request request{max_size + header_bytes, options.guard_size()};
    stack_region region = allocate_stack(allocator, request, options, report);
    if (EBB_UNLIKELY(region.base == nullptr)) {
      report_empty_region(request, options, report);
      return false;
    }

    // An allocator that ignores the request (fixed_stack_allocator) may hand back less than the
    // control block, the callable and a minimal stack need: refuse before writing past its bottom.
    if (region.usable() < header_bytes + GrowthPolicy::min_size) {
      const std::size_t usable = region.usable();
      allocator.deallocate(region);
      report(fiber_errc::stack_too_small, [&options, usable](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size,
                             "cannot create fiber '%s': its %zu-byte stack cannot hold the fiber's control block "
                             "and its %zu-byte callable and leave the GrowthPolicy's %zu bytes of stack; capture "
                             "less (by reference or on the heap) or use a larger stack",
                             detail::display_name(options.name()), usable, sizeof(Callable),
                             GrowthPolicy::min_size);
      });
      return false;
    }
    char* top = static_cast<char*>(region.top);
    control* c = ::new (static_cast<void*>(top - control_bytes)) control(std::move(allocator));
    c->region = region;
    char* callable_at = reinterpret_cast<char*>(
        (reinterpret_cast<std::uintptr_t>(c) - callable_bytes) & ~std::uintptr_t(callable_align - 1));
#if EBB_HAS_EXCEPTIONS
    // The name's copy is ebb's allocation (try_create reports its failure); the callable's copy is the
    // user's code, whose exception goes on either way.
    try {
      if (!options.name().empty()) c->name_storage = options.name();
    } catch (const std::exception& e) {
      stack::release_stack(c, false);
      if constexpr (Report::raises) {
        throw;
      } else {
        report(fiber_errc::out_of_memory, [&options, &e](char* out, std::size_t size) noexcept {
          return std::snprintf(out, size, "cannot create fiber '%s': cannot copy its name: %s",
                               detail::display_name(options.name()), e.what());
        });
        return false;
      }
    }
    try {
      ::new (static_cast<void*>(callable_at)) Callable(std::forward<Fn>(fn));
    } catch (...) {
      stack::release_stack(c, false);
      throw;
    }
#else
    if (!options.name().empty()) c->name_storage = options.name();
    ::new (static_cast<void*>(callable_at)) Callable(std::forward<Fn>(fn));
#endif
    c->callable = callable_at;
    c->drop_callable = [](void* p) noexcept { static_cast<Callable*>(p)->~Callable(); };
    c->on_destroy = options.on_destroy();
    c->id = runtime_v1::next_fiber_id();
    c->user_data = options.user_data();
    c->pin_requested = options.pin_to_thread();
    c->name = c->name_storage.c_str();
    c->ops = &ops_table;
    c->runtime = &runtime_v1::runtime_identity;

    char* frames_top = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(callable_at) & ~std::uintptr_t(15));
    const std::size_t usable = static_cast<std::size_t>(frames_top - static_cast<char*>(region.limit));
    c->max_size = max_size < usable ? max_size : usable;
    c->stack_top = frames_top;
    c->guard_lo = static_cast<char*>(region.base);
    c->guard_hi = static_cast<char*>(region.limit);
    c->stack_limit = frames_top - c->max_size;
    std::size_t initial = options.initial_size() ? options.initial_size() : GrowthPolicy::initial_size;
    c->size = stack::clamp(initial, GrowthPolicy::min_size, c->max_size);
    c->sp = runtime_v1::arch::make_initial_frame(frames_top, &fiber_main<Callable>, c);
    runtime_v1::hooks::fiber_created(*c, static_cast<char*>(region.limit), static_cast<char*>(region.top));
    // Pages of a reused reservation above clean_below may still be resident from its last fiber:
    // they count as this fiber's committed memory until its first shrink point releases them.
    c->kept_floor = region.clean_below ? stack::page_floor(region.clean_below) : static_cast<char*>(region.limit);
    if (c->kept_floor > stack::page_floor(c->sp)) c->kept_floor = stack::page_floor(c->sp);
    if constexpr (stack::tripwire) {
      if (!stack::open_initial_window(c, options, report)) return false;
    }
    // Last: from here on a registry pass on another thread can reach the fiber, and the shard lock
    // publishes everything written above.
    runtime_v1::register_fiber(*c, runtime_v1::this_thread());
    ctl_ = c;
    return true;
  }

  // The first and only frame of the fiber's own code: runs the callable, records how it ended, and
  // switches away for the last time.
  template <class Callable>
  [[noreturn]] static void fiber_main(void* arg) noexcept {
    control* c = static_cast<control*>(arg);
    runtime_v1::hooks::fiber_entered(*c);
    Callable* fn = static_cast<Callable*>(c->callable);
#if EBB_HAS_EXCEPTIONS
    try {
      if (EBB_UNLIKELY(c->on_top != nullptr)) runtime_v1::run_on_top(*c);
      (*fn)();
      if (EBB_UNLIKELY(c->unwind_requested)) detail::report_swallowed_unwind(*c);
    } catch (const runtime_v1::forced_unwind&) {
      // destruction unwound the frames; nothing to report
    } catch (...) {
      c->error = std::current_exception();
    }
#else
    if (EBB_UNLIKELY(c->on_top != nullptr)) runtime_v1::run_on_top(*c);
    (*fn)();
#endif
    fn->~Callable();
    c->callable = nullptr;
    c->finishing = true;  // the resumer publishes "finished" (context.hpp)
    runtime_v1::hooks::before_switch_to_caller(*c, /*finishing=*/true);
    runtime_v1::arch::ebb_switch_context(&c->sp, c->caller_sp);
    detail::fatal("finished fiber '%s' was switched to", detail::display_name(c->name_storage));
  }

  // Make the fiber the running one on this thread, switch to it, and undo that when it comes back.
  // Returns the fiber that came back: c, or (after this_fiber::switch_to) another one, whose
  // bookkeeping the caller leaves to detail::finish_return_of.
  EBB_ALWAYS_INLINE static context* switch_in(control& c) {
    runtime_v1::thread_state* ts = runtime_v1::this_thread();
    if (EBB_UNLIKELY(!ts->faults_ready)) runtime_v1::os::prepare_thread_for_faults(ts);
    c.parent = ts->current;
    // The fault handler walks current -> parent: it must never see the fiber current with a stale
    // parent. A compiler-only fence (no instruction).
    std::atomic_signal_fence(std::memory_order_release);
    ts->current = &c;
    c.ran_since_shrink = true;
#if EBB_SWAP_EXCEPTION_STATE
    runtime_v1::exception_state* eh = ts->eh_globals;
    if (EBB_UNLIKELY(eh == nullptr)) eh = ts->eh_globals = runtime_v1::thread_exception_state();
    c.caller_eh = *eh;
    *eh = c.fiber_eh;
#endif
    FrameMapper::on_resume(c);
    detail::note_switch(c.parent, &c);
    runtime_v1::hooks::before_switch_to_fiber(c);
    runtime_v1::arch::ebb_switch_context(&c.caller_sp, c.sp);
    context* back = ts->current;  // the fiber that switched back to us
    if (EBB_UNLIKELY(back != &c)) return back;
    runtime_v1::hooks::after_return_from_fiber(c);
#if EBB_SWAP_EXCEPTION_STATE
    c.fiber_eh = *eh;
    *eh = c.caller_eh;
#endif
    ts->current = c.parent;
    detail::note_switch(&c, c.parent);  // before anything publishes c: then it may run elsewhere
    stack::note_depth(c);
    return &c;
  }

  static ebb::stack_stats stats_thunk(context& ctx, void* sp) noexcept {
    return stack::collect_stats(static_cast<control&>(ctx), sp);
  }
  static std::size_t shrink_thunk(context& ctx, void* sp, bool inside) noexcept {
    return stack::shrink_at(static_cast<control&>(ctx), sp, inside);
  }
  static void raise_forced_unwind(context& ctx) {
#if EBB_HAS_EXCEPTIONS
    throw runtime_v1::forced_unwind{&ctx};
#else
    detail::fatal("fiber '%s' cannot be unwound: it was built without exceptions", detail::display_name(ctx.name));
#endif
  }
  static void after_switch_out(context& ctx) noexcept {
    control& c = static_cast<control&>(ctx);
    stack::note_depth(c);
    FrameMapper::on_suspend(c);
  }

  control& checked_control(const char* what) const {
    if (ctl_ == nullptr)
      detail::misuse(fiber_errc::empty_fiber,
                     std::string(what) + " of an empty fiber (default-constructed or moved from)");
    return *ctl_;
  }

  static void publish_finished(context& ctx) {
    control& c = static_cast<control&>(ctx);
#if EBB_HAS_EXCEPTIONS
    std::exception_ptr error = std::exchange(c.error, nullptr);
    c.state.store(state::finished, std::memory_order_release);
    if (error) std::rethrow_exception(std::move(error));
#else
    c.state.store(state::finished, std::memory_order_release);
#endif
  }

  void destroy() noexcept {
    control* c = std::exchange(ctl_, nullptr);
    if (c == nullptr) return;
    // Another copy's registry and pool hold this fiber; unlinking it here would corrupt both.
    if (EBB_UNLIKELY(c->runtime != &runtime_v1::runtime_identity))
      detail::fatal("fiber '%s' destroyed by a library other than the one that created it, and %s",
                    detail::display_name(c->name_storage), runtime_v1::runtime_split_remedy);
    runtime_v1::unregister_fiber(*c);
    const state last = c->state.load(std::memory_order_acquire);
    switch (last) {
      case state::created:
        c->drop_callable(c->callable);
        break;
      case state::finished:
        break;
      case state::running:
        detail::fatal("fiber '%s' destroyed while it runs", detail::display_name(c->name_storage));
      case state::suspended:
        unwind_suspended(*c);
        break;
    }
    stack::release_stack(c, last != state::created);
  }

  static void unwind_suspended(control& c) noexcept {
    switch (c.on_destroy) {
      case destroy_action::unwind:
#if EBB_HAS_EXCEPTIONS
        runtime_v1::prepare_unwind_report();
        c.unwind_requested = true;
        // The exception is thrown by the fiber's own code (ops), so a suspension point compiled
        // without exceptions, inside a fiber created with them, unwinds the fiber too.
        c.on_top = [](context& ctx, void*) { ctx.ops->raise_forced_unwind(ctx); };
        c.state.store(state::running, std::memory_order_relaxed);
        (void)switch_in(c);  // always c itself: a fiber being unwound cannot switch_to another
        if (c.error) {
          std::fputs("ebb: an exception escaped while a destroyed fiber unwound; it was dropped\n", stderr);
          c.error = nullptr;
        }
        return;
#else
        [[fallthrough]];
#endif
      case destroy_action::abandon_and_report:
        std::fprintf(stderr,
                     "ebb: fiber '%s' destroyed while suspended; its stack was released without running "
                     "its destructors\n",
                     detail::display_name(c.name_storage));
        return;
      case destroy_action::abandon:
        return;
      case destroy_action::terminate:
        detail::fatal("fiber '%s' destroyed while suspended (destroy_action::terminate)",
                      detail::display_name(c.name_storage));
    }
  }

  // Last: every function it names must be declared before it.
  static inline const runtime_v1::fiber_ops ops_table{&stats_thunk,         &shrink_thunk,
                                                      &stack::open_window,  &raise_forced_unwind,
                                                      &after_switch_out,    &publish_finished};
};

using fiber = basic_fiber<>;

EBB_NAMESPACE_END
