// expect: the GrowthPolicy lacks `std::size_t next_size
// SPDX-License-Identifier: BSL-1.0
// A GrowthPolicy with its sizes but no next_size(current, needed).
#include <ebb/ebb.hpp>

#include <cstddef>

struct no_next_size_growth {
  static constexpr std::size_t min_size = 4096;
  static constexpr std::size_t max_size = 1 << 20;
  static constexpr std::size_t initial_size = 4096;
};

int main() {
  ebb::basic_fiber<no_next_size_growth> f([] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
