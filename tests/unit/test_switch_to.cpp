// SPDX-License-Identifier: BSL-1.0
// this_fiber::switch_to (a direct hand-off between fibers), resume_with (a function run on top of a
// suspended fiber) and this_fiber::call_on_thread_stack.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "deep_stack.hpp"
#include "tool_support.hpp"

namespace {
// Which stack the caller runs on. The frame address, not a local's: under ASan's fake stacks (use-after-return detection) locals live
// on the heap, frames do not.
__attribute__((noinline)) std::uintptr_t where_am_i() {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}
}  // namespace

// ---- switch_to ------------------------------------------------------------------------------------

TEST_CASE("switch_to: the target runs in place of the switcher and yields back to the switcher's resumer",
          "[switch_to]") {
  std::vector<std::string> log;
  ebb::fiber b(ebb::fiber_options().name("b"), [&] {
    log.push_back("b starts");
    ebb::this_fiber::yield();
    log.push_back("b again");
  });
  ebb::fiber a(ebb::fiber_options().name("a"), [&] {
    log.push_back("a starts");
    ebb::this_fiber::switch_to(b);  // b has never run: it starts here
    log.push_back("a resumed");
  });
  CHECK(a.resume());  // a switched to b; b's yield came back here
  CHECK(log == std::vector<std::string>{"a starts", "b starts"});
  CHECK_FALSE(a.running());
  CHECK_FALSE(b.running());
  CHECK_FALSE(a.done());
  CHECK_FALSE(b.done());
  CHECK_FALSE(ebb::this_fiber::in_fiber());

  CHECK_FALSE(a.resume());  // a continues after its switch_to and finishes
  CHECK(log.back() == "a resumed");
  CHECK_FALSE(b.resume());
  CHECK(log.back() == "b again");
}

TEST_CASE("switch_to: a chain of hand-offs ends where the first fiber was resumed", "[switch_to]") {
  constexpr int n = 50;
  std::vector<ebb::fiber> fibers;
  fibers.reserve(n);
  std::vector<int> order;
  for (int i = 0; i < n; ++i)
    fibers.emplace_back([&, i] {
      order.push_back(i);
      if (i + 1 < n) ebb::this_fiber::switch_to(fibers[static_cast<std::size_t>(i + 1)]);
      order.push_back(100 + i);
    });
  CHECK(fibers[0].resume());  // the last one finished: back here, the first one still suspended
  REQUIRE(order.size() == n + 1);
  for (int i = 0; i < n; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  CHECK(order.back() == 100 + n - 1);
  CHECK(fibers[n - 1].done());
  // Everyone else is suspended inside its switch_to and resumable by anyone, in any order.
  for (int i = n - 2; i >= 0; --i) {
    CHECK_FALSE(fibers[static_cast<std::size_t>(i)].running());
    CHECK_FALSE(fibers[static_cast<std::size_t>(i)].resume());
    CHECK(order.back() == 100 + i);
  }
}

TEST_CASE("switch_to: an exception from the fiber that finishes comes out of the resume that started the chain",
          "[switch_to]") {
  ebb::fiber thrower([] { throw std::runtime_error("from the target"); });
  ebb::fiber a([&] { ebb::this_fiber::switch_to(thrower); });
  CHECK_THROWS_WITH(a.resume(), "from the target");
  CHECK(thrower.done());
  CHECK_FALSE(a.done());
  CHECK_FALSE(a.resume());
}

TEST_CASE("switch_to: misuse is a fiber_error", "[switch_to]") {
  ebb::fiber finished([] {});
  finished.resume();
  ebb::fiber empty;
  std::vector<ebb::fiber_errc> codes;
  ebb::fiber* self = nullptr;
  ebb::fiber outer;  // resumes `a`: running while a runs
  ebb::fiber a([&] {
    auto attempt = [&](auto& target) {
      try {
        ebb::this_fiber::switch_to(target);
        codes.push_back(static_cast<ebb::fiber_errc>(-1));
      } catch (const ebb::fiber_error& e) {
        codes.push_back(e.code());
      }
    };
    attempt(*self);
    attempt(finished);
    attempt(empty);
    attempt(outer);
  });
  self = &a;
  outer = ebb::fiber([&] { a.resume(); });
  outer.resume();
  CHECK(codes == std::vector<ebb::fiber_errc>{ebb::fiber_errc::switch_to_self, ebb::fiber_errc::already_finished,
                                              ebb::fiber_errc::empty_fiber, ebb::fiber_errc::already_running});
  CHECK(a.done());
#if EBB_CHECKS  // lean builds do not check for a current fiber
  CHECK_THROWS_WITH(ebb::this_fiber::switch_to(a), ebb_test::has_text("outside a fiber"));
#endif
}

TEST_CASE("switch_to: the switcher is published suspended only after its registers are saved",
          "[switch_to][threads]") {
  // Each round `a` switches to a fresh fiber that finishes at once (back to a's resumer). Two threads
  // take turns resuming `a` the moment it reads as suspended, so the next resume often runs on one
  // thread while the other is still finishing the previous resume — a crash if `a` were published
  // before its registers were saved.
  const long rounds = EBB_TSAN ? 2000 : test_support::under_memory_tool() ? 5000 : test_support::scaled(100000L);
  std::atomic<int> turn{0};
  long switches = 0;
  std::atomic<long> resumes[2] = {{0}, {0}};
  ebb::fiber a([&] {
    for (long i = 0; i < rounds; ++i) {
      ebb::fiber target([] {});
      turn.store(0, std::memory_order_release);  // anyone may take `a` once it reads as suspended
      ebb::this_fiber::switch_to(target);
      ++switches;
      // `a` was published when `target` started, so it may be back before `target` has ended on the
      // other thread, or before that thread's resume() is done with it: done() says when it is.
      while (!target.done()) std::this_thread::yield();
    }
  });
  auto worker = [&](int me) {
    while (!a.done()) {
      if (a.running()) continue;
      int expected = 0;
      if (!turn.compare_exchange_strong(expected, 1)) continue;
      if (a.running() || a.done()) {  // taken (or finished) since the first look
        turn.store(0);
        continue;
      }
      resumes[me].fetch_add(1, std::memory_order_relaxed);
      a.resume();
    }
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  CHECK(switches == rounds);
  CHECK(resumes[0].load() + resumes[1].load() == rounds + 1);
}

// ---- resume_with -----------------------------------------------------------------------------------

TEST_CASE("resume_with: fn runs on the fiber, at its suspension point, before it continues", "[resume_with]") {
  std::vector<std::string> log;
  bool fn_in_fiber = false;
  std::string fn_saw_name;
  ebb::fiber f(ebb::fiber_options().name("target"), [&] {
    log.push_back("before yield");
    ebb::this_fiber::yield();
    log.push_back("after yield");
  });
  auto fn = [&] {
    fn_in_fiber = ebb::this_fiber::in_fiber();
    fn_saw_name = ebb::this_fiber::name();
    log.push_back("fn");
  };
  SECTION("on a fiber that never ran: fn first, then its function") {
    CHECK(f.resume_with(fn));
    CHECK(log == std::vector<std::string>{"fn", "before yield"});
  }
  SECTION("on a suspended fiber: fn, then the code after its yield") {
    CHECK(f.resume());
    CHECK_FALSE(f.resume_with(fn));
    CHECK(log == std::vector<std::string>{"before yield", "fn", "after yield"});
  }
  CHECK(fn_in_fiber);
  CHECK(fn_saw_name == "target");
}

TEST_CASE("resume_with: an exception from fn is thrown into the fiber at its suspension point", "[resume_with]") {
  std::string caught;
  ebb::fiber f([&] {
    try {
      ebb::this_fiber::yield();
    } catch (const std::runtime_error& e) {
      caught = e.what();
      ebb::this_fiber::yield();
    }
  });
  f.resume();
  CHECK(f.resume_with([] { throw std::runtime_error("injected"); }));
  CHECK(caught == "injected");
  CHECK_FALSE(f.resume());

  SECTION("uncaught in the fiber, it comes out of resume_with") {
    ebb::fiber g([] { ebb::this_fiber::yield(); });
    g.resume();
    CHECK_THROWS_WITH(g.resume_with([] { throw std::runtime_error("through"); }), "through");
    CHECK(g.done());
  }
}

TEST_CASE("resume_with: misuse is a fiber_error, and the fiber is left as it was", "[resume_with]") {
  ebb::fiber done([] {});
  done.resume();
  bool ran = false;
  CHECK_THROWS_WITH(done.resume_with([&] { ran = true; }), ebb_test::has_text("has finished"));
  ebb::fiber empty;
  CHECK_THROWS_AS(empty.resume_with([&] { ran = true; }), ebb::fiber_error);
  CHECK_FALSE(ran);
}

TEST_CASE("resume_with: destruction's forced unwind still runs the destructors of a suspended fiber",
          "[resume_with][unwind]") {
  int destroyed = 0;
  struct guard {
    int& n;
    ~guard() { ++n; }
  };
  {
    ebb::fiber f([&] {
      guard g{destroyed};
      ebb::this_fiber::yield();
    });
    f.resume();
  }
  CHECK(destroyed == 1);
}

// ---- call_on_thread_stack --------------------------------------------------------------------------

TEST_CASE("call_on_thread_stack: fn runs on the thread's stack and its result comes back", "[thread_stack]") {
  const std::uintptr_t thread_stack = where_am_i();
  std::uintptr_t in_fiber_at = 0, in_call_at = 0;
  bool call_saw_fiber = true;
  int result = 0;
  std::string text;
  ebb::fiber f([&] {
    in_fiber_at = where_am_i();
    result = ebb::this_fiber::call_on_thread_stack([&] {
      in_call_at = where_am_i();
      call_saw_fiber = ebb::this_fiber::in_fiber();
      return 42;
    });
    text = ebb::this_fiber::call_on_thread_stack([] { return std::string(1000, 'x'); });
    int target = 0;
    int& ref = ebb::this_fiber::call_on_thread_stack([&]() -> int& { return target; });
    ref = 7;
    CHECK(target == 7);
    ebb::this_fiber::call_on_thread_stack([] {});
  });
  f.resume();
  CHECK(f.done());
  CHECK(result == 42);
  CHECK(text.size() == 1000);
  CHECK_FALSE(call_saw_fiber);
  // The thread's stack is within a few KiB below this frame; the fiber's is elsewhere entirely.
  const auto distance = [](std::uintptr_t x, std::uintptr_t y) { return x > y ? x - y : y - x; };
  CHECK(distance(in_call_at, thread_stack) < 64 * 1024);
  CHECK(distance(in_fiber_at, thread_stack) > 64 * 1024);
}

TEST_CASE("call_on_thread_stack: a deep recursion that the fiber's maximum could not hold", "[thread_stack]") {
  // 256 KiB fiber maximum; 1 MiB of recursion on the thread's 8 MiB stack.
  using small_fiber = ebb::basic_fiber<ebb::doubling_growth<2048, 256 * 1024>>;
  int depth_result = 0;
  small_fiber f([&] { depth_result = ebb::this_fiber::call_on_thread_stack([] { return test_support::go_deep(1 << 20, 0); }); });
  f.resume();
  CHECK(f.done());
  CHECK(f.stack_stats().peak < 256 * 1024);
  (void)depth_result;
}

TEST_CASE("call_on_thread_stack: exceptions, nesting, fibers resumed from inside, and plain calls outside",
          "[thread_stack]") {
  std::vector<std::string> log;
  ebb::fiber inner([&] {
    log.push_back("inner runs");
    ebb::this_fiber::yield();
  });
  ebb::fiber outer([&] {
    CHECK_THROWS_WITH(ebb::this_fiber::call_on_thread_stack([]() -> int { throw std::runtime_error("on thread"); }),
                      "on thread");
    ebb::this_fiber::call_on_thread_stack([&] {
      CHECK_FALSE(ebb::this_fiber::in_fiber());
#if EBB_CHECKS
      CHECK_THROWS_AS(ebb::this_fiber::yield(), ebb::fiber_error);  // no fiber to yield here
#endif
      inner.resume();  // a fiber resumed from the thread's stack comes back here
      log.push_back("after inner");
    });
    ebb::fiber nested([&] {
      const int v = ebb::this_fiber::call_on_thread_stack([] { return 5; });
      log.push_back("nested " + std::to_string(v));
    });
    nested.resume();
    ebb::this_fiber::yield();
    log.push_back("outer again");
  });
  CHECK(outer.resume());
  CHECK_FALSE(outer.resume());
  CHECK(log == std::vector<std::string>{"inner runs", "after inner", "nested 5", "outer again"});
  CHECK(ebb::this_fiber::call_on_thread_stack([] { return 3; }) == 3);  // outside any fiber: a plain call
}
