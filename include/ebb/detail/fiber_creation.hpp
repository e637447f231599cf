// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fiber_creation.hpp — making a fiber: a stack from the StackAllocator, the FrameMapper's
// placement, the control block and the callable, the first frame, and every way that can fail.
//
// One path serves the throwing constructors and try_create: a Report (detail/create_report.hpp)
// either raises the failure or keeps it for the caller, and in both cases nothing is left allocated.
//
// Memory layout of a fiber with the default mapper (in_place), all inside the reservation its
// StackAllocator returned:
//
//     region.top ─▶ ┌───────────────────────────────┐  = placement.header_top
//                   │ control block                 │  policies, allocator, mapper, statistics, name
//                   │ the callable                  │
//     stack_top ──▶ ├───────────────────────────────┤  frames start here and grow down
//                   │ frames ... (size: logical)    │
//     stack_limit ▶ ├ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ─ ┤  stack_top - max_size
//     region.limit▶ ├───────────────────────────────┤
//                   │ guard                         │  touching it is a stack overflow
//     region.base ▶ └───────────────────────────────┘
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/create_report.hpp"
#include "ebb/detail/fiber_id.hpp"
#include "ebb/detail/fork_safety.hpp"
#include "ebb/detail/shadow_stack.hpp"
#include "ebb/detail/switch_protocol.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/error.hpp"
#include "ebb/fiber_options.hpp"
#include "ebb/mappers/in_place.hpp"
#include "ebb/mappers/mapped_stack.hpp"
#include "ebb/policies/mapper_requirements.hpp"
#include "ebb/os/runtime_copies.hpp"
#include "ebb/os/stack_budget.hpp"
#include "ebb/detail/registry_shards.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

// The first storage a copying mapper keeps in the fiber's own block (0 for other mappers).
template <class FrameMapper, class = void>
struct has_inline_storage : std::false_type {};
template <class FrameMapper>
struct has_inline_storage<FrameMapper, std::void_t<decltype(FrameMapper::inline_storage_bytes(std::size_t{}))>>
    : std::true_type {};
template <class FrameMapper>
constexpr std::size_t compact_inline_bytes(std::size_t min_size) {
  if constexpr (has_inline_storage<FrameMapper>::value)
    return (FrameMapper::inline_storage_bytes(min_size) + 15) / 16 * 16;
  else
    return (void)min_size, 0;
}

template <class Control, class FrameMapper>
struct fiber_creation {
  using control = Control;
  using growth_policy = decltype(Control::growth);
  using stack_allocator = typename Control::stack_allocator;
  using protocol = switch_protocol<Control>;
  using accounting = stack_accounting<Control>;

  static constexpr std::size_t control_bytes = (sizeof(control) + 63) / 64 * 64;
  static_assert(alignof(control) <= 64, "ebb: policy types over-aligned beyond 64 bytes");

  // The allocator's stack. An allocator reports failure by throwing or, without exceptions, by
  // returning an empty region with errno set. The constructors turn a std::exception into fiber_error
  // and let others through; try_create reports any exception (and returns an empty region).
  template <class Report>
  static stack_region allocate_stack(stack_allocator& allocator, const stack_request& request,
                                     const fiber_options& options, const Report& report) {
#if EBB_HAS_EXCEPTIONS
    try {
      return allocator.allocate(request);
    } catch (const std::exception& e) {
      report(fiber_errc::out_of_memory, [&options, &e](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': %s", display_name(options.name()), e.what());
      });
    } catch (...) {
      if constexpr (Report::raises) {
        throw;
      } else {
        report(fiber_errc::out_of_memory, [&options](char* out, std::size_t size) noexcept {
          return std::snprintf(out, size, "cannot create fiber '%s': its StackAllocator threw an exception",
                               display_name(options.name()));
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
      fatal("cannot reserve a %zu-byte stack for fiber '%s'", request.max_size, display_name(options.name()));
    } else {
      if (report.told()) return;
      report(fiber_errc::out_of_memory, [&options, &request, error](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': cannot reserve a %zu-byte stack: %s",
                             display_name(options.name()), request.max_size,
                             error ? std::strerror(error) : "the StackAllocator returned no stack");
      });
    }
  }

  // The mapper's placement, checked: a header outside the reservation would be written over memory
  // nobody gave us.
  static frame_placement checked_placement(const stack_region& region, const fiber_options& options) noexcept {
    frame_placement where = FrameMapper::place(region);
    const auto top = reinterpret_cast<std::uintptr_t>(where.header_top);
    if (top % 64 != 0 || where.header_top > region.top || where.header_top < region.limit)
      fatal("cannot create fiber '%s': the FrameMapper placed its control block at %p, which is not a 64-byte "
            "aligned address inside the stack [%p, %p]",
            display_name(options.name()), where.header_top, region.limit, region.top);
    return where;
  }

  template <class Report>
  EBB_NOINLINE static void report_refusal(mapper_refusal why, int error, const fiber_options& options,
                                          const Report& report) {
    if (why == mapper_refusal::stack_budget) {
      report(fiber_errc::out_of_memory, [&options](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': the stack budget (%zu bytes) is exhausted",
                             display_name(options.name()), stack_budget());
      });
    } else if (why == mapper_refusal::unsupported_here) {
      report(fiber_errc::unsupported_here, [&options](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size,
                             "cannot create fiber '%s': tripwire mode cannot run under Valgrind, which does not "
                             "carry out the fault handler's stack growth; use the default allocator there",
                             display_name(options.name()));
      });
    } else {
      report(fiber_errc::out_of_memory, [&options, error](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': cannot guard its stack: %s",
                             display_name(options.name()), std::strerror(error));
      });
    }
  }

  // Report: detail::raise_failure (the constructors) or detail::keep_failure (try_create). Returns
  // nullptr once the Report was told why; nothing is left allocated then.
  template <class Callable, class Fn, class Report>
  static control* create(stack_allocator&& allocator, const fiber_options& options, Fn&& fn, const Report& report) {
    constexpr std::size_t callable_align = alignof(Callable) > 16 ? alignof(Callable) : 16;
    constexpr std::size_t callable_bytes = (sizeof(Callable) + callable_align - 1) / callable_align * callable_align;
    constexpr std::size_t header_bytes = control_bytes + callable_bytes + callable_align;

    runtime_v1::ensure_fork_handlers();
    if (!check_shadow_stack(runtime_v1::arch::shadow_stack_pointer(), options.name().c_str(), report))
      return nullptr;
    std::size_t max_size = options.max_size()
                               ? accounting::clamp(options.max_size(), growth_policy::min_size, growth_policy::max_size)
                               : growth_policy::max_size;
    constexpr bool compact = copies_frames<FrameMapper, stack_allocator>();
    // A compact fiber's allocator holds its first storage (the GrowthPolicy's minimum, where its
    // frames are saved while small), then the control block and the callable: its frames run on an
    // execution stack (mappers/shared_stack.hpp says why the storage comes first).
    constexpr std::size_t compact_inline = compact_inline_bytes<FrameMapper>(growth_policy::min_size);
    constexpr std::size_t compact_bytes = compact_inline +
                                          (sizeof(control) + callable_align - 1) / callable_align * callable_align +
                                          callable_bytes + (callable_align > 16 ? callable_align : 0);
    const stack_request request = compact ? stack_request{compact_bytes, 0}
                                          : stack_request{max_size + header_bytes, options.guard_size()};
    stack_region region = allocate_stack(allocator, request, options, report);
    if (EBB_UNLIKELY(region.base == nullptr)) {
      report_empty_region(request, options, report);
      return nullptr;
    }
    control* c;
    char* callable_at;
    char* frames_top = nullptr;
    char* frames_limit = nullptr;
    char* header_top = static_cast<char*>(region.top);
    if constexpr (compact) {
      static_assert(alignof(control) <= 16, "ebb: a compact fiber's policies may not be aligned beyond 16 bytes");
      c = ::new (static_cast<char*>(region.base) + compact_inline) control(std::move(allocator));
      callable_at = reinterpret_cast<char*>(
          (reinterpret_cast<std::uintptr_t>(c + 1) + callable_align - 1) & ~std::uintptr_t(callable_align - 1));
    } else {
      const frame_placement where = checked_placement(region, options);
      header_top = static_cast<char*>(where.header_top);
      frames_limit = where.frames_limit ? static_cast<char*>(where.frames_limit) : static_cast<char*>(region.limit);
      // An allocator that ignores the request (fixed_stack_allocator) may hand back less than the
      // control block, the callable and a minimal stack need: refuse before writing past its bottom.
      const auto room = static_cast<std::size_t>(header_top - frames_limit);
      if (room < header_bytes + growth_policy::min_size) {
        const stack_region refused = region;  // a copy: `region` itself stays in registers (below)
        allocator.deallocate(refused);
        report(fiber_errc::stack_too_small, [&options, room](char* out, std::size_t size) noexcept {
          return std::snprintf(out, size,
                               "cannot create fiber '%s': its %zu-byte stack cannot hold the fiber's control block "
                               "and its %zu-byte callable and leave the GrowthPolicy's %zu bytes of stack; capture "
                               "less (by reference or on the heap) or use a larger stack",
                               display_name(options.name()), room, sizeof(Callable), growth_policy::min_size);
        });
        return nullptr;
      }
      c = ::new (static_cast<void*>(header_top - control_bytes)) control(std::move(allocator));
      callable_at = reinterpret_cast<char*>(
          (reinterpret_cast<std::uintptr_t>(c) - callable_bytes) & ~std::uintptr_t(callable_align - 1));
      frames_top = where.frames_top ? static_cast<char*>(where.frames_top) : callable_at;
      frames_top = reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(frames_top) & ~std::uintptr_t(15));
    }
    // `region` is never passed by reference to code that is not inlined (the refusal above passes a
    // copy), so it lives in registers and this copy is plain stores. Kept in memory, it was written in
    // 8-byte stores and copied in 16-byte loads, which the CPU cannot forward: a stall per creation.
    c->region = region;
#if EBB_HAS_EXCEPTIONS
    // The name's copy is ebb's allocation (try_create reports its failure); the callable's copy is the
    // user's code, whose exception goes on either way.
    try {
      c->name_storage.assign(options.name());
    } catch (const std::exception& e) {
      accounting::release_stack(c, false);
      if constexpr (Report::raises) {
        throw;
      } else {
        report(fiber_errc::out_of_memory, [&options, &e](char* out, std::size_t size) noexcept {
          return std::snprintf(out, size, "cannot create fiber '%s': cannot copy its name: %s",
                               display_name(options.name()), e.what());
        });
        return nullptr;
      }
    }
    try {
      ::new (static_cast<void*>(callable_at)) Callable(std::forward<Fn>(fn));
    } catch (...) {
      accounting::release_stack(c, false);
      throw;
    }
#else
    c->name_storage.assign(options.name());
    ::new (static_cast<void*>(callable_at)) Callable(std::forward<Fn>(fn));
#endif
    c->callable = callable_at;
    c->drop_callable = [](void* p) noexcept { static_cast<Callable*>(p)->~Callable(); };
    c->on_destroy = options.on_destroy();
    c->id = runtime_v1::next_fiber_id();
    c->user_data = options.user_data();
    c->pin_requested = options.pin_to_thread();
    c->name = c->name_storage.c_str();
    c->ops = &protocol::ops_table;
    c->runtime = &runtime_v1::runtime_identity;

    std::size_t initial = options.initial_size() ? options.initial_size() : growth_policy::initial_size;
    if constexpr (compact) {
      // Frames and bounds come when the fiber first runs, on an execution stack of that thread
      // (mappers/shared_stack.hpp); until then it has no frame at all. It stays on that thread.
      c->max_size = FrameMapper::limit_max_size(max_size);
      c->size = accounting::clamp(initial, growth_policy::min_size, c->max_size);
      c->pin_requested = true;
      auto stack = mapper_access::view(*c);
      c->mapper.prepare(stack, &protocol::template fiber_main<Callable>, compact_inline);
    } else {
      const auto usable = static_cast<std::size_t>(frames_top - frames_limit);
      c->max_size = max_size < usable ? max_size : usable;
      c->stack_top = frames_top;
      c->guard_lo = static_cast<char*>(region.base);
      c->guard_hi = static_cast<char*>(region.limit);
      c->stack_limit = frames_top - c->max_size;
      c->size = accounting::clamp(initial, growth_policy::min_size, c->max_size);
#if defined(EBB_ABI_MS)
      // Windows keeps the stack's extent in the thread's TIB, which the switch swaps: committed all the
      // way down to the guard, which is not part of it (os/windows/memory.hpp, arm_overflow_zone, says
      // why not).
      runtime_v1::arch::tib_stack_bounds bounds;
      bounds.limit = c->guard_hi;
      bounds.deallocation = c->guard_hi;
      c->sp = runtime_v1::arch::make_initial_frame_with_tib(frames_top, &protocol::template fiber_main<Callable>, c, bounds);
#else
      c->sp = runtime_v1::arch::make_initial_frame(frames_top, &protocol::template fiber_main<Callable>, c);
#endif
    }
    runtime_v1::hooks::fiber_created(*c, frames_limit, header_top);
    auto stack = mapper_access::view(*c);
    if (const mapper_refusal why = c->mapper.on_create(stack); why != mapper_refusal::none) {
      const int error = errno;
      c->drop_callable(c->callable);
      accounting::release_stack(c, false);
      report_refusal(why, error, options, report);
      return nullptr;
    }
    // Last: from here on a registry pass on another thread can reach the fiber, and the shard lock
    // publishes everything written above.
    if (EBB_UNLIKELY(!runtime_v1::register_fiber(*c, runtime_v1::this_thread()))) {
      c->drop_callable(c->callable);
      accounting::release_stack(c, false);
      report(fiber_errc::out_of_memory, [&options](char* out, std::size_t size) noexcept {
        return std::snprintf(out, size, "cannot create fiber '%s': no memory for its slot in the registry",
                             display_name(options.name()));
      });
      return nullptr;
    }
    return c;
  }
};

}  // namespace detail
EBB_NAMESPACE_END
