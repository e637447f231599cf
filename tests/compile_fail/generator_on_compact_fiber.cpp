// expect: ebb::generator: the producer cannot run on a compact fiber
// SPDX-License-Identifier: BSL-1.0
// ebb::generator hands the consumer a pointer into the producer's frame; a compact fiber's frames are
// copied away while it is suspended, so the consumer would read garbage (unchecked mode, once another
// compact fiber used the stack) or crash on the canary (checked mode). Refused at compile time.
#include <ebb/ebb.hpp>

int main() {
  ebb::generator<int, ebb::compact_fiber> g([](ebb::yield_sink<int>& yield) { yield(1); });
  int sum = 0;
  for (int v : g) sum += v;
  return sum == 1 ? 0 : 1;
}
