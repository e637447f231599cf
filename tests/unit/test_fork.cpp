// SPDX-License-Identifier: BSL-1.0
// fork(): a pre-forking server whose other threads use fibers forks children that can use fibers.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "deep_stack.hpp"
#include "tool_support.hpp"

namespace {
// What a child does: fibers, a pass, the pool. Any lock inherited held hangs it here.
[[noreturn]] void child_work() {
  ::alarm(test_support::under_memory_tool() ? 120 : 10);  // a hung child dies of SIGALRM: a failure
  int sum = 0;
  for (int i = 0; i < 20; ++i) {
    ebb::fiber f([&] { sum += test_support::go_deep(64 * 1024); });
    f.resume();
    ebb::stack_registry::shrink_all();
    f.resume();
    if (!f.done()) ::_exit(2);
  }
  ebb::stack_registry::shrink_some(4);
  (void)ebb::stack_registry::profile();
  ebb::trim_stack_pool();
  test_support::keep(&sum);
  ::_exit(0);
}
}  // namespace

TEST_CASE("fork: children can use fibers while other threads create, destroy and shrink", "[fork][threads]") {
  // Under qemu-user a child of this multi-threaded parent hung (killed by its SIGALRM) in 2 of about
  // 60 runs on AArch64 with 4 KiB pages, never with 64 KiB pages and never natively (every native
  // stage runs it, with the sanitizers and Valgrind too). Suspected: qemu's own locks held by another
  // guest thread's emulation at the fork, which the child then waits for (an emulator of the same
  // kind, FEX, had that bug); not proven (docs/reliability.md).
  EBB_TEST_NOT_UNDER_EMULATION("a forked child of a threaded guest can hang inside qemu-user");
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
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
      ++failed;
      why += "child " + std::to_string(i) + ": " + (WIFSIGNALED(status) ? "killed by signal " : "exit ") +
             std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)) + " (SIGALRM: it hung)\n";
    }
  }
  stop.store(true);
  first.join();
  second.join();
  INFO(why);
  CHECK(failed == 0);
}
