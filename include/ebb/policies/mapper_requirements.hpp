// SPDX-License-Identifier: BSL-1.0
// ebb/policies/mapper_requirements.hpp — compile-time checks of a FrameMapper (the contract is written
// out in mappers/in_place.hpp).
//
// A mapper's hooks are called with ebb::mapped_stack<StackAllocator>, so a mapper is checked together
// with the allocator it is used with. As for the other policies, each missing or misdeclared member
// gets a message naming it, and the checks stop at the first.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/mappers/mapped_stack.hpp"
#include "ebb/policies/detection.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

// The least a StackAllocator can be, for checking a mapper on its own (the C++20 concept).
struct allocator_archetype {
  stack_region allocate(const stack_request&);
  void deallocate(const stack_region&) noexcept;
};

#define EBB_DETECT_MAPPER(trait, expr)                                   \
  template <class M, class S, class = void>                              \
  struct trait : std::false_type {};                                     \
  template <class M, class S>                                            \
  struct trait<M, S, void_t<decltype(expr)>> : std::true_type {}

#define EBB_MAPPER_CALL(hook) std::declval<M&>().hook(std::declval<S&>())
#define EBB_MAPPER_CALL_ARGS(hook, ...) std::declval<M&>().hook(std::declval<S&>(), __VA_ARGS__)
EBB_DETECT_MAPPER(has_residency, static_cast<frame_residency>(M::residency));
EBB_DETECT_MAPPER(has_place, static_cast<frame_placement>(M::place(std::declval<const stack_region&>())));
EBB_DETECT_MAPPER(has_on_create, static_cast<mapper_refusal>(EBB_MAPPER_CALL(on_create)));
EBB_DETECT_MAPPER(has_on_resume, EBB_MAPPER_CALL(on_resume));
EBB_DETECT_MAPPER(has_on_suspend, EBB_MAPPER_CALL(on_suspend));
EBB_DETECT_MAPPER(has_on_finish, EBB_MAPPER_CALL(on_finish));
EBB_DETECT_MAPPER(has_on_destroy, EBB_MAPPER_CALL(on_destroy));
EBB_DETECT_MAPPER(has_mapper_committed, static_cast<std::size_t>(EBB_MAPPER_CALL(committed)));
EBB_DETECT_MAPPER(has_seen_in_use, static_cast<std::size_t>(EBB_MAPPER_CALL(seen_in_use)));
EBB_DETECT_MAPPER(has_mapper_shrink,
                  static_cast<std::size_t>(EBB_MAPPER_CALL_ARGS(shrink, std::declval<const shrink_step&>())));
EBB_DETECT_MAPPER(has_mapper_release, static_cast<bool>(EBB_MAPPER_CALL_ARGS(
                                          release, std::declval<stack_region&>(), bool{})));
// Optional: false when the next shrink point needs no residency query (detail/stack_accounting.hpp).
EBB_DETECT_MAPPER(has_shrink_needs_query, static_cast<bool>(EBB_MAPPER_CALL(shrink_needs_query)));
// The contract before hooks took a mapped_stack: say what replaced it rather than what is missing.
EBB_DETECT_MAPPER(has_moves_frames, bool{M::moves_frames});
#undef EBB_DETECT_MAPPER

// Every hook noexcept: they run inside switches and in the fault handler's neighbourhood, where an
// exception has nowhere to go.
template <class M, class S>
constexpr bool mapper_hooks_noexcept() {
  return noexcept(M::place(std::declval<const stack_region&>())) && noexcept(EBB_MAPPER_CALL(on_create)) &&
         noexcept(EBB_MAPPER_CALL(on_resume)) && noexcept(EBB_MAPPER_CALL(on_suspend)) &&
         noexcept(EBB_MAPPER_CALL(on_finish)) && noexcept(EBB_MAPPER_CALL(on_destroy)) &&
         noexcept(EBB_MAPPER_CALL(committed)) && noexcept(EBB_MAPPER_CALL(seen_in_use)) &&
         noexcept(EBB_MAPPER_CALL_ARGS(shrink, std::declval<const shrink_step&>())) &&
         noexcept(EBB_MAPPER_CALL_ARGS(release, std::declval<stack_region&>(), bool{}));
}
#undef EBB_MAPPER_CALL
#undef EBB_MAPPER_CALL_ARGS

// What a copying mapper (residency absent_while_suspended) adds, and what it needs of its allocator.
template <class M, class A, class = void>
struct copying_mapper_members : std::false_type {};
template <class M, class A>
struct copying_mapper_members<
    M, A,
    std::void_t<decltype(std::declval<M&>().prepare(std::declval<mapped_stack<A>&>(),
                                                    static_cast<void (*)(void*)>(nullptr), std::size_t{})),
                decltype(M::prefetch_saved(static_cast<const void*>(nullptr), std::size_t{})),
                decltype(std::declval<M&>().admit(std::declval<runtime_v1::fiber_context&>(), "",
                                                  static_cast<runtime_v1::fiber_context*>(nullptr))),
                decltype(static_cast<bool>(std::declval<M&>().resume_here(std::declval<mapped_stack<A>&>()))),
                decltype(std::declval<M&>().evict(std::declval<mapped_stack<A>&>())),
                decltype(static_cast<std::size_t>(M::limit_max_size(std::size_t{}))),
                decltype(static_cast<void*>(std::declval<A&>().allocate_frames(std::size_t{}))),
                decltype(std::declval<A&>().deallocate_frames(static_cast<void*>(nullptr), std::size_t{})),
                decltype(static_cast<std::size_t>(A::frames_capacity(std::size_t{})))>> : std::true_type {};
template <class M, class A>
constexpr bool copying_mapper_members_present() {
  return copying_mapper_members<M, A>::value;
}

// Whether the fiber code takes the copying paths. A mapper that declares absent_while_suspended
// without their members is refused by one static_assert (check_frame_mapper); testing the members
// here too keeps the compiler from following that assert with an error from every path it reaches.
template <class M, class A>
constexpr bool copies_frames() {
  if constexpr (M::residency == frame_residency::absent_while_suspended)
    return copying_mapper_members_present<M, A>();
  else
    return false;
}

template <class M, class S>
constexpr bool mapper_members_present() {
  return has_residency<M, S>::value && has_place<M, S>::value && has_on_create<M, S>::value &&
         has_on_resume<M, S>::value && has_on_suspend<M, S>::value && has_on_finish<M, S>::value &&
         has_on_destroy<M, S>::value && has_mapper_committed<M, S>::value && has_seen_in_use<M, S>::value &&
         has_mapper_shrink<M, S>::value && has_mapper_release<M, S>::value;
}

// The rule as a plain predicate, shared by the checks and the C++20 concept.
template <class M, class A>
constexpr bool frame_mapper_ok() {
  using S = mapped_stack<A>;
  if constexpr (mapper_members_present<M, S>())
    return mapper_hooks_noexcept<M, S>() && std::is_default_constructible<M>::value &&
           (M::residency == frame_residency::in_place || copying_mapper_members_present<M, A>());
  else
    return false;
}

#define EBB_REQUIRE_MAPPER_MEMBER(trait, declaration)                                        \
  else if constexpr (!trait<M, S>::value) {                                                  \
    static_assert(trait<M, S>::value, "ebb: the FrameMapper lacks `" declaration "`");       \
    return false;                                                                            \
  }

template <class M, class A>
constexpr bool check_frame_mapper() {
  using S = mapped_stack<A>;
  if constexpr (has_moves_frames<M, S>::value && !has_residency<M, S>::value) {
    static_assert(!has_moves_frames<M, S>::value,
                  "ebb: the FrameMapper uses the old contract (moves_frames, static hooks taking "
                  "ebb::runtime_v1::fiber_context&): it now declares `static constexpr ebb::frame_residency "
                  "residency` and member hooks taking ebb::mapped_stack<StackAllocator>& or ebb::fiber_view; "
                  "derive from ebb::in_place to keep its behaviour (see mappers/in_place.hpp)");
    return false;
  }
  EBB_REQUIRE_MAPPER_MEMBER(has_residency, "static constexpr ebb::frame_residency residency")
  EBB_REQUIRE_MAPPER_MEMBER(has_place, "static ebb::frame_placement place(const ebb::stack_region&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_on_create, "ebb::mapper_refusal on_create(ebb::mapped_stack<A>&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_on_resume, "void on_resume(ebb::mapped_stack<A>&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_on_suspend, "void on_suspend(ebb::mapped_stack<A>&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_on_finish, "void on_finish(ebb::mapped_stack<A>&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_on_destroy, "void on_destroy(ebb::mapped_stack<A>&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_mapper_committed, "std::size_t committed(ebb::mapped_stack<A>&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_seen_in_use, "std::size_t seen_in_use(ebb::mapped_stack<A>&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_mapper_shrink,
                            "std::size_t shrink(ebb::mapped_stack<A>&, const ebb::shrink_step&) noexcept")
  EBB_REQUIRE_MAPPER_MEMBER(has_mapper_release,
                            "bool release(ebb::mapped_stack<A>&, ebb::stack_region&, bool ran) noexcept")
  else {
    static_assert(mapper_hooks_noexcept<M, S>(),
                  "ebb: the FrameMapper's hooks (place, on_create, on_resume, on_suspend, on_finish, "
                  "on_destroy, committed, seen_in_use, shrink, release) must be noexcept: they run inside "
                  "switches and at shrink points, where an exception has nowhere to go");
    static_assert(std::is_default_constructible<M>::value,
                  "ebb: the FrameMapper must be default-constructible (each fiber's control block holds one)");
    if constexpr (M::residency == frame_residency::absent_while_suspended) {
      static_assert(copying_mapper_members_present<M, A>(),
                    "ebb: a FrameMapper whose frames are absent while the fiber is suspended (residency = "
                    "absent_while_suspended) also needs prepare, prefetch_saved, admit, resume_here, evict and limit_max_size, "
                    "as ebb::shared_stack has (mappers/shared_stack.hpp), and a StackAllocator with "
                    "allocate_frames, deallocate_frames and frames_capacity (allocators/compact_allocator.hpp)");
    }
    return true;
  }
}
#undef EBB_REQUIRE_MAPPER_MEMBER

}  // namespace detail

#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
// Exactly what basic_fiber accepts with allocator A (the same predicate as its static_asserts).
template <class M, class A = detail::allocator_archetype>
concept frame_mapper = detail::frame_mapper_ok<M, A>();
#endif

EBB_NAMESPACE_END
