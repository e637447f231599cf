// expect: the FrameMapper lacks `static constexpr bool moves_frames`
// SPDX-License-Identifier: BSL-1.0
// A FrameMapper with both hooks but without saying whether it moves frames.
#include <ebb/ebb.hpp>

struct silent_mapper {
  static void on_resume(ebb::runtime_v1::fiber_context&) noexcept {}
  static void on_suspend(ebb::runtime_v1::fiber_context&) noexcept {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   silent_mapper>
      f([] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
