// expect: the ShrinkPolicy lacks `std::size_t next_size\(const ebb::shrink_sample&\)
// SPDX-License-Identifier: BSL-1.0
// A ShrinkPolicy whose member has the wrong shape (takes the size alone, not a shrink_sample).
#include <ebb/ebb.hpp>

#include <cstddef>

struct wrong_shrink {
  std::size_t shrink_to(std::size_t size) const noexcept { return size / 2; }
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, wrong_shrink> f([] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
