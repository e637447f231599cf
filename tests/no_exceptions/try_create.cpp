// SPDX-License-Identifier: BSL-1.0
// basic_fiber::try_create in a program built with -fno-exceptions: a refused creation comes back as
// nullopt with its reason, where the constructor would report and abort. Usage: ebb_no_exceptions_try_create MODE
//   refusals     a stack too small for the callable, a spent tripwire budget, a StackAllocator that
//                returns an empty region: each reported as a value; then a fiber that runs; exit 0
//   constructor  the same too-small stack through the constructor: reported and aborted
#include <ebb/ebb.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "check.hpp"

namespace {
// 64 KiB: a multiple of every page size (AArch64 Linux runs with 4, 16 or 64 KiB pages), since a
// fixed stack is rounded up to whole pages; 16 KiB became 64 with 64 KiB pages and held a 17 KiB capture.
using fixed_64k = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::fixed_stack_allocator<64 * 1024>>;
#if EBB_HAS_TRIPWIRE  // a compile-time error on Windows (ebb/config.hpp)
using tripwire_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>>;
#endif

// Fails the way allocators built without exceptions do: an empty region, errno set.
struct empty_allocator {
  ebb::stack_region allocate(const ebb::stack_request&) {
    errno = ENOMEM;
    return {};
  }
  void deallocate(const ebb::stack_region&) noexcept {}
};
using empty_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, empty_allocator>;

bool says(const ebb::create_error& why, const char* text) { return std::strstr(why.what(), text) != nullptr; }
}  // namespace

static int refusals() {
  std::array<char, 65 * 1024> big{};
  ebb::create_error why;

  auto too_big = fixed_64k::try_create(ebb::fiber_options().name("big-capture"), [big] { (void)big[0]; }, why);
  CHECK(!too_big);
  CHECK(why.code == ebb::fiber_errc::stack_too_small);
  CHECK(says(why, "ebb: cannot create fiber 'big-capture': its 65536-byte stack"));
  std::printf("refused: %s\n", why.what());

#if EBB_HAS_TRIPWIRE
  {
    const std::size_t granted = ebb::stack_budget_granted();
    ebb::set_stack_budget(granted);  // nothing left
    auto late = tripwire_fiber::try_create(ebb::fiber_options().name("late"), [] {}, why);
    CHECK(!late);
    CHECK(why.code == ebb::fiber_errc::out_of_memory);
    CHECK(says(why, "cannot create fiber 'late': the stack budget"));
    CHECK(ebb::stack_budget_granted() == granted);
    std::printf("refused: %s\n", why.what());
    ebb::set_stack_budget(static_cast<std::size_t>(-1));
  }
#endif

  auto nothing = empty_fiber::try_create(ebb::fiber_options().name("no-room"), [] {}, why);
  CHECK(!nothing);
  CHECK(why.code == ebb::fiber_errc::out_of_memory);
  CHECK(says(why, "cannot create fiber 'no-room': cannot reserve a "));
  std::printf("refused: %s\n", why.what());

  // And creation that succeeds gives a fiber that runs, on a stack the refusals left reusable.
  int steps = 0;
  auto fits = fixed_64k::try_create([&steps] {
    ++steps;
    ebb::this_fiber::yield();
    ++steps;
  });
  CHECK(fits.has_value());
  if (fits) {
    CHECK(fits->resume());
    CHECK(!fits->resume());
  }
  CHECK(steps == 2);
  return failures ? 1 : 0;
}

static int constructor() {
  std::array<char, 65 * 1024> big{};
  fixed_64k f(ebb::fiber_options().name("big-capture"), [big] { (void)big[0]; });  // aborts
  std::puts("still running after a refused creation");
  return 0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "refusals";
  if (std::strcmp(mode, "refusals") == 0) return refusals();
  if (std::strcmp(mode, "constructor") == 0) return constructor();
  std::fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
