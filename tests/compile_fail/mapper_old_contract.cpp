// expect: the FrameMapper uses the old contract \(moves_frames, static hooks taking ebb::runtime_v1::fiber_context&\)
// SPDX-License-Identifier: BSL-1.0
// A mapper written against ebb's first contract gets told what replaced it.
#include <ebb/ebb.hpp>

struct first_contract_mapper {
  static constexpr bool moves_frames = false;
  static void on_resume(ebb::fiber_view) noexcept {}
  static void on_suspend(ebb::fiber_view) noexcept {}
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   first_contract_mapper>
      f([] {});
  return f.resume() ? 1 : 0;
}
