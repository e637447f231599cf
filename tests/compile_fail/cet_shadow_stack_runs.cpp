// expect-run
// SPDX-License-Identifier: BSL-1.0
// flags: -fcf-protection=full
// Shadow stacks and indirect-branch tracking compiled in (Ubuntu's default): the program builds and
// its fibers switch wherever shadow stacks are inactive at run time. Where they are active, creating
// a fiber must refuse with fiber_error (the switch does not switch shadow stacks) rather than crash.
#include <ebb/ebb.hpp>

#include <cstdio>
#include <cstring>

int main() {
  static_assert(__CET__ == 3, "-fcf-protection=full asks for branch tracking and shadow stacks");
#if !defined(_WIN32)  // Windows has no indirect-branch tracking (Control Flow Guard instead): no endbr64
  // Under branch tracking every entry point of the switch begins with endbr64.
  const unsigned char endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
  for (auto* routine : {&ebb::runtime_v1::arch::ebb_switch_context}) {
    unsigned char first[4];
    std::memcpy(first, reinterpret_cast<const void*>(routine), sizeof first);
    if (std::memcmp(first, endbr64, sizeof first) != 0) {
      std::fprintf(stderr, "the switch routine does not begin with endbr64\n");
      return 1;
    }
  }
#endif
  int steps = 0;
  try {
    ebb::fiber f([&] {
      ++steps;
      ebb::this_fiber::yield();
      ++steps;
    });
    while (f.resume()) {
    }
  } catch (const ebb::fiber_error& e) {
    if (e.code() != ebb::fiber_errc::shadow_stack_active) throw;
    std::printf("refused as designed: %s\n", e.what());
    return 0;
  }
  std::printf("-fcf-protection=full: %d steps\n", steps);
  return steps == 2 ? 0 : 1;
}
