// expect: the StackAllocator lacks `ebb::stack_region allocate\(const ebb::stack_request&\)`
// SPDX-License-Identifier: BSL-1.0
// A StackAllocator that can give stacks back but never hands one out.
#include <ebb/ebb.hpp>

struct no_allocate_allocator {
  void deallocate(const ebb::stack_region&) noexcept {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, no_allocate_allocator> f(
      [] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
