// expect: the FrameMapper's hooks \(place, on_create, on_resume, on_suspend, on_finish, on_destroy, committed, seen_in_use, shrink, release\) must be noexcept
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

struct throwing_mapper : ebb::in_place {
  void on_resume(const ebb::fiber_view&) {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   throwing_mapper>
      f([] {});
  return f.resume() ? 1 : 0;
}
