// expect: the GrowthPolicy's next_size\(current, needed\) must be noexcept
// SPDX-License-Identifier: BSL-1.0
// next_size may run where nothing can throw, so the policy must promise it will not.
#include <ebb/ebb.hpp>

#include <cstddef>

struct throwing_growth {
  static constexpr std::size_t min_size = 4096;
  static constexpr std::size_t max_size = 1 << 20;
  static constexpr std::size_t initial_size = 4096;
  std::size_t next_size(std::size_t current, std::size_t) const { return current * 2; }
};

int main() {
  ebb::basic_fiber<throwing_growth> f([] { ebb::this_fiber::yield(); });
  return f.resume() ? 0 : 1;
}
