// SPDX-License-Identifier: BSL-1.0
// ebb/policies/detection.hpp — does a policy type have a member? One trait per member, no diagnostics.
//
// Shared by the compile-time checks (policies/requirements.hpp), which turn a missing member into a
// message naming it, and by the code that uses a member only where it exists (a StackAllocator's
// optional decommit, committed, lowest_committed; tripwire support).
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/policies/shrink.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

template <class...>
using void_t = void;

#define EBB_DETECT(trait, expr)                                          \
  template <class P, class = void>                                       \
  struct trait : std::false_type {};                                     \
  template <class P>                                                     \
  struct trait<P, void_t<decltype(expr)>> : std::true_type {}

EBB_DETECT(has_min_size, std::size_t{P::min_size});
EBB_DETECT(has_max_size, std::size_t{P::max_size});
EBB_DETECT(has_initial_size, std::size_t{P::initial_size});
EBB_DETECT(has_growth_next_size,
           static_cast<std::size_t>(std::declval<const P&>().next_size(std::size_t{}, std::size_t{})));
EBB_DETECT(has_shrink_next_size,
           static_cast<std::size_t>(std::declval<const P&>().next_size(std::declval<const shrink_sample&>())));
EBB_DETECT(has_allocate,
           static_cast<stack_region>(std::declval<P&>().allocate(std::declval<const stack_request&>())));
EBB_DETECT(has_deallocate, std::declval<P&>().deallocate(std::declval<const stack_region&>()));
EBB_DETECT(has_decommit, static_cast<std::size_t>(std::declval<P&>().decommit(
                             std::declval<const stack_region&>(), std::declval<void*>(), std::declval<void*>())));
EBB_DETECT(has_committed,
           static_cast<std::size_t>(std::declval<const P&>().committed(std::declval<const stack_region&>())));
EBB_DETECT(has_lowest_committed,
           static_cast<void*>(std::declval<const P&>().lowest_committed(std::declval<const stack_region&>())));
EBB_DETECT(has_open_range, static_cast<bool>(std::declval<P&>().open_range(
                               std::declval<const stack_region&>(), std::declval<void*>(), std::declval<void*>())));
EBB_DETECT(has_held_floor, static_cast<void*>(std::declval<const P&>().held_floor(
                               std::declval<const stack_region&>(), std::declval<void*>())));
EBB_DETECT(has_decommit_held, static_cast<std::size_t>(std::declval<P&>().decommit_held(
                                  std::declval<const stack_region&>(), std::declval<void*>(), std::declval<void*>())));
EBB_DETECT(has_discard, std::declval<P&>().discard(std::declval<const stack_region&>()));
// A member of that name under any one signature: an optional member whose signature is slightly off
// would otherwise just go undetected and silently turn its feature off.
EBB_DETECT(names_decommit, &P::decommit);
EBB_DETECT(names_committed, &P::committed);
EBB_DETECT(names_lowest_committed, &P::lowest_committed);
EBB_DETECT(names_held_floor, &P::held_floor);
EBB_DETECT(names_decommit_held, &P::decommit_held);

#undef EBB_DETECT

// Tripwire allocators say so, and provide open_range/close_range (async-signal-safe).
template <class P, class = void>
struct has_tripwire : std::false_type {};
template <class P>
struct has_tripwire<P, void_t<decltype(bool{P::tripwire})>> : std::bool_constant<P::tripwire> {};

}  // namespace detail
EBB_NAMESPACE_END
