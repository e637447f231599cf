// SPDX-License-Identifier: BSL-1.0
// Life cycle, options and misuse of ebb::fiber.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

// Built against the generated single header (CMake's EBB_TEST_SINGLE_HEADER): make sure it was that
// file, not include/ebb/ebb.hpp, that the suite just compiled.
#if defined(EBB_TEST_EXPECT_SINGLE_HEADER) && !defined(EBB_SINGLE_HEADER_EBB_HPP)
#error "the tests were to be built against single_include/ebb/ebb.hpp, but <ebb/ebb.hpp> came from elsewhere"
#endif

#include <string>
#include <utility>
#include <vector>

TEST_CASE("a fiber runs until it yields and continues where it left off", "[basics]") {
  std::vector<int> trace;
  ebb::fiber f([&] {
    trace.push_back(1);
    ebb::this_fiber::yield();
    trace.push_back(3);
    ebb::this_fiber::yield();
    trace.push_back(5);
  });
  CHECK(trace.empty());  // constructing does not run it
  CHECK(f.resume());
  trace.push_back(2);
  CHECK(f.resume());
  trace.push_back(4);
  CHECK_FALSE(f.done());
  CHECK_FALSE(f.resume());
  CHECK(f.done());
  CHECK(trace == std::vector<int>{1, 2, 3, 4, 5});
}

TEST_CASE("this_fiber knows whether it runs on a fiber, and its name", "[basics]") {
  CHECK_FALSE(ebb::this_fiber::in_fiber());
  bool inside = false;
  std::string name;
  ebb::fiber f(ebb::fiber_options().name("worker-7"), [&] {
    inside = ebb::this_fiber::in_fiber();
    name = ebb::this_fiber::name();
  });
  CHECK(f.name() == "worker-7");
  f.resume();
  CHECK(inside);
  CHECK(name == "worker-7");
  CHECK_FALSE(ebb::this_fiber::in_fiber());
}

TEST_CASE("fibers nest: a fiber resumes another and gets control back", "[basics]") {
  std::vector<std::string> trace;
  ebb::fiber outer([&] {
    ebb::fiber inner([&] {
      trace.push_back("inner 1");
      ebb::this_fiber::yield();  // back to outer, not to main
      trace.push_back("inner 2");
    });
    inner.resume();
    trace.push_back("outer after inner yielded");
    ebb::this_fiber::yield();  // back to main
    inner.resume();
    trace.push_back("outer done");
  });
  outer.resume();
  trace.push_back("main");
  outer.resume();
  CHECK(outer.done());
  CHECK(trace == std::vector<std::string>{"inner 1", "outer after inner yielded", "main", "inner 2",
                                          "outer done"});
}

TEST_CASE("fibers are move-only handles", "[basics]") {
  int steps = 0;
  ebb::fiber a([&] {
    ++steps;
    ebb::this_fiber::yield();
    ++steps;
  });
  a.resume();
  ebb::fiber b(std::move(a));
  CHECK_FALSE(static_cast<bool>(a));
  CHECK(static_cast<bool>(b));
  CHECK_FALSE(b.resume());
  CHECK(steps == 2);

  ebb::fiber c;
  c = std::move(b);
  CHECK(c.done());
  std::vector<ebb::fiber> many;
  for (int i = 0; i < 100; ++i) many.emplace_back([&] { ++steps; });
  for (auto& f : many) f.resume();
  CHECK(steps == 102);
}

TEST_CASE("the callable is destroyed exactly once, on the fiber or unrun", "[basics]") {
  struct counted {
    int* destroyed;
    explicit counted(int* d) : destroyed(d) {}
    counted(counted&& o) noexcept : destroyed(std::exchange(o.destroyed, nullptr)) {}
    ~counted() {
      if (destroyed) ++*destroyed;
    }
    void operator()() const {}
  };
  int destroyed = 0;
  {
    ebb::fiber never_run{counted(&destroyed)};
  }
  CHECK(destroyed == 1);
  {
    ebb::fiber run{counted(&destroyed)};
    run.resume();
    CHECK(destroyed == 2);  // destroyed on the fiber when it finished
  }
  CHECK(destroyed == 2);
}

TEST_CASE("run-time options clamp into the policy's bounds", "[basics][options]") {
  ebb::fiber f(ebb::fiber_options().initial_size(64 * 1024).max_size(256 * 1024), [] {});
  auto s = f.stack_stats();
  CHECK(s.size == 64 * 1024);
  CHECK(s.max_size == 256 * 1024);
  CHECK(s.reserved >= 256 * 1024);

  ebb::fiber tiny(ebb::fiber_options().initial_size(1).max_size(1), [] {});
  CHECK(tiny.stack_stats().size == ebb::default_min_stack);
  CHECK(tiny.stack_stats().max_size == ebb::default_min_stack);

  // Far above any default maximum (1 TiB; 1 GiB where size_t has 32 bits, and `1 << 40` would not fit).
  ebb::fiber huge(ebb::fiber_options().max_size(std::size_t(1) << (sizeof(std::size_t) >= 8 ? 40 : 30)), [] {});
  CHECK(huge.stack_stats().max_size == ebb::default_max_stack);
}

namespace {
// Out of line, so its 8 KiB frame really lies below the caller's.
__attribute__((noinline)) std::size_t remaining_below_a_big_frame() {
  char buffer[8192];
  __asm__ volatile("" : : "r"(buffer) : "memory");
  std::size_t left = ebb::this_fiber::remaining_stack();
  __asm__ volatile("" : : "r"(buffer) : "memory");
  return left;
}
}  // namespace

TEST_CASE("remaining_stack counts down as the fiber goes deeper", "[basics]") {
  std::size_t shallow = 0, deeper = 0;
  ebb::fiber f([&] {
    shallow = ebb::this_fiber::remaining_stack();
    deeper = remaining_below_a_big_frame();
  });
  f.resume();
  CHECK(shallow > 0);
  CHECK(shallow <= ebb::default_max_stack);
  CHECK(shallow - deeper >= 8000);  // the helper's 8 KiB frame, less what the caller had below
}

#if EBB_CHECKS && EBB_HAS_EXCEPTIONS
TEST_CASE("misuse is reported with fiber_error", "[basics][misuse]") {
  SECTION("resuming a finished fiber") {
    ebb::fiber f(ebb::fiber_options().name("done-job"), [] {});
    f.resume();
    try {
      f.resume();
      FAIL("no error");
    } catch (const ebb::fiber_error& e) {
      CHECK(e.code() == ebb::fiber_errc::already_finished);
      CHECK_THAT(e.what(), has_text("done-job") && has_text("finished"));
    }
  }
  SECTION("resuming a fiber from inside itself") {
    ebb::fiber* self = nullptr;
    ebb::fiber_errc code{};
    ebb::fiber f([&] {
      try {
        self->resume();
      } catch (const ebb::fiber_error& e) {
        code = e.code();
      }
    });
    self = &f;
    f.resume();
    CHECK(code == ebb::fiber_errc::already_running);
    CHECK(f.done());
  }
  SECTION("an empty fiber") {
    ebb::fiber empty;
    CHECK_THROWS_AS(empty.resume(), ebb::fiber_error);
    CHECK_THROWS_AS(empty.stack_stats(), ebb::fiber_error);
    CHECK_FALSE(empty.done());
    ebb::fiber source([] {});
    ebb::fiber target(std::move(source));
    try {
      source.resume();
      FAIL("no error");
    } catch (const ebb::fiber_error& e) {
      CHECK(e.code() == ebb::fiber_errc::empty_fiber);
      CHECK_THAT(e.what(), has_text("moved from"));
    }
  }
  SECTION("yield and friends outside a fiber") {
    CHECK_THROWS_AS(ebb::this_fiber::yield(), ebb::fiber_error);
    CHECK_THROWS_AS(ebb::this_fiber::stack_stats(), ebb::fiber_error);
    CHECK_THROWS_AS(ebb::this_fiber::shrink_stack(), ebb::fiber_error);
    try {
      ebb::this_fiber::yield();
    } catch (const ebb::fiber_error& e) {
      CHECK(e.code() == ebb::fiber_errc::outside_fiber);
    }
  }
  SECTION("shrinking a running fiber from outside") {
    ebb::fiber* self = nullptr;
    ebb::fiber_errc code{};
    ebb::fiber f([&] {
      try {
        self->shrink_stack();
      } catch (const ebb::fiber_error& e) {
        code = e.code();
      }
    });
    self = &f;
    f.resume();
    CHECK(code == ebb::fiber_errc::not_suspended);
  }
}
#endif
