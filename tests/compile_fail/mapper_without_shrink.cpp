// expect: the FrameMapper lacks `std::size_t shrink\(ebb::mapped_stack<A>&, const ebb::shrink_step&\) noexcept`
// SPDX-License-Identifier: BSL-1.0
// A FrameMapper written from scratch with every hook but the shrink point's.
#include <ebb/ebb.hpp>

struct forgetful_mapper {
  static constexpr ebb::frame_residency residency = ebb::frame_residency::in_place;
  static ebb::frame_placement place(const ebb::stack_region& r) noexcept { return {r.top, nullptr, nullptr}; }
  ebb::mapper_refusal on_create(const ebb::fiber_view&) noexcept { return ebb::mapper_refusal::none; }
  void on_resume(const ebb::fiber_view&) noexcept {}
  void on_suspend(const ebb::fiber_view&) noexcept {}
  void on_finish(const ebb::fiber_view&) noexcept {}
  void on_destroy(const ebb::fiber_view&) noexcept {}
  std::size_t committed(const ebb::fiber_view&) noexcept { return 0; }
  std::size_t seen_in_use(const ebb::fiber_view&) noexcept { return 0; }
  bool release(const ebb::fiber_view&, ebb::stack_region&, bool) noexcept { return true; }
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>,
                   forgetful_mapper>
      f([] {});
  return f.resume() ? 1 : 0;
}
