// SPDX-License-Identifier: BSL-1.0
// A suspended in-place fiber may be resumed from another thread, one thread at a time.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "tool_support.hpp"

namespace {
// glibc declares pthread_self() (behind std::this_thread::get_id) `const`, so a compiler may reuse its
// result across a yield, after which the fiber can be on another thread: exactly the hazard the docs
// warn about. Asking through an opaque call is the remedy users need too.
__attribute__((noinline)) std::thread::id current_thread() {
  __asm__ volatile("" ::: "memory");
  return std::this_thread::get_id();
}
}  // namespace

TEST_CASE("a fiber suspended on one thread resumes on another", "[threads]") {
  std::thread::id first, second;
  int local_on_fiber_stack = 0;
  ebb::fiber f([&] {
    int counter = 41;  // lives on the fiber's stack and travels with it
    first = current_thread();
    ebb::this_fiber::yield();
    second = current_thread();
    local_on_fiber_stack = ++counter;
  });
  f.resume();
  std::thread([&] { CHECK_FALSE(f.resume()); }).join();
  CHECK(first == std::this_thread::get_id());
  CHECK(second != first);
  CHECK(local_on_fiber_stack == 42);
  CHECK(f.done());
}

TEST_CASE("fibers migrate among worker threads through a shared queue", "[threads]") {
  constexpr int fibers = 64, steps = 50, workers = 4;
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<ebb::fiber*> queue;
  std::vector<ebb::fiber> pool;
  std::vector<std::set<std::thread::id>> seen(fibers);
  std::atomic<int> finished{0}, wrong_thread_state{0};
  std::atomic<long> sum{0};

  for (int i = 0; i < fibers; ++i) {
    pool.emplace_back([i, &seen, &sum, &wrong_thread_state] {
      std::map<int, int> on_stack;  // heap nodes point back into the fiber's stack
      for (int s = 0; s < steps; ++s) {
        on_stack[s] = s * i;
        seen[i].insert(current_thread());
        // ebb's own thread state must follow the fiber to whichever thread runs it now
        if (!ebb::this_fiber::in_fiber()) ++wrong_thread_state;
        ebb::this_fiber::yield();
      }
      long total = 0;
      for (auto& [k, v] : on_stack) total += v;
      sum += total;
    });
  }
  for (auto& f : pool) queue.push_back(&f);

  auto worker = [&] {
    for (;;) {
      ebb::fiber* f;
      {
        std::unique_lock<std::mutex> lock(mutex);
        ready.wait(lock, [&] { return !queue.empty() || finished == fibers; });
        if (queue.empty()) return;
        f = queue.front();
        queue.pop_front();
      }
      if (ebb::this_fiber::in_fiber()) ++wrong_thread_state;  // Catch2's checks are not thread-safe
      bool more = f->resume();
      if (ebb::this_fiber::in_fiber()) ++wrong_thread_state;
      std::lock_guard<std::mutex> lock(mutex);
      if (more)
        queue.push_back(f);
      else
        ++finished;
      ready.notify_all();
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  CHECK(finished == fibers);
  CHECK(wrong_thread_state == 0);
  long expected = 0;
  for (int i = 0; i < fibers; ++i)
    for (int s = 0; s < steps; ++s) expected += s * i;
  CHECK(sum == expected);
}

TEST_CASE("every step on a new thread: fibers keep their stacks and ebb keeps its thread state",
          "[threads]") {
  constexpr int fibers = 16, steps = 20;
  std::vector<ebb::fiber> pool;
  std::vector<std::set<int>> seen(fibers);
  std::vector<long> results(fibers, 0);
  for (int i = 0; i < fibers; ++i) {
    pool.emplace_back([i, &seen, &results] {
      std::map<int, long> on_stack;
      for (int s = 0; s < steps; ++s) {
        on_stack[s] = long(s) * i;
        seen[i].insert(test_support::thread_serial());
        ebb::this_fiber::yield();
        REQUIRE(ebb::this_fiber::in_fiber());
      }
      for (auto& [k, v] : on_stack) results[i] += v;
    });
  }
  for (int s = 0; s <= steps; ++s) {
    std::thread([&] {
      for (auto& f : pool) f.resume();
      CHECK_FALSE(ebb::this_fiber::in_fiber());
    }).join();
  }
  for (int i = 0; i < fibers; ++i) {
    CHECK(pool[i].done());
    CHECK(results[i] == long(i) * steps * (steps - 1) / 2);
    CHECK(seen[i].size() == static_cast<std::size_t>(steps));  // a different thread at every step
  }
}

#if EBB_CHECKS && EBB_HAS_EXCEPTIONS
TEST_CASE("resuming a fiber that runs on another thread is an error", "[threads][misuse]") {
  std::atomic<bool> started{false}, release{false};
  ebb::fiber f(ebb::fiber_options().name("busy"), [&] {
    started = true;
    while (!release) std::this_thread::yield();
  });
  std::thread runner([&] { f.resume(); });
  while (!started) std::this_thread::yield();
  try {
    f.resume();
    FAIL("no error");
  } catch (const ebb::fiber_error& e) {
    CHECK(e.code() == ebb::fiber_errc::already_running);
    CHECK_THAT(e.what(), has_text("busy") && has_text("already running"));
  }
  CHECK_THROWS_AS(f.shrink_stack(), ebb::fiber_error);
  CHECK_THROWS_AS(f.stack_stats(), ebb::fiber_error);
  release = true;
  runner.join();
  CHECK(f.done());
}
#endif
