// expect: the FrameMapper lacks `static constexpr ebb::frame_residency residency`
// SPDX-License-Identifier: BSL-1.0
// A FrameMapper written from scratch that forgets to say where its frames are.
#include <ebb/ebb.hpp>

struct silent_mapper {
  static ebb::frame_placement place(const ebb::stack_region& r) noexcept { return {r.top, nullptr, nullptr}; }
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   silent_mapper>
      f([] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
