// SPDX-License-Identifier: BSL-1.0
// Page residency, the two ways ebb asks the kernel: PAGEMAP_SCAN and mincore must agree.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cstdint>
#include <vector>

namespace os = ebb::runtime_v1::os;

TEST_CASE("PAGEMAP_SCAN and mincore see the same resident pages", "[residency]") {
  const std::size_t page = os::page_size();
  const std::size_t pages = 300;
  char* base = static_cast<char*>(os::reserve(0, pages * page));
  REQUIRE(base != nullptr);
  // A pattern with runs and gaps: pages 0-9, 50, 100-199 (every third), 299.
  std::vector<std::size_t> touched;
  for (std::size_t i = 0; i < 10; ++i) touched.push_back(i);
  touched.push_back(50);
  for (std::size_t i = 100; i < 200; i += 3) touched.push_back(i);
  touched.push_back(299);
  for (std::size_t i : touched) base[i * page] = 1;

  std::vector<std::uintptr_t> by_mincore, by_pagemap;
  const auto first = reinterpret_cast<std::uintptr_t>(base), last = first + pages * page;
  os::scan_present_mincore(first, last, [&](std::uintptr_t s, std::uintptr_t e) {
    for (auto p = s; p < e; p += page) by_mincore.push_back((p - first) / page);
    return true;
  });
  const bool have_pagemap = os::scan_present(first, last, [&](std::uintptr_t s, std::uintptr_t e) {
    for (auto p = s; p < e; p += page) by_pagemap.push_back((p - first) / page);
    return true;
  });
  CHECK(by_mincore == std::vector<std::uintptr_t>(touched.begin(), touched.end()));
  if (have_pagemap) CHECK(by_pagemap == by_mincore);
  else WARN("PAGEMAP_SCAN is not available on this kernel: only mincore was checked");

  CHECK(os::resident_bytes(base, base + pages * page) == touched.size() * page);
  CHECK(os::lowest_resident(base + 20 * page, base + pages * page) == base + 50 * page);
  CHECK(os::lowest_resident(base + 200 * page, base + 299 * page) == base + 299 * page);  // none: hi
  os::release(base, pages * page);
}

// mincore refuses a whole call (ENOMEM) when one page of the range cannot be asked about: natively an
// unmapped page, under qemu-user also a PROT_NONE one (an mprotect guard, the guard method there). The
// pages around them must still be seen: under qemu a tripwire fiber's committed memory read 0.
TEST_CASE("residency: mincore sees the pages around a guard and a hole", "[residency]") {
  const std::size_t page = os::page_size();
  const std::size_t pages = 40;
  char* base = static_cast<char*>(os::reserve(0, pages * page));
  REQUIRE(base != nullptr);
  for (std::size_t i = 0; i < pages; ++i) base[i * page] = 1;
  // Pages 0-7 an mprotect guard whose memory was freed first (as guard_and_free does), 20 unmapped,
  // 30-31 a guard; resident: 8-19, 21-29, 32-39.
  REQUIRE(os::discard_pages(base, 8 * page));
  REQUIRE(os::protect_guard(base, 8 * page));
  REQUIRE(os::discard_pages(base + 30 * page, 2 * page));
  REQUIRE(os::protect_guard(base + 30 * page, 2 * page));
  os::release(base + 20 * page, page);
  std::vector<std::uintptr_t> expected, seen;
  for (std::size_t i = 8; i < pages; ++i)
    if (i != 20 && i != 30 && i != 31) expected.push_back(i);
  const auto first = reinterpret_cast<std::uintptr_t>(base), last = first + pages * page;
  os::scan_present_mincore(first, last, [&](std::uintptr_t s, std::uintptr_t e) {
    for (auto p = s; p < e; p += page) seen.push_back((p - first) / page);
    return true;
  });
  CHECK(seen == expected);
  CHECK(os::resident_bytes(base, base + pages * page) == expected.size() * page);
  CHECK(os::lowest_resident(base, base + pages * page) == base + 8 * page);
  std::size_t stopped_after = 0;  // run's false still stops the scan, past a refused page too
  os::scan_present_mincore(first + 19 * page, last, [&](std::uintptr_t, std::uintptr_t) { return ++stopped_after < 2; });
  CHECK(stopped_after == 2);
  os::release(base, 20 * page);
  os::release(base + 21 * page, (pages - 21) * page);
}

// ---- issue 8, item 11: pages in swap ------------------------------------------------------------
// This machine has no swap, so no page can be put there: the filter is checked against the kernel's
// rule instead, and the decision on what the scan finds.
TEST_CASE("residency: a release decision counts swapped-out pages, never zero pages", "[residency]") {
  os::pagemap_scan_arg held{}, present{};
  os::set_scan_filter(held, true);
  os::set_scan_filter(present, false);
  const std::uint64_t in_ram = os::page_is_present, in_swap = os::page_is_swapped,
                      zero = os::page_is_present | os::page_is_zero_pfn, untouched = 0;
  CHECK(os::scan_selects(held, in_ram));
  CHECK(os::scan_selects(held, in_swap));  // a range wholly in swap is still released
  CHECK_FALSE(os::scan_selects(held, zero));
  CHECK_FALSE(os::scan_selects(held, untouched));
  CHECK(os::scan_selects(present, in_ram));
  CHECK_FALSE(os::scan_selects(present, in_swap));  // committed memory is what is in RAM
  CHECK_FALSE(os::scan_selects(present, zero));
  CHECK_FALSE(os::scan_selects(present, untouched));

  os::held_memory swapped_only;
  swapped_only.swapped = 4096;
  CHECK(swapped_only.worth_releasing());
  CHECK(swapped_only.bytes() == 4096);
  os::held_memory unseen;  // mincore saw nothing, but the system has swap
  unseen.swap_unknown = true;
  CHECK(unseen.worth_releasing());
  CHECK_FALSE(os::held_memory{}.worth_releasing());

  // On real pages the scan agrees with residency.
  const std::size_t page = os::page_size();
  char* base = static_cast<char*>(os::reserve(0, 64 * page));
  REQUIRE(base != nullptr);
  for (std::size_t i = 8; i < 40; i += 2) base[i * page] = 1;
  const os::held_memory held_now = os::memory_held(base, base + 64 * page);
  CHECK(held_now.resident == os::resident_bytes(base, base + 64 * page));
  CHECK(held_now.resident == 16 * page);
  CHECK(os::lowest_resident(base, base + 64 * page) == base + 8 * page);
  os::release(base, 64 * page);
}
