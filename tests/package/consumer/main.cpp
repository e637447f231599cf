// SPDX-License-Identifier: BSL-1.0
// The consumer every packaging test builds (tests/package/run_package_consumers.sh): a fiber that
// yields, a generator, and a shrink pass, so the program uses more than one header.
#include <ebb/ebb.hpp>

#include <cstdio>

int main() {
  int steps = 0;
  ebb::fiber f([&] {
    ++steps;
    ebb::this_fiber::yield();
    ++steps;
  });
  while (f.resume()) {
  }
  int sum = 0;
  for (int v : ebb::generator<int>([](ebb::yield_sink<int>& yield) {
         for (int i = 1; i <= 4; ++i) yield(i);
       }))
    sum += v;
  ebb::stack_registry::shrink_all();
  std::printf("ebb %s: %d steps, generator sum %d\n", EBB_VERSION_STRING, steps, sum);
  return steps == 2 && sum == 10 ? 0 : 1;
}
