// expect-success
// SPDX-License-Identifier: BSL-1.0
// Positive control: one user-written policy of each kind, all valid, used together. It must compile
// (warning-free) with exactly the flags the compile-fail tests use, so those tests are known to fail
// because of their one mistake and not because of the setup.
#include <ebb/ebb.hpp>

#include <cstddef>
#include <new>
#include <vector>

struct tripling_growth {
  static constexpr std::size_t min_size = 4096;
  static constexpr std::size_t max_size = 512 * 1024;
  static constexpr std::size_t initial_size = 8192;
  std::size_t next_size(std::size_t current, std::size_t needed) const noexcept {
    std::size_t next = current * 3;
    return next < needed ? needed : next;
  }
};

struct halve_once_shrink {
  std::size_t next_size(const ebb::shrink_sample& s) const noexcept { return s.size / 2; }
};

// Only the two required members: stacks from the default allocator, kept in a counter.
struct counting_allocator {
  int* live = nullptr;
  ebb::stack_region allocate(const ebb::stack_request& request) {
    ebb::stack_region r = ebb::virtual_stack_allocator<>().allocate(request);
    if (live) ++*live;
    return r;
  }
  void deallocate(const ebb::stack_region& region) noexcept {
    if (live) --*live;
    ebb::virtual_stack_allocator<>().deallocate(region);
  }
};

struct counting_mapper : ebb::in_place {
  unsigned resumes = 0;  // per fiber: the mapper lives in the fiber's control block
  void on_resume(const ebb::fiber_view& f) noexcept {
    ++resumes;
    in_place::on_resume(f);
  }
};

using custom_fiber = ebb::basic_fiber<tripling_growth, halve_once_shrink, counting_allocator, counting_mapper>;

int main() {
  int live = 0;
  std::vector<int> seen;
  custom_fiber f(std::allocator_arg, counting_allocator{&live}, ebb::fiber_options().name("control"), [&] {
    seen.push_back(1);
    ebb::this_fiber::yield();
    seen.push_back(2);
  });
  while (f.resume()) {
  }
  ebb::fiber plain([] { ebb::this_fiber::yield(); });
  plain.resume();
  return f.stack_stats().max_size > 0 && f.shrink_stack() == 0 ? 0 : 1;
}
