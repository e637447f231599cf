// SPDX-License-Identifier: BSL-1.0
// The reservation pool: what dead fibers leave in it, who cleans it, and thread exit in any order.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <signal.h>

#include "deep_stack.hpp"
#include "tool_support.hpp"

namespace {
namespace rt = ebb::runtime_v1;

// Bytes holding memory below the top page of every pooled reservation, in every thread's cache and in
// the process pool.
std::size_t pooled_dirty_bytes() {
  std::size_t bytes = 0;
  auto count = [&](const rt::pooled_reservation& r) {
    bytes += rt::os::resident_bytes(static_cast<char*>(r.base) + r.guard_bytes, r.top_page());
  };
  rt::for_each_thread_cache([&](const rt::reservation_cache& cache) {
    for (std::size_t i = 0; i < cache.count; ++i) count(cache.slots[i]);
  });
  rt::process_pool().for_each(count);
  return bytes;
}

constexpr int deep_fibers = 200;
constexpr std::size_t depth = test_support::scaled_to_default_max(400 * 1024);

// 200 fibers go 400 KiB deep and come back between two switches (no switch sees the depth), finish,
// and are destroyed together: 200 dirty reservations go to the pool.
void leave_deep_stacks_in_pool() {
  std::vector<ebb::fiber> fibers;
  fibers.reserve(deep_fibers);
  for (int i = 0; i < deep_fibers; ++i) {
    fibers.emplace_back([] { test_support::go_deep(depth, 0); });
    fibers.back().resume();
    REQUIRE(fibers.back().done());
  }
}

bool skip_rss_checks() { return test_support::under_memory_tool(); }
}  // namespace

TEST_CASE("pool: a registry pass cleans the stacks dead fibers left deep", "[pool]") {
  ebb::trim_stack_pool();
  leave_deep_stacks_in_pool();
  const std::size_t dirty = pooled_dirty_bytes();
  CHECK(dirty >= deep_fibers * (depth - test_support::scaled_to_default_max(64 * 1024)));  // the scenario: they were pooled dirty
  const long rss_before = test_support::resident_anon_kib();

  SECTION("shrink_all") {
    const ebb::shrink_report report = ebb::stack_registry::shrink_all();
    CHECK(report.released_bytes >= dirty);
  }
  SECTION("shrink_some, a pass in several calls") {
    for (int calls = 0; calls < 1000 && !ebb::stack_registry::shrink_some(8).complete; ++calls) {
    }
  }
  SECTION("trim_stack_pool") { ebb::trim_stack_pool(); }

  CHECK(pooled_dirty_bytes() == 0);  // no pooled reservation holds more than its top page
  if (!skip_rss_checks())
    CHECK(test_support::resident_anon_kib() <= rss_before - static_cast<long>(dirty / 1024) + 8 * 1024);
}

TEST_CASE("pool: a pass on one thread cleans the stacks in another thread's cache", "[pool][threads]") {
  ebb::trim_stack_pool();
  std::mutex m;
  std::condition_variable cv;
  int step = 0;
  std::size_t dirty_in_cache = 0;
  std::thread owner([&] {
    leave_deep_stacks_in_pool();  // the last 16 freed stay in this thread's cache
    rt::for_each_thread_cache([&](const rt::reservation_cache& cache) {
      if (&cache != &rt::this_thread_reservations()) return;
      for (std::size_t i = 0; i < cache.count; ++i)
        dirty_in_cache += rt::os::resident_bytes(static_cast<char*>(cache.slots[i].base) + cache.slots[i].guard_bytes,
                                                 cache.slots[i].top_page());
    });
    std::unique_lock<std::mutex> lock(m);
    step = 1;
    cv.notify_all();
    cv.wait(lock, [&] { return step == 2; });  // stays alive, cache and all, while the pass runs
  });
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return step == 1; });
  }
  CHECK(dirty_in_cache >= rt::reservation_pool::thread_cache_capacity * (depth - test_support::scaled_to_default_max(64 * 1024)));
  SECTION("shrink_all") { ebb::stack_registry::shrink_all(); }
  SECTION("trim_stack_pool") { ebb::trim_stack_pool(); }
  CHECK(pooled_dirty_bytes() == 0);
  {
    std::lock_guard<std::mutex> lock(m);
    step = 2;
  }
  cv.notify_all();
  owner.join();
}

// ---- thread exit in any order -----------------------------------------------------------------------

namespace {
std::atomic<int> owners_without_signal_stack{0};
std::mutex stacks_mutex;
std::vector<const void*> owned_stacks;  // an address inside each owned fiber's stack

// Constructed before the thread's first fiber, so destroyed after everything ebb sets up for the thread
// with thread_local destructors. (Function-local: a namespace-scope thread_local of a file that
// includes ebb would be initialized together with ebb's own, which come first in the file.)
struct fiber_owner {
  std::vector<ebb::fiber> fibers;
  ~fiber_owner() {
#if !defined(_WIN32)  // Windows has no signal stacks: exceptions run on the faulting stack
    stack_t current{};
    if (!fibers.empty() && ::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE))
      owners_without_signal_stack.fetch_add(1);
#endif
    fibers.clear();  // unwinds the suspended fibers and frees their stacks
  }
};
fiber_owner& owned_fibers() {
  thread_local fiber_owner owner;
  return owner;
}

void thread_owning_fibers() {
  fiber_owner& owner = owned_fibers();  // constructed here, first
  for (int i = 0; i < 8; ++i) {
    owner.fibers.emplace_back([] {
      char here = 0;
      {
        std::lock_guard<std::mutex> lock(stacks_mutex);
        owned_stacks.push_back(&here);
      }
      test_support::go_deep(64 * 1024);
    });
    owner.fibers.back().resume();  // parked 64 KiB deep
  }
}

bool in_process_pool(const void* p) {
  bool found = false;
  rt::process_pool().for_each([&](const rt::pooled_reservation& r) {
    const char* base = static_cast<const char*>(r.base);
    if (p >= base && p < base + r.guard_bytes + r.stack_bytes) found = true;
  });
  return found;
}
}  // namespace

TEST_CASE("pool: fibers owned by a thread_local constructed first come back at thread exit",
          "[pool][threads]") {
#if defined(__MINGW32__)
  WARN("skipped with MinGW-w64: its emulated TLS frees a thread_local object's storage before the "
       "object's destructor runs (tests/windows/emutls_probe.cpp shows it without ebb), so the owner this "
       "test needs would destroy its fibers from freed memory");
  return;
#endif
  ebb::trim_stack_pool();
  ebb::set_stack_pool_capacity(100000);
  owners_without_signal_stack.store(0);
  owned_stacks.clear();
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < 50; ++i) threads.emplace_back(thread_owning_fibers);
    for (auto& t : threads) t.join();
  }
  CHECK(ebb::stack_registry::size() == 0);
  CHECK(owners_without_signal_stack.load() == 0);  // the signal stack outlived the fibers' owner
  // Every stack went back to the process pool: none was left in a cache already gone (leaked).
  int lost = 0;
  for (const void* p : owned_stacks) lost += in_process_pool(p) ? 0 : 1;
  CHECK(owned_stacks.size() == 400);
  CHECK(lost == 0);
  ebb::set_stack_pool_capacity(rt::reservation_pool::default_capacity);
  ebb::trim_stack_pool();
}

// The thread cache has no lock on its owner's path: a cleaner holds it through the asymmetric
// handshake (reservation_pool.hpp). Owners creating and destroying fibers as fast as they can while
// another thread cleans and trims over and over: no reservation may be lost or handed out twice.
TEST_CASE("pool: owners and cleaners of the thread caches never hand a stack out twice", "[pool][threads]") {
  ebb::trim_stack_pool();
  std::atomic<bool> stop{false};
  std::atomic<int> owners_ready{0};
  std::atomic<long> fibers_run{0};
  std::vector<std::thread> owners;
  constexpr int owner_count = 2;
  for (int t = 0; t < owner_count; ++t) {
    owners.emplace_back([&] {
      owners_ready.fetch_add(1);
      long runs = 0;
      while (!stop.load(std::memory_order_relaxed) || runs < (EBB_TSAN ? 200 : 2000)) {
        // Several alive at once, so that the cache is both emptied and refilled.
        std::vector<ebb::fiber> batch;
        for (int i = 0; i < 8; ++i) {
          batch.emplace_back([] { test_support::go_deep(64 * 1024, 0); });  // pooled dirty
          batch.back().resume();
        }
        runs += static_cast<long>(batch.size());
      }
      fibers_run.fetch_add(runs);
    });
  }
  while (owners_ready.load() < owner_count) std::this_thread::yield();
  // Fewer under the tools: under TSan every fiber creation, destruction and munmap costs tens of
  // microseconds to milliseconds (shadow memory), and 20,000 passes took more than 10 minutes.
  const int passes = EBB_TSAN ? 300 : test_support::under_memory_tool() ? 2000 : 20000;
  for (int pass = 1; pass <= passes; ++pass) {  // each cleans every thread's cache
    if (pass % 8 == 0)
      ebb::stack_registry::shrink_all();
    else
      ebb::trim_stack_pool();
  }
  stop = true;
  for (auto& t : owners) t.join();
  CHECK(fibers_run.load() >= owner_count * (EBB_TSAN ? 200 : 2000));

  // Every pooled reservation once, nowhere twice.
  std::vector<void*> bases;
  rt::for_each_thread_cache([&](const rt::reservation_cache& cache) {
    for (std::size_t i = 0; i < cache.count; ++i) bases.push_back(cache.slots[i].base);
  });
  rt::process_pool().for_each([&](const rt::pooled_reservation& r) { bases.push_back(r.base); });
  std::sort(bases.begin(), bases.end());
  CHECK(std::adjacent_find(bases.begin(), bases.end()) == bases.end());
}

// The thread cache hands out the newest entry of the asked shape and fills the hole with its last
// entry (allocators/thread_stack_cache.hpp, take_from_cache, which copies field by field and skips the
// copy when the hole is the last entry): with two shapes interleaved, every reservation taken is of
// the shape asked for, none is handed out twice and none is lost.
TEST_CASE("pool: the thread cache with two shapes interleaved hands each reservation out once", "[pool]") {
  ebb::trim_stack_pool();
  const auto options_for = [](int shape) {
    // Guards that differ after rounding to pages, whatever the page size (64 KiB pages round 16 and
    // 32 KiB alike).
    return ebb::fiber_options().guard_size(ebb::default_guard_size + (shape ? 2 * test_support::page() : 0));
  };
  const auto pooled_bases = [] {
    std::vector<void*> bases;
    rt::for_each_thread_cache([&](const rt::reservation_cache& cache) {
      for (std::size_t i = 0; i < cache.count; ++i) bases.push_back(cache.slots[i].base);
    });
    rt::process_pool().for_each([&](const rt::pooled_reservation& r) { bases.push_back(r.base); });
    std::sort(bases.begin(), bases.end());
    return bases;
  };
  std::size_t reserved[2] = {0, 0};
  for (int shape = 0; shape < 2; ++shape) reserved[shape] = ebb::fiber(options_for(shape), [] {}).stack_stats().reserved;
  REQUIRE(reserved[0] != reserved[1]);
  for (int round = 0; round < 4; ++round) {
    const std::vector<void*> before = pooled_bases();
    CHECK(std::adjacent_find(before.begin(), before.end()) == before.end());
    std::vector<ebb::fiber> fibers;
    // Round 0 and 2: the shapes alternate; 1 and 3: one shape, then the other (holes mid-cache).
    for (int i = 0; i < 14; ++i) {
      const int shape = round % 2 ? (i < 7 ? 0 : 1) : i % 2;
      fibers.emplace_back(options_for(shape), [] {});
      CHECK(fibers.back().stack_stats().reserved == reserved[shape]);
    }
    for (auto& f : fibers) f.resume();
    const std::vector<void*> during = pooled_bases();
    CHECK(std::adjacent_find(during.begin(), during.end()) == during.end());
    fibers.clear();
    const std::vector<void*> after = pooled_bases();
    CHECK(std::adjacent_find(after.begin(), after.end()) == after.end());
    for (void* base : before) CHECK(std::binary_search(after.begin(), after.end(), base));  // none lost
  }
  ebb::trim_stack_pool();
}
