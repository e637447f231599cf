// expect: this FrameMapper moves frames \(moves_frames = true\); basic_fiber supports only
// SPDX-License-Identifier: BSL-1.0
// Moving frames is not supported: C++ keeps pointers into the stack that no scan can find.
#include <ebb/ebb.hpp>

struct copying_mapper {
  static constexpr bool moves_frames = true;
  static void on_resume(ebb::runtime_v1::fiber_context&) noexcept {}
  static void on_suspend(ebb::runtime_v1::fiber_context&) noexcept {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   copying_mapper>
      f([] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
