// expect: the StackAllocator has only one of held_floor and decommit_held
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

#include <cstddef>

// held_floor without decommit_held: a pass would measure a band and then have nothing to release it
// with (or, the other way round, release a band nobody measured).
struct measuring_only_allocator {
  ebb::stack_region allocate(const ebb::stack_request& request) {
    return ebb::virtual_stack_allocator<>().allocate(request);
  }
  void deallocate(const ebb::stack_region& region) noexcept { ebb::virtual_stack_allocator<>().deallocate(region); }
  std::size_t decommit(const ebb::stack_region& region, void* lo, void* hi) noexcept {
    return ebb::virtual_stack_allocator<>().decommit(region, lo, hi);
  }
  void* held_floor(const ebb::stack_region& region, void* from) const noexcept {
    return ebb::virtual_stack_allocator<>().held_floor(region, from);
  }
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, measuring_only_allocator> f([] {});
  return f.resume() ? 1 : 0;
}
