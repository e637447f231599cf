// SPDX-License-Identifier: BSL-1.0
// stack_registry: shrink passes over every fiber of the process, incremental passes, profiles, and a
// pass racing with other threads that resume, yield and destroy fibers.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "deep_stack.hpp"

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
  CHECK(committed_after <= 20 * 2 * 4096);
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
