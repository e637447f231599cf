// SPDX-License-Identifier: BSL-1.0
// fork(): a pre-forking server whose other threads use fibers forks children that can use fibers.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "deep_stack.hpp"
#include "tool_support.hpp"

namespace {
// Where a child is in child_work, for the report of one that hangs (a hang seen twice under qemu and
// once natively under TSan was never caught in the act; the next one names the call it hung in).
volatile std::sig_atomic_t child_step = 0;
volatile std::sig_atomic_t child_round = 0;
const char* const child_step_names[] = {"start", "create", "first resume", "shrink_all", "second resume",
                                        "shrink_some", "profile", "trim_stack_pool"};

extern "C" void report_hung_child(int) {
  // Only async-signal-safe calls: format by hand, write(2), _exit.
  char text[160] = "ebb test: forked child hung in ";
  std::size_t n = std::strlen(text);
  const char* step = child_step_names[child_step];
  for (std::size_t i = 0; step[i] != '\0' && n < sizeof text - 24; ++i) text[n++] = step[i];
  const char round[] = " (round ";
  for (std::size_t i = 0; round[i] != '\0'; ++i) text[n++] = round[i];
  int r = child_round;
  if (r >= 10) text[n++] = static_cast<char>('0' + r / 10);
  text[n++] = static_cast<char>('0' + r % 10);
  text[n++] = ')';
  text[n++] = '\n';
  (void)!::write(2, text, n);
  ::_exit(3);
}

// What a child does: fibers, a pass, the pool. Any lock inherited held hangs it here.
[[noreturn]] void child_work() {
  std::signal(SIGALRM, &report_hung_child);
  ::alarm(test_support::under_memory_tool() ? 120 : 10);  // a hung child reports and exits 3: a failure
  int sum = 0;
  for (int i = 0; i < 20; ++i) {
    child_round = i;
    child_step = 1;
    ebb::fiber f([&] { sum += test_support::go_deep(64 * 1024); });
    child_step = 2;
    f.resume();
    child_step = 3;
    ebb::stack_registry::shrink_all();
    child_step = 4;
    f.resume();
    if (!f.done()) ::_exit(2);
  }
  child_step = 5;
  ebb::stack_registry::shrink_some(4);
  child_step = 6;
  (void)ebb::stack_registry::profile();
  child_step = 7;
  ebb::trim_stack_pool();
  test_support::keep(&sum);
  ::_exit(0);
}
}  // namespace

TEST_CASE("fork: children can use fibers while other threads create, destroy and shrink", "[fork][threads]") {
  // A child of this multi-threaded parent hung in 2 of about 60 runs under qemu-aarch64 (4 KiB pages)
  // and natively under clang's TSan: a child forked while another thread installed the fault handler
  // spun at its first resume (fixed 2026-12-05, docs/reliability.md).
  // Left out under emulation for that rate; the children now report where they hang.
  EBB_TEST_NOT_UNDER_EMULATION("a forked child hung in 2 of 60 runs under qemu-aarch64 (cause open, docs/reliability.md)");
  { ebb::fiber warm([] {}); }
  std::atomic<bool> stop{false};
  auto hammer = [&](int which) {
    while (!stop.load(std::memory_order_relaxed)) {
      std::vector<ebb::fiber> fibers;
      for (int i = 0; i < 8; ++i) {
        fibers.emplace_back([] { test_support::go_deep(16 * 1024); });
        fibers.back().resume();
      }
      if (which == 0) ebb::stack_registry::shrink_all();
      else ebb::stack_registry::shrink_some(3);
      fibers.clear();
      if (which == 0) ebb::trim_stack_pool();
    }
  };
  std::thread first(hammer, 0), second(hammer, 1);
  const int children = test_support::under_memory_tool() ? 8 : test_support::scaled(40);
  int failed = 0;
  std::string why;  // (UNSCOPED_INFO would go with the next iteration's passing REQUIRE)
  for (int i = 0; i < children && failed < 3; ++i) {  // a hung child costs its 10 s alarm: stop early
    const pid_t pid = ::fork();
    if (pid == 0) child_work();
    REQUIRE(pid > 0);
    // A child stuck where even its alarm's handler cannot run (in the kernel, or inside an emulator)
    // is killed 20 s after its alarm and reported as such.
    const int patience_ms = ((test_support::under_memory_tool() ? 120 : 10) + 20) * 1000;
    int status = 0;
    pid_t waited = 0;
    for (int ms = 0; (waited = ::waitpid(pid, &status, WNOHANG)) == 0 && ms < patience_ms; ms += 10) ::usleep(10000);
    if (waited == 0) {
      ::kill(pid, SIGKILL);
      waited = ::waitpid(pid, &status, 0);
      why += "child " + std::to_string(i) + ": did not answer its alarm (killed)\n";
    }
    REQUIRE(waited == pid);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
      ++failed;
      why += "child " + std::to_string(i) + ": " + (WIFSIGNALED(status) ? "killed by signal " : "exit ") +
             std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)) +
             (WIFEXITED(status) && WEXITSTATUS(status) == 3 ? " (it hung: its report above names where)\n" : "\n");
    }
  }
  stop.store(true);
  first.join();
  second.join();
  INFO(why);
  CHECK(failed == 0);
}
