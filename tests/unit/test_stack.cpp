// SPDX-License-Identifier: BSL-1.0
// Stack statistics against what the kernel reports, shrinking in place, and what a switch preserves.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cfenv>
#include <cstring>
#include <fstream>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <unordered_map>

#if !defined(_WIN32)
#include <sys/mman.h>
#endif

#include "deep_stack.hpp"
#include "tool_support.hpp"

namespace {

std::size_t rss_bytes() { return static_cast<std::size_t>(test_support::resident_anon_kib()) * 1024; }

using test_support::go_deep;

// The depths and sizes below are written for the 1 MiB default maximum of 64-bit targets. 32-bit
// targets default to 256 KiB (a 4 GiB address space), so these fibers ask for 1 MiB explicitly; a
// handful of 1 MiB reservations fit any address space. On 64-bit targets these are the defaults.
using mib_growth = ebb::doubling_growth<ebb::default_min_stack, 1024 * 1024>;
using mib_fiber = ebb::basic_fiber<mib_growth>;

}  // namespace

TEST_CASE("statistics follow the fiber down and match the kernel", "[stack][stats]") {
  ebb::trim_stack_pool();  // a reservation straight from the OS: nothing resident but what we touch
  mib_fiber f([] {
    go_deep(300 * 1024);
    ebb::this_fiber::yield();
  });
  auto fresh = f.stack_stats();
  CHECK(fresh.size == ebb::default_min_stack);
  CHECK(fresh.grows == 0);
  CHECK(fresh.committed <= 2 * test_support::page());  // a pooled stack keeps at most its top page
  CHECK(fresh.reserved >= ebb::default_max_stack + ebb::default_guard_size);

  f.resume();  // parked ~300 KiB deep
  auto deep = f.stack_stats();
  CHECK(deep.used >= 300 * 1024);
  CHECK(deep.peak >= deep.used);
  CHECK(deep.size >= deep.peak);
  CHECK(deep.size == 512 * 1024);
  CHECK(deep.grows == 8);  // 2 KiB doubled 8 times
  CHECK(deep.committed >= deep.used);
  CHECK(deep.committed <= deep.used + 3 * test_support::page());

  f.resume();  // back at the top: used small, peak remembers the depth
  auto parked = f.stack_stats();
  CHECK(parked.used < 4096);
  CHECK(parked.peak == deep.peak);
}

TEST_CASE("a reused stack's leftover pages count as committed until the first shrink point", "[stack][pool]") {
  ebb::trim_stack_pool();
  {
    // Goes 500 KiB deep and comes back without ever switching down there: ebb cannot see the depth
    // without a system call, so it does not pay one when the fiber is destroyed.
    mib_fiber deep_in_passing([] { test_support::go_deep(500 * 1024, 0); });
    deep_in_passing.resume();
  }
  mib_fiber reuse([] { ebb::this_fiber::yield(); });  // takes the same reservation from the cache
  reuse.resume();
  auto inherited = reuse.stack_stats();
  CHECK(inherited.committed >= 480 * 1024);  // honest: the memory is held, by this fiber now
  CHECK(inherited.size == ebb::default_min_stack);  // but it says nothing about this fiber's depth
  CHECK(inherited.peak < 4096);
  const std::size_t released = reuse.shrink_stack();
  CHECK(released >= 480 * 1024);
  CHECK(reuse.stack_stats().committed <= 2 * test_support::page());
}

TEST_CASE("a fiber seen deep releases its pages when destroyed, so its stack is pooled clean", "[stack][pool]") {
  ebb::trim_stack_pool();
  {
    mib_fiber deep([] { test_support::go_deep(500 * 1024); });  // yields at the bottom: seen deep
    deep.resume();
    deep.resume();
  }
  mib_fiber reuse([] { ebb::this_fiber::yield(); });
  reuse.resume();
  CHECK(reuse.stack_stats().committed <= 2 * test_support::page());
}

#if !defined(_WIN32)
// The reading the RSS checks below rely on. With /proc/self/status's RssAnon this fails on kernels
// whose RSS counters are batched per thread or per CPU (the readings lag by up to a batch of pages);
// this machine's kernel sums them, so there only the page-table walk's reading is shown exact.
TEST_CASE("the suite's resident-memory reading counts every page touched, one at a time", "[stack][tools]") {
  if (test_support::under_memory_tool() || test_support::emulated()) return;  // the tool's memory moves too
  const std::size_t page = test_support::page();
  constexpr std::size_t pages = 48;
  void* region = ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(region != MAP_FAILED);
  auto* bytes = static_cast<volatile char*>(region);
  // A first reading may fault in heap pages of its own (the stream's buffer), counted by every reading
  // after it: in CI's gcc-ubsan build that put all 48 readings a page off. Read once to settle them.
  (void)test_support::resident_anon_kib();
  const long before = test_support::resident_anon_kib();
  std::size_t exact = 0;
  for (std::size_t i = 0; i < pages; ++i) {
    bytes[i * page] = 1;
    if (test_support::resident_anon_kib() - before == static_cast<long>((i + 1) * page / 1024)) ++exact;
  }
  CHECK(exact == pages);
  ::munmap(region, pages * page);
}
#endif

TEST_CASE("shrinking a suspended fiber returns its pages to the OS", "[stack][shrink]") {
  ebb::basic_fiber<mib_growth, ebb::shrink_to_fit<>> f([] {
    go_deep(800 * 1024);
    ebb::this_fiber::yield();
  });
  f.resume();
  f.resume();  // deep once, now parked at the top
  const std::size_t committed_before = f.stack_stats().committed;
  const std::size_t rss_before = rss_bytes();
  REQUIRE(committed_before >= 800 * 1024);

  const std::size_t released = f.shrink_stack();
  const std::size_t rss_after = rss_bytes();
  auto after = f.stack_stats();
  CHECK(released >= 780 * 1024);
  CHECK(after.committed + released == committed_before);  // what it says it released is gone
  CHECK(after.committed <= 2 * test_support::page());
  // And the process really got smaller (less visibly under a memory tool or an emulator, whose own
  // allocations move RSS too: qemu-arm translating the shrink's code for the first time grew by about
  // 100 KiB between the two readings).
  CHECK(rss_before - rss_after >= (test_support::under_memory_tool() || test_support::emulated() ? 400 : 700) * 1024);
  CHECK(f.shrink_stack() == 0);                  // nothing left to give
}

TEST_CASE("containers on a fiber's stack survive growth and shrinking", "[stack][shrink]") {
  std::string report;
  mib_fiber f([&report] {
    std::map<int, std::string> ordered;
    std::list<int> linked;
    std::unordered_map<std::string, int> hashed;
    int captured = 7;
    std::function<int(int)> add = [&captured](int x) { return x + captured; };
    for (int i = 0; i < 100; ++i) {
      ordered[i] = std::to_string(i);
      linked.push_back(i);
      hashed[std::to_string(i)] = i;
    }
    go_deep(3 * 1024 * 1024 / 4);  // grows to 1 MiB, yields at the bottom
    ebb::this_fiber::yield();      // shrunk from outside while parked here
    long sum = 0;
    for (auto& [k, v] : ordered) sum += k + std::stoi(v);
    for (int v : linked) sum += v;
    for (auto& [k, v] : hashed) sum += v + static_cast<long>(k.size());
    report = std::to_string(sum) + "/" + std::to_string(add(35));
  });
  f.resume();
  f.resume();
  // Shrink until the size stops going down (not until a shrink releases nothing: with 64 KiB pages
  // the halvings below 64 KiB release no page).
  for (std::size_t size = 0; size != f.stack_stats().size;) {
    size = f.stack_stats().size;
    f.shrink_stack();
  }
  CHECK(f.stack_stats().size <= 16 * 1024);  // from 1 MiB (the frame above is larger under ASan)
  f.resume();
  CHECK(report == "19990/42");  // 2*4950 + 4950 + 4950 + 190 key characters, and 35 + 7
}

TEST_CASE("a fiber shrinks its own stack while it runs", "[stack][shrink]") {
  std::size_t released = 0;
  ebb::stack_stats before{}, after{};
  ebb::basic_fiber<mib_growth, ebb::shrink_to_fit<>> f([&] {
    go_deep(400 * 1024);
    before = ebb::this_fiber::stack_stats();
    released = ebb::this_fiber::shrink_stack();
    after = ebb::this_fiber::stack_stats();
    go_deep(64 * 1024);  // the stack still works below the released range
  });
  while (f.resume()) {
  }
  // All of the dive but the pages the running frames keep: the top one, the one below the stack
  // pointer and the rounding between (20 KiB with 4 KiB pages; three pages when pages are larger).
  const std::size_t kept = 3 * test_support::page() > 20 * 1024 ? 3 * test_support::page() : 20 * 1024;
  CHECK(released >= 400 * 1024 - kept);
  CHECK(after.committed < before.committed);
  CHECK(after.size < before.size);
}

// The rounding mode through <cfenv> on every CPU (MXCSR + x87, FPCR, FPSCR, frm), and the
// flush-to-zero bit where the FP control register has one (all but RISC-V).
TEST_CASE("the switch preserves each side's floating-point control", "[stack][switch]") {
  const int main_rounding = std::fegetround();
  const std::uint64_t main_csr = test_support::fp_control_register();
  int fiber_rounding_after_yield = -1;
  std::uint64_t fiber_csr_after_yield = 0;
  mib_fiber f([&] {
    std::fesetround(FE_UPWARD);
    test_support::set_fp_control_register(test_support::fp_control_register() | test_support::fp_flush_to_zero);
    ebb::this_fiber::yield();
    fiber_rounding_after_yield = std::fegetround();
    fiber_csr_after_yield = test_support::fp_control_register();
  });
  f.resume();
  CHECK(std::fegetround() == main_rounding);  // the fiber's settings did not leak out
  CHECK(test_support::fp_control_register() == main_csr);
  f.resume();
  CHECK(fiber_rounding_after_yield == FE_UPWARD);  // and they were restored for the fiber
  // Valgrind ignores flush-to-zero; RISC-V has none (fp_flush_to_zero == 0).
  if (test_support::fp_flush_to_zero != 0 && (!test_support::under_memory_tool() || EBB_ASAN || EBB_TSAN))
    CHECK((fiber_csr_after_yield & test_support::fp_flush_to_zero) != 0);
  CHECK(std::fegetround() == main_rounding);
}

// A new fiber starts with the floating-point control its creator had when it created it (the first
// frame stores the control words straight from the instructions, arch/x86_64_sysv.hpp; the resumer's
// settings at the first resume do not matter), on a pooled stack as on a fresh one.
TEST_CASE("a new fiber starts with its creator's floating-point control at creation", "[stack][switch]") {
  const int main_rounding = std::fegetround();
  const std::uint64_t main_csr = test_support::fp_control_register();
  for (int round = 0; round < 3; ++round) {  // the second and third on a pooled reservation
    std::fesetround(FE_DOWNWARD);
    test_support::set_fp_control_register(test_support::fp_control_register() | test_support::fp_flush_to_zero);
    const std::uint64_t created_csr = test_support::fp_control_register();
    int rounding_seen = -1;
    std::uint64_t csr_seen = 0;
    ebb::fiber f([&] {
      rounding_seen = std::fegetround();
      csr_seen = test_support::fp_control_register();
    });
    test_support::set_fp_control_register(main_csr);
    std::fesetround(FE_TOWARDZERO);  // the resumer's own settings, different from the creator's
    f.resume();
    CHECK(rounding_seen == FE_DOWNWARD);
    if (test_support::fp_flush_to_zero != 0 && (!test_support::under_memory_tool() || EBB_ASAN || EBB_TSAN))
      CHECK(csr_seen == created_csr);
    CHECK(std::fegetround() == FE_TOWARDZERO);  // and the fiber's did not leak out
    std::fesetround(main_rounding);
    test_support::set_fp_control_register(main_csr);
  }
}
