// SPDX-License-Identifier: BSL-1.0
// Clear reports instead of crashes or silence: a callable too large for a fixed stack, a destroyed
// fiber whose forced unwind cannot pass a noexcept frame, a fiber that swallows its forced unwind.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <array>
#include <cstdlib>
#include <string>

#include "child_process.hpp"
#include "deep_stack.hpp"
#include "tool_support.hpp"

using test_support::run_child_test;

namespace {
// 64 KiB: a multiple of every page size (AArch64 Linux runs with 4, 16 or 64 KiB pages), since a
// fixed stack is rounded up to whole pages; 16 KiB became 64 with 64 KiB pages and held a 17 KiB capture.
using fixed_64k = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::fixed_stack_allocator<64 * 1024>>;

// Not inlined into the fiber's function, so the noexcept frame is really on the stack at the yield.
__attribute__((noinline)) void yield_inside_noexcept() noexcept { ebb::this_fiber::yield(); }
}  // namespace

#if EBB_HAS_EXCEPTIONS
TEST_CASE("reports: a callable too large for a fixed stack is refused, not written into the guard",
          "[reports][allocator]") {
  std::array<char, 65 * 1024> big{};
  big[0] = 1;
  try {
    fixed_64k f(ebb::fiber_options().name("big-capture"), [big] { (void)big[0]; });
    FAIL("a 65 KiB capture was accepted into a 64 KiB stack");
  } catch (const ebb::fiber_error& e) {
    CHECK(e.code() == ebb::fiber_errc::stack_too_small);
    CHECK(std::string(e.what()).find("'big-capture'") != std::string::npos);
  }
  // Just short of the stack, so the GrowthPolicy's minimum no longer fits either.
  std::array<char, 63 * 1024> almost{};
  CHECK_THROWS_AS(fixed_64k([almost] { (void)almost[0]; }), ebb::fiber_error);
  // What fits still works, and the refused stacks went back to the pool.
  std::array<char, 8 * 1024> fits{};
  fits[1] = 7;
  int seen = 0;
  fixed_64k ok([fits, &seen] { seen = fits[1]; });
  ok.resume();
  CHECK(seen == 7);
}
#endif

TEST_CASE("child: destroy a fiber suspended inside a noexcept function", "[.child]") {
  {
    ebb::fiber f(ebb::fiber_options().name("inside-noexcept"), [] { yield_inside_noexcept(); });
    f.resume();
  }  // the forced unwind meets the noexcept frame: std::terminate
  std::_Exit(0);
}

TEST_CASE("child: a fiber swallows its forced unwind and returns", "[.child]") {
  int after_catch = 0;
  {
    ebb::fiber f(ebb::fiber_options().name("swallower"), [&] {
      try {
        ebb::this_fiber::yield();
      } catch (...) {
        // no rethrow
      }
      after_catch = 1;
    });
    f.resume();
  }
  std::_Exit(after_catch == 1 ? 0 : 3);
}

#if EBB_HAS_EXCEPTIONS
TEST_CASE("reports: destroying a fiber suspended inside a noexcept function says why it terminates",
          "[reports][unwind]") {
  auto child = run_child_test("child: destroy a fiber suspended inside a noexcept function");
  INFO(child.err);
  CHECK_FALSE(child.exited);
  CHECK(child.err.find("ebb: fiber 'inside-noexcept' was destroyed while suspended") != std::string::npos);
  CHECK(child.err.find("noexcept") != std::string::npos);
}

TEST_CASE("reports: a fiber that swallows its forced unwind and returns is reported", "[reports][unwind]") {
  auto child = run_child_test("child: a fiber swallows its forced unwind and returns");
  INFO(child.err);
  CHECK(child.exited);
  CHECK(child.exit_code == 0);  // the destruction finished
  CHECK(child.err.find("ebb: fiber 'swallower' was destroyed while suspended and caught its forced unwind") !=
        std::string::npos);
}
#endif

namespace {
// Has nothing to offer beyond the current size: growth.hpp says ebb then takes exactly what is needed.
struct stubborn_growth {
  static constexpr std::size_t min_size = 2048;
  static constexpr std::size_t max_size = 256 * 1024;
  static constexpr std::size_t initial_size = 2048;
  std::size_t next_size(std::size_t current, std::size_t) const noexcept { return current; }
};
template <class Allocator>
using stubborn_fiber = ebb::basic_fiber<stubborn_growth, ebb::quarter_shrink<>, Allocator>;

// Each growth step goes to the depth seen then: at the switch or from page residency in the default
// mode, at each fault below the window in tripwire mode.
template <class Fiber>
void check_stubborn_growth() {
  Fiber f(ebb::fiber_options().name("stubborn"), [] { test_support::go_deep(40 * 1024); });
  CHECK(f.resume());  // suspended at the bottom: no overflow below max_size
  const ebb::stack_stats s = f.stack_stats();
  CHECK(s.used >= 40 * 1024);
  CHECK(s.size >= s.used);
  CHECK(s.size < 64 * 1024);  // exactly what was needed (as seen), not a doubling
  CHECK(s.grows >= 1);
  while (f.resume()) {
  }
}
}  // namespace

TEST_CASE("reports: a GrowthPolicy answering <= current grows to what is needed, not an overflow",
          "[reports][policies]") {
  check_stubborn_growth<stubborn_fiber<ebb::virtual_stack_allocator<>>>();
#if EBB_HAS_TRIPWIRE
  if (!test_support::under_memory_tool() || EBB_ASAN || EBB_TSAN)  // Valgrind cannot run tripwire fibers
    check_stubborn_growth<stubborn_fiber<ebb::tripwire_stack_allocator<>>>();
#endif
}
