// expect: the StackAllocator's decommit does not have the signature
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

#include <cstddef>

// decommit takes the region by non-const reference: ebb could never call it, so without the check
// every shrink point would silently release nothing.
struct near_miss_allocator {
  ebb::stack_region allocate(const ebb::stack_request& request) {
    return ebb::virtual_stack_allocator<>().allocate(request);
  }
  void deallocate(const ebb::stack_region& region) noexcept { ebb::virtual_stack_allocator<>().deallocate(region); }
  std::size_t decommit(ebb::stack_region& region, void* lo, void* hi) noexcept {
    return ebb::virtual_stack_allocator<>().decommit(region, lo, hi);
  }
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, near_miss_allocator> f([] {});
  return f.resume() ? 1 : 0;
}
