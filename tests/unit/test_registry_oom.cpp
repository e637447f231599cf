// SPDX-License-Identifier: BSL-1.0
// Running out of memory during a registry pass or a profile must not leave a shard's spin lock or a
// fiber's claim behind: every later registration, destruction and resume on that shard would spin
// forever. This binary's operator new fails on request (the Nth allocation of the asking thread).
// Also here, because it needs that operator new: a fiber whose name cannot be copied.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "deep_stack.hpp"
#include "tool_support.hpp"

// Sanitizers bring their own operator new, and mixing theirs with ours would be reported as a
// mismatch; Valgrind replaces ours. The property tested here does not depend on them.
#if !EBB_ASAN && !EBB_TSAN
namespace {
thread_local long allocations_until_failure = 0;  // > 0: the allocation that brings it to 0 throws
}  // namespace

// A replacement pair over malloc and free; g++ cannot tell that these two belong together.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t bytes) {
  if (allocations_until_failure > 0 && --allocations_until_failure == 0) throw std::bad_alloc();
  if (void* p = std::malloc(bytes != 0 ? bytes : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {
// Nothing of the registry is held: no shard locked, no fiber claimed.
int held_locks() {
  int held = 0;
  for (auto& shard : ebb::runtime_v1::process_registry().shards) held += shard.locked.load() ? 1 : 0;
  return held;
}
int held_claims() {
  int held = 0;
  for (auto& shard : ebb::runtime_v1::process_registry().shards) {
    shard.lock();
    shard.for_each([&](ebb::runtime_v1::fiber_context& c) { held += c.inspecting.load() != ebb::runtime_v1::mark_free ? 1 : 0; });
    shard.unlock();
  }
  return held;
}
}  // namespace

TEST_CASE("an allocation failure during profile() or a shrink pass leaves nothing locked or claimed",
          "[registry][oom]") {
  if (test_support::under_memory_tool()) {  // Valgrind replaces operator new, ours included
    WARN("skipped: under Valgrind the failing operator new is not called");
    return;
  }
  // Fibers of several sizes, so a profile has several map entries to allocate.
  std::vector<ebb::fiber> fibers;
  for (int i = 0; i < 150; ++i) {
    fibers.emplace_back([i] {
      for (;;) {
        test_support::go_deep(static_cast<std::size_t>(i % 3) * 12 * 1024 + 1024);
        ebb::this_fiber::yield();
      }
    });
    fibers.back().resume();
  }
  int failures = 0;
  for (long n = 1; n <= 6; ++n) {
    allocations_until_failure = n;
    try {
      (void)ebb::stack_registry::profile();
    } catch (const std::bad_alloc&) {
      ++failures;
    }
    allocations_until_failure = 0;
    REQUIRE(held_locks() == 0);  // before anything that would spin on one
    REQUIRE(held_claims() == 0);
  }
  CHECK(failures > 0);  // the injected failures did hit profile()'s allocations

  // A shrink pass allocates nothing at all.
  allocations_until_failure = 1;
  ebb::shrink_report report;
  bool threw = false;
  try {
    report = ebb::stack_registry::shrink_all();
    report.shrunk += ebb::stack_registry::shrink_some(40).shrunk;
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  const long left = allocations_until_failure;
  allocations_until_failure = 0;
  REQUIRE(held_locks() == 0);
  REQUIRE(held_claims() == 0);
  CHECK_FALSE(threw);
  CHECK(left == 1);
  CHECK(report.shrunk >= 150);

  // Registration, resume, destruction and a full profile all still work.
  for (auto& f : fibers) CHECK(f.resume());
  ebb::fiber fresh([] { ebb::this_fiber::yield(); });
  CHECK(fresh.resume());
  const auto profile = ebb::stack_registry::profile();
  CHECK(profile.fibers >= 151);
  std::size_t by_size = 0;
  for (auto& [size, n] : profile.by_size) by_size += n;
  CHECK(by_size == profile.fibers);
  fibers.clear();
}

// The copy of a fiber's name is ebb's own allocation: try_create reports its failure as out_of_memory,
// the constructor lets std::bad_alloc through, and in both cases nothing is left allocated or
// registered.
TEST_CASE("a fiber whose name cannot be copied is refused and leaves nothing behind", "[try_create][oom]") {
  if (test_support::under_memory_tool()) {
    WARN("skipped: under Valgrind the failing operator new is not called");
    return;
  }
  const std::string name = "a name longer than any short-string buffer";
  { ebb::fiber warm(ebb::fiber_options().name(name), [] {}); }  // pools and caches warmed up
  const std::size_t fibers_before = ebb::stack_registry::profile().fibers;
  bool ran = false;
  const ebb::fiber_options options = ebb::fiber_options().name(name);  // its own copy made beforehand

  ebb::create_error why;
  allocations_until_failure = 1;
  auto refused = ebb::fiber::try_create(options, [&ran] { ran = true; }, why);
  const long left = allocations_until_failure;
  allocations_until_failure = 0;
  CHECK_FALSE(refused.has_value());
  CHECK(left == 0);  // the failure hit an allocation of try_create's
  CHECK(why.code == ebb::fiber_errc::out_of_memory);
  CHECK(std::string(why.what()) == "ebb: cannot create fiber '" + name + "': cannot copy its name: std::bad_alloc");

  bool threw = false;
  allocations_until_failure = 1;
  try {
    ebb::fiber f(options, [&ran] { ran = true; });
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  allocations_until_failure = 0;
  CHECK(threw);
  CHECK_FALSE(ran);
  CHECK(ebb::stack_registry::profile().fibers == fibers_before);

  // And a fiber made now carries its name.
  ebb::fiber named(options, [&ran] { ran = true; });
  CHECK(named.name() == name);
  named.resume();
  CHECK(ran);
}
#endif
