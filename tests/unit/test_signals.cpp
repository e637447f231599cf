// SPDX-License-Identifier: BSL-1.0
// Overflow reports, the fault handler's manners toward other handlers, and kernel writes into stacks.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include "child_process.hpp"
#include "deep_stack.hpp"
#include "tool_support.hpp"

using test_support::run_child_test;

namespace {

volatile bool keep_going = true;  // the compiler cannot prove the recursion endless

__attribute__((noinline)) int runaway(int n) {
  char frame[512];
  std::memset(frame, n, sizeof frame);
  test_support::keep(frame);
  if (!keep_going) return 0;
  int r = runaway(n + 1) + frame[5];
  test_support::keep(frame);
  return r;
}

void host_segv_handler(int, siginfo_t* info, void*) {
  char line[96];
  int n = std::snprintf(line, sizeof line, "host handler saw fault at %p\n", info->si_addr);
  if (::write(2, line, static_cast<std::size_t>(n)) < 0) _exit(99);
  _exit(42);
}

void install_host_handler() {
  struct sigaction action {};
  action.sa_sigaction = &host_segv_handler;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, nullptr);
}

void run_one_fiber() {
  ebb::fiber f([] { ebb::this_fiber::yield(); });
  f.resume();
  f.resume();
}

__attribute__((noinline)) void fault_on_purpose() {
  static volatile std::uintptr_t address = 16;  // hidden from the optimiser's bounds checks
  *reinterpret_cast<volatile int*>(address) = 1;
}

}  // namespace

// ---- the children (hidden: run only by name, from the tests below) ------------------------------

TEST_CASE("child: overflow", "[.child]") {
  ebb::fiber f(ebb::fiber_options().name("runaway").max_size(64 * 1024), [] { runaway(0); });
  f.resume();
}

TEST_CASE("child: fault outside fibers goes to the earlier handler", "[.child]") {
  install_host_handler();  // the host's crash reporter, installed before ebb's
  run_one_fiber();         // ebb installs its handler now, on top
  fault_on_purpose();
}

TEST_CASE("child: non-overflow fault on a fiber goes to the earlier handler", "[.child]") {
  install_host_handler();
  ebb::fiber f([] { fault_on_purpose(); });
  f.resume();
}

TEST_CASE("child: fault with no earlier handler takes the default action", "[.child]") {
  run_one_fiber();
  fault_on_purpose();
}

TEST_CASE("child: a host handler installed later calls try_handle_stack_fault", "[.child]") {
  run_one_fiber();
  struct sigaction action {};
  action.sa_sigaction = [](int sig, siginfo_t* info, void* uc) {
    if (ebb::try_handle_stack_fault(sig, info, uc)) return;
    const char msg[] = "late host handler: not an ebb overflow\n";
    if (::write(2, msg, sizeof msg - 1) < 0) _exit(99);
    _exit(43);
  };
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, nullptr);
  ebb::fiber f(ebb::fiber_options().name("late-runaway").max_size(32 * 1024), [] { runaway(0); });
  f.resume();
}

TEST_CASE("child: a host handler that decodes the fault itself calls try_handle_stack_fault_at", "[.child]") {
  run_one_fiber();
  struct sigaction action {};
  action.sa_sigaction = [](int, siginfo_t* info, void*) {
    // As a system without signals would: only the address, no stack pointer, not kernel-raised.
    if (ebb::try_handle_stack_fault_at(info->si_addr, nullptr, false)) return;
    const char msg[] = "decoding host handler: not an ebb overflow\n";
    if (::write(2, msg, sizeof msg - 1) < 0) _exit(99);
    _exit(44);
  };
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, nullptr);
  ebb::fiber f(ebb::fiber_options().name("decoded-runaway").max_size(32 * 1024), [] { runaway(0); });
  f.resume();
}

// ---- the tests -------------------------------------------------------------------------------------

TEST_CASE("a stack overflow prints one line naming the fiber and the limit, then aborts", "[signals][overflow]") {
  auto child = run_child_test("child: overflow");
  CHECK(child.signal == SIGABRT);
  CHECK_THAT(child.err, has_text("ebb: stack overflow in fiber 'runaway': needed at least") &&
                            has_text("limit 65536 bytes"));
}

TEST_CASE("faults that are not overflows reach the handler installed before ebb's", "[signals][chain]") {
  auto outside = run_child_test("child: fault outside fibers goes to the earlier handler");
  CHECK(outside.exit_code == 42);
  CHECK_THAT(outside.err, has_text("host handler saw fault at 0x10"));

  auto on_fiber = run_child_test("child: non-overflow fault on a fiber goes to the earlier handler");
  CHECK(on_fiber.exit_code == 42);
  CHECK_THAT(on_fiber.err, has_text("host handler saw fault at 0x10"));
  CHECK_THAT(on_fiber.err, !has_text("stack overflow"));

  auto plain = run_child_test("child: fault with no earlier handler takes the default action");
  CHECK_THAT(plain.err, !has_text("ebb:"));
  if (plain.signal != SIGSEGV) {  // a sanitizer's handler was there first (ASan, TSan, clang's UBSan)
    CHECK(plain.exit_code != 0);
    CHECK_THAT(plain.err, has_text("Sanitizer") && has_text("SEGV"));
  }
}

TEST_CASE("a handler installed after ebb's can delegate overflows to ebb", "[signals][chain]") {
  auto child = run_child_test("child: a host handler installed later calls try_handle_stack_fault");
  CHECK(child.signal == SIGABRT);
  CHECK_THAT(child.err, has_text("stack overflow in fiber 'late-runaway'") &&
                            has_text("limit 32768 bytes"));
}

TEST_CASE("try_handle_stack_fault_at: the same decision from decoded facts", "[signals][chain]") {
  auto child = run_child_test("child: a host handler that decodes the fault itself calls try_handle_stack_fault_at");
  CHECK(child.signal == SIGABRT);
  CHECK_THAT(child.err, has_text("stack overflow in fiber 'decoded-runaway'") && has_text("limit 32768 bytes"));

  // Not a fiber's guard: outside any fiber, and inside one at an address far from its stack.
  static char elsewhere[16];
  CHECK_FALSE(ebb::try_handle_stack_fault_at(elsewhere, nullptr, false));
  bool inside = true;
  ebb::fiber f([&] { inside = ebb::try_handle_stack_fault_at(elsewhere, nullptr, false); });
  f.resume();
  CHECK_FALSE(inside);
}

TEST_CASE("the kernel can write into untouched stack pages: read() into a fresh fiber's buffer", "[signals][kernel]") {
  char path[] = "/tmp/ebb-read-test-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  static constexpr std::size_t bytes = test_support::scaled_to_default_max(300 * 1024);  // under the maximum
  std::string data(bytes, 'x');
  for (std::size_t i = 0; i < data.size(); i += 4096) data[i] = static_cast<char>('a' + (i / 4096) % 26);
  REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  ::lseek(fd, 0, SEEK_SET);

  ssize_t got = -1;
  bool same = false;
  ebb::fiber f([&] {
    char buffer[bytes];  // far below the pages this fresh fiber has touched
    got = ::read(fd, buffer, sizeof buffer);
    same = got == static_cast<ssize_t>(sizeof buffer) && std::memcmp(buffer, data.data(), sizeof buffer) == 0;
  });
  f.resume();
  ::close(fd);
  CHECK(got == static_cast<ssize_t>(data.size()));
  CHECK(same);
}

namespace {
std::atomic<int> alarms{0};
std::atomic<char*> alarm_frame{nullptr};
TEST_REAL_STACK void on_alarm(int) {
  char here;
  alarm_frame.store(&here);
  alarms.fetch_add(1);
}
}  // namespace

TEST_CASE("a timer signal delivered while a fiber is deep runs on the fiber's stack", "[signals][kernel]") {
  struct sigaction action {}, previous{};
  action.sa_handler = &on_alarm;  // no SA_ONSTACK: the signal frame goes on the interrupted stack
  sigemptyset(&action.sa_mask);
  sigaction(SIGALRM, &action, &previous);
  alarms = 0;
  static constexpr std::size_t deep_bytes = test_support::scaled_to_default_max(600 * 1024);
  char* stack_top = nullptr;
  std::size_t deep_used = 0;
  ebb::fiber f([&]() TEST_REAL_STACK {
    char marker;
    stack_top = &marker;
    test_support::go_deep(deep_bytes, 0);  // passes through; yields nowhere
    // Now spin deep inside a second descent until the timer fires. The timer is armed only at the
    // bottom: armed before the descent, it could fire on the way down on a loaded machine, above the
    // deep point.
    struct spin {
      TEST_REAL_STACK __attribute__((noinline)) static void at_depth(std::size_t bytes, std::size_t& used, char* top) {
        char frame[1000];
        test_support::keep(frame);
        if (bytes > sizeof frame) {
          at_depth(bytes - sizeof frame, used, top);
        } else {
          used = static_cast<std::size_t>(top - frame);
          struct itimerval timer {};
          timer.it_value.tv_usec = 2000;
          setitimer(ITIMER_REAL, &timer, nullptr);
          while (alarms.load() == 0) {
          }
        }
        test_support::keep(frame);
      }
    };
    spin::at_depth(deep_bytes, deep_used, stack_top);
  });
  f.resume();
  sigaction(SIGALRM, &previous, nullptr);
  CHECK(alarms.load() == 1);
  CHECK(deep_used >= deep_bytes);
  const auto frame = reinterpret_cast<std::uintptr_t>(alarm_frame.load());
  const auto top = reinterpret_cast<std::uintptr_t>(stack_top);
  // The handler's frame lay below the deep point, inside the fiber's reservation.
  CHECK(frame < top - deep_bytes);
  CHECK(frame > top - ebb::default_max_stack);
}
