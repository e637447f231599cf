// SPDX-License-Identifier: BSL-1.0
// The four policy parameters: the shipped ones behave as documented, user-written ones plug in.
#include "ebb_catch.hpp"
#include "tool_support.hpp"
#include <ebb/ebb.hpp>

#include <cstdlib>
#include <new>

#include "deep_stack.hpp"

namespace {

// Recurse about depth * 256 bytes, yield once at the bottom.
int dig(int depth) { return test_support::go_deep(static_cast<std::size_t>(depth) * 256); }

// A user-written GrowthPolicy: triple the size each step.
struct tripling_growth {
  static constexpr std::size_t min_size = 4096;
  static constexpr std::size_t max_size = 512 * 1024;
  static constexpr std::size_t initial_size = 4096;
  std::size_t next_size(std::size_t current, std::size_t) const noexcept { return current * 3; }
};

// A user-written ShrinkPolicy: give back half at every shrink point, whatever is in use.
struct halve_every_time {
  std::size_t next_size(const ebb::shrink_sample& s) const noexcept { return s.size / 2; }
};

// A user-written StackAllocator with only the two required members, over the C heap: no guard, no
// decommit (stats then report the whole stack as committed).
struct heap_stack_allocator {
  static inline int live = 0;
  ebb::stack_region allocate(const ebb::stack_request& request) {
    std::size_t bytes = (request.max_size + 4095) / 4096 * 4096;
    void* p = test_support::aligned_block(4096, bytes);
    if (!p) throw std::bad_alloc();
    ++live;
    ebb::stack_region r;
    r.base = p;
    r.reserved = bytes;
    r.limit = p;
    r.top = static_cast<char*>(p) + bytes;
    return r;
  }
  void deallocate(const ebb::stack_region& r) noexcept {
    --live;
    test_support::free_aligned_block(r.base);
  }
};

// A user-written FrameMapper: frames stay in place, but it watches every switch.
struct watching_mapper : ebb::in_place {
  static inline int resumes = 0, suspends = 0;
  void on_resume(const ebb::fiber_view& f) noexcept {
    ++resumes;
    in_place::on_resume(f);
  }
  void on_suspend(const ebb::fiber_view& f) noexcept {
    ++suspends;
    in_place::on_suspend(f);
  }
};

}  // namespace

TEST_CASE("doubling growth counts one step per doubling", "[policies][growth]") {
  ebb::fiber f([] { dig(200); });  // ~50 KiB deep
  f.resume();
  auto s = f.stack_stats();
  CHECK(s.size >= s.peak);
  CHECK(s.size / 2 < s.peak);  // the smallest doubling of 2 KiB that covers the peak
  std::size_t steps = 0;
  for (std::size_t size = ebb::default_min_stack; size < s.size; size *= 2) ++steps;
  CHECK(s.grows == steps);
}

TEST_CASE("a user-written GrowthPolicy sets the sizes", "[policies][growth]") {
  ebb::basic_fiber<tripling_growth> f([] { dig(100); });  // ~25 KiB
  CHECK(f.stack_stats().size == 4096);
  f.resume();
  auto s = f.stack_stats();
  CHECK(s.size == 4096 * 9);  // 4 KiB -> 12 KiB -> 36 KiB
  CHECK(s.grows == 2);
  CHECK(s.max_size == 512 * 1024);
}

TEST_CASE("fixed-increment growth", "[policies][growth]") {
  ebb::basic_fiber<ebb::fixed_increment_growth<8192>> f([] { dig(100); });
  f.resume();
  auto s = f.stack_stats();
  CHECK(s.size % 8192 == 2048);
  CHECK(s.size >= s.peak);
  CHECK(s.size - 8192 < s.peak);
}

TEST_CASE("shipped shrink policies", "[policies][shrink]") {
  auto deep_then_park = [] {
    dig(static_cast<int>(test_support::scaled_to_default_max(2000)));  // ~500 KiB (64-bit), returns
    ebb::this_fiber::yield();
  };
  SECTION("quarter_shrink halves once per point") {
    ebb::fiber f(deep_then_park);
    f.resume();  // parked at the bottom
    f.resume();  // parked shallow
    const std::size_t grown = f.stack_stats().size;
    f.shrink_stack();
    CHECK(f.stack_stats().size == grown / 2);
    CHECK(f.stack_stats().shrinks == 1);
    f.shrink_stack();
    CHECK(f.stack_stats().size == grown / 4);
  }
  SECTION("shrink_to_fit takes every halving at once") {
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::shrink_to_fit<>> f(deep_then_park);
    f.resume();
    f.resume();
    f.shrink_stack();
    auto s = f.stack_stats();
    CHECK(s.size <= 4 * 1024);
    CHECK(s.shrinks == 1);
  }
  SECTION("peak_shrink keeps what the last interval needed") {
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::peak_shrink<>> f(deep_then_park);
    f.resume();
    f.resume();
    const std::size_t grown = f.stack_stats().size;
    f.shrink_stack();  // the peak since creation was deep: keep
    CHECK(f.stack_stats().size == grown);
    f.shrink_stack();  // nothing ran since: the peak is now the shallow use
    CHECK(f.stack_stats().size <= 4 * 1024);
  }
  SECTION("never_shrink keeps everything") {
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::never_shrink> f(deep_then_park);
    f.resume();
    f.resume();
    const std::size_t grown = f.stack_stats().size;
    f.shrink_stack();
    CHECK(f.stack_stats().size == grown);
    CHECK(f.stack_stats().shrinks == 0);
  }
}

TEST_CASE("a user-written ShrinkPolicy cannot release live frames", "[policies][shrink]") {
  ebb::basic_fiber<ebb::doubling_growth<>, halve_every_time> f([] { dig(static_cast<int>(test_support::scaled_to_default_max(1000))); });
  f.resume();  // parked ~250 KiB deep (64-bit)
  auto before = f.stack_stats();
  for (int i = 0; i < 10; ++i) f.shrink_stack();
  auto after = f.stack_stats();
  CHECK(after.size >= after.used);
  CHECK(after.size < before.size);
  CHECK(f.resume() == false);  // the frames were intact: the recursion unwound normally
}

TEST_CASE("a user-written StackAllocator with only allocate and deallocate", "[policies][allocator]") {
  {
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, heap_stack_allocator> f([] { dig(50); });
    CHECK(heap_stack_allocator::live == 1);
    f.resume();
    auto s = f.stack_stats();
    CHECK(s.committed == s.reserved);  // no decommit: all of it counts as held
    CHECK(f.shrink_stack() == 0);      // nothing can be released
    f.resume();
    CHECK(f.done());
  }
  CHECK(heap_stack_allocator::live == 0);
}

TEST_CASE("fixed_stack_allocator gives every fiber the same stack", "[policies][allocator]") {
  using fixed = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::fixed_stack_allocator<128 * 1024>>;
  fixed f([] { dig(100); });
  auto s = f.stack_stats();
  CHECK(s.max_size < 128 * 1024);  // the control block sits at the top of the 128 KiB
  CHECK(s.max_size > 120 * 1024);
  CHECK(s.reserved == 128 * 1024 + test_support::round_up_to_page(ebb::default_guard_size));
  f.resume();
  f.resume();
  CHECK(f.done());
}

TEST_CASE("a user-written FrameMapper sees every switch", "[policies][mapper]") {
  watching_mapper::resumes = watching_mapper::suspends = 0;
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>, watching_mapper> f([] {
    ebb::this_fiber::yield();
    ebb::this_fiber::yield();
  });
  while (f.resume()) {
  }
  CHECK(watching_mapper::resumes == 3);
  CHECK(watching_mapper::suspends == 2);  // the final switch-out is a finish, not a suspension
}
