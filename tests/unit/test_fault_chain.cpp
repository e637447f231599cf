// SPDX-License-Identifier: BSL-1.0
// The fault handler and the resume chain: a fiber that resumes another is no longer the thread's
// current fiber while the switch pushes its frame, yet that push lands on its own stack. A first
// touch below its tripwire window there must still open the window, and a touch of its guard must
// still be reported with its name.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <thread>

#include "child_process.hpp"
#include "tool_support.hpp"

using test_support::run_child_test;

namespace {
#if EBB_HAS_TRIPWIRE
using tripwire_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>>;
#endif

// What one placement of the parent's switch frame looked like.
struct placement {
  char* stack_top = nullptr;  // the parent's
  char* edge = nullptr;       // the parent's lowest accessible byte + 1 (window or guard) before the resume
  char* switch_frame = nullptr;  // where the switch into the child saved the parent's registers
};

// Lower the stack by `drop` bytes without touching them, then resume `child` from this frame: the
// switch's 64-byte frame is then the first thing written below the dropped range. Not inlined, so
// every call starts from the same depth below the parent's stack top.
template <class Child>
TEST_REAL_STACK __attribute__((noinline)) void resume_below(Child& child, std::size_t drop) {
  char* lowered = static_cast<char*>(__builtin_alloca(drop));
  asm volatile("" : : "r"(lowered) : "memory");
  child.resume();
}

ebb::runtime_v1::fiber_context& running() { return *ebb::runtime_v1::this_thread()->current; }

// A parent that resumes a child after dropping `drop` bytes; the child notes where the switch put the
// parent's frame.
template <class Parent>
placement place(std::size_t drop, const ebb::fiber_options& options) {
  placement seen;
  Parent parent(options, [&] {
    auto& self = running();
    seen.stack_top = self.stack_top;
    seen.edge = self.window_lo ? self.window_lo : self.guard_hi;
    ebb::fiber child([&] { seen.switch_frame = static_cast<char*>(running().caller_sp); });
    resume_below(child, drop);
  });
  parent.resume();
  return seen;
}

// The drop that puts the switch frame 16 bytes below the parent's edge: its last two pushes are the
// first touches below it. The path from resume_below to the switch is the same code every time, so
// one placement measured at a safe depth tells where any other drop puts the frame.
template <class Parent>
std::size_t drop_to_straddle_edge(const ebb::fiber_options& options) {
  constexpr std::size_t probe_drop = 256;
  const placement probe = place<Parent>(probe_drop, options);
  const auto depth_of_frame = static_cast<std::size_t>(probe.stack_top - probe.switch_frame);
  const auto depth_of_edge = static_cast<std::size_t>(probe.stack_top - probe.edge);
  return probe_drop + (depth_of_edge + 16) - depth_of_frame;
}
}  // namespace

#if EBB_HAS_TRIPWIRE
TEST_CASE("child: tripwire parent resumes a child at its window edge", "[.child]") {
  const ebb::fiber_options options = ebb::fiber_options().name("edge-parent");
  const std::size_t drop = drop_to_straddle_edge<tripwire_fiber>(options);
  // A few placements around it, since which touch comes first below the edge depends on how the
  // compiler laid out resume() (at -O0 its calls before the switch may touch deeper than the switch).
  bool straddled = false;
  for (std::size_t lower = 0; lower <= 128; lower += 16) {
    const placement at = place<tripwire_fiber>(drop + lower - 64, options);
    straddled |= at.switch_frame < at.edge && at.switch_frame + 64 > at.edge;
  }
  std::_Exit(straddled ? 0 : 3);  // 3: no placement put the switch frame across the window's edge
}

#endif

TEST_CASE("child: parent overflows while resuming a child", "[.child]") {
  const ebb::fiber_options options = ebb::fiber_options().name("edge-parent").max_size(64 * 1024);
  const std::size_t drop = drop_to_straddle_edge<ebb::fiber>(options);
  place<ebb::fiber>(drop, options);  // the switch's pushes touch the parent's guard: reported, abort
  std::_Exit(0);
}

#if EBB_HAS_TRIPWIRE
TEST_CASE("fault chain: a tripwire fiber's window opens for the switch frame it pushes to resume another",
          "[signals][tripwire]") {
  if (test_support::under_memory_tool() && !EBB_ASAN && !EBB_TSAN) {
    WARN("skipped under Valgrind, which cannot run tripwire fibers");
    return;
  }
  auto child = run_child_test("child: tripwire parent resumes a child at its window edge");
  INFO(child.err);
  CHECK(child.signal == 0);
  CHECK(child.exited);
  CHECK(child.exit_code == 0);
}

#endif

TEST_CASE("fault chain: a fiber overflowing while it resumes another is reported with its own name",
          "[signals]") {
  auto child = run_child_test("child: parent overflows while resuming a child");
  INFO(child.err);
  CHECK_FALSE(child.exited);
  CHECK(child.err.find("ebb: stack overflow in fiber 'edge-parent'") != std::string::npos);
}

// ---- the handler's install, once per process -------------------------------------------------------
// A thread's first resume installs the process's fault handler unless another thread did. On Windows
// a thread arriving while another installed it went on at once (a compare-exchange it lost), and
// could run a fiber before any handler was there to grow its stack or report its overflow. Here the
// child holds the install's lock, as a thread in the middle of the install does, and a thread's first
// resume must wait for it. (With the old Windows state there was no install to hold: this test did
// not compile there, which is how it differs.)
TEST_CASE("child: a first resume waits while another thread installs the fault handler", "[.child]") {
  auto& install = ebb::runtime_v1::os::process_fault_handler.install;
  if (install.installed.load()) std::_Exit(4);  // something resumed a fiber before this test
  install.lock.lock();
  std::atomic<bool> ran{false};
  std::thread first_resume([&ran] {
    ebb::fiber f([&ran] { ran.store(true); });
    f.resume();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const bool ran_before_install = ran.load();
  install.lock.unlock();
  first_resume.join();
  if (ran_before_install) std::_Exit(3);  // a fiber ran while the handler was not yet installed
  std::_Exit(ran.load() && install.installed.load() ? 0 : 5);
}

TEST_CASE("fault chain: no fiber runs before the process's fault handler is installed", "[signals][threads]") {
  auto child = run_child_test("child: a first resume waits while another thread installs the fault handler");
  INFO(child.err);
  CHECK(child.exited);
  CHECK(child.exit_code == 0);  // 3: a fiber ran first; 4: the handler was installed already; 5: never
}
