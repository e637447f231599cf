// SPDX-License-Identifier: BSL-1.0
// ebb/policies/requirements.hpp — compile-time checks of the four policies.
//
// Each check names the policy and the member it lacks, one message per missing piece, and stops at
// the first one so a mistake produces one readable error rather than a cascade from inside ebb.
// Under C++20 the same rules are also available as concepts (ebb::growth_policy<P>, ...).
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/policies/detection.hpp"
#include "ebb/policies/mapper_requirements.hpp"
#include "ebb/policies/shrink.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

// The rules below as plain predicates (no diagnostics), shared by basic_fiber's checks and the C++20
// concepts so the two always agree.
template <class P>
constexpr bool growth_policy_ok() {
  if constexpr (has_min_size<P>::value && has_max_size<P>::value && has_initial_size<P>::value &&
                has_growth_next_size<P>::value)
    return noexcept(std::declval<const P&>().next_size(std::size_t{}, std::size_t{})) && P::min_size > 0 &&
           P::min_size <= P::initial_size && P::initial_size <= P::max_size;
  else
    return false;
}
template <class P>
constexpr bool shrink_policy_ok() {
  if constexpr (has_shrink_next_size<P>::value)
    return noexcept(std::declval<const P&>().next_size(std::declval<const shrink_sample&>()));
  else
    return false;
}
template <class P>
constexpr bool optional_allocator_members_ok() {
  return (has_decommit<P>::value || !names_decommit<P>::value) &&
         (has_committed<P>::value || !names_committed<P>::value) &&
         (has_lowest_committed<P>::value || !names_lowest_committed<P>::value) &&
         (has_held_floor<P>::value || !names_held_floor<P>::value) &&
         (has_decommit_held<P>::value || !names_decommit_held<P>::value) &&
         has_held_floor<P>::value == has_decommit_held<P>::value;
}
template <class P>
constexpr bool stack_allocator_ok() {
  if constexpr (has_allocate<P>::value && has_deallocate<P>::value)
    return noexcept(std::declval<P&>().deallocate(std::declval<const stack_region&>())) &&
           std::is_move_constructible<P>::value && optional_allocator_members_ok<P>();
  else
    return false;
}
template <class P>
constexpr bool check_growth_policy() {
  if constexpr (!has_min_size<P>::value) {
    static_assert(has_min_size<P>::value,
                  "ebb: the GrowthPolicy lacks `static constexpr std::size_t min_size`");
    return false;
  } else if constexpr (!has_max_size<P>::value) {
    static_assert(has_max_size<P>::value,
                  "ebb: the GrowthPolicy lacks `static constexpr std::size_t max_size`");
    return false;
  } else if constexpr (!has_initial_size<P>::value) {
    static_assert(has_initial_size<P>::value,
                  "ebb: the GrowthPolicy lacks `static constexpr std::size_t initial_size`");
    return false;
  } else if constexpr (!has_growth_next_size<P>::value) {
    static_assert(has_growth_next_size<P>::value,
                  "ebb: the GrowthPolicy lacks `std::size_t next_size(std::size_t current, "
                  "std::size_t needed) const noexcept`");
    return false;
  } else {
    static_assert(noexcept(std::declval<const P&>().next_size(std::size_t{}, std::size_t{})),
                  "ebb: the GrowthPolicy's next_size(current, needed) must be noexcept (it may run "
                  "where nothing can throw)");
    static_assert(P::min_size > 0 && P::min_size <= P::initial_size && P::initial_size <= P::max_size,
                  "ebb: the GrowthPolicy needs 0 < min_size <= initial_size <= max_size");
    return true;
  }
}

template <class P>
constexpr bool check_shrink_policy() {
  if constexpr (!has_shrink_next_size<P>::value) {
    static_assert(has_shrink_next_size<P>::value,
                  "ebb: the ShrinkPolicy lacks `std::size_t next_size(const ebb::shrink_sample&) "
                  "const noexcept`");
    return false;
  } else {
    static_assert(noexcept(std::declval<const P&>().next_size(std::declval<const shrink_sample&>())),
                  "ebb: the ShrinkPolicy's next_size(const shrink_sample&) must be noexcept");
    return true;
  }
}

template <class P>
constexpr bool check_stack_allocator() {
  if constexpr (!has_allocate<P>::value) {
    static_assert(has_allocate<P>::value,
                  "ebb: the StackAllocator lacks `ebb::stack_region allocate(const ebb::stack_request&)`");
    return false;
  } else if constexpr (!has_deallocate<P>::value) {
    static_assert(has_deallocate<P>::value,
                  "ebb: the StackAllocator lacks `void deallocate(const ebb::stack_region&) noexcept`");
    return false;
  } else {
    static_assert(noexcept(std::declval<P&>().deallocate(std::declval<const stack_region&>())),
                  "ebb: the StackAllocator's deallocate(const ebb::stack_region&) must be noexcept");
    static_assert(std::is_move_constructible<P>::value,
                  "ebb: the StackAllocator must be move-constructible (each fiber keeps a copy)");
    static_assert(has_decommit<P>::value || !names_decommit<P>::value,
                  "ebb: the StackAllocator's decommit does not have the signature `std::size_t "
                  "decommit(const ebb::stack_region&, void* lo, void* hi) noexcept`; as it is, shrinking "
                  "would silently release nothing");
    static_assert(has_committed<P>::value || !names_committed<P>::value,
                  "ebb: the StackAllocator's committed does not have the signature `std::size_t "
                  "committed(const ebb::stack_region&) const noexcept`");
    static_assert(has_lowest_committed<P>::value || !names_lowest_committed<P>::value,
                  "ebb: the StackAllocator's lowest_committed does not have the signature `void* "
                  "lowest_committed(const ebb::stack_region&) const noexcept`");
    static_assert(has_held_floor<P>::value || !names_held_floor<P>::value,
                  "ebb: the StackAllocator's held_floor does not have the signature `void* "
                  "held_floor(const ebb::stack_region&, void* from) const noexcept`");
    static_assert(has_decommit_held<P>::value || !names_decommit_held<P>::value,
                  "ebb: the StackAllocator's decommit_held does not have the signature `std::size_t "
                  "decommit_held(const ebb::stack_region&, void* lo, void* hi) noexcept`");
    static_assert(has_held_floor<P>::value == has_decommit_held<P>::value,
                  "ebb: the StackAllocator has only one of held_floor and decommit_held; a pass uses "
                  "them together (what held_floor measured, decommit_held releases), so give both or "
                  "neither");
    return true;
  }
}

}  // namespace detail

#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
// Exactly what basic_fiber accepts (the same predicates as its static_asserts).
template <class P>
concept growth_policy = detail::growth_policy_ok<P>();
template <class P>
concept shrink_policy = detail::shrink_policy_ok<P>();
template <class P>
concept stack_allocator = detail::stack_allocator_ok<P>();
#endif

EBB_NAMESPACE_END
