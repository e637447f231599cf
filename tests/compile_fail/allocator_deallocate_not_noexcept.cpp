// expect: the StackAllocator's deallocate\(const ebb::stack_region&\) must be noexcept
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

#include <new>

struct throwing_deallocate_allocator {
  ebb::stack_region allocate(const ebb::stack_request&) { throw std::bad_alloc(); }
  void deallocate(const ebb::stack_region&) {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, throwing_deallocate_allocator> f([] {});
  return f.resume() ? 1 : 0;
}
