// expect: this FrameMapper's frames are absent while the fiber is suspended \(residency = absent_while_suspended\); basic_fiber runs only in-place frames so far
// SPDX-License-Identifier: BSL-1.0
// A copying mapper (frames saved elsewhere while suspended) is not supported yet.
#include <ebb/ebb.hpp>

struct copying_mapper : ebb::in_place {
  static constexpr ebb::frame_residency residency = ebb::frame_residency::absent_while_suspended;
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   copying_mapper>
      f([] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
