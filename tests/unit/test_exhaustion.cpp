// SPDX-License-Identifier: BSL-1.0
// Running out of address space or of memory mappings is an error with a reason, not a crash.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cstdio>
#include <memory>
#include <type_traits>
#include <vector>

#include <sys/resource.h>

#include "child_process.hpp"
#include "tool_support.hpp"

namespace {
// Bounds the address space for an exhaustion test. 64-bit: RLIMIT_AS at 2 GiB (about 2000 default
// stacks). 32-bit: nothing; the reservations exhaust the process's real address space (at most 4 GiB,
// about 15,000 default 256 KiB stacks; under qemu-user a 32-bit guest has exactly its 32-bit space,
// while RLIMIT_AS would bound qemu's own allocations as well: docs/reliability.md).
[[nodiscard]] bool limit_address_space_for_exhaustion() {
  if (sizeof(void*) < 8) return true;
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = std::size_t(2) << 30;
  return setrlimit(RLIMIT_AS, &limit) == 0;
}

// Fibers whose reservations are small enough (16 KiB stack, 20 KiB with its guard) that 32,765 of
// them, the most vm.max_map_count's default 65,530 mappings allows with mprotect guards, fit in a
// 32-bit address space (640 MiB); a default 256 KiB stack would exhaust it at about 15,000 first.
using small_fiber = ebb::basic_fiber<ebb::doubling_growth<2048, 16384>>;
// The fiber a test of the mapping limit creates: the default one where the address space is large.
using map_count_fiber = std::conditional_t<sizeof(void*) >= 8, ebb::fiber, small_fiber>;

// Create suspended fibers until creation fails; report what it said on stderr, exit 0 if it failed
// with a fiber_error before `limit` fibers.
template <class Fiber = ebb::fiber>
[[noreturn]] void create_until_refused(std::size_t limit) {
  std::vector<std::unique_ptr<Fiber>> fibers;
  fibers.reserve(limit);  // no reallocation once the address space is short
  try {
    for (std::size_t i = 0; i < limit; ++i) {
      fibers.push_back(std::make_unique<Fiber>(ebb::fiber_options().name("fiber-" + std::to_string(i)),
                                              [] { ebb::this_fiber::yield(); }));
      fibers.back()->resume();
    }
  } catch (const ebb::fiber_error& e) {
    std::fprintf(stderr, "refused after %zu fibers: %s\n", fibers.size(), e.what());
    std::fflush(stderr);
    std::_Exit(e.code() == ebb::fiber_errc::out_of_memory ? 0 : 3);
  }
  std::_Exit(2);
}
}  // namespace

TEST_CASE("child: address space exhausted", "[.child]") {
  REQUIRE(limit_address_space_for_exhaustion());
  create_until_refused(100000);
}

TEST_CASE("child: memory mappings exhausted", "[.child]") {
  create_until_refused<map_count_fiber>(100000);  // run with EBB_GUARD_METHOD=mprotect
}

TEST_CASE("running out of address space is reported, not a crash", "[exhaustion]") {
  if (EBB_ASAN || EBB_TSAN) {
    WARN("skipped: the sanitizer's own shadow memory cannot live under a small RLIMIT_AS");
    return;
  }
  // RLIMIT_AS bounds qemu-user's own heap as well as the guest's reservations: which runs out first
  // is chance, and qemu aborts when it is its own (docs/reliability.md). A 32-bit target needs no
  // RLIMIT_AS: its own address space runs out, natively and under qemu alike.
  if (sizeof(void*) >= 8) EBB_TEST_NOT_UNDER_EMULATION("RLIMIT_AS limits the emulator's own allocations too");
  auto child = test_support::run_child_test("child: address space exhausted");
  CHECK(child.exit_code == 0);
  CHECK_THAT(child.err, has_text("ebb: cannot create fiber 'fiber-") &&
                            has_text("cannot reserve") && has_text("Cannot allocate memory"));
  // With mprotect guards too (the method under qemu, and on kernels before 6.13): the address space
  // ran out with mappings to spare, so the message must not blame vm.max_map_count (as it did when
  // every ENOMEM with mprotect guards got that hint: 15,152 stacks on i386 under qemu, 30,000 mappings).
  auto mprotect_child = test_support::run_child_test("child: address space exhausted", {"EBB_GUARD_METHOD=mprotect"});
  INFO(mprotect_child.err);
  CHECK(mprotect_child.exit_code == 0);
  CHECK_THAT(mprotect_child.err, has_text("cannot reserve") && has_text("Cannot allocate memory") &&
                                     !has_text("vm.max_map_count"));
}

TEST_CASE("with mprotect guards, vm.max_map_count is reached with a clear error", "[exhaustion]") {
  if (EBB_TSAN) {
    WARN("skipped: ThreadSanitizer tracks each fiber like a thread and stops at 8128 of them");
    return;
  }
  // The host's vm.max_map_count counts qemu-user's own mappings too: when the guest reaches it, qemu's
  // allocations fail as well, and it aborts ("GSlice: failed to allocate") or spins for minutes in
  // its search for free guest address space (i386 under qemu: 1 run in 4 timed out, 1 aborted).
  EBB_TEST_NOT_UNDER_EMULATION("vm.max_map_count limits the emulator's own mappings too");
  auto child = test_support::run_child_test("child: memory mappings exhausted", {"EBB_GUARD_METHOD=mprotect"});
  CHECK(child.exit_code == 0);
  CHECK_THAT(child.err, has_text("cannot create fiber") && has_text("vm.max_map_count is"));
}

