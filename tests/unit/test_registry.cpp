// SPDX-License-Identifier: BSL-1.0
// stack_registry: shrink passes over every fiber of the process, incremental passes, profiles, and a
// pass racing with other threads that resume, yield and destroy fibers.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "deep_stack.hpp"
#include "tool_support.hpp"

namespace {
// Fibers that go `bytes` deep once, yielding at the bottom, then park shallow until told to finish.
std::vector<ebb::fiber> deep_then_parked(int count, std::size_t bytes) {
  std::vector<ebb::fiber> fibers;
  for (int i = 0; i < count; ++i)
    fibers.emplace_back([bytes] {
      test_support::go_deep(bytes);
      ebb::this_fiber::yield();
    });
  for (auto& f : fibers) {
    f.resume();  // at the bottom
    f.resume();  // parked at the top
  }
  return fibers;
}
}  // namespace

TEST_CASE("the registry knows every live fiber", "[registry]") {
  const std::size_t before = ebb::stack_registry::size();
  {
    std::vector<ebb::fiber> fibers;
    for (int i = 0; i < 10; ++i) fibers.emplace_back([] {});
    CHECK(ebb::stack_registry::size() == before + 10);
    fibers.resize(4);
    CHECK(ebb::stack_registry::size() == before + 4);
  }
  CHECK(ebb::stack_registry::size() == before);
}

TEST_CASE("shrink_all gives a shrink point to every suspended fiber", "[registry]") {
  auto fibers = deep_then_parked(20, 200 * 1024);
  std::size_t committed_before = 0;
  for (auto& f : fibers) committed_before += f.stack_stats().committed;

  auto profile = ebb::stack_registry::profile();
  CHECK(profile.fibers >= 20);
  CHECK(profile.by_size[256 * 1024] >= 20);

  // quarter_shrink: one halving per pass, 256 KiB -> 2 KiB in 7 passes.
  std::size_t released = 0;
  for (int pass = 0; pass < 7; ++pass) {
    auto report = ebb::stack_registry::shrink_all();
    CHECK(report.complete);
    CHECK(report.shrunk >= 20);
    released += report.released_bytes;
  }
  std::size_t committed_after = 0;
  for (auto& f : fibers) {
    auto s = f.stack_stats();
    CHECK(s.size == ebb::default_min_stack);
    CHECK(s.shrinks == 7);
    committed_after += s.committed;
  }
  CHECK(committed_after <= 20 * 2 * test_support::page());
  CHECK(committed_before - committed_after <= released);  // other tests' parked fibers may add some
  CHECK(ebb::stack_registry::profile().by_size[256 * 1024] == 0);
}

TEST_CASE("shrink_some spreads one pass over several calls", "[registry]") {
  auto fibers = deep_then_parked(30, 64 * 1024);
  ebb::stack_registry::shrink_all();  // finish any pass in progress; every fiber now halved once
  std::size_t visited = 0;
  int calls = 0;
  for (;;) {
    auto report = ebb::stack_registry::shrink_some(7);
    CHECK(report.visited <= 7);
    visited += report.visited;
    ++calls;
    if (report.complete) break;
    REQUIRE(calls < 1000);
  }
  CHECK(visited >= 30);
  CHECK(calls >= 30 / 7);
  for (auto& f : fibers) CHECK(f.stack_stats().shrinks == 2);  // exactly once per pass
}

TEST_CASE("a shrink pass races with threads that resume, yield and destroy fibers", "[registry][threads]") {
  constexpr int workers = 3, per_worker = 40, rounds = 60;
  std::atomic<bool> stop{false};
  std::atomic<long> checks_failed{0}, shrinks{0};
  std::thread shrinker([&] {
    while (!stop) shrinks += static_cast<long>(ebb::stack_registry::shrink_some(16).shrunk);
  });
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::vector<std::unique_ptr<ebb::fiber>> mine;
      // Keep going until the shrinker has given some fiber a shrink point (under load it may not
      // have run at all yet), within a generous bound.
      for (int round = 0; round < rounds || (shrinks.load() == 0 && round < 200000); ++round) {
        if (mine.size() < per_worker) {
          mine.push_back(std::make_unique<ebb::fiber>([&checks_failed, w, round] {
            std::map<int, int> on_stack;
            for (int step = 0;; ++step) {
              on_stack[step] = step * w + round;
              test_support::go_deep(static_cast<std::size_t>((step * 37 + w * 11) % 48) * 1024 + 2048);
              long sum = 0;
              for (auto& [k, v] : on_stack) sum += v - k * w;
              if (sum != static_cast<long>(on_stack.size()) * round) ++checks_failed;
            }
          }));
        }
        for (auto& f : mine) f->resume();
        if (round % 7 == 3) mine.erase(mine.begin(), mine.begin() + static_cast<long>(mine.size() / 3));
      }
    });
  }
  for (auto& t : threads) t.join();
  stop = true;
  shrinker.join();
  CHECK(checks_failed == 0);
  CHECK(shrinks > 0);
}

namespace {
// Goes `frames` KiB deep below the suspension point and checks every frame on the way back: a page
// released under a live frame reads back as zeros.
TEST_REAL_STACK __attribute__((noinline)) long checked_descent(int frames, std::atomic<long>& damaged) {
  char frame[1000];
  std::memset(frame, 0x5a ^ frames, sizeof frame);
  test_support::keep(frame);
  long below = frames > 0 ? checked_descent(frames - 1, damaged) : 0;
  test_support::keep(frame);
  if (frame[0] != static_cast<char>(0x5a ^ frames) || frame[999] != static_cast<char>(0x5a ^ frames)) ++damaged;
  return below + frame[500];
}
}  // namespace

TEST_CASE("shrink_stack() and stack_stats() from a monitoring thread while the owner resumes the fiber",
          "[registry][threads]") {
  // The owner resumes the fiber in a loop; each run goes 48 KiB below its suspension point. The
  // monitor shrinks and measures it from outside all the while: each call must either see it
  // suspended (and no resume may start until the call is done) or refuse with not_suspended.
  const int rounds = test_support::under_memory_tool() ? 3000 : test_support::scaled(100000);
  std::atomic<long> damaged{0}, refused{0}, shrunk{0}, measured{0}, bad_stats{0}, other_errors{0};
  std::atomic<bool> owner_done{false};
  ebb::fiber f(ebb::fiber_options().name("watched"), [&] {
    for (;;) {
      checked_descent(48, damaged);
      ebb::this_fiber::yield();
    }
  });
  std::thread monitor([&] {
    while (!owner_done.load()) {
#if EBB_HAS_EXCEPTIONS
      try {
        f.shrink_stack();
        ++shrunk;
      } catch (const ebb::fiber_error& e) {
        ++(e.code() == ebb::fiber_errc::not_suspended ? refused : other_errors);
      }
      try {
        const ebb::stack_stats s = f.stack_stats();
        if (s.used > s.peak || s.peak > s.size || s.size > s.max_size) ++bad_stats;
        ++measured;
      } catch (const ebb::fiber_error& e) {
        ++(e.code() == ebb::fiber_errc::not_suspended ? refused : other_errors);
      }
#endif
    }
  });
  // Until the monitor has both shrunk and measured the fiber a few times (under load it may not have
  // run at all yet), within a generous bound.
  for (int i = 0; damaged.load() == 0 && (i < rounds || ((shrunk < 50 || measured < 50) && i < 50 * rounds)); ++i) {
    f.resume();
    if (i % 256 == 0) std::this_thread::yield();  // let the monitor find it suspended now and then
  }
  owner_done = true;
  monitor.join();
  CHECK(damaged == 0);
  CHECK(bad_stats == 0);
  CHECK(other_errors == 0);
#if EBB_HAS_EXCEPTIONS
  CHECK(shrunk > 0);
  CHECK(measured > 0);
#endif
}

namespace {
// A pass that stops inside its first visit of one of the test's fibers until the test lets it go.
struct stalled_visit {
  static inline std::atomic<bool> blocking{false}, let_go{false}, held{false};
  static inline std::atomic<const char*> blocked_name{nullptr};
  static inline bool released_by_test = false;
  static inline const char* prefix = "stall-";
  static void arm(const char* name_prefix) {
    blocking = false;
    let_go = false;
    held = false;
    released_by_test = false;
    prefix = name_prefix;
    ebb::runtime_v1::process_registry().visit_hook = &hook;
  }
  static void disarm() { ebb::runtime_v1::process_registry().visit_hook = nullptr; }
  static bool wait_until_blocking() {
    for (int spins = 0; !blocking.load() && spins < 20000; ++spins)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return blocking.load();
  }
  // The names of the fibers held for a visit when the pass stalled: the group it was visiting.
  static inline const char* held_names[1024];
  static inline std::size_t held_count = 0;
  static void note_held_fibers() noexcept {
    held_count = 0;
    for (auto& shard : ebb::runtime_v1::process_registry().shards) {
      shard.lock();
      shard.for_each([](ebb::runtime_v1::fiber_context& f) {
        if (f.inspecting.load() == ebb::runtime_v1::mark_visiting && held_count < 1024) held_names[held_count++] = f.name;
      });
      shard.unlock();
    }
  }
  static bool is_held(const char* name) noexcept {
    for (std::size_t i = 0; i < held_count; ++i)
      if (std::strcmp(held_names[i], name) == 0) return true;
    return false;
  }
  static void hook(ebb::runtime_v1::fiber_context& c) noexcept {
    if (std::strncmp(c.name, prefix, std::strlen(prefix)) != 0 || held.exchange(true)) return;
    blocked_name = c.name;
    note_held_fibers();
    blocking = true;
    // A bound on the stall (a broken registry would otherwise deadlock the test), not a measurement.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!let_go.load() && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    released_by_test = let_go.load();
  }
};
}  // namespace

TEST_CASE("a resume waits for at most one group's visit, however many fibers a pass covers",
          "[registry][threads]") {
  // 300 fibers: more than one batch of claims. The pass stops inside the visit of one of them. At most
  // one group (64 fibers, detail/registry_shards.hpp) is held for the visit then; every fiber outside
  // it must still resume (and yield) before the test lets the pass go on.
  constexpr int count = 300;
  for (int pass = 0; pass < 3; ++pass) {  // shrink_all, profile, shrink_some
    INFO("pass kind " << pass);
    std::vector<ebb::fiber> fibers;
    std::vector<std::string> names;
    std::vector<int> resumes(count, 0);
    for (int i = 0; i < count; ++i) {
      names.push_back("stall-" + std::to_string(i));
      fibers.emplace_back(ebb::fiber_options().name(names.back()), [&resumes, i] {
        for (;;) {
          ++resumes[static_cast<std::size_t>(i)];
          ebb::this_fiber::yield();
        }
      });
      fibers.back().resume();
    }
    stalled_visit::arm("stall-");
    std::thread passer([pass] {
      if (pass == 0) ebb::stack_registry::shrink_all();
      if (pass == 1) ebb::stack_registry::profile();
      if (pass == 2) ebb::stack_registry::shrink_some(100000);
    });
    if (!stalled_visit::wait_until_blocking()) {
      stalled_visit::let_go = true;
      passer.join();
      stalled_visit::disarm();
      FAIL("the pass never visited a stall- fiber");
    }
    const std::string blocked = stalled_visit::blocked_name.load();
    const int held = static_cast<int>(stalled_visit::held_count);
    CHECK(stalled_visit::is_held(blocked.c_str()));
    CHECK(held >= 1);
    CHECK(held <= static_cast<int>(ebb::runtime_v1::visit_group_size));
    int resumed = 0;
    for (auto& f : fibers)
      if (!stalled_visit::is_held(std::string(f.name()).c_str())) {
        f.resume();
        ++resumed;
      }
    stalled_visit::let_go = true;
    passer.join();
    stalled_visit::disarm();
    CHECK(resumed == count - held);
    CHECK(stalled_visit::released_by_test);  // every resume completed while the pass was still in one group
    int twice = 0;
    for (int r : resumes) twice += r == 2;
    CHECK(twice == count - held);
  }
}

namespace {
// Like checked_descent, but waits at the bottom until `until` is set (within a bound).
TEST_REAL_STACK __attribute__((noinline)) long descent_and_wait(int frames, std::atomic<long>& damaged,
                                                                 std::atomic<bool>& deep, std::atomic<bool>& until) {
  char frame[1000];
  std::memset(frame, 0x3c ^ frames, sizeof frame);
  test_support::keep(frame);
  long below = 0;
  if (frames > 0) {
    below = descent_and_wait(frames - 1, damaged, deep, until);
  } else {
    deep = true;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!until.load() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  }
  test_support::keep(frame);
  if (frame[0] != static_cast<char>(0x3c ^ frames) || frame[999] != static_cast<char>(0x3c ^ frames)) ++damaged;
  return below + frame[500];
}
}  // namespace

TEST_CASE("an outside shrink_stack() that waited for a pass refuses a fiber resumed meanwhile",
          "[registry][threads]") {
  // A pass holds the fiber (stopped inside its visit); an outside shrink_stack() and a resume both
  // wait for it. When the pass lets go, the resume may win: the fiber then runs 64 KiB below the
  // stack pointer it was suspended at, and the waiting shrink must see that it runs, not release
  // pages under its frames. The scenario is set up by sequencing (sleeps only give the threads time
  // to reach their waits; if one does not, that round simply exercises less).
  constexpr int rounds = 12;
  std::atomic<long> damaged{0}, shrank_running{0}, refused{0}, shrank{0};
  std::atomic<bool> deep{false}, monitor_done{false};
  ebb::fiber f(ebb::fiber_options().name("contested"), [&] {
    for (;;) {
      descent_and_wait(64, damaged, deep, monitor_done);
      ebb::this_fiber::yield();
    }
  });
  f.resume();  // goes deep once (the monitor is "done": no wait), parks shallow
  for (int round = 0; round < rounds && damaged.load() == 0; ++round) {
    deep = false;
    monitor_done = false;
    std::atomic<bool> monitor_started{false}, owner_started{false};
    stalled_visit::arm("contested");
    std::thread passer([] { ebb::stack_registry::shrink_all(); });
    if (!stalled_visit::wait_until_blocking()) {
      stalled_visit::let_go = true;
      passer.join();
      stalled_visit::disarm();
      FAIL("the pass never visited the fiber");
    }
    std::thread monitor([&] {
      monitor_started = true;
#if EBB_HAS_EXCEPTIONS
      try {
        f.shrink_stack();  // waits: the pass holds the fiber
        ++(deep.load() ? shrank_running : shrank);
      } catch (const ebb::fiber_error& e) {
        if (e.code() == ebb::fiber_errc::not_suspended) ++refused;
      }
#else
      f.shrink_stack();
      ++(deep.load() ? shrank_running : shrank);
#endif
      monitor_done = true;
    });
    std::thread owner([&] {
      while (!monitor_started.load()) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      owner_started = true;
      f.resume();  // waits for the pass too, then runs the fiber down to its wait
    });
    while (!owner_started.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    stalled_visit::let_go = true;
    passer.join();
    monitor.join();
    owner.join();
    stalled_visit::disarm();
  }
  CHECK(damaged == 0);
  CHECK(shrank_running == 0);
  CHECK(refused + shrank > 0);
}

TEST_CASE("registry slots a thread kept for its next fibers come back when it exits", "[registry][threads]") {
  auto slots_ever_used = [] {
    std::size_t used = 0;
    for (auto& shard : ebb::runtime_v1::process_registry().shards) {
      shard.lock();
      used += shard.used;
      shard.unlock();
    }
    return used;
  };
  auto one_thread = [] {
    std::thread t([] {
      ebb::fiber f([] { ebb::this_fiber::yield(); });
      f.resume();
    });
    t.join();
  };
  for (int i = 0; i < 40; ++i) one_thread();  // every shard has had a thread and its cache
  const std::size_t before = slots_ever_used();
  for (int i = 0; i < 200; ++i) one_thread();
  // Each thread takes 16 empty slots at once. Lost at its exit, 200 threads would use 3200 more.
  CHECK(slots_ever_used() - before <= ebb::runtime_v1::registry_state::shard_count * ebb::runtime_v1::registry_slot_cache::capacity);
}
