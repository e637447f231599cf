// SPDX-License-Identifier: BSL-1.0
// Many suspended fibers: what each one costs in memory, measured by the kernel.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "tool_support.hpp"

namespace {
using test_support::status_kib;
long mappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(maps, line)) ++n;
  return n;
}
}  // namespace

TEST_CASE("100,000 suspended default fibers: RSS and page tables per fiber", "[scale]") {
  // Emulated: fewer (EBB_TEST_SCALE). Under AddressSanitizer a quarter: its figures are only
  // reported there (below), and 100,000 took 125 s of a fresh-chroot run's gcc-asan-ubsan stage
  // against 15-25 s natively.
  const long count = test_support::scaled(EBB_ASAN ? 25000L : 100000L);
  if (EBB_TSAN) {
    WARN("skipped: ThreadSanitizer tracks each fiber like a thread and stops at 8128 of them");
    return;
  }
  if (test_support::under_memory_tool() && !EBB_ASAN) {
    WARN("skipped under Valgrind: 100,000 fibers would take minutes there");
    return;
  }
  ebb::trim_stack_pool();
  const long rss_before = status_kib("VmRSS:"), pte_before = status_kib("VmPTE:");
  const long maps_before = mappings();
  std::vector<ebb::fiber> fibers;
  fibers.reserve(count);
  for (long i = 0; i < count; ++i) {
    fibers.emplace_back([] {
      for (;;) ebb::this_fiber::yield();
    });
    fibers.back().resume();
  }
  const double rss = (status_kib("VmRSS:") - rss_before) * 1024.0 / count;
  const double pte = (status_kib("VmPTE:") - pte_before) * 1024.0 / count;
  const long new_mappings = mappings() - maps_before;
  WARN("per suspended fiber: RSS " << rss << " B, page tables " << pte << " B; mappings added: " << new_mappings);
  // A tool's shadow memory is not ebb's; nor is qemu-user's bookkeeping of every guest mapping and
  // page (docs/reliability.md, "Under emulation"): there the figures are only reported.
  if (!test_support::under_memory_tool() && !test_support::emulated()) {
    CHECK(rss <= 4.5 * 1024);
    CHECK(rss + pte <= 6.5 * 1024);
  }
  // Guard pages inside one mapping (Linux 6.13+) keep the count of mappings from growing per fiber;
  // with mprotect guards each fiber adds two, and vm.max_map_count caps them near 32,700.
#if defined(__linux__)
  if (ebb::runtime_v1::os::guard_method_in_use().load() ==
      static_cast<int>(ebb::runtime_v1::os::guard_method::guard_install))
    CHECK(new_mappings < 1000);
#endif
  for (auto& f : fibers) CHECK(f.resume());
}
