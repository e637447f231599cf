// SPDX-License-Identifier: BSL-1.0
// Running out of address space or of memory mappings is an error with a reason, not a crash.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cstdio>
#include <memory>
#include <vector>

#include <sys/mman.h>
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
  auto child = test_support::run_child_test("child: memory mappings exhausted", {"EBB_GUARD_METHOD=mprotect"});
  CHECK(child.exit_code == 0);
  CHECK_THAT(child.err, has_text("cannot create fiber") && has_text("vm.max_map_count is"));
}

// The guard-install probe trusts madvise(MADV_GUARD_INSTALL) only when the page then really refuses
// access: qemu-user answers that madvise with success and installs nothing, and believing it made
// every overflow under emulation silent corruption instead of a report. The check it relies on must
// tell a plain page from a guarded one (PROT_NONE is a guard every kernel enforces).
TEST_CASE("guard install is trusted only where a guarded page really refuses access", "[guards]") {
  namespace os = ebb::runtime_v1::os;
  const std::size_t page = os::page_size();
  void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  static_cast<volatile char*>(p)[0] = 1;
  CHECK_FALSE(os::guard_is_enforced(p));  // what a no-op "guard install" leaves
  REQUIRE(::mprotect(p, page, PROT_NONE) == 0);
  CHECK(os::guard_is_enforced(p));
  ::munmap(p, page);
  if (os::chosen_guard_method() == os::guard_method::guard_install) {
    // Chosen: then a page guarded with it refuses too.
    void* q = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(q != MAP_FAILED);
    REQUIRE(::madvise(q, page, os::madv_guard_install) == 0);
    CHECK(os::guard_is_enforced(q));
    ::munmap(q, page);
  }
}
