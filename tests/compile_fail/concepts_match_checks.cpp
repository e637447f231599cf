// expect-success
// flags: -std=c++20
// SPDX-License-Identifier: BSL-1.0
// The C++20 concepts accept exactly what basic_fiber accepts: a policy that basic_fiber's checks
// reject (here for a missing noexcept, or a near-miss optional member) must not satisfy the concept.
#include <ebb/ebb.hpp>

#include <cstddef>

#if !defined(__cpp_concepts)
#error "this test needs C++20 concepts"
#endif

struct throwing_growth {
  static constexpr std::size_t min_size = 2048;
  static constexpr std::size_t max_size = 64 * 1024;
  static constexpr std::size_t initial_size = 2048;
  std::size_t next_size(std::size_t current, std::size_t) const { return current * 2; }
};
struct unordered_growth {
  static constexpr std::size_t min_size = 8192;
  static constexpr std::size_t max_size = 64 * 1024;
  static constexpr std::size_t initial_size = 2048;
  std::size_t next_size(std::size_t current, std::size_t) const noexcept { return current * 2; }
};
struct throwing_shrink {
  std::size_t next_size(const ebb::shrink_sample& s) const { return s.size; }
};
struct throwing_deallocate {
  ebb::stack_region allocate(const ebb::stack_request&) { return {}; }
  void deallocate(const ebb::stack_region&) {}
};
struct near_miss_decommit {
  ebb::stack_region allocate(const ebb::stack_request&) { return {}; }
  void deallocate(const ebb::stack_region&) noexcept {}
  std::size_t decommit(ebb::stack_region&, void*, void*) noexcept { return 0; }
};
struct throwing_mapper : ebb::in_place {
  void on_resume(const ebb::fiber_view&) {}
};
struct copying_mapper : ebb::in_place {
  static constexpr ebb::frame_residency residency = ebb::frame_residency::absent_while_suspended;
};
struct old_contract_mapper {
  static constexpr bool moves_frames = false;
};
struct watching_mapper : ebb::in_place {
  template <class A>
  void on_suspend(ebb::mapped_stack<A>& s) noexcept {
    (void)s.allocator();
  }
};

static_assert(ebb::growth_policy<ebb::doubling_growth<>>);
static_assert(ebb::growth_policy<ebb::fixed_increment_growth<4096>>);
static_assert(!ebb::growth_policy<throwing_growth>);
static_assert(!ebb::growth_policy<unordered_growth>);
static_assert(ebb::shrink_policy<ebb::quarter_shrink<>>);
static_assert(ebb::shrink_policy<ebb::never_shrink>);
static_assert(!ebb::shrink_policy<throwing_shrink>);
static_assert(ebb::stack_allocator<ebb::virtual_stack_allocator<>>);
static_assert(ebb::stack_allocator<ebb::fixed_stack_allocator<>>);
#if EBB_HAS_TRIPWIRE  // Windows: a compile-time error by design
static_assert(ebb::stack_allocator<ebb::tripwire_stack_allocator<>>);
#endif
static_assert(!ebb::stack_allocator<throwing_deallocate>);
static_assert(!ebb::stack_allocator<near_miss_decommit>);
static_assert(ebb::frame_mapper<ebb::in_place>);
static_assert(!ebb::frame_mapper<throwing_mapper>);
static_assert(!ebb::frame_mapper<copying_mapper>);
static_assert(!ebb::frame_mapper<old_contract_mapper>);
#if EBB_HAS_TRIPWIRE
static_assert(ebb::frame_mapper<watching_mapper, ebb::tripwire_stack_allocator<>>);
#endif

// A constrained user template accepts the library's own fiber type's policies.
template <ebb::growth_policy G, ebb::shrink_policy S, ebb::stack_allocator A, ebb::frame_mapper M>
using checked_fiber = ebb::basic_fiber<G, S, A, M>;

int main() {
  checked_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>, ebb::in_place> f([] {});
  return f.resume() ? 1 : 0;
}
