// SPDX-License-Identifier: BSL-1.0
// The FrameMapper contract (mappers/in_place.hpp): per-fiber mapper state, every hook at its moment
// (resume, suspend, finish, destroy, on every switch path), placement, and the accounting a mapper
// answers for (committed, shrink, release).
#include "ebb_catch.hpp"

#include <ebb/ebb.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace {

// Records every hook into its own per-fiber log, which it also copies to a shared one at destruction.
std::vector<std::string>* finished_logs = nullptr;

struct recording_mapper : ebb::in_place {
  std::string log;

  template <class A>
  ebb::mapper_refusal on_create(ebb::mapped_stack<A>& s) noexcept {
    log += "create ";
    return in_place::on_create(s);
  }
  void on_resume(const ebb::fiber_view&) noexcept { log += "resume "; }
  void on_suspend(const ebb::fiber_view&) noexcept { log += "suspend "; }
  void on_finish(const ebb::fiber_view&) noexcept { log += "finish "; }
  void on_destroy(const ebb::fiber_view& f) noexcept {
    log += "destroy";
    if (finished_logs) finished_logs->push_back(std::string(f.name()) + ": " + log);
  }
};

using recorded_fiber =
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>, recording_mapper>;

struct log_scope {
  std::vector<std::string> logs;
  log_scope() { finished_logs = &logs; }
  ~log_scope() { finished_logs = nullptr; }
};

}  // namespace

TEST_CASE("mappers: each fiber has its own mapper, told of every step of its life", "[mappers]") {
  log_scope scope;
  {
    recorded_fiber a(ebb::fiber_options().name("a"), [] {
      ebb::this_fiber::yield();
      ebb::this_fiber::yield();
    });
    recorded_fiber b(ebb::fiber_options().name("b"), [] {});
    a.resume();
    b.resume();
    while (a.resume()) {
    }
  }
  REQUIRE(scope.logs.size() == 2);
  CHECK(scope.logs[0] == "b: create resume finish destroy");
  CHECK(scope.logs[1] == "a: create resume suspend resume suspend resume finish destroy");
}

TEST_CASE("mappers: a fiber never started is destroyed without running or finishing", "[mappers]") {
  log_scope scope;
  { recorded_fiber f(ebb::fiber_options().name("idle"), [] {}); }
  REQUIRE(scope.logs.size() == 1);
  CHECK(scope.logs[0] == "idle: create destroy");
}

#if EBB_HAS_EXCEPTIONS
TEST_CASE("mappers: a suspended fiber unwound by its destruction is told it finished", "[mappers]") {
  log_scope scope;
  {
    recorded_fiber f(ebb::fiber_options().name("unwound"), [] { ebb::this_fiber::yield(); });
    f.resume();
  }
  REQUIRE(scope.logs.size() == 1);
  CHECK(scope.logs[0] == "unwound: create resume suspend resume finish destroy");
}
#endif

TEST_CASE("mappers: switch_to tells both fibers' mappers", "[mappers]") {
  log_scope scope;
  {
    recorded_fiber target(ebb::fiber_options().name("target"), [] { ebb::this_fiber::yield(); });
    recorded_fiber source(ebb::fiber_options().name("source"), [&target] { ebb::this_fiber::switch_to(target); });
    CHECK(source.resume());        // source switches to target, which yields back here
    CHECK_FALSE(source.resume());  // source continues after its switch_to and ends
    CHECK_FALSE(target.resume());
  }
  REQUIRE(scope.logs.size() == 2);
  CHECK(scope.logs[0] == "source: create resume suspend resume finish destroy");
  CHECK(scope.logs[1] == "target: create resume suspend resume finish destroy");
}

namespace {

// Keeps the top page of the reservation for itself and puts the fiber's control block below it; its
// accounting is its own: a fixed committed figure, and every shrink point recorded.
struct own_page_mapper : ebb::in_place {
  static constexpr std::uint64_t canary = 0x6562622d70616765ull;
  static std::size_t page() { return 4096; }

  static ebb::frame_placement place(const ebb::stack_region& region) noexcept {
    return {static_cast<char*>(region.top) - 4096, nullptr, nullptr};
  }
  template <class A>
  ebb::mapper_refusal on_create(ebb::mapped_stack<A>& s) noexcept {
    last = this;
    own = static_cast<char*>(s.region().top) - 4096;
    std::memcpy(own, &canary, sizeof canary);
    return in_place::on_create(s);
  }
  template <class A>
  std::size_t committed(ebb::mapped_stack<A>&) noexcept {
    return 12345;
  }
  // This mapper's shrink releases nothing, so the pages below the new size stay resident; in_place's
  // evidence would read them as depth and grow the size back at the next statistics (under ASan,
  // whose frames reach past 2 KiB, it did). It offers no evidence: sizes are then the policies' alone.
  template <class A>
  std::size_t seen_in_use(ebb::mapped_stack<A>&) noexcept {
    return 0;
  }
  template <class A>
  std::size_t shrink(ebb::mapped_stack<A>& s, const ebb::shrink_step& step) noexcept {
    steps.push_back(step);
    sizes_seen.push_back(s.size());
    return 777;
  }
  void on_destroy(const ebb::fiber_view&) noexcept {
    std::uint64_t seen = 0;
    std::memcpy(&seen, own, sizeof seen);
    canary_intact = seen == canary;
  }

  char* own = nullptr;
  std::vector<ebb::shrink_step> steps;
  std::vector<std::size_t> sizes_seen;
  static inline bool canary_intact = false;
  static inline own_page_mapper* last = nullptr;
};

using own_page_fiber =
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>, own_page_mapper>;

}  // namespace

TEST_CASE("mappers: placement decides where the control block and frames go", "[mappers]") {
  own_page_mapper::canary_intact = false;
  char* frame_address = nullptr;
  {
    own_page_fiber f([&] {
      char local = 0;
      frame_address = &local;
      __asm__ volatile("" : : "r"(&local) : "memory");
      ebb::this_fiber::yield();
    });
    f.resume();
    const ebb::stack_stats s = f.stack_stats();
    CHECK(s.committed == 12345);  // the mapper's figure, not the allocator's
    CHECK(frame_address != nullptr);
  }
  CHECK(own_page_mapper::canary_intact);  // nothing of ebb's was written into the mapper's page
}

TEST_CASE("mappers: a shrink point is carried out by the mapper, with the size the ShrinkPolicy chose",
          "[mappers]") {
  own_page_fiber f([&] {
    CHECK(ebb::this_fiber::shrink_stack() == 777);
    ebb::this_fiber::yield();
  });
  own_page_mapper& mapper = *own_page_mapper::last;
  f.resume();
  CHECK(f.shrink_stack() == 777);
  const ebb::stack_stats s = f.stack_stats();
  REQUIRE(mapper.steps.size() == 2);
  CHECK(mapper.steps[0].inside);
  CHECK_FALSE(mapper.steps[1].inside);
  CHECK(mapper.steps[1].new_size == s.size);       // the policy's choice, already applied
  CHECK(mapper.sizes_seen[1] == s.size);           // and visible through the view
  CHECK(mapper.steps[1].stack_pointer != nullptr);
  CHECK(static_cast<char*>(mapper.steps[1].stack_pointer) < static_cast<char*>(mapper.own));
  while (f.resume()) {
  }
}

namespace {
// How far above the reservation the control block is put: read through a volatile so that gcc 12 at
// -O1 does not follow the out-of-range pointer into the (never reached) code after the placement check
// and warn that it writes past the end of an object (-Wstringop-overflow).
volatile std::size_t misplacement = 4096;
struct misplacing_mapper : ebb::in_place {
  static ebb::frame_placement place(const ebb::stack_region& region) noexcept {
    return {static_cast<char*>(region.top) + misplacement, nullptr, nullptr};
  }
};
}  // namespace

TEST_CASE("child: a mapper places the control block outside the reservation", "[.child]") {
  ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::virtual_stack_allocator<>, misplacing_mapper>
      f(ebb::fiber_options().name("misplaced"), [] {});
  f.resume();
}

namespace {
struct template_resume_mapper : ebb::in_place {
  template <class A>
  void on_resume(ebb::mapped_stack<A>&) noexcept {}
};
}  // namespace

// switch_to reaches a mapper's on_resume through the ops table only when the mapper has its own; the
// trait that decides must see every way of having one (recording_mapper's is the tested path).
static_assert(ebb::detail::keeps_in_place_on_resume<ebb::in_place>::value, "in_place's own");
static_assert(ebb::detail::keeps_in_place_on_resume<own_page_mapper>::value, "derived, on_resume not hidden");
static_assert(!ebb::detail::keeps_in_place_on_resume<recording_mapper>::value, "its own, non-template");
static_assert(!ebb::detail::keeps_in_place_on_resume<template_resume_mapper>::value, "its own, a template");

TEST_CASE("mappers: a placement outside the reservation is refused with the fiber's name", "[mappers][reports]") {
  auto child = test_support::run_child_test("child: a mapper places the control block outside the reservation");
  CHECK(child.signal == SIGABRT);
  CHECK_THAT(child.err, ebb_test::has_text("cannot create fiber 'misplaced': the FrameMapper placed its control block"));
  CHECK_THAT(child.err, ebb_test::has_text("not a 64-byte aligned address inside the stack"));
}
