// expect: a FrameMapper whose frames are absent while the fiber is suspended \(residency = absent_while_suspended\) also needs prepare, prefetch_saved, admit, resume_here, evict and limit_max_size
// SPDX-License-Identifier: BSL-1.0
// A copying mapper (frames saved elsewhere while suspended) must provide what ebb::shared_stack does.
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
