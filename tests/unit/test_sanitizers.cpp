// SPDX-License-Identifier: BSL-1.0
// Under a sanitizer, a real bug on a fiber is still reported: ebb's switch hooks must not hide it.
// (These tests do something only in sanitizer builds; test-all.sh runs the suite under each.)
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cstring>
#include <thread>

#include "child_process.hpp"
#include "deep_stack.hpp"
#include "tool_support.hpp"

#if EBB_ASAN
namespace {
// Not for UBSan: built with ASan (test-all.sh's asan-ubsan stages), its bounds check would stop at the
// index before ASan saw the write, and this test is about ASan seeing it on a fiber's stack.
__attribute__((noinline, no_sanitize("undefined"))) void overflow_a_stack_buffer(int index) {
  char buffer[16];
  std::memset(buffer, 0, sizeof buffer);
  test_support::keep(buffer);
  buffer[index] = 1;  // index 16: one past the end
  test_support::keep(buffer);
}
}  // namespace

TEST_CASE("child: stack-buffer-overflow on a fiber", "[.child]") {
  ebb::fiber f([] {
    ebb::this_fiber::yield();
    overflow_a_stack_buffer(16);
  });
  f.resume();
  f.resume();
}

TEST_CASE("ASan reports a stack-buffer-overflow on a fiber", "[sanitizers]") {
  auto child = test_support::run_child_test("child: stack-buffer-overflow on a fiber");
  CHECK(child.exit_code != 0);
  CHECK_THAT(child.err, has_text("AddressSanitizer: stack-buffer-overflow") &&
                            has_text("overflow_a_stack_buffer"));
}
#endif

#if EBB_TSAN
namespace test_support {
int unsynchronised = 0;  // written by two fibers on two threads with nothing ordering the writes
}

TEST_CASE("child: data race between fibers on two threads", "[.child]") {
  ebb::fiber a([] { test_support::unsynchronised = 1; });
  ebb::fiber b([] { test_support::unsynchronised = 2; });
  std::thread one([&] { a.resume(); });
  std::thread two([&] { b.resume(); });
  one.join();
  two.join();
  CHECK(test_support::unsynchronised != 0);  // read, so the stores cannot be optimised away
}

TEST_CASE("TSan reports a data race between two fibers on two threads", "[sanitizers]") {
  auto child = test_support::run_child_test("child: data race between fibers on two threads");
  CHECK(child.exit_code != 0);
  CHECK_THAT(child.err, has_text("ThreadSanitizer: data race"));
}
#endif

// The sanitizers' per-fiber state (runtime_v1::tool_state) is made only in sanitizer builds, and the
// context's layout is the same either way.
TEST_CASE("a fiber has sanitizer state exactly when a sanitizer is on", "[sanitizers]") {
  bool has_tools = false;
  ebb::fiber f([&has_tools] {
    has_tools = ebb::runtime_v1::this_thread()->current->tools != nullptr;
    ebb::this_fiber::yield();
  });
  CHECK(f.resume());
  CHECK(has_tools == (EBB_ASAN || EBB_TSAN));
  CHECK_FALSE(f.resume());
}

TEST_CASE("the sanitizer hooks are compiled in exactly when a sanitizer is on", "[sanitizers]") {
#if defined(__SANITIZE_ADDRESS__)
  CHECK(EBB_ASAN == 1);
#endif
#if defined(__SANITIZE_THREAD__)
  CHECK(EBB_TSAN == 1);
#endif
  CHECK((EBB_ASAN + EBB_TSAN) <= 1);
  SUCCEED("asan " << EBB_ASAN << ", tsan " << EBB_TSAN << ", valgrind hooks " << EBB_VALGRIND);
}
