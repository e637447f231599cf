// expect: the FrameMapper lacks `static void on_suspend
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

struct half_mapper {
  static constexpr bool moves_frames = false;
  static void on_resume(ebb::runtime_v1::fiber_context&) noexcept {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   half_mapper>
      f([] {});
  return f.resume() ? 1 : 0;
}
