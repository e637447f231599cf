// SPDX-License-Identifier: BSL-1.0
// this_fiber::yield_then(f): a fiber hands itself to another thread as it suspends (Go's gopark), and
// that thread resumes it at once — the job-system pattern of a wait queue drained by workers.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "tool_support.hpp"

namespace {
// Which bouncing worker this thread is (-1: neither). Read through an opaque call: after a yield the
// fiber may be on another thread, and the compiler must not reuse a thread-local's address.
thread_local int bouncing_worker_id = -1;
__attribute__((noinline)) int current_worker() {
  __asm__ volatile("" ::: "memory");
  return bouncing_worker_id;
}
}  // namespace

TEST_CASE("yield_then: two threads bounce one fiber, each resuming it the moment the other hands it over",
          "[threads][handoff]") {
  // Each round the fiber suspends with yield_then, whose f puts it in the other worker's slot; that
  // worker spins on its slot and resumes it at once, racing with whatever the resumer still does.
  // Publishing before a plain yield() instead fails here: already_running in checked builds.
  // Fewer under the tools: a TSan switch costs tens of microseconds, Valgrind runs one thread at a time.
  const long rounds = EBB_TSAN ? 5000 : test_support::under_memory_tool() ? 20000 : test_support::scaled(1000000L);
  std::atomic<ebb::fiber*> slots[2] = {{nullptr}, {nullptr}};
  std::atomic<bool> finished{false}, give_up{false};
  std::atomic<long> resume_errors{0};
  long ran = 0, wrong_worker = 0, f_not_suspended = 0;
  ebb::fiber* self = nullptr;

  ebb::fiber f(ebb::fiber_options().name("bouncer"), [&] {
    std::map<long, long> on_stack;  // heap nodes point back into this stack, which must survive
    long i = 0;
    for (; i < rounds && !give_up.load(std::memory_order_relaxed); ++i) {
      if (current_worker() != static_cast<int>(i % 2)) ++wrong_worker;
      if (i % 1000 == 0) on_stack[i] = i * 3;
      ++ran;
      const int next = static_cast<int>((i + 1) % 2);
      ebb::this_fiber::yield_then([&slots, &f_not_suspended, next, self]() noexcept {
        // The resumer's bookkeeping is done: the fiber reads as suspended, this thread as off-fiber.
        if (self->running() || ebb::this_fiber::in_fiber()) ++f_not_suspended;
        slots[next].store(self, std::memory_order_release);
      });
    }
    long sum = 0;
    for (auto& [k, v] : on_stack) sum += v - 3 * k;
    if (sum != 0) ++wrong_worker;
  });
  self = &f;

  auto worker = [&](int me) {
    bouncing_worker_id = me;
    ebb::runtime_v1::spinner wait;
    while (!finished.load(std::memory_order_acquire)) {
      ebb::fiber* g = slots[me].exchange(nullptr, std::memory_order_acquire);
      if (g == nullptr) {
        wait.pause();
        if (wait.spins > 1000) wait.spins = 0;  // back to pausing after a few yields of the CPU
        continue;
      }
      wait.spins = 0;
#if EBB_HAS_EXCEPTIONS
      try {
        if (!g->resume()) finished.store(true, std::memory_order_release);
      } catch (const ebb::fiber_error&) {
        ++resume_errors;
        finished.store(true, std::memory_order_release);  // the fiber's fate is unknown: stop here
        give_up.store(true);
      }
#else
      if (!g->resume()) finished.store(true, std::memory_order_release);
#endif
    }
  };
  slots[0].store(&f);
  std::thread a(worker, 0), b(worker, 1);
  // A bound on the run, not a measurement: on a starved machine the fiber stops early. A million
  // rounds take about 11 s on an idle two-core machine here; with CI's other lane compiling beside
  // it, the bound ended most runs (it was 60 s, about a quarter of the test time of some stages). The
  // publish-before-yield mistake above failed within 30,000-150,000 rounds in five runs.
  const auto stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!finished.load() && std::chrono::steady_clock::now() < stop_at)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  give_up.store(true);
  a.join();
  b.join();

  CHECK(resume_errors == 0);
  CHECK(f_not_suspended == 0);
  CHECK(wrong_worker == 0);
  CHECK(ran > 0);
  if (resume_errors == 0) CHECK(f.done());
  if (ran < rounds) WARN("the bounce stopped early, after " << ran << " of " << rounds << " rounds");
}

TEST_CASE("yield_then: f runs after the suspension, before resume() returns, on the resumer's thread",
          "[handoff]") {
  std::thread::id resumer_thread;
  int order = 0, f_ran_at = 0, resume_returned_at = 0;
  ebb::fiber* self = nullptr;
  bool suspended_in_f = false, off_fiber_in_f = false;
  ebb::fiber f([&] {
    ebb::this_fiber::yield_then([&]() noexcept {
      f_ran_at = ++order;
      suspended_in_f = !self->running() && !self->done();
      off_fiber_in_f = !ebb::this_fiber::in_fiber();
      resumer_thread = std::this_thread::get_id();
    });
    ebb::this_fiber::yield_then([&]() noexcept { ++order; });
  });
  self = &f;
  CHECK(f.resume());
  resume_returned_at = ++order;
  CHECK(f_ran_at == 1);
  CHECK(resume_returned_at == 2);
  CHECK(suspended_in_f);
  CHECK(off_fiber_in_f);
  CHECK(resumer_thread == std::this_thread::get_id());
  CHECK(f.resume());
  CHECK(order == 3);
  CHECK_FALSE(f.resume());
}

TEST_CASE("yield_then: a wait queue drained by worker threads (the README's hand-off pattern)",
          "[threads][handoff]") {
  constexpr int fibers = 32, waits = 200, workers = 3;
  std::mutex mutex;
  std::deque<ebb::fiber*> ready;  // fibers that may run; a worker pops one and resumes it
  std::atomic<int> done{0};
  std::atomic<long> total{0};
  std::deque<ebb::fiber> pool;
  for (int i = 0; i < fibers; ++i) {
    pool.emplace_back();
    ebb::fiber* self = &pool.back();
    *self = ebb::fiber([&mutex, &ready, &total, self, i] {
      long mine = 0;
      for (int w = 0; w < waits; ++w) {
        mine += i;
        // Park and requeue in one step: the queue sees this fiber only once it is suspended.
        ebb::this_fiber::yield_then([&mutex, &ready, self]() noexcept {
          std::lock_guard<std::mutex> lock(mutex);
          ready.push_back(self);
        });
      }
      total += mine;
    });
    ready.push_back(self);
  }
  auto worker = [&] {
    while (done.load() < fibers) {
      ebb::fiber* f = nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (!ready.empty()) {
          f = ready.front();
          ready.pop_front();
        }
      }
      if (f == nullptr) {
        std::this_thread::yield();
        continue;
      }
      if (!f->resume()) ++done;  // after a true, the fiber may already be running elsewhere
    }
  };
  std::thread threads[workers];
  for (auto& t : threads) t = std::thread(worker);
  for (auto& t : threads) t.join();
  CHECK(done == fibers);
  CHECK(total == long(waits) * fibers * (fibers - 1) / 2);
}

#if EBB_CHECKS && EBB_HAS_EXCEPTIONS
TEST_CASE("publishing a fiber before a plain yield() is a race, reported as already_running", "[threads][handoff]") {
  // The pattern yield_then replaces: the fiber is reachable by another thread while it still runs.
  // Here that thread is made to try its resume inside the window, so the report is deterministic.
  std::atomic<int> phase{0};
  ebb::fiber_errc seen{};
  bool threw = false;
  ebb::fiber f(ebb::fiber_options().name("early bird"), [&] {
    phase = 1;  // "published": the other thread may resume it from now on
    while (phase.load() != 2) std::this_thread::yield();
    ebb::this_fiber::yield();
  });
  std::thread other([&] {
    while (phase.load() != 1) std::this_thread::yield();
    try {
      f.resume();
    } catch (const ebb::fiber_error& e) {
      threw = true;
      seen = e.code();
    }
    phase = 2;
  });
  CHECK(f.resume());
  other.join();
  CHECK(threw);
  CHECK(seen == ebb::fiber_errc::already_running);
  CHECK_FALSE(f.resume());
}
#endif
