// expect: yield_then\(f\): f must be noexcept
// SPDX-License-Identifier: BSL-1.0
// yield_then's f runs inside resume() after the fiber is suspended: an exception there would have
// nowhere to go, so f must be noexcept — and a lambda is not unless it says so.
#include <ebb/ebb.hpp>

int main() {
  int handed = 0;
  ebb::fiber f([&] { ebb::this_fiber::yield_then([&] { ++handed; }); });
  f.resume();
  return handed;
}
