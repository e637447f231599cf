// expect: the fiber's function must be callable with no arguments
// SPDX-License-Identifier: BSL-1.0
#include <ebb/ebb.hpp>

int main() {
  ebb::fiber f([](int n) { (void)n; });
  return f.resume() ? 1 : 0;
}
