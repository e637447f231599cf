// expect: the ShrinkPolicy's next_size\(const shrink_sample&\) must be noexcept
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

#include <cstddef>

struct throwing_shrink {
  std::size_t next_size(const ebb::shrink_sample& s) const { return s.size; }
};

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, throwing_shrink> f([] {});
  return f.resume() ? 1 : 0;
}
