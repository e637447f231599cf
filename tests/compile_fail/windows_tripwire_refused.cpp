// expect: tripwire_stack_allocator is not available on Windows
// SPDX-License-Identifier: BSL-1.0
// Windows only (tests/CMakeLists.txt): tripwire growth needs a fault handler running on another stack,
// which Windows does not give (EBB_HAS_TRIPWIRE in ebb/config.hpp). Elsewhere this program is valid.
#include <ebb/ebb.hpp>

int main() {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>> f([] {});
  return f.resume() ? 1 : 0;
}
