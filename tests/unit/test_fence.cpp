// SPDX-License-Identifier: BSL-1.0
// The heavy side of the resume/pass handshake (os/asymmetric_fence.hpp; on Linux
// os/linux/membarrier_fence.hpp) when the system refuses it.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <string>

#include "child_process.hpp"
#include "deep_stack.hpp"

// Under ThreadSanitizer the handshake is sequentially consistent and needs no fence: nothing to test.
#if !EBB_TSAN
namespace {
namespace os = ebb::runtime_v1::os;

ebb::fiber deep_then_parked() {
  ebb::fiber f([] {
    test_support::go_deep(test_support::scaled_to_default_max(300 * 1024));
    ebb::this_fiber::yield();
  });
  f.resume();  // at the bottom
  f.resume();  // parked at the top, 300 KiB of pages below it
  return f;
}

// Puts the fence back to what a fresh process chooses, for the tests that follow.
void reset_fence() {
  os::injected_membarrier_failure.store(false);
  os::injected_global_membarrier_failure.store(false);
  os::injected_fence_page_failure.store(false);
  os::process_heavy_fence.method.store(static_cast<int>(os::fence_method::unchosen));
}
}  // namespace

TEST_CASE("fence: when expedited membarrier fails, a pass falls back to the global one and still shrinks",
          "[registry][fence]") {
  auto& fence = os::process_heavy_fence;
  ebb::fiber f = deep_then_parked();
  os::heavy_fence();  // chosen while membarrier works
  if (fence.method.load() != static_cast<int>(os::fence_method::membarrier)) {
    WARN("expedited membarrier is unavailable here: the global one serves from the start");
  }
  os::injected_membarrier_failure.store(true);  // as if a seccomp filter came after registration
  const ebb::shrink_report report = ebb::stack_registry::shrink_all();
  CHECK(report.shrunk >= 1);
  CHECK(report.released_bytes > 0);
  CHECK(fence.method.load() == static_cast<int>(os::fence_method::global_membarrier));
  reset_fence();
  f.resume();
  CHECK(f.done());
}

// Changing a page's protection fences every CPU only where the TLB shootdown is an interrupt (x86):
// on AArch64, ARM32 and RISC-V it is no fence at all, and trusting it would let a pass shrink a
// fiber that a resume on another CPU has just started running.
TEST_CASE("child: both membarriers refused", "[.child]") {
  ebb::fiber f = deep_then_parked();
  os::injected_membarrier_failure.store(true);
  os::injected_global_membarrier_failure.store(true);
  const ebb::shrink_report report = ebb::stack_registry::shrink_all();
  const auto method = static_cast<os::fence_method>(os::process_heavy_fence.method.load());
  if (os::page_fence_serialises) {
    CHECK(method == os::fence_method::page);
    CHECK(report.shrunk >= 1);
  } else {
    CHECK(method == os::fence_method::none);
    CHECK(report.shrunk == 0);  // nothing proved the fiber was not running: it was left alone
  }
  f.resume();
  CHECK(f.done());
}

TEST_CASE("fence: the page-protection fallback serves only where it is a fence (x86)", "[registry][fence]") {
  auto child = test_support::run_child_test("child: both membarriers refused");
  INFO(child.err);
  CHECK(child.exited);
  CHECK(child.exit_code == 0);
  // Where the page trick is no fence, saying that no fence is left is the right outcome.
  CHECK((os::page_fence_serialises || child.err.find("ebb: no process-wide memory fence") != std::string::npos));
}

TEST_CASE("child: no fence at all", "[.child]") {
  ebb::fiber f = deep_then_parked();
  os::injected_membarrier_failure.store(true);
  os::injected_global_membarrier_failure.store(true);
  os::injected_fence_page_failure.store(true);
  const ebb::shrink_report report = ebb::stack_registry::shrink_all();
  CHECK(report.visited >= 1);
  CHECK(report.shrunk == 0);  // nothing proved the fiber was not running: it was left alone
  CHECK(report.released_bytes == 0);
  CHECK(ebb::stack_registry::profile().fibers == 0);
  // (An outside stack_stats() or shrink_stack() claims the fiber the same way and is refused too.)
  f.resume();
  CHECK(f.done());
}

TEST_CASE("fence: with no fence possible, passes touch no fiber and say so once", "[registry][fence]") {
  auto child = test_support::run_child_test("child: no fence at all");
  INFO(child.err);
  CHECK(child.exited);
  CHECK(child.exit_code == 0);
  CHECK_THAT(child.err, has_text("ebb: no process-wide memory fence"));
  CHECK(child.err.find("ebb: no process-wide") == child.err.rfind("ebb: no process-wide"));
}
#endif
