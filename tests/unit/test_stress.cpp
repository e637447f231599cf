// SPDX-License-Identifier: BSL-1.0
// Concurrency stress: registry passes on one thread while three others create, resume, hand on and
// destroy fibers; fibers resumed and destroyed on threads other than their creators; and the report
// for a fiber that swallows its own forced unwind. Compact fibers (two configurations) are in the mix
// wherever their contract allows: handed on between threads only before they first run, resumed and
// destroyed while suspended only on the thread they first ran on, shrunk by passes from any thread;
// and a test of their own: rings of compact fibers that switch_to one another and park with
// yield_then on three threads while a fourth runs registry passes.
//
// Nothing here asserts on timing: every check is a count or a checksum. The seed (printed; replay with
// EBB_RANDOM_SEED) fixes what each fiber does, not how the threads interleave.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "random_support.hpp"
#include "tool_support.hpp"

namespace {
using namespace test_support;

// What happened to one fiber, written by the fiber and by whichever thread holds it (one at a time,
// handed on under a mutex), read by the test thread after every thread is joined.
struct stress_record {
  std::uint64_t id = 0;
  fiber_kind kind = fiber_kind::default_policies;
  int creator = 0;            // thread_serial() of the creating thread
  int destroyer = 0;          // of the thread that destroyed it
  bool started = false;
  bool returned = false;      // the body ran to its end
  bool destroyed = false;
  int destroyed_count = 0;
  int body_dtors = 0;         // a sentinel at the bottom of the fiber's stack
  int callable_dtors = 0;
  int checksum_errors = 0;
  int damaged_frames = 0;
  int threads_seen = 0;       // distinct consecutive threads it ran on
  int last_thread = 0;
  int steps_done = 0;
};

struct counted_callable_token {
  stress_record* r;
  explicit counted_callable_token(stress_record* record) : r(record) {}
  counted_callable_token(counted_callable_token&& other) noexcept : r(other.r) { other.r = nullptr; }
  counted_callable_token(const counted_callable_token&) = delete;
  counted_callable_token& operator=(const counted_callable_token&) = delete;
  ~counted_callable_token() {
    if (r) ++r->callable_dtors;
  }
};
struct counted_sentinel {
  stress_record* r;
  ~counted_sentinel() { ++r->body_dtors; }
};

void note_thread(stress_record& r) {
  const int now = thread_serial();
  if (now != r.last_thread) {
    ++r.threads_seen;
    r.last_thread = now;
  }
}

// The body every stress fiber runs: `steps` rounds of a random descent (yielding at the bottom, now
// and then a shrink point from inside), a yield at the top, and a check of the containers on its stack.
void stress_body(stress_record* r, int steps, std::size_t max_dive, std::uint64_t seed) {
  counted_sentinel sentinel{r};
  r->started = true;
  note_thread(*r);
  stack_payload payload;
  payload.mutate(seed);
  std::uint64_t expected = payload.checksum();
  rng random(seed);
  for (int step = 0; step < steps; ++step) {
    const std::size_t bytes = random.chance(20) ? random.between(1024, max_dive) : random.between(0, 8 * 1024);
    r->damaged_frames += checked_dive(bytes, static_cast<int>(random.below(3)), random.chance(15), seed + step);
    note_thread(*r);
    if (payload.checksum() != expected) ++r->checksum_errors;
    ebb::this_fiber::yield();
    note_thread(*r);
    if (payload.checksum() != expected) ++r->checksum_errors;
    payload.mutate(seed);
    expected = payload.checksum();
    ++r->steps_done;
  }
  r->returned = true;
}

std::size_t max_dive_for(fiber_kind kind) {
  // Well below the fiber's maximum (compact_single's execution stack holds 256 KiB).
  return kind == fiber_kind::fixed_stack || kind == fiber_kind::compact_single ? 48 * 1024 : 200 * 1024;
}

std::unique_ptr<any_fiber> make_stress_fiber(stress_record& r, rng& random, std::uint64_t seed,
                                             bool with_compact = false) {
  r.kind = random_kind(random, with_compact);
  const int steps = static_cast<int>(random.between(2, 12));
  const std::size_t max_dive = max_dive_for(r.kind);
  ebb::fiber_options options;
  options.name("stress-" + std::to_string(r.id));
  return make_fiber(r.kind, options, [token = counted_callable_token(&r), rp = &r, steps, max_dive, seed] {
    stress_body(rp, steps, max_dive, seed);
  });
}

// Destroys the fiber on this thread and records it.
void destroy_here(std::unique_ptr<any_fiber>& fiber, stress_record& r) {
  fiber.reset();
  r.destroyer = thread_serial();
  r.destroyed = true;
  ++r.destroyed_count;
}

// Counts and checks that hold for every fiber once all are gone; returns a description of the first
// problem, or "".
std::string check_records(const std::vector<std::unique_ptr<stress_record>>& records, std::size_t created) {
  for (std::size_t i = 0; i < created; ++i) {
    const stress_record& r = *records[i];
    auto problem = [&](const char* what) {
      return "fiber " + std::to_string(r.id) + " (" + kind_name(r.kind) + "): " + what;
    };
    if (r.destroyed_count != 1) return problem("not destroyed exactly once");
    if (r.callable_dtors != 1) return problem("callable not destroyed exactly once");
    if (r.body_dtors != (r.started ? 1 : 0)) return problem("the body's sentinel not destroyed exactly once");
    if (r.checksum_errors) return problem("containers on its stack changed across a yield");
    if (r.damaged_frames) return problem("a frame's buffer changed (a live page was released)");
  }
  return {};
}

// A mutex-protected queue of fibers for one worker.
struct inbox {
  struct item {
    std::unique_ptr<any_fiber> fiber;
    stress_record* record = nullptr;
  };
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<item> items;

  void push(item it) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      items.push_back(std::move(it));
    }
    ready.notify_one();
  }
  bool pop(item& out) {
    std::unique_lock<std::mutex> lock(mutex);
    // A bounded wait: another worker may hand a fiber on at any time, or all may be done.
    ready.wait_for(lock, std::chrono::milliseconds(2), [&] { return !items.empty(); });
    if (items.empty()) return false;
    out = std::move(items.front());
    items.pop_front();
    return true;
  }
};

}  // namespace

TEST_CASE("a registry pass loops while three threads create, resume, hand on and destroy fibers",
          "[stress][threads][registry]") {
  const std::uint64_t seed = random_seed();
  WARN("stress: seed " << seed << " (replay with EBB_RANDOM_SEED=" << seed << ")");
  constexpr int workers = 3;
  const std::size_t limit = static_cast<std::size_t>(env_u64("EBB_STRESS_FIBERS", scaled(under_memory_tool() ? 150 : 600)));

  const std::size_t registry_before = ebb::stack_registry::size();
  const std::size_t budget_before = ebb::stack_budget_granted();

  std::vector<std::unique_ptr<stress_record>> records(limit);
  for (std::size_t i = 0; i < limit; ++i) {
    records[i] = std::make_unique<stress_record>();
    records[i]->id = i + 1;
  }
  std::atomic<std::size_t> created{0};
  std::atomic<std::size_t> gone{0};  // destroyed: the workers stop when all `limit` are
  std::atomic<long> resumes{0}, handoffs{0}, passes{0}, pass_shrinks{0}, unexpected{0};
  std::atomic<bool> stop_shrinker{false};
  inbox boxes[workers];

  std::thread shrinker([&] {
    rng random(seed ^ 0x5157);
    while (!stop_shrinker.load()) {
      switch (random.below(8)) {
        case 0: case 1: case 2: case 3:
          pass_shrinks += static_cast<long>(ebb::stack_registry::shrink_some(random.between(1, 64)).shrunk);
          break;
        case 4: case 5:
          pass_shrinks += static_cast<long>(ebb::stack_registry::shrink_all().shrunk);
          break;
        case 6:
          (void)ebb::stack_registry::profile();
          break;
        default:
          ebb::trim_stack_pool();
      }
      ++passes;
    }
  });

  auto worker = [&](int w) {
    rng random(seed + 1000 * static_cast<std::uint64_t>(w + 1));
    inbox& mine = boxes[w];
    inbox& next = boxes[(w + 1) % workers];
    for (;;) {
      inbox::item it;
      if (!mine.pop(it)) {
        std::size_t n = created.load();
        while (n < limit && !created.compare_exchange_weak(n, n + 1)) {
        }
        if (n >= limit) {
          if (gone.load() == limit) return;  // every fiber is gone: nothing can arrive any more
          continue;
        }
        stress_record& r = *records[n];
        r.creator = thread_serial();
        it.record = &r;
        it.fiber = make_stress_fiber(r, random, seed * 7919 + n, /*with_compact=*/true);
        if (random.chance(5)) {  // hand it on before it ever runs (a compact fiber too: it starts there)
          ++handoffs;
          next.push(std::move(it));
          continue;
        }
      }
      stress_record& r = *it.record;
      if (random.chance(4)) {  // destroy wherever it is: never started, or suspended mid-descent
        destroy_here(it.fiber, r);
        ++gone;
        continue;
      }
      bool more = true;
      for (int n = static_cast<int>(random.between(1, 3)); n > 0 && more; --n) {
        try {
          more = it.fiber->resume();
        } catch (...) {
          ++unexpected;
          more = false;
        }
        ++resumes;
      }
      if (!more || random.chance(6)) {
        destroy_here(it.fiber, r);  // a compact one on the thread it ran on, as it must be
        ++gone;
      } else if (is_compact(r.kind)) {
        mine.push(std::move(it));  // a compact fiber that ran stays on its thread
      } else {
        ++handoffs;
        next.push(std::move(it));  // the next resume is on another thread
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back(worker, w);
  for (auto& t : threads) t.join();
  stop_shrinker = true;
  shrinker.join();

  const std::size_t made = created.load();
  long returned = 0, destroyed_suspended = 0, never_started = 0, migrated = 0, compact = 0, compact_moved = 0;
  for (std::size_t i = 0; i < made; ++i) {
    const stress_record& r = *records[i];
    if (is_compact(r.kind)) {
      ++compact;
      if (r.threads_seen >= 2) ++compact_moved;
      if (r.started && r.destroyer != r.last_thread) ++compact_moved;
    }
    if (r.returned) ++returned;
    else if (r.started) ++destroyed_suspended;
    else ++never_started;
    if (r.threads_seen >= 2) ++migrated;
  }
  WARN("stress: " << made << " fibers (" << returned << " returned, " << destroyed_suspended
                  << " destroyed suspended, " << never_started << " destroyed unstarted), " << resumes.load()
                  << " resumes, " << handoffs.load() << " hand-offs between threads, " << migrated
                  << " fibers ran on 2+ threads; " << compact << " compact fibers; " << passes.load()
                  << " registry calls gave " << pass_shrinks.load() << " shrink points");
  CHECK(made == limit);
  CHECK(compact > 0);
  CHECK(compact_moved == 0);  // every compact fiber ran, and was destroyed if it ran, on one thread
  CHECK(gone.load() == limit);
  CHECK(unexpected.load() == 0);
  CHECK(returned + destroyed_suspended + never_started == static_cast<long>(made));  // no fiber lost
  CHECK(check_records(records, made) == "");
  CHECK(migrated > 0);
  CHECK(passes.load() > 0);
  // No double release and no leak: every fiber left the registry, every tripwire byte came back.
  CHECK(ebb::stack_registry::size() == registry_before);
  CHECK(ebb::stack_budget_granted() == budget_before);
}

TEST_CASE("fibers are resumed and destroyed on threads other than the ones that created them", "[stress][threads]") {
  const std::uint64_t seed = random_seed();
  WARN("stress: seed " << seed << " (replay with EBB_RANDOM_SEED=" << seed << ")");
  constexpr int creators = 3, finishers = 2;
  const int per_creator = under_memory_tool() ? 60 : 300;
  const std::size_t total = static_cast<std::size_t>(creators) * static_cast<std::size_t>(per_creator);
  const std::size_t registry_before = ebb::stack_registry::size();
  const std::size_t budget_before = ebb::stack_budget_granted();

  std::vector<std::unique_ptr<stress_record>> records(total);
  std::vector<std::unique_ptr<any_fiber>> fibers(total);
  for (std::size_t i = 0; i < total; ++i) {
    records[i] = std::make_unique<stress_record>();
    records[i]->id = i + 1;
  }

  // Phase 1: each creator makes its share; most start at once and park (some deep), some never run.
  std::vector<std::thread> threads;
  std::vector<int> creator_serials(creators);
  for (int c = 0; c < creators; ++c)
    threads.emplace_back([&, c] {
      creator_serials[static_cast<std::size_t>(c)] = thread_serial();
      rng random(seed + static_cast<std::uint64_t>(c) * 104729);
      for (int k = 0; k < per_creator; ++k) {
        const std::size_t i = static_cast<std::size_t>(c * per_creator + k);
        stress_record& r = *records[i];
        r.creator = thread_serial();
        fibers[i] = make_stress_fiber(r, random, seed * 31 + i, /*with_compact=*/true);
        // A compact fiber first runs on the thread that takes it in phase 2, and stays there.
        if (random.chance(80) && !is_compact(r.kind)) fibers[i]->resume();
      }
    });
  for (auto& t : threads) t.join();
  threads.clear();
  CHECK(ebb::stack_registry::size() == registry_before + total);
  ebb::stack_registry::shrink_all();  // from a third thread: this one

  // Phase 2: other threads take every fiber, resume it some more and destroy it: some run to their
  // end, the others are destroyed while suspended (unwound on the destroying thread).
  std::atomic<long> unexpected{0};
  for (int f = 0; f < finishers; ++f)
    threads.emplace_back([&, f] {
      rng random(seed ^ (0xF1u + static_cast<std::uint64_t>(f)));
      for (std::size_t i = static_cast<std::size_t>(f); i < total; i += finishers) {
        stress_record& r = *records[i];
        const bool run_to_end = random.chance(50);
        try {
          if (run_to_end) {
            while (fibers[i]->resume()) {
            }
          } else {
            for (int n = static_cast<int>(random.below(3)); n > 0 && fibers[i]->resume(); --n) {
            }
          }
        } catch (...) {
          ++unexpected;
        }
        destroy_here(fibers[i], r);
      }
    });
  for (auto& t : threads) t.join();

  long returned = 0, destroyed_suspended = 0, never_started = 0, by_other_thread = 0, ran_elsewhere = 0,
       compact_started = 0;
  for (std::size_t i = 0; i < total; ++i) {
    const stress_record& r = *records[i];
    if (is_compact(r.kind) && r.started) ++compact_started;
    if (r.returned) ++returned;
    else if (r.started) ++destroyed_suspended;
    else ++never_started;
    if (r.destroyer != r.creator) ++by_other_thread;
    if (r.started && r.last_thread != r.creator) ++ran_elsewhere;
  }
  WARN("stress: " << total << " fibers from " << creators << " creator threads, finished by " << finishers
                  << " others: " << returned << " returned, " << destroyed_suspended << " destroyed suspended, "
                  << never_started << " destroyed unstarted; " << compact_started
                  << " compact fibers first ran on a thread other than their creator");
  CHECK(unexpected.load() == 0);
  CHECK(compact_started > 0);
  CHECK(returned + destroyed_suspended + never_started == static_cast<long>(total));
  CHECK(by_other_thread == static_cast<long>(total));
  CHECK(ran_elsewhere > 0);
  CHECK(check_records(records, total) == "");
  CHECK(ebb::stack_registry::size() == registry_before);
  CHECK(ebb::stack_budget_granted() == budget_before);
}

// ---- a forced unwind swallowed by catch (...) ------------------------------------------------------

namespace {
volatile bool keep_swallowing = true;  // never cleared; the compiler cannot prove the loop endless

__attribute__((noinline)) void swallow_deep(int levels) {
  char frame[512];
  __asm__ volatile("" : : "r"(frame) : "memory");
  if (levels > 0) {
    swallow_deep(levels - 1);
  } else {
    while (keep_swallowing) {
      try {
        ebb::this_fiber::yield();
      } catch (...) {
        // swallows everything, ebb's forced unwind included, and yields again
      }
    }
  }
  __asm__ volatile("" : : "r"(frame) : "memory");
}
}  // namespace

TEST_CASE("child: forced unwind swallowed then a yield", "[.child]") {
  {
    ebb::fiber f(ebb::fiber_options().name("stubborn"), [] {
      for (;;) {
        try {
          ebb::this_fiber::yield();
        } catch (...) {
        }
      }
    });
    f.resume();
  }  // destroyed while suspended: the unwind is caught and the fiber yields again
  std::fputs("child: still running after the fiber was destroyed\n", stderr);
  std::_Exit(3);
}

TEST_CASE("child: forced unwind swallowed deep in a migrated fiber", "[.child]") {
  ebb::fiber f(ebb::fiber_options().name("stubborn-migrant"), [] { swallow_deep(20); });
  std::thread([&] { f.resume(); }).join();                 // runs and parks on one thread
  std::thread([&] { f = ebb::fiber(); }).join();            // destroyed on another
  std::fputs("child: still running after the fiber was destroyed\n", stderr);
  std::_Exit(3);
}

TEST_CASE("a forced unwind swallowed by catch (...) and followed by a yield is reported", "[stress][unwind]") {
  auto child = run_child_test("child: forced unwind swallowed then a yield");
  CHECK(child.signal == SIGABRT);
  CHECK_THAT(child.err, has_text("caught ebb's forced unwind") && has_text("'stubborn'"));
  CHECK_THAT(child.err, !has_text("still running"));

  auto migrant = run_child_test("child: forced unwind swallowed deep in a migrated fiber");
  INFO("the migrant child: " << (migrant.exited ? "exited with " : "ended by signal ")
                             << (migrant.exited ? migrant.exit_code : migrant.signal));
  CHECK(migrant.signal == SIGABRT);
  CHECK_THAT(migrant.err, has_text("caught ebb's forced unwind") && has_text("'stubborn-migrant'"));
  CHECK_THAT(migrant.err, !has_text("still running"));
}

// ---- compact fibers: switch_to rings and yield_then queues on three threads, passes from a fourth -----

namespace {
struct compact_error {
  std::size_t index;
};

// One thread's fibers and its ready queue (only that thread touches either).
struct compact_scheduler {
  std::vector<std::unique_ptr<any_fiber>> fibers;
  std::vector<std::unique_ptr<stress_record>> records;
  std::deque<std::size_t> ready;
  std::vector<bool> ended;  // finished or threw
  long switches = 0, then_runs = 0, on_top_runs = 0, destroyed_suspended = 0, thrown = 0;
};

// Round after round: a checked descent (yields and shrink points at its bottom now and then), then the
// fiber parks on its thread's ready queue by one of three ways: yield_then whose function queues it,
// switch_to a fiber taken off the queue (queued itself first: the scheduler reads the queue only after
// the resume that ran it returned, when it is suspended), or queued and then a plain yield. Some
// fibers throw at their end.
void compact_ring_body(compact_scheduler& sched, std::size_t self, int rounds, std::uint64_t seed) {
  stress_record& r = *sched.records[self];
  counted_sentinel sentinel{&r};
  r.started = true;
  note_thread(r);
  stack_payload payload;
  payload.mutate(seed);
  std::uint64_t expected = payload.checksum();
  rng random(seed);
  const std::size_t max_dive = max_dive_for(r.kind);
  for (int round = 0; round < rounds; ++round) {
    const std::size_t bytes = random.chance(10) ? random.between(1024, max_dive) : random.between(0, 6 * 1024);
    // A yield at the bottom of the descent parks it too: queued first (the scheduler reads the queue only
    // after the resume that runs this fiber returned).
    const int yields = static_cast<int>(random.below(2));
    if (yields) sched.ready.push_back(self);
    r.damaged_frames += checked_dive(bytes, yields, random.chance(10), seed + round);
    if (payload.checksum() != expected) ++r.checksum_errors;
    switch (random.below(3)) {
      case 0: {
        compact_scheduler* sp = &sched;
        ebb::this_fiber::yield_then([sp, self]() noexcept {
          ++sp->then_runs;
          sp->ready.push_back(self);  // (a failed allocation here would terminate: fine for a test)
        });
        break;
      }
      case 1:
        if (!sched.ready.empty()) {
          const std::size_t pick = static_cast<std::size_t>(random.below(sched.ready.size()));
          const std::size_t other = sched.ready[pick];
          sched.ready.erase(sched.ready.begin() + static_cast<std::ptrdiff_t>(pick));
          sched.ready.push_back(self);
          ++sched.switches;
          sched.fibers[other]->switch_to_this();
          break;
        }
        [[fallthrough]];
      default:
        sched.ready.push_back(self);
        ebb::this_fiber::yield();
    }
    note_thread(r);
    if (payload.checksum() != expected) ++r.checksum_errors;
    payload.mutate(seed);
    expected = payload.checksum();
    ++r.steps_done;
  }
  r.returned = true;
  if (seed % 5 == 0) throw compact_error{self};
}
}  // namespace

TEST_CASE("compact fibers switch_to one another and park with yield_then on three threads while a fourth runs "
          "registry passes",
          "[stress][threads][registry][compact]") {
  const std::uint64_t seed = random_seed();
  WARN("stress: seed " << seed << " (replay with EBB_RANDOM_SEED=" << seed << ")");
  constexpr int threads_n = 3;
  const std::size_t per_thread =
      static_cast<std::size_t>(env_u64("EBB_STRESS_FIBERS", scaled(under_memory_tool() ? 60 : 300)));
  const std::size_t registry_before = ebb::stack_registry::size();
  std::atomic<bool> stop{false};
  std::atomic<long> passes{0}, pass_shrinks{0}, unexpected{0};
  std::thread passer([&] {
    rng random(seed ^ 0xC0DE);
    while (!stop.load()) {
      if (random.chance(70))
        pass_shrinks += static_cast<long>(ebb::stack_registry::shrink_some(random.between(1, 64)).shrunk);
      else
        pass_shrinks += static_cast<long>(ebb::stack_registry::shrink_all().shrunk);
      ++passes;
    }
  });
  std::vector<compact_scheduler> scheds(threads_n);
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_n; ++t)
    threads.emplace_back([&, t] {
      compact_scheduler& sched = scheds[static_cast<std::size_t>(t)];
      rng random(seed + 7777 * static_cast<std::uint64_t>(t + 1));
      sched.records.resize(per_thread);
      sched.ended.assign(per_thread, false);
      for (std::size_t i = 0; i < per_thread; ++i) {
        sched.records[i] = std::make_unique<stress_record>();
        stress_record& r = *sched.records[i];
        r.id = static_cast<std::uint64_t>(t) * per_thread + i + 1;
        r.creator = thread_serial();
        r.kind = random.chance(50) ? fiber_kind::compact : fiber_kind::compact_single;
        const int rounds = static_cast<int>(random.between(1, 10));
        const std::uint64_t fiber_seed = seed * 131 + r.id;
        sched.fibers.push_back(make_fiber(r.kind, ebb::fiber_options().name("ring-" + std::to_string(r.id)),
                                          [token = counted_callable_token(&r), sp = &sched, i, rounds, fiber_seed] {
                                            compact_ring_body(*sp, i, rounds, fiber_seed);
                                          }));
      }
      for (std::size_t i = 0; i < per_thread; ++i) sched.ready.push_back(i);
      while (!sched.ready.empty()) {
        const std::size_t i = sched.ready.front();
        sched.ready.pop_front();
        if (random.chance(2)) {  // destroyed while queued: never ran, or suspended (a forced unwind)
          if (sched.records[i]->started) ++sched.destroyed_suspended;
          destroy_here(sched.fibers[i], *sched.records[i]);
          sched.ended[i] = true;
          continue;
        }
        try {
          if (random.chance(10))
            sched.fibers[i]->resume_with([&sched] { ++sched.on_top_runs; });
          else
            sched.fibers[i]->resume();
        } catch (const compact_error& e) {
          ++sched.thrown;
          if (!sched.records[e.index]->returned) ++unexpected;
        } catch (const std::exception& e) {
          if (unexpected++ == 0) std::fprintf(stderr, "compact ring: resume threw: %s\n", e.what());
        } catch (...) {
          ++unexpected;
        }
      }
      // Every fiber has ended or was destroyed: the rest go here, on their thread.
      for (std::size_t i = 0; i < per_thread; ++i) {
        if (!sched.fibers[i]) continue;
        if (!sched.fibers[i]->done() && unexpected++ == 0)
          std::fprintf(stderr, "compact ring: fiber %zu neither ended nor queued\n", i);
        destroy_here(sched.fibers[i], *sched.records[i]);
      }
    });
  for (auto& t : threads) t.join();
  stop = true;
  passer.join();

  long returned = 0, switches = 0, thens = 0, on_tops = 0, destroyed = 0, thrown = 0;
  std::vector<std::unique_ptr<stress_record>> all;
  for (compact_scheduler& sched : scheds) {
    switches += sched.switches;
    thens += sched.then_runs;
    on_tops += sched.on_top_runs;
    destroyed += sched.destroyed_suspended;
    thrown += sched.thrown;
    for (auto& r : sched.records) {
      if (r->returned) ++returned;
      if (r->threads_seen > 1 || (r->started && r->destroyer != r->creator)) ++unexpected;
      all.push_back(std::move(r));
    }
  }
  WARN("stress: " << all.size() << " compact fibers on " << threads_n << " threads: " << returned << " returned ("
                  << thrown << " then threw), " << destroyed << " destroyed suspended; " << switches << " switch_to, "
                  << thens << " yield_then, " << on_tops << " resume_with; " << passes.load()
                  << " registry calls gave " << pass_shrinks.load() << " shrink points");
  CHECK(unexpected.load() == 0);
  CHECK(check_records(all, all.size()) == "");
  CHECK(switches > 0);
  CHECK(thens > 0);
  CHECK(ebb::stack_registry::size() == registry_before);
}
