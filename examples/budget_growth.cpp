// SPDX-License-Identifier: BSL-1.0
// budget_growth: a user-written GrowthPolicy for fibers that live under a hard stack budget shared by
// all of them (tripwire mode, docs/tripwire.md).
//
// In tripwire mode the budget is already hard: every byte a fiber may touch was granted by the fault
// handler from ebb::set_stack_budget()'s total, and a grant that does not fit aborts the process with
// a report. What the GrowthPolicy decides is how a fiber grows under it. Doubling (Go's rule, ebb's
// default) is right while memory is plentiful — few growth faults — but wasteful when the budget is
// tight: a fiber that needs 8 KiB more asks for its whole size again, and when that doubling does not
// fit, the process aborts although the bytes the fiber actually needed would have fitted.
//
// budget_aware_growth below doubles while half the budget stays free after the doubling, and past
// that grows each fiber only to what its touch needs. The example measures one workload — a group of
// fibers going down side by side and parked at their deepest points at once — three ways:
//   1. with ebb::doubling_growth and no budget: what doubling takes (its peak grant);
//   2. under a budget a little above that peak, doubling and budget_aware_growth side by side;
//   3. under a budget an eighth below doubling's peak: doubling, in a child process, is refused a
//      grant and aborts with ebb's report; budget_aware_growth completes; then a shrink pass
//      (stack_registry::shrink_all) hands the bytes back.
// Every figure is measured, printed, and checked; a claim that fails makes the exit status non-zero.
//
// Linux only: tripwire mode needs the alternate signal stack (EBB_HAS_TRIPWIRE is 0 on Windows, where
// this example says so and exits 0). Valgrind cannot run tripwire fibers; under it the example says so
// and exits 0 as well.
//
//   build and run:  cmake --build build --target example_budget_growth && build/example_budget_growth
#include <ebb/ebb.hpp>

#include <cstdio>

#if EBB_HAS_TRIPWIRE

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if EBB_VALGRIND
#include <valgrind/valgrind.h>  // RUNNING_ON_VALGRIND
#endif

namespace {

// ---- the policy ---------------------------------------------------------------------------------

// A maximum the workload below fits in on every target: 512 KiB with 4 KiB pages (ebb's default is
// only 256 KiB on 32-bit targets), and room for the workload scaled to 64 KiB pages on 64-bit ones.
constexpr std::size_t fiber_max_stack = sizeof(void*) >= 8 ? 8 * 1024 * 1024 : 512 * 1024;

// Sizes are rounded to 4 KiB, the smallest page of any target ebb runs on. The window ebb opens is
// rounded to the real page size anyway; the policy does not need to know it (and sysconf is not on the
// list of functions a signal handler may call).
constexpr std::size_t size_granule = 4096;

// next_size runs inside ebb's SIGSEGV handler, on the alternate signal stack, at the instruction that
// touched below the fiber's window, possibly while that very thread was inside malloc or held a lock.
// So it must be noexcept (ebb checks that at compile time: an exception cannot leave a signal
// handler), and it must neither allocate nor lock nor call anything that might: only arithmetic and
// the two budget reads, which are relaxed loads of lock-free atomics (ebb/os/stack_budget.hpp), are
// async-signal-safe here.
struct budget_aware_growth {
  static constexpr std::size_t min_size = ebb::default_min_stack;  // 2 KiB, as ebb's own policies
  static constexpr std::size_t initial_size = min_size;
  static constexpr std::size_t max_size = fiber_max_stack;

  // Doubling is allowed while at least this share of the budget stays free after it (here a half).
  // The doublings that waste are the late ones: a fiber that doubles when the budget is three quarters
  // spent may take bytes it never touches and that another fiber will need. On the workload below,
  // under either budget, keeping a quarter instead of a half free left budget_aware_growth granted
  // 1164 KiB instead of 1020 KiB (4 KiB pages, g++ -O2), for 43 growth steps instead of 71.
  static constexpr std::size_t keep_free_divisor = 2;

  std::size_t next_size(std::size_t current, std::size_t needed) const noexcept {
    const std::size_t doubled = current > max_size / 2 ? max_size : current * 2;
    if (doubling_keeps_reserve(doubled - current)) return doubled;
    // Tight: exactly what the touch needs (ebb opens the window that far plus its signal margin), so
    // the last bytes of the budget go to fibers that use them. The price is more growth faults: the
    // next one comes when the fiber goes a signal margin deeper.
    const std::size_t rounded = (needed + size_granule - 1) / size_granule * size_granule;
    return std::min(rounded, max_size);
  }

  // Whether granting `extra` more bytes still leaves the reserve free. Without a budget (the default
  // is SIZE_MAX) it always does, and the policy is plain doubling.
  //
  // The reading is a snapshot: other threads' fibers may take or return bytes meanwhile, and when one
  // fault needs several steps (a frame larger than the signal margin) ebb grants them all together
  // after asking, so a step does not see the ones before it. Neither matters for safety: the grant
  // itself is all-or-nothing against the hard budget. The policy only decides how greedy to be.
  static bool doubling_keeps_reserve(std::size_t extra) noexcept {
    const std::size_t limit = ebb::stack_budget();
    const std::size_t granted = ebb::stack_budget_granted();
    const std::size_t free_bytes = granted < limit ? limit - granted : 0;
    return extra <= free_bytes && free_bytes - extra >= limit / keep_free_divisor;
  }
};

// The budget reads are async-signal-safe because they are loads of a lock-free atomic.
static_assert(std::atomic<std::size_t>::is_always_lock_free, "the budget must be readable in a signal handler");

// What ebb checks when basic_fiber is instantiated (ebb/policies/requirements.hpp), said here too so a
// reader sees the contract the policy meets.
static_assert(noexcept(budget_aware_growth{}.next_size(std::size_t{}, std::size_t{})),
              "next_size runs in a signal handler: it must be noexcept");
static_assert(0 < budget_aware_growth::min_size && budget_aware_growth::min_size <= budget_aware_growth::initial_size &&
                  budget_aware_growth::initial_size <= budget_aware_growth::max_size,
              "a GrowthPolicy needs 0 < min_size <= initial_size <= max_size");
#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
static_assert(ebb::growth_policy<budget_aware_growth>);
#endif

using doubling = ebb::doubling_growth<ebb::default_min_stack, fiber_max_stack>;

// shrink_to_fit: one shrink point takes a stack all the way down to what it uses, so one pass of
// stack_registry::shrink_all() returns everything the deep calls were granted.
template <class GrowthPolicy>
using budgeted_fiber = ebb::basic_fiber<GrowthPolicy, ebb::shrink_to_fit<>, ebb::tripwire_stack_allocator<>>;

// ---- the workload -------------------------------------------------------------------------------

// Keep the recursion's frames on the real stack: with detect_stack_use_after_return, AddressSanitizer
// would move its locals to heap-allocated fake frames, and the fibers would not go deep at all.
#if EBB_ASAN
#define BUDGET_GROWTH_REAL_STACK __attribute__((no_sanitize("address")))
#else
#define BUDGET_GROWTH_REAL_STACK
#endif

// Recursion using about `bytes` of stack in frames of a little over 768 bytes, each written in full (a
// volatile buffer, so the compiler keeps every store). On the way down it yields after every
// `frames_per_stage` frames, so the fibers of the group grow side by side (the main loop resumes them
// in turn), as the jobs of one frame do; at the deepest point it parks until resumed. Returns how many
// frames still held what they were given when the call returned: all of them, unless growth under a
// frame damaged it. Frames stay well under a page: a frame larger than the guard below the maximum
// could jump it without -fstack-clash-protection (docs/tripwire.md).
constexpr std::size_t frame_bytes = 768;

struct descent {
  std::size_t frames_per_stage = 1;
  bool at_bottom = false;
};

constexpr unsigned char frame_pattern(std::size_t i, std::size_t bytes) {
  return static_cast<unsigned char>(i * 31 + bytes / frame_bytes);
}

BUDGET_GROWTH_REAL_STACK __attribute__((noinline)) std::size_t descend(std::size_t bytes, std::size_t frames_above,
                                                                       descent& progress) {
  volatile unsigned char frame[frame_bytes];
  for (std::size_t i = 0; i < frame_bytes; ++i) frame[i] = frame_pattern(i, bytes);
  std::size_t intact_below = 0;
  if (bytes > frame_bytes) {
    if (frames_above % progress.frames_per_stage == progress.frames_per_stage - 1) ebb::this_fiber::yield();
    intact_below = descend(bytes - frame_bytes, frames_above + 1, progress);
  } else {
    progress.at_bottom = true;
    ebb::this_fiber::yield();  // the deepest point: park here, holding the grant
  }
  // Read after the call (so the call is not a tail call): the whole frame, as it was written.
  bool intact = true;
  for (std::size_t i = 0; i < frame_bytes; ++i) intact = intact && frame[i] == frame_pattern(i, bytes);
  return intact_below + (intact ? 1 : 0);
}
constexpr std::size_t frames_for(std::size_t bytes) { return (bytes + frame_bytes - 1) / frame_bytes; }

// How deep each fiber of the group goes, in KiB with 4 KiB pages. Chosen a little past powers of two,
// where doubling wastes most: a fiber at 150 KiB is granted 256 KiB by doubling, but only the bytes
// it touched (plus the signal margin) by a policy that grows to what is needed.
constexpr std::size_t depths_kib[] = {80, 150, 40, 100, 200, 280};
constexpr std::size_t fiber_count = sizeof depths_kib / sizeof depths_kib[0];
const char* const fiber_names[fiber_count] = {"ai", "pathfinder", "audio", "physics", "script", "loader"};
constexpr std::size_t stage_kib = 16;  // how far a fiber goes down between two yields

// The workload in bytes for this machine. A window keeps a signal margin of two pages below the
// deepest touch (docs/tripwire.md): 8 KiB with 4 KiB pages, but 128 KiB with 64 KiB pages (AArch64
// kernels built so, or qemu -p 65536), where margins would swamp depths of a few hundred KiB. So the
// depths scale with the page, as far as the maximum stack allows.
struct workload {
  std::size_t scale = 1;
  std::size_t depth(std::size_t fiber) const { return depths_kib[fiber] * 1024 * scale; }
  std::size_t frames_per_stage() const { return stage_kib * 1024 * scale / frame_bytes; }
};

workload workload_for(std::size_t page) {
  workload w;
  const std::size_t deepest_kib = *std::max_element(std::begin(depths_kib), std::end(depths_kib));
  w.scale = page > 4096 ? page / 4096 : 1;
  // Room for the deepest fiber, its signal margin and a page below the maximum, or no scaling past it.
  while (w.scale > 1 && deepest_kib * 1024 * w.scale + 4 * page > fiber_max_stack) w.scale /= 2;
  return w;
}

struct run_figures {
  std::size_t granted_fresh = 0;     // every fiber created, none run
  std::size_t granted_deepest = 0;   // every fiber parked at its deepest point
  std::size_t used_deepest = 0;      // the bytes the fibers really use there (sum of stack_stats().used)
  std::uint64_t growth_steps = 0;    // GrowthPolicy answers, over all fibers
  std::size_t granted_at_top = 0;    // every fiber back near its top, before the shrink pass
  std::size_t granted_shrunk = 0;    // after the shrink pass
  std::size_t released = 0;          // what the shrink pass reported released
  std::size_t granted_after = 0;     // the fibers destroyed
  bool completed = false;            // every fiber ran to its end
  bool frames_intact = false;        // every frame of every fiber held its contents
};

// Run the workload with fibers of GrowthPolicy under the budget set now. Figures are relative to what
// the budget had granted before (nothing, in this program).
template <class GrowthPolicy>
run_figures run_workload(const workload& work) {
  run_figures figures;
  const std::size_t before = ebb::stack_budget_granted();
  std::size_t intact_frames = 0, expected_frames = 0;
  {
    std::vector<descent> progress(fiber_count);  // sized once: the fibers keep references into it
    std::vector<budgeted_fiber<GrowthPolicy>> fibers;
    fibers.reserve(fiber_count);
    for (std::size_t i = 0; i < fiber_count; ++i) {
      const std::size_t depth = work.depth(i);
      expected_frames += frames_for(depth);
      progress[i].frames_per_stage = work.frames_per_stage();
      descent& mine = progress[i];
      fibers.emplace_back(ebb::fiber_options().name(fiber_names[i]), [depth, &mine, &intact_frames] {
        intact_frames += descend(depth, 0, mine);
        ebb::this_fiber::yield();  // park again near the top: the point where a shrink pays off
      });
    }
    figures.granted_fresh = ebb::stack_budget_granted() - before;

    // Round after round, each fiber goes a stage deeper, until all are parked at their deepest point.
    for (bool all_at_bottom = false; !all_at_bottom;) {
      all_at_bottom = true;
      for (std::size_t i = 0; i < fiber_count; ++i) {
        if (progress[i].at_bottom) continue;
        fibers[i].resume();
        all_at_bottom = all_at_bottom && progress[i].at_bottom;
      }
    }
    figures.granted_deepest = ebb::stack_budget_granted() - before;
    for (auto& f : fibers) {
      const ebb::stack_stats s = f.stack_stats();
      figures.used_deepest += s.used;
      figures.growth_steps += s.grows;
    }

    for (auto& f : fibers) f.resume();  // each comes back up and parks near its top
    figures.granted_at_top = ebb::stack_budget_granted() - before;
    figures.released = ebb::stack_registry::shrink_all().released_bytes;
    figures.granted_shrunk = ebb::stack_budget_granted() - before;

    for (auto& f : fibers) f.resume();  // each returns
    figures.completed = std::all_of(fibers.begin(), fibers.end(), [](const auto& f) { return f.done(); });
  }
  figures.granted_after = ebb::stack_budget_granted() - before;
  figures.frames_intact = intact_frames == expected_frames;
  return figures;
}

// A grant the budget refuses aborts the process it happens in, with a report on stderr. To show that
// doubling is refused under the tight budget, the refusal happens in a child process (fork), whose
// stderr the parent reads.
struct child_outcome {
  bool aborted = false;  // killed by SIGABRT
  std::string report;    // ebb's report line, if it wrote one
};

child_outcome doubling_in_child(const workload& work) {
  child_outcome outcome;
  int fds[2];
  if (::pipe(fds) != 0) return outcome;
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return outcome;
  }
  if (child == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    const rlimit no_core_file{0, 0};  // the abort is expected: leave no core file behind
    ::setrlimit(RLIMIT_CORE, &no_core_file);
    run_workload<doubling>(work);
    ::_exit(0);  // reached only if the budget let doubling through
  }
  ::close(fds[1]);
  std::string err;
  char buffer[512];
  for (;;) {
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n > 0)
      err.append(buffer, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  outcome.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  // The first line from ebb (under qemu-user, the emulator adds one of its own after it).
  const std::size_t start = err.find("ebb: ");
  if (start != std::string::npos) outcome.report = err.substr(start, err.find('\n', start) - start);
  return outcome;
}

// ---- checking and printing ----------------------------------------------------------------------

int failed_claims = 0;

void check(bool claim, const char* what) {
  if (!claim) {
    std::printf("  CLAIM FAILED: %s\n", what);
    ++failed_claims;
  }
}

double kib(std::size_t bytes) { return static_cast<double>(bytes) / 1024.0; }

void print_run(const char* policy, const run_figures& r) {
  std::printf("  %-20s granted at the deepest point %7.0f KiB  (in use there %6.0f KiB, %3llu growth steps)\n",
              policy, kib(r.granted_deepest), kib(r.used_deepest), static_cast<unsigned long long>(r.growth_steps));
}

// Claims every run must meet, whatever the policy and budget.
void check_run(const run_figures& r, std::size_t budget) {
  check(r.completed, "every fiber ran to its end");
  check(r.frames_intact, "every frame kept its contents while the stacks grew and shrank");
  check(r.granted_deepest <= budget, "the grant never passed the budget");
  check(r.granted_deepest >= r.used_deepest, "every byte in use was granted");
  check(r.granted_after == 0, "destroying the fibers returned every granted byte");
}

// Valgrind cannot run tripwire fibers (docs/tripwire.md). Run under Valgrind 3.19 without this check,
// this example's fibers found their frames changed after growing (every run's frame check failed).
// Builds made for Valgrind (EBB_VALGRIND=1) ask it directly; others recognise it by the preload
// library it puts into every process it runs.
bool running_on_valgrind() {
#if EBB_VALGRIND
  if (RUNNING_ON_VALGRIND) return true;
#endif
  const char* preload = std::getenv("LD_PRELOAD");
  return preload != nullptr && std::strstr(preload, "vgpreload") != nullptr;
}

}  // namespace

int main() {
  // Unbuffered: a refused grant aborts the process, and what was printed before it must not be lost.
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const workload work = workload_for(page);
  std::printf("budget_growth: %zu tripwire fibers going down side by side to depths of", fiber_count);
  for (std::size_t i = 0; i < fiber_count; ++i) std::printf(" %zu", work.depth(i) / 1024);
  std::printf(" KiB (%zu-byte pages), all parked at the deepest point at once\n", page);
  if (running_on_valgrind()) {
    std::printf("skipped: Valgrind cannot run tripwire fibers (docs/tripwire.md)\n");
    return 0;
  }
  const std::size_t unlimited = static_cast<std::size_t>(-1);
  check(ebb::stack_budget_granted() == 0, "no tripwire fiber holds a grant before the first run");

  // 1. What doubling takes, measured without a budget.
  ebb::set_stack_budget(unlimited);
  const run_figures doubling_alone = run_workload<doubling>(work);
  const std::size_t doubling_peak = doubling_alone.granted_deepest;
  std::printf("1. no budget:\n");
  print_run("doubling_growth", doubling_alone);
  check_run(doubling_alone, unlimited);

  // 2. A budget doubling fits in, with an eighth to spare; both policies under it.
  const std::size_t roomy_budget = (doubling_peak + doubling_peak / 8 + page - 1) / page * page;
  ebb::set_stack_budget(roomy_budget);
  std::printf("2. budget %.0f KiB (doubling's peak and an eighth):\n", kib(roomy_budget));
  const run_figures doubling_roomy = run_workload<doubling>(work);
  print_run("doubling_growth", doubling_roomy);
  check_run(doubling_roomy, roomy_budget);
  check(doubling_roomy.granted_deepest == doubling_peak, "doubling takes the same under a budget it fits in");
  const run_figures aware_roomy = run_workload<budget_aware_growth>(work);
  print_run("budget_aware_growth", aware_roomy);
  check_run(aware_roomy, roomy_budget);
  check(aware_roomy.granted_deepest < doubling_peak, "budget_aware_growth is granted less than doubling");
  const std::size_t saved = doubling_peak > aware_roomy.granted_deepest ? doubling_peak - aware_roomy.granted_deepest : 0;
  std::printf("  budget_aware_growth saved %.0f KiB (%.0f%% of doubling's grant)\n", kib(saved),
              100.0 * static_cast<double>(saved) / static_cast<double>(doubling_peak));

  // 3. A budget doubling cannot fit in: an eighth below its peak. Doubling is refused a grant there
  //    and aborts the process with a report (shown in a child process); budget_aware_growth completes.
  const std::size_t tight_budget = (doubling_peak - doubling_peak / 8) / page * page;
  ebb::set_stack_budget(tight_budget);
  std::printf("3. budget %.0f KiB (an eighth below doubling's peak of %.0f KiB):\n",
              kib(tight_budget), kib(doubling_peak));
  check(tight_budget < doubling_peak, "doubling would need more than this budget");
  const child_outcome refused = doubling_in_child(work);
  std::printf("  %-20s %s\n    %s\n", "doubling_growth",
              refused.aborted ? "refused a grant and aborted (run in a child process), reporting:"
                              : "did not abort in a child process",
              refused.report.empty() ? "(no report)" : refused.report.c_str());
  check(refused.aborted, "doubling aborts under this budget");
  check(refused.report.find("stack budget exhausted") != std::string::npos, "the abort names the budget");
  const run_figures aware_tight = run_workload<budget_aware_growth>(work);
  print_run("budget_aware_growth", aware_tight);
  check_run(aware_tight, tight_budget);

  // The shrink pass of that run: back near their tops, the fibers give back what the deep calls took.
  std::printf("4. shrink pass (stack_registry::shrink_all) with the fibers parked near their tops:\n");
  std::printf("  granted before %.0f KiB, after %.0f KiB (released %.0f KiB; %.0f KiB when the fibers were new)\n",
              kib(aware_tight.granted_at_top), kib(aware_tight.granted_shrunk), kib(aware_tight.released),
              kib(aware_tight.granted_fresh));
  check(aware_tight.granted_shrunk < aware_tight.granted_at_top, "the shrink pass returned bytes to the budget");
  // Each fiber is back to about its first window: at most a page more each (the frames near the top).
  check(aware_tight.granted_shrunk <= aware_tight.granted_fresh + fiber_count * page,
        "after the shrink pass the fibers hold about what they held when new");

  ebb::set_stack_budget(unlimited);
  if (failed_claims != 0) {
    std::printf("budget_growth: %d claim(s) failed\n", failed_claims);
    return 1;
  }
  std::printf("budget_growth: every claim held\n");
  return 0;
}

#else  // !EBB_HAS_TRIPWIRE

int main() {
  std::printf("budget_growth: skipped: tripwire mode (ebb::tripwire_stack_allocator, the hard stack budget) is "
              "Linux-only; on Windows the OS's guard-page growth serves instead (docs/tripwire.md)\n");
  return 0;
}

#endif
