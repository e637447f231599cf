// expect: the GrowthPolicy lacks `static constexpr std::size_t min_size`
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

#include <cstddef>

struct no_min_size_growth {
  static constexpr std::size_t max_size = 1 << 20;
  static constexpr std::size_t initial_size = 4096;
  std::size_t next_size(std::size_t current, std::size_t) const noexcept { return current * 2; }
};

int main() {
  ebb::basic_fiber<no_min_size_growth> f([] {});
  return f.resume() ? 1 : 0;
}
