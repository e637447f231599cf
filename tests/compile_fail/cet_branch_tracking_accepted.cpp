// expect-success
// SPDX-License-Identifier: BSL-1.0
// flags: -fcf-protection=branch
// Indirect-branch tracking alone is supported: the switch returns with `ret` and its entry points
// begin with endbr64.
#include <ebb/ebb.hpp>

int main() {
  ebb::fiber f([] { ebb::this_fiber::yield(); });
  while (f.resume()) {
  }
}
