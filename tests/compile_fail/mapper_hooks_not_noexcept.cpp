// expect: the FrameMapper's on_resume and on_suspend must be noexcept
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

struct throwing_mapper {
  static constexpr bool moves_frames = false;
  static void on_resume(ebb::runtime_v1::fiber_context&) {}
  static void on_suspend(ebb::runtime_v1::fiber_context&) noexcept {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   throwing_mapper>
      f([] {});
  return f.resume() ? 1 : 0;
}
