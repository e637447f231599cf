// SPDX-License-Identifier: BSL-1.0
// A registry pass's memory work in few system calls (os/linux/pass_memory.hpp): one residency scan
// per run of nearby stacks, answered from a snapshot exactly as the kernel would answer, and one
// release call per group of fibers, with exact accounting whichever way the pages go back.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include "deep_stack.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <random>
#include <vector>

#if defined(__linux__)
namespace os = ebb::runtime_v1::os;

namespace {
// A snapshot of [lo, hi), active on this thread while the object lives.
struct active_snapshot {
  os::residency_snapshot snapshot;
  active_snapshot(std::uintptr_t lo, std::uintptr_t hi) {
    os::pagemap_scan_arg arg{};
    arg.size = sizeof arg;
    arg.start = lo;
    arg.end = hi;
    arg.vec = reinterpret_cast<std::uint64_t>(snapshot.runs);
    arg.vec_len = os::residency_snapshot::max_runs;
    os::set_scan_filter(arg, true);
    const long n = ::ioctl(os::pagemap_fd(), os::pagemap_scan_request, &arg);
    REQUIRE(n >= 0);
    REQUIRE(arg.walk_end >= hi);
    snapshot.run_count = static_cast<std::size_t>(n);
    snapshot.spans[0] = {lo, hi};
    snapshot.span_count = 1;
    os::this_thread_residency_snapshot() = &snapshot;
  }
  ~active_snapshot() { os::this_thread_residency_snapshot() = nullptr; }
};

struct residency_answers {
  std::size_t resident = 0, held = 0;
  void* lowest = nullptr;
  std::vector<std::uintptr_t> present;  // pages, by for_each_present with max_pages = 3
  bool operator==(const residency_answers& o) const {
    return resident == o.resident && held == o.held && lowest == o.lowest && present == o.present;
  }
};

residency_answers ask(char* lo, char* hi) {
  residency_answers a;
  a.resident = os::resident_bytes(lo, hi);
  a.held = os::memory_held(lo, hi).bytes();
  a.lowest = os::lowest_resident(lo, hi);
  os::for_each_present(
      lo, hi,
      [&](std::uintptr_t s, std::uintptr_t e) {
        for (; s < e; s += os::page_size()) a.present.push_back(s);
        return true;
      },
      3);
  return a;
}

// Pages of the test's own, reserved for one test case and given back at its end.
struct scratch_pages {
  std::size_t bytes;
  char* base;
  explicit scratch_pages(std::size_t pages)
      : bytes(pages * os::page_size()), base(static_cast<char*>(os::reserve(0, bytes))) {
    REQUIRE(base != nullptr);
  }
  ~scratch_pages() { os::release(base, bytes); }
  scratch_pages(const scratch_pages&) = delete;
  scratch_pages& operator=(const scratch_pages&) = delete;
};

// Snapshots need PAGEMAP_SCAN; without it (an older kernel, Valgrind) passes ask per fiber.
bool without_pagemap_scan() {
  if (os::pagemap_fd() >= 0) return false;
  WARN("no PAGEMAP_SCAN on this kernel (or under Valgrind): passes ask per fiber, nothing to compare");
  return true;
}
}  // namespace

TEST_CASE("a residency snapshot answers every query as the kernel does", "[residency][pass]") {
  if (without_pagemap_scan()) return;
  const std::size_t page = os::page_size();
  const std::size_t pages = 256;
  scratch_pages scratch(pages);
  char* base = scratch.base;
  std::mt19937 random(20261205);
  for (int round = 0; round < 20; ++round) {
    os::decommit(base, base + pages * page);
    for (std::size_t i = 0; i < pages; ++i)
      if (random() % 3 == 0) base[i * page] = 1;
    for (std::size_t i = 0; i < 16; ++i)  // runs of touched pages, as stacks have
      if (random() % 2 == 0) base[(pages - 1 - i) * page] = 1;
    for (int query = 0; query < 20; ++query) {
      std::size_t a = random() % pages, b = random() % pages;
      if (a > b) std::swap(a, b);
      char* lo = base + a * page + (random() % 2 ? 0 : 100);  // unaligned bounds round out, as the kernel's
      char* hi = base + (b + 1) * page;
      INFO("round " << round << " pages [" << a << ", " << b << "]");
      const residency_answers kernel = ask(lo, hi);
      residency_answers replayed;
      {
        active_snapshot snapshot(reinterpret_cast<std::uintptr_t>(base), reinterpret_cast<std::uintptr_t>(base + pages * page));
        replayed = ask(lo, hi);
      }
      CHECK(kernel.resident == replayed.resident);
      CHECK(kernel.held == replayed.held);
      CHECK(kernel.lowest == replayed.lowest);
      CHECK(kernel.present == replayed.present);
    }
  }
}

TEST_CASE("a range the snapshot does not cover is asked of the kernel", "[residency][pass]") {
  if (without_pagemap_scan()) return;
  const std::size_t page = os::page_size();
  scratch_pages scratch(8);
  char* base = scratch.base;
  base[0] = 1;
  {
    active_snapshot snapshot(reinterpret_cast<std::uintptr_t>(base), reinterpret_cast<std::uintptr_t>(base + 4 * page));
    base[6 * page] = 1;  // after the snapshot, outside what it covers
    CHECK(os::resident_bytes(base, base + 8 * page) == 2 * page);
    CHECK(os::resident_bytes(base + 4 * page, base + 8 * page) == page);
  }
}

// A pass hands begin() its held fibers' spans in the order it walks its slots: for fibers created one
// after another that is descending addresses (a thread cache hands out a slab highest first).
TEST_CASE("a pass's snapshot merges nearby spans given in any order, one scan per cluster, and answers as the kernel does",
          "[residency][pass]") {
  if (without_pagemap_scan()) return;
  const std::size_t page = os::page_size();
  const std::size_t cluster_pages = 96, gap_pages = ((std::size_t{2} << 20) + page - 1) / page;  // 2 MiB apart
  scratch_pages scratch(2 * cluster_pages + gap_pages);
  const auto address = [&](std::size_t page_index) {
    return reinterpret_cast<std::uintptr_t>(scratch.base + page_index * page);
  };
  // 2 clusters of 16 spans of 5 pages, a guard-like page between neighbours; a few pages touched in each.
  std::vector<os::pass_memory::span> spans;
  for (std::size_t cluster = 0; cluster < 2; ++cluster)
    for (std::size_t i = 0; i < 16; ++i) {
      const std::size_t first = cluster * (cluster_pages + gap_pages) + i * 6;
      spans.push_back({address(first), address(first + 5)});
      scratch.base[(first + 4) * page] = 1;  // the "top page"
      if (i % 3 == 0) scratch.base[(first + 1) * page] = 1;
    }
  std::vector<residency_answers> kernel;
  for (const auto& s : spans) kernel.push_back(ask(reinterpret_cast<char*>(s.lo), reinterpret_cast<char*>(s.hi)));

  std::mt19937 random(20261206);
  for (int order = 0; order < 3; ++order) {
    std::vector<os::pass_memory::span> given = spans;
    if (order == 0) std::reverse(given.begin(), given.end());
    if (order == 1) std::shuffle(given.begin(), given.end(), random);
    INFO((order == 0 ? "descending" : order == 1 ? "shuffled" : "ascending"));
    // Ended however the case ends: a REQUIRE that fails must not leave this thread answering residency
    // queries from a freed snapshot.
    struct begun_pass_memory {
      std::unique_ptr<os::pass_memory> memory = std::make_unique<os::pass_memory>();
      ~begun_pass_memory() {
        if (os::this_thread_residency_snapshot() != nullptr) memory->end();
      }
    } begun;
    os::pass_memory* memory = begun.memory.get();
    memory->begin(given.data(), given.size());
    const os::residency_snapshot* snapshot = os::this_thread_residency_snapshot();
    REQUIRE(snapshot != nullptr);
    CHECK(memory->counters.residency_scans == 2);  // one per cluster: the clusters are 2 MiB apart
    REQUIRE(snapshot->span_count == 2);
    CHECK(snapshot->spans[0].lo == spans.front().lo);
    CHECK(snapshot->spans[0].hi == spans[15].hi);
    CHECK(snapshot->spans[1].lo == spans[16].lo);
    CHECK(snapshot->spans[1].hi == spans.back().hi);
    for (std::size_t i = 0; i < spans.size(); ++i) {
      INFO("span " << i);
      CHECK(ask(reinterpret_cast<char*>(spans[i].lo), reinterpret_cast<char*>(spans[i].hi)) == kernel[i]);
    }
    CHECK(memory->end() == 0);
    CHECK(os::this_thread_residency_snapshot() == nullptr);
  }
}

TEST_CASE("held_floor_known answers from a pass's snapshot only: where the held pages below the top begin", "[residency][pass]") {
  if (without_pagemap_scan()) return;
  const std::size_t page = os::page_size();
  scratch_pages scratch(16);
  char* base = scratch.base;
  char* top = base + 16 * page;
  for (std::size_t i = 11; i < 16; ++i) base[i * page] = 1;  // the top five pages, as a stack's
  base[3 * page] = 1;                                          // and one below a hole
  CHECK(os::held_floor_known(base, top) == nullptr);  // no snapshot: unknown, and no system call
  {
    active_snapshot snapshot(reinterpret_cast<std::uintptr_t>(base), reinterpret_cast<std::uintptr_t>(top));
    CHECK(os::held_floor_known(base, top) == base + 11 * page);
    CHECK(os::held_floor_known(base + 12 * page + 100, top) == base + 12 * page);  // bounds round out
    CHECK(os::held_floor_known(base, base + 10 * page) == base + 10 * page);       // top page empty: none
    CHECK(os::held_floor_known(base + 3 * page, base + 4 * page) == base + 3 * page);
    CHECK(os::held_floor_known(base, base + 20 * page) == nullptr);  // beyond the snapshot: unknown
  }
  for (std::size_t i = 4; i < 11; ++i) base[i * page] = 1;  // fill the hole
  {
    active_snapshot snapshot(reinterpret_cast<std::uintptr_t>(base), reinterpret_cast<std::uintptr_t>(top));
    CHECK(os::held_floor_known(base, top) == base + 3 * page);
  }
}
#endif

namespace {
template <class Fibers>
std::size_t committed_sum(Fibers& fibers) {
  std::size_t sum = 0;
  for (auto& f : fibers) sum += f.stack_stats().committed;
  return sum;
}
}  // namespace

TEST_CASE("a pass releases each group's ranges in one call, and counts exactly what went back", "[registry][pass]") {
  constexpr int count = 200;  // four groups of at most 64
  static constexpr std::size_t deep = test_support::scaled_to_default_max(128 * 1024);
  for (int batched = 1; batched >= 0; --batched) {
    INFO((batched ? "batched release" : "one madvise per range"));
#if defined(__linux__)
    auto& support = ebb::runtime_v1::os::process_batched_release.state;
    const bool available = ebb::runtime_v1::os::batched_release_available();
    if (batched && !available) continue;  // the kernel refuses it: the other round covers the fallback
    support.store(batched);
#endif
    // First a pass over what other tests left in this process (fibers, and a thread's execution
    // stacks, which every complete pass trims): what the measured pass releases is then ours alone.
    ebb::stack_registry::shrink_all();
    std::vector<ebb::fiber> fibers;
    for (int i = 0; i < count; ++i) {
      fibers.emplace_back([] {
        test_support::go_deep(deep, 0);
        for (;;) ebb::this_fiber::yield();
      });
      fibers.back().resume();  // went deep, parked shallow
    }
    const std::size_t before = committed_sum(fibers);
    const auto counters_before = ebb::runtime_v1::process_registry().memory.counters;
    const ebb::shrink_report report = ebb::stack_registry::shrink_all();
    const auto counters_after = ebb::runtime_v1::process_registry().memory.counters;
    const std::size_t after = committed_sum(fibers);
    REQUIRE(before > after);
    CHECK(report.released_bytes == before - after);
#if defined(__linux__)
    const auto calls = counters_after.release_calls - counters_before.release_calls;
    const auto ranges = counters_after.released_ranges - counters_before.released_ranges;
    CHECK(ranges >= static_cast<std::uint64_t>(count));
    if (batched) {
      // One call per group; a group is at most 64 fibers, and other tests' fibers may share one.
      CHECK(calls <= (ranges + 63) / 64 + ebb::runtime_v1::registry_state::shard_count);
    } else {
      CHECK(calls == ranges);
    }
    // Fibers that ran since the last pass: one scan per run of nearby stacks, not one per fiber.
    CHECK(counters_after.residency_scans - counters_before.residency_scans < static_cast<std::uint64_t>(count) / 4);
    // The time inside those calls is counted (the worker-pool benchmark splits a pass with it): every
    // call takes at least one clock tick of a monotonic clock that counts nanoseconds.
    CHECK(counters_after.release_ns - counters_before.release_ns >= calls);
    if (counters_after.residency_scans != counters_before.residency_scans)
      CHECK(counters_after.scan_ns > counters_before.scan_ns);
    support.store(available ? 1 : 0);
#else
    (void)counters_before, (void)counters_after;
#endif
  }
}

namespace {
std::atomic<int> visits{0}, visits_of_s9{0};
void count_visit(ebb::runtime_v1::fiber_context& c) noexcept {
  ++visits;
  if (std::strcmp(c.name, "s9") == 0) ++visits_of_s9;
}
}  // namespace

TEST_CASE("a pass skips settled fibers without touching them, and looks again once they run", "[registry][pass]") {
  constexpr int count = 100;
  static constexpr std::size_t deep = test_support::scaled_to_default_max(64 * 1024);
  std::vector<ebb::fiber> fibers;
  std::vector<int> go_deep(count, 0);
  for (int i = 0; i < count; ++i) {
    fibers.emplace_back(ebb::fiber_options().name("s" + std::to_string(i)), [&go_deep, i] {
      for (;;) {
        if (go_deep[static_cast<std::size_t>(i)]) test_support::go_deep(deep, 0);
        ebb::this_fiber::yield();
      }
    });
    fibers.back().resume();
  }
  // Passes until one releases nothing: every fiber is at its fixed point then.
  for (int pass = 0; pass < 20 && ebb::stack_registry::shrink_all().released_bytes != 0; ++pass) {
  }
  ebb::stack_registry::shrink_all();  // the passes above may have left some not yet marked
  auto& registry = ebb::runtime_v1::process_registry();
  registry.visit_hook = &count_visit;
  visits = 0;
  const ebb::shrink_report idle = ebb::stack_registry::shrink_all();
  CHECK(visits == 0);  // no control block read, no claim, no fence
  CHECK(idle.visited >= static_cast<std::size_t>(count));
  CHECK(idle.shrunk >= static_cast<std::size_t>(count));
  CHECK(idle.released_bytes == 0);

  // One fiber runs (and goes deep): that one alone is visited, and its pages go back.
  go_deep[7] = 1;
  fibers[7].resume();
  go_deep[7] = 0;
  const std::size_t deep_committed = fibers[7].stack_stats().committed;
  visits = 0;
  const ebb::shrink_report after_run = ebb::stack_registry::shrink_all();
  CHECK(visits == 1);
  CHECK(after_run.released_bytes > 0);
  CHECK(fibers[7].stack_stats().committed < deep_committed);

  // A fiber resumed by switch_to (not resume()) is looked at again too.
  visits = 0;
  for (int pass = 0; pass < 20 && ebb::stack_registry::shrink_all().released_bytes != 0; ++pass) {
  }
  ebb::fiber hop([&fibers] { ebb::this_fiber::switch_to(fibers[9]); });
  hop.resume();  // runs fibers[9] once by a direct switch; it yields back to this thread
  visits_of_s9 = 0;
  ebb::stack_registry::shrink_all();
  CHECK(visits_of_s9 == 1);
  registry.visit_hook = nullptr;
}

namespace {
// Uses about `bytes` of stack in frames that touch only their lowest page: the pages between stay
// untouched, so the stack holds memory with holes in it.
TEST_REAL_STACK __attribute__((noinline)) int go_deep_sparsely(std::size_t bytes) {
  char frame[3 * 4096 + 512];
  frame[0] = static_cast<char>(bytes);
  test_support::keep(frame);
  const int result = bytes <= sizeof frame ? frame[0] : go_deep_sparsely(bytes - sizeof frame) + frame[0];
  test_support::keep(frame);
  return result;
}

// One registry pass, checked for exact accounting: what it says it released left these fibers.
template <class Fibers>
ebb::shrink_report checked_pass(Fibers& fibers) {
  const std::size_t before = committed_sum(fibers);
  const ebb::shrink_report report = ebb::stack_registry::shrink_all();
  CHECK(report.released_bytes == before - committed_sum(fibers));
  return report;
}

// Passes until one releases nothing, each checked for exact accounting; returns the residency scans
// they made.
template <class Fibers>
std::uint64_t passes_to_fixed_point(Fibers& fibers) {
  const auto scans_before = ebb::runtime_v1::process_registry().memory.counters.residency_scans;
  for (int pass = 2; pass < 20; ++pass) {
    INFO("pass " << pass);
    if (checked_pass(fibers).released_bytes == 0) break;
  }
  return ebb::runtime_v1::process_registry().memory.counters.residency_scans - scans_before;
}
}  // namespace

TEST_CASE("after the pass that measured them, passes release fibers' known-held bands without scanning, exactly",
          "[registry][pass]") {
  constexpr int count = 100;
  static constexpr std::size_t deep = test_support::scaled_to_default_max(256 * 1024);
  // What other tests left is brought to its fixed point first, so the scans counted below are ours.
  for (int pass = 0; pass < 20 && ebb::stack_registry::shrink_all().released_bytes != 0; ++pass) {
  }
  SECTION("stacks whose pages were all touched: one pass measures, the next ones ask nothing") {
    std::vector<ebb::fiber> fibers;
    for (int i = 0; i < count; ++i) {
      fibers.emplace_back([] {
        test_support::go_deep(deep, 0);
        for (;;) ebb::this_fiber::yield();
      });
      fibers.back().resume();  // went deep, parked shallow
    }
    (void)checked_pass(fibers);  // they ran: measured
    const std::uint64_t later_scans = passes_to_fixed_point(fibers);
#if defined(__linux__)
    if (os::pagemap_fd() >= 0) CHECK(later_scans == 0);  // before: one or more per pass
#endif
    (void)later_scans;
    // Run once more: the fiber touched pages again, so the next pass measures it again.
    for (auto& f : fibers) f.resume();
    const auto scans_before = ebb::runtime_v1::process_registry().memory.counters.residency_scans;
    ebb::stack_registry::shrink_all();
#if defined(__linux__)
    if (os::pagemap_fd() >= 0) CHECK(ebb::runtime_v1::process_registry().memory.counters.residency_scans > scans_before);
#endif
    (void)scans_before;
  }
  SECTION("stacks with untouched pages among their frames: the bands with holes are measured again") {
    std::vector<ebb::fiber> fibers;
    for (int i = 0; i < count; ++i) {
      fibers.emplace_back([] {
        go_deep_sparsely(deep);
        for (;;) ebb::this_fiber::yield();
      });
      fibers.back().resume();
    }
    const ebb::stack_stats stats = fibers.front().stack_stats();
    INFO("committed " << stats.committed << " of a peak of " << stats.peak);
    if (stats.committed >= stats.peak) WARN("every page was touched (stack probes?): no hole to measure");
    (void)checked_pass(fibers);
    (void)passes_to_fixed_point(fibers);  // each checked for exact accounting
  }
}
