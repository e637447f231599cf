// SPDX-License-Identifier: BSL-1.0
// fork(): a pre-forking server whose other threads use fibers forks children that can use fibers.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>  // also brings detail/install_once.hpp, tested directly below: the unit tests
                       // include nothing else of ebb, so they build against the single header too

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child_process.hpp"
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

// ---- once-per-process installs (detail/install_once.hpp) ---------------------------------------------
// A child forked while another thread was installing the fault handler or the unwind report inherited
// "being installed" with nobody left to finish it, and spun at its first resume or its first
// destruction of a suspended fiber. The window is a few instructions wide (a throwaway program hit the
// unwind report's 2 times in 2,600 trials natively), too rare to catch in a test; the two below hold
// it open on purpose instead.

namespace {
ebb::runtime_v1::install_once* install_held_by_fork = nullptr;  // what the handlers below hold, if any

extern "C" void hold_install_for_fork() {
  if (install_held_by_fork != nullptr) install_held_by_fork->hold_for_fork();
}
extern "C" void release_install_after_fork() {
  if (install_held_by_fork != nullptr) install_held_by_fork->release_after_fork();
}
extern "C" void report_hung_install(int) {
  const char text[] = "ebb test: forked child hung in its install (it inherited one begun and not finished)\n";
  (void)!::write(2, text, sizeof text - 1);
  ::_exit(3);
}
}  // namespace

TEST_CASE("fork: a child forked while another thread installs once finds it installed, not half done",
          "[fork][threads]") {
  // As ebb uses it: fork()'s handlers hold the install, here one of the test's own whose install
  // takes 200 ms, and the main thread forks while another thread is inside it.
  static const bool registered =
      ::pthread_atfork(&hold_install_for_fork, &release_install_after_fork, &release_install_after_fork) == 0;
  REQUIRE(registered);
  ebb::runtime_v1::install_once install;
  install_held_by_fork = &install;
  std::atomic<bool> installing{false}, forked{false};
  std::thread installer([&] {
    install.run([&]() noexcept {
      installing.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    });
    // Alive until the fork is done: TSan reports a thread that finished unjoined before a fork as
    // leaked, in the child.
    while (!forked.load()) std::this_thread::yield();
  });
  while (!installing.load()) std::this_thread::yield();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGALRM, &report_hung_install);
    ::alarm(test_support::under_memory_tool() ? 120 : 10);  // a child that spins reports and exits 3
    bool installed_again = false;
    install.run([&]() noexcept { installed_again = true; });
    ::_exit(installed_again ? 4 : 0);
  }
  const bool done_when_forked = install.installed.load();  // the fork waited for the install
  forked.store(true);
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  installer.join();
  install_held_by_fork = nullptr;
  CHECK(done_when_forked);
  INFO("child: exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                      << " (3: it spun in the install; 4: it installed a second time)");
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

// In a fresh process (run by the test below): nothing has installed the unwind report yet.
TEST_CASE("child: fork()'s prepare handler holds the unwind report's install", "[.child]") {
  const std::terminate_handler original = std::get_terminate();
  std::atomic<int> step{0};  // 1: the fiber is suspended; 2: the destruction may start
  std::atomic<bool> unwinding{false};
  std::thread destroyer([&] {
    struct note_unwind {
      std::atomic<bool>& unwinding;
      ~note_unwind() { unwinding.store(true); }
    };
    ebb::fiber f([&] {
      note_unwind note{unwinding};
      ebb::this_fiber::yield();
    });
    f.resume();
    step.store(1);
    while (step.load() != 2) std::this_thread::yield();
  });  // f is destroyed suspended: the process's first such destruction installs the report
  while (step.load() != 1) std::this_thread::yield();
  // What fork() runs first, as if another thread were forking now.
  ebb::runtime_v1::lock_for_fork();
  step.store(2);
  // The destruction installs the report before it unwinds the fiber: while the handler holds the
  // install, the fiber must not unwind (the old install took no lock the handler holds, and went on).
  bool unwound_while_held = false;
  for (int ms = 0; ms < 300 && !unwound_while_held; ms += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    unwound_while_held = unwinding.load();
  }
  ebb::runtime_v1::unlock_after_fork(false);
  destroyer.join();
  CHECK_FALSE(unwound_while_held);
  CHECK(unwinding.load());
  CHECK(std::get_terminate() != original);  // installed once the handler let go
}

TEST_CASE("fork: fork()'s prepare handler holds the unwind report's install", "[fork][threads]") {
  auto child = test_support::run_child_test("child: fork()'s prepare handler holds the unwind report's install");
  INFO(child.err);
  CHECK((child.exited && child.exit_code == 0));
}

// ---- registering fork()'s handlers (detail/install_once.hpp, registration_once) -----------------------
// Registering the handlers themselves cannot be held by them. The registration was a compare-exchange
// from "not yet" to "being registered" and a store of "registered": a child forked in between never
// registered its own handlers, and other threads of the registering process went on before the
// handlers were there. The first test holds that window open with a registration of its own; the
// second races real first fibers against forks, as a throwaway program did before the fix (12 of
// 3,000 trials forked a child mid-registration, and none of those 12 ever registered).

TEST_CASE("fork: a registration begun and not finished when the process forked is done again in the child",
          "[fork][threads]") {
  ebb::runtime_v1::registration_once registration;
  std::atomic<bool> registering{false}, forked{false};
  std::atomic<int> registered{0};
  std::thread registrar([&] {
    registration.run([&]() noexcept {
      registering.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      registered.fetch_add(1);
    });
    while (!forked.load()) std::this_thread::yield();  // alive until the fork is done (TSan)
  });
  while (!registering.load()) std::this_thread::yield();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGALRM, &report_hung_install);
    ::alarm(test_support::under_memory_tool() ? 120 : 10);  // a child that waits for ever reports, exits 3
    bool ran_here = false;
    registration.run([&]() noexcept { ran_here = true; });
    ::_exit(ran_here ? 0 : 4);  // 4: it trusted the parent's registration, which never finished here
  }
  forked.store(true);
  // Another thread of this process comes while the registration runs: it must wait for it.
  registration.run([]() noexcept { std::abort(); });  // never runs: the registrar's is in progress
  const int registered_when_returned = registered.load();
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  registrar.join();
  CHECK(registered_when_returned == 1);
  INFO("child: exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << " (3: it waited for ever; 4: it did not register)");
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

// A thread-exit key (os/posix/thread_exit.hpp: the per-thread clean-ups of the stack cache, the
// registry's slots and fiber-locals) that another thread of the parent was creating when it forked:
// the child must create its own, not wait for a thread it does not have (the race test below hung so
// in its child's first fiber, natively, once in a few hundred trials under load) nor give up.
TEST_CASE("fork: a child forked while another thread creates a thread-exit key creates its own", "[fork]") {
  namespace rt = ebb::runtime_v1;
  static rt::os::thread_exit_key key;  // what a thread of this process leaves while it creates the key:
  key.state.store(rt::os::current_process_id());
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(test_support::under_memory_tool() ? 120 : 10);  // waiting for ever ends here: a failure
    static int value = 0;
    const bool armed = rt::os::run_at_thread_exit(key, [](void*) {}, &value);
    ::_exit(armed && key.state.load() == rt::os::thread_exit_key::ready ? 0 : 1);
  }
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO("exited " << WIFEXITED(status) << ", code " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                 << ", signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  key.state.store(0);  // in this process nobody is creating it: the next user creates it afresh
}

namespace {
// Where a trial's process is, for its alarm handler to say when it hangs (a hang under emulation is
// tolerated, below, but never silent: the next one names the step it hung in). The steps live in a
// page the trials share with the loop that runs them, so that the loop can name them too when it had
// to kill a trial that not even its alarm could end: the trial's in the first slot, its child's in
// the second (race_step points to the slot of the process it is read in).
volatile std::sig_atomic_t race_step_fallback[2] = {0, 0};
volatile std::sig_atomic_t* race_step_slots = race_step_fallback;
volatile std::sig_atomic_t* race_step = &race_step_fallback[0];
const char* const race_steps[] = {"trial: forking",           "trial: waiting for the child",
                                  "trial: joining the thread", "child: reading the registration",
                                  "child: creating its fiber", "child: resuming its fiber",
                                  "child: exiting",            "planted: a trial that ignores its alarm",
                                  "child: not forked yet"};
extern "C" void report_race_hang(int) {
  const char head[] = "ebb test: hung at ";
  const char* step = race_steps[*race_step];
  (void)!::write(2, head, sizeof head - 1);
  (void)!::write(2, step, std::strlen(step));
  (void)!::write(2, "\n", 1);
  std::signal(SIGALRM, SIG_DFL);
  std::raise(SIGALRM);  // ends as before: killed by SIGALRM
}

// The trial's own alarm, and its child's; the loop kills a trial still there 15 s after its alarm.
// Valgrind runs a trial many times slower; the sanitizers' trials take about as long as native ones
// (a longer alarm under ASan only made each of its allocator hangs, below, cost two minutes).
unsigned race_trial_alarm_seconds() { return test_support::under_valgrind() ? 300 : 30; }
unsigned race_child_alarm_seconds() { return test_support::under_valgrind() ? 120 : 10; }

// One trial, in a process no fiber has run in: a thread creates the first fiber while this thread
// forks after `delay` spins. The forked child records what it inherited, creates a fiber of its own,
// and exits 0 (inherited it registered or not begun), 1 (inherited it begun, and ended registered)
// or 2 (inherited it begun, and ended unregistered: its forks would be unprotected).
int fork_during_first_fiber(unsigned delay) {
  // A child that hangs before it can set its own alarm (seen only under qemu-user) must not hang the
  // trial: the trial ends itself, and the loop below reads that as a hang.
  std::signal(SIGALRM, &report_race_hang);
  ::alarm(race_trial_alarm_seconds());
  std::atomic<bool> go{false}, forked{false};
  std::thread first([&go, &forked] {
    while (!go.load()) {
    }
    ebb::fiber f([] {});
    f.resume();
    // Alive until the fork is done: TSan reports a thread that finished unjoined before a fork as
    // leaked, in the child.
    while (!forked.load()) std::this_thread::yield();
  });
  go.store(true);
  for (volatile unsigned i = 0; i < delay; i = i + 1) {
  }
  *race_step = 0;
  const pid_t pid = ::fork();
  if (pid == 0) {
    race_step = &race_step_slots[1];
    ::alarm(race_child_alarm_seconds());  // a hang: killed by SIGALRM, reported below
    *race_step = 3;
    auto& owner = ebb::runtime_v1::process_fork_handlers.registration.owner;
    const long inherited = owner.load();
    *race_step = 4;
    ebb::fiber f([] {});
    *race_step = 5;
    f.resume();
    *race_step = 6;
    const bool begun = inherited != 0 && inherited != ebb::runtime_v1::registration_once::done;
    ::_exit(!begun ? 0 : owner.load() == ebb::runtime_v1::registration_once::done ? 1 : 2);
  }
  forked.store(true);
  *race_step = 2;
  first.join();
  *race_step = 1;
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return 5;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 10 + WTERMSIG(status);
}

// Stands for what was seen under qemu-user: a trial that its alarm cannot end (the emulator never
// delivers it), with a child that holds the test's output pipe open as long as it lives.
[[noreturn]] void planted_unending_trial() {
  *race_step = 7;
  sigset_t alarm_only;
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  ::sigprocmask(SIG_BLOCK, &alarm_only, nullptr);
  if (::fork() < 0) ::_exit(5);
  for (;;) ::pause();
}

// The trial's result: its exit code, 30+n if it was killed by signal n, 50 if it was still there
// `deadline` seconds after it began and this loop killed it. Whatever the trial left behind (a child
// of a trial that ended by its alarm) is killed with it: a leftover would hold the test's output pipe
// open, and the test would wait for ever. The trial leads a process group of its own for that, and it
// is only waited for (reaped) once the group is gone, so its number cannot be taken meanwhile.
int wait_for_trial(pid_t pid, double deadline) {
  const auto start = std::chrono::steady_clock::now();
  long pause_ns = 20000;
  bool killed = false;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return 5;
    if (info.si_pid == pid) break;
    if (!killed && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > deadline) {
      ::kill(-pid, SIGKILL);
      killed = true;
    }
    const timespec nap{0, pause_ns};
    ::nanosleep(&nap, nullptr);
    pause_ns = pause_ns < 5000000 ? pause_ns * 2 : pause_ns;
  }
  ::kill(-pid, SIGKILL);  // its leftovers, if any (none when it ended normally)
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return 5;
  if (killed) return 50;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 30 + WTERMSIG(status);
}

struct race_outcome {
  int caught = 0;  // trials that forked a child in the middle of the registration
  int hangs = 0;
  int planted_result = -1;  // the planted trial's result (50: the loop killed it, as it must)
  bool failed = false;
};

// Runs the trials: `planted` (or -1) is a trial replaced by planted_unending_trial; its result is
// kept apart, so it never uses up the hangs tolerated. Under emulation up to `hangs_tolerated` hangs
// of the other trials are counted and printed, not failed.
race_outcome race_trials(int trials, int hangs_tolerated, int planted, double deadline) {
  // The step each trial is at, shared with it and its child.
  void* shared = ::mmap(nullptr, 2 * sizeof(std::sig_atomic_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                        -1, 0);
  if (shared == MAP_FAILED) std::_Exit(7);
  race_step_slots = static_cast<volatile std::sig_atomic_t*>(shared);
  race_step = &race_step_slots[0];
  race_outcome outcome;
  std::fflush(stdout);  // or every forked process writes Catch2's buffered header again
  for (int t = 0; t < trials; ++t) {
    race_step_slots[0] = 0;
    race_step_slots[1] = 8;
    const pid_t pid = ::fork();  // a process with no fiber yet: this test's process runs none
    if (pid == 0) {
      ::setpgid(0, 0);
      if (t == planted) planted_unending_trial();
      ::_exit(fork_during_first_fiber(static_cast<unsigned>((t * 7919) % 40000)));
    }
    if (pid < 0) std::_Exit(6);
    ::setpgid(pid, pid);  // also here: whichever side runs first, the group exists before the wait
    const int result = wait_for_trial(pid, deadline);
    if (t == planted) {
      outcome.planted_result = result;
      std::fprintf(stderr, "trial %d (planted): result %d; last steps: %s; %s\n", t, result,
                   race_steps[race_step_slots[0]], race_steps[race_step_slots[1]]);
      continue;
    }
    if (result == 1) ++outcome.caught;
    const bool hung = result == 10 + SIGALRM || result == 30 + SIGALRM || result == 50;
    if (hung && ++outcome.hangs <= hangs_tolerated) {
      std::fprintf(stderr, "trial %d: a hang (result %d; last steps: %s; %s), counted, not failed (%d tolerated)\n",
                   t, result, race_steps[race_step_slots[0]], race_steps[race_step_slots[1]], hangs_tolerated);
      continue;
    }
    if (result != 0 && result != 1) {
      std::fprintf(stderr, "trial %d: result %d; last steps: %s; %s (2: a child forked mid-registration never "
                           "registered; 10+n: the child was killed by signal n, 30+n: the trial was; 50: "
                           "the trial was still there %.0f s after it began, and was killed with its "
                           "child; 5: the trial failed)\n", t, result, race_steps[race_step_slots[0]],
                   race_steps[race_step_slots[1]], deadline);
      outcome.failed = true;
      break;
    }
  }
  return outcome;
}
}  // namespace

// Under qemu-user 7.2 (and only there) about one trial in a few hundred hangs: a child killed by its
// alarm, a child that never got to set one (the trial's own alarm ends it), or a trial that not even
// its alarm ended (the loop kills it). Which code hung was not established: qemu's fork of a
// multi-threaded guest is fragile (a child of such a guest that creates a thread makes qemu-aarch64
// 7.2 fail its own assertions, without ebb), and no hang was ever seen natively (1,500 trials a run).
// Under emulation a few hangs are counted and printed, not failed; a child that ended unregistered
// (2), or died of any other signal, fails everywhere.
// Under AddressSanitizer too: its allocator (GCC 12's libasan, and clang 14's) does not hold its
// locks across fork(), so a child forked while the first thread is inside malloc can inherit one
// held and wait for it for ever in its own first allocation. Seen natively with gcc
// -fsanitize=address,undefined: once in a CI run's 1,500 trials, once in about 4,200 trials of a
// local run, where gdb on the hung child showed it in ebb's first slot allocation (operator new),
// waiting on the mutex of ASan's SizeClassAllocator64.
TEST_CASE("child: forks race the first fibers of fresh processes", "[.child]") {
  // A third under ASan: its fork of a process with its shadow memory made the 1,500 trials take
  // 110 s of a fresh-chroot run's gcc-asan-ubsan stage (30 s natively), and its own allocator's
  // hangs (above) are what it mostly finds.
  const int trials = static_cast<int>(test_support::scaled(EBB_ASAN ? 500 : 1500));
  const race_outcome outcome = race_trials(trials, test_support::emulated() || EBB_ASAN ? 5 : 0, -1,
                                           race_trial_alarm_seconds() + 15.0);
  if (outcome.failed) std::_Exit(3);
  std::printf("%d of %d trials forked a child in the middle of the registration; each registered again "
              "(%d hung, under emulation or ASan)\n",
              outcome.caught, trials, outcome.hangs);
  std::fflush(stdout);
  std::_Exit(0);
}

// The loop above, with its second trial replaced by one that ignores its alarm and leaves a child
// behind: it must kill both and go on. (Before it did, such a trial under qemu held the test until
// CTest's 300 s limit.) The deadline leaves an ordinary trial time to end even under ASan on a
// loaded machine (1 s did not: an ordinary trial was killed too).
// Under emulation an ordinary trial has 10 s (about 70 ms each under qemu-riscv64 here), and the
// rare hangs of the ordinary trials are tolerated as in the test above: they used to share the one
// hang allowed for the planted trial, and a CI run under qemu-riscv64 failed this test.
TEST_CASE("child: the fork race loop kills a trial its alarm cannot end together with its child", "[.child]") {
  const double deadline = test_support::under_valgrind() ? 60.0 : test_support::emulated() ? 10.0 : 5.0;
  const race_outcome outcome = race_trials(4, test_support::emulated() || EBB_ASAN ? 5 : 0, 1, deadline);
  std::_Exit(!outcome.failed && outcome.planted_result == 50 ? 0 : 3);
}

TEST_CASE("fork: the race test's loop kills a trial that not even its alarm ends together with its child", "[fork]") {
  auto child = test_support::run_child_test("child: the fork race loop kills a trial its alarm cannot end together with its child");
  INFO(child.err);
  CHECK((child.exited && child.exit_code == 0));
  CHECK(child.err.find("last steps: planted") != std::string::npos);
}

TEST_CASE("fork: a child forked while the first fibers register fork()'s handlers registers its own", "[fork][threads]") {
  if (EBB_TSAN) {
    // Seen with clang 14: a child forked while another thread was inside ThreadSanitizer's allocator
    // waited for ever on the allocator's lock, and TSan, deferring signals inside its runtime, never
    // let the child's alarm end it. The deterministic test above covers the protocol under TSan too.
    WARN("skipped under ThreadSanitizer: its allocator's lock can be inherited held by a forked child");
    return;
  }
  auto child = test_support::run_child_test("child: forks race the first fibers of fresh processes");
  INFO(child.err);
  CHECK((child.exited && child.exit_code == 0));
  WARN(child.err);  // how many trials caught the window, and any hang tolerated under emulation
}
