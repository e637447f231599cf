// SPDX-License-Identifier: BSL-1.0
// Running out of address space or of memory mappings is an error with a reason, not a crash.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cstdio>
#include <memory>
#include <vector>

#include <sys/resource.h>

#include "child_process.hpp"
#include "tool_support.hpp"

namespace {
// Create suspended fibers until creation fails; report what it said on stderr, exit 0 if it failed
// with a fiber_error before `limit` fibers.
[[noreturn]] void create_until_refused(std::size_t limit) {
  std::vector<std::unique_ptr<ebb::fiber>> fibers;
  try {
    for (std::size_t i = 0; i < limit; ++i) {
      fibers.push_back(std::make_unique<ebb::fiber>(ebb::fiber_options().name("fiber-" + std::to_string(i)),
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
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = std::size_t(2) << 30;  // 2 GiB: about 2000 default stacks
  REQUIRE(setrlimit(RLIMIT_AS, &limit) == 0);
  create_until_refused(100000);
}

TEST_CASE("child: memory mappings exhausted", "[.child]") {
  create_until_refused(100000);  // run with EBB_GUARD_METHOD=mprotect
}

TEST_CASE("running out of address space is reported, not a crash", "[exhaustion]") {
  if (EBB_ASAN || EBB_TSAN) {
    WARN("skipped: the sanitizer's own shadow memory cannot live under a small RLIMIT_AS");
    return;
  }
  // RLIMIT_AS bounds qemu-user's own heap as well as the guest's reservations: which runs out first
  // is chance, and qemu aborts when it is its own (docs/reliability.md).
  EBB_TEST_NOT_UNDER_EMULATION("RLIMIT_AS limits the emulator's own allocations too");
  auto child = test_support::run_child_test("child: address space exhausted");
  CHECK(child.exit_code == 0);
  CHECK_THAT(child.err, has_text("ebb: cannot create fiber 'fiber-") &&
                            has_text("cannot reserve") && has_text("Cannot allocate memory"));
}

TEST_CASE("with mprotect guards, vm.max_map_count is reached with a clear error", "[exhaustion]") {
  if (EBB_TSAN) {
    WARN("skipped: ThreadSanitizer tracks each fiber like a thread and stops at 8128 of them");
    return;
  }
  // qemu-user's own mappings count against the same vm.max_map_count, and qemu aborts ("GSlice: failed
  // to allocate") when its own mmap is the one refused: which comes first is chance (docs/reliability.md).
  EBB_TEST_NOT_UNDER_EMULATION("vm.max_map_count counts the emulator's own mappings too");
  auto child = test_support::run_child_test("child: memory mappings exhausted", {"EBB_GUARD_METHOD=mprotect"});
  CHECK(child.exit_code == 0);
  CHECK_THAT(child.err, has_text("cannot create fiber") && has_text("vm.max_map_count is"));
}

