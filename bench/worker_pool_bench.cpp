// SPDX-License-Identifier: BSL-1.0
// bench/worker_pool_bench.cpp — the scenario ebb exists for, measured: a pool of workers that once
// went deep gives its memory back.
//
// 1000 fibers (--workers) park; then each recurses 10,000 frames (--depth) of 88 bytes on average
// (bench/deep_frames.hpp; the figure measured is printed: peak bytes in use / levels), about 860 KiB,
// comes back up and parks again. Then ebb::stack_registry::shrink_all() runs pass after pass until a
// pass releases nothing. Printed for every step: RSS (VmRSS) and the stacks' committed bytes (the sum of
// stack_stats().committed), and the time of each pass. The scenario runs for two ShrinkPolicies:
//
//   quarter_shrink (ebb::fiber)  Go's rule, one halving per pass: expect about log2(peak / 2 KiB) passes
//   shrink_to_fit                every halving the rule allows, at once: expect 1 pass
//
// Figures derived, with their targets:
//   * passes until RSS is within 10% of the parked baseline: <= log2(peak / min) for quarter_shrink,
//     <= 1 for shrink_to_fit;
//   * a pass that releases nothing, over 1000 fibers that have not run since the last pass: < 100 us
//     (median of 21 passes in a row, caches warm; and of 21 passes each after a 64 MiB memory sweep,
//     caches and TLB cold, as in a program that did other work in between: the pass reads one control
//     block per fiber, each on its own page). For information also a pass over fibers that did run
//     since (each resumed once, at the same shallow depth): then ebb must ask the kernel which pages
//     are resident before it knows that nothing is to be released;
//   * a pass that releases memory, per page released, against bare madvise(MADV_DONTNEED) of the same
//     number of pages, measured in the same run right after each pass: 1000 separate mmap'd regions of
//     the reservation's size (MAP_NORESERVE | MAP_STACK, MADV_NOHUGEPAGE like ebb's slabs), the same
//     number of pages touched at the top of each (one byte per page, top down), one madvise per region.
//     Targets: pass 1 of each policy <= 0.75x and all releasing passes of quarter_shrink together
//     <= 0.5x that bare per-region madvise (ebb batches its releases: os/linux/pass_memory.hpp).
//     And against the batched system call itself: the same regions released 64 at a time with
//     process_madvise(PIDFD_SELF, MADV_DONTNEED), right after the per-region comparison. Target:
//     every releasing pass <= 1.15x that (the new limit; printed "-" where the kernel refuses it).
//     Each releasing pass is also split, by the pass's own memory counters (os/linux/pass_memory.hpp
//     times its system calls), into the time inside its release calls, the time inside its residency
//     scans, and the rest, which is ebb's own work; the release calls' ns per page, set beside the
//     bare batched call's, tells how much of a gap is the kernel's work on these pages.
//
// Compact fibers (ebb::compact_fiber: quarter_shrink, frames on the thread's execution stack, saved
// into storage sized by the policies when another fiber takes the stack) run the scenario twice, on a
// thread of their own (they stay on the thread that first resumed them; every resume and every pass
// is made there):
//   * suspended at the deepest level: each worker yields once at the bottom of its recursion
//     (deep_frames::at_bottom), so its 860 KiB of frames are saved (storage grows to the logical size,
//     1 MiB), then comes back up and parks; the passes then halve the storage, as they halve an
//     in-place stack. Target, as for quarter_shrink: within 10% of the parked baseline in
//     <= log2(peak / 2 KiB) passes;
//   * not suspended deep, exactly as the in-place scenarios: the recursion runs on the execution
//     stack and returns before the worker parks, so the storage never sees the depth; only the
//     execution stack's pages do, and a pass trims them.
// For compact fibers shrink_report.released_bytes includes the trim of the execution stacks (the
// resident pages below the frames they hold); their passes stop at the first that shrinks no storage
// and lowers RSS by less than 64 KiB, judged by what the kernel and ebb hold. There is no bare comparison for them
// (their memory goes back by unmapping or decommitting blocks, not by madvise of stack pages).
//
// Each scenario is heavy (about 860 MB resident at its peak), so they run one after another, and each
// ends by destroying its fibers and calling ebb::trim_stack_pool(). With Go available (--go-binary, or
// `go` on PATH, which then builds bench/go/worker_pool.go into $TMPDIR), the same scenario runs with
// goroutines in a child process, and its runtime.GC() calls are printed beside ebb's passes.
//
// --reps N repeats the whole set (ebb quarter_shrink, ebb shrink_to_fit, Go), in an order rotated each
// repetition, and then the two compact scenarios as many times, rotated between themselves (after the
// others, so that what they leave in the process does not raise the others' RSS baselines); every time
// and ratio printed is a median over the repetitions, every ratio is taken between figures of this
// same run.
#include "bench_common.hpp"
#include "deep_frames.hpp"
#include "go_program.hpp"

#include <ebb/ebb.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

using namespace ebb_bench;

using quarter_fiber = ebb::fiber;  // quarter_shrink<> is the default ShrinkPolicy
using fit_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::shrink_to_fit<>>;

struct config {
  std::size_t workers = 1000;
  int depth = 10000;
  std::size_t reps = 5;
  std::size_t idle_passes = 21;  // each, warm and cold
  std::size_t ran_passes = 7;
  std::size_t max_passes = 20;
  double go_wait_s = 2;
  std::size_t go_gcs = 10;
};

double mib(double kib) { return kib / 1024.0; }

// ---- the bare comparison -----------------------------------------------------------------------
// `count` separate regions of `bytes` each, mapped once for the whole run.
class bare_regions {
 public:
  bare_regions(std::size_t count, std::size_t bytes) : bytes_(bytes) {
    for (std::size_t i = 0; i < count; ++i) {
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (p == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
      }
#ifdef MADV_NOHUGEPAGE
      ::madvise(p, bytes, MADV_NOHUGEPAGE);  // as ebb marks its slabs
#endif
      regions_.push_back(static_cast<char*>(p));
    }
  }
  ~bare_regions() {
    for (char* p : regions_) ::munmap(p, bytes_);
  }
  bare_regions(const bare_regions&) = delete;
  bare_regions& operator=(const bare_regions&) = delete;

  // Touch the top `pages` pages of every region (one byte each, top down), then time one
  // madvise(MADV_DONTNEED) per region over exactly those pages. Returns nanoseconds for all of them.
  double touch_then_release_ns(std::size_t pages) {
    const std::size_t page = page_bytes();
    if (pages == 0 || pages * page > bytes_) return 0;
    for (char* p : regions_)
      for (std::size_t k = 1; k <= pages; ++k) static_cast<volatile char*>(p + bytes_ - k * page)[0] = 1;
    const std::uint64_t t0 = now_ns();
    for (char* p : regions_)
      if (::madvise(p + bytes_ - pages * page, pages * page, MADV_DONTNEED) != 0) {
        std::perror("madvise");
        std::exit(1);
      }
    return static_cast<double>(now_ns() - t0);
  }

  // The same pages, released 64 regions per process_madvise call on our own process. 0 when the
  // kernel refuses the call (before Linux 6.15, or filtered). cooled: a 64 MiB sweep between the
  // touch and the release, so the pages' page tables and kernel bookkeeping are out of the caches, as
  // a pass finds a parked fiber's pages (the fiber last touched them long before); the pages just
  // touched cost less to free, up to half for one page a region here.
  double touch_then_release_batched_ns(std::size_t pages, bool cooled = false) {
    const std::size_t page = page_bytes();
    if (pages == 0 || pages * page > bytes_) return 0;
    for (char* p : regions_)
      for (std::size_t k = 1; k <= pages; ++k) static_cast<volatile char*>(p + bytes_ - k * page)[0] = 1;
    if (cooled) {  // written, then unmapped again by free(): the RSS columns must not see it
      std::vector<char> sweep(64u << 20, 1);
      for (std::size_t i = 0; i < sweep.size(); i += 64) sweep_sum_ += static_cast<unsigned char>(sweep[i]++);
    }
    std::vector<iovec> ranges;
    for (char* p : regions_) ranges.push_back({p + bytes_ - pages * page, pages * page});
    const std::uint64_t t0 = now_ns();
    for (std::size_t i = 0; i < ranges.size(); i += 64) {
      const std::size_t n = std::min<std::size_t>(64, ranges.size() - i);
      if (::syscall(SYS_process_madvise, -10001 /* PIDFD_SELF */, ranges.data() + i, n, MADV_DONTNEED, 0u) !=
          static_cast<long>(n * pages * page))
        return 0;
    }
    return static_cast<double>(now_ns() - t0);
  }

 private:
  std::size_t bytes_;
  std::vector<char*> regions_;
  unsigned sweep_sum_ = 0;
};

// ---- one ebb scenario ----------------------------------------------------------------------------
struct pass_record {
  double ms = 0;
  std::size_t shrunk = 0;
  std::size_t released = 0;  // bytes
  long rss_kib = 0;
  std::size_t committed = 0;  // bytes, all stacks
  std::size_t bare_pages = 0;  // pages released by the bare madvise comparison (0: none made)
  double bare_ms = 0;
  double batched_ms = 0;       // the same pages by bare process_madvise, 64 regions a call (0: refused)
  double cooled_ms = 0;        // the same again, with a cache sweep between touch and release
  // Inside the pass, from its memory counters (os/linux/pass_memory.hpp): the time in the release
  // calls and in the residency scans, and how many calls; the rest of the pass is ebb's own work.
  double release_calls_ms = 0, scan_calls_ms = 0;
  std::uint64_t release_calls = 0, scans = 0;
};

// The process's pass counters: what passes asked of the kernel, and how long the kernel took.
ebb::runtime_v1::os::pass_memory_counters pass_counters() { return ebb::runtime_v1::process_registry().memory.counters; }

struct scenario_result {
  long rss_start_kib = 0, rss_parked_kib = 0, rss_deep_kib = 0, rss_cleanup_kib = 0;
  std::size_t committed_parked = 0, committed_deep = 0;
  std::size_t peak = 0, size_deep = 0;
  double recursion_ms = 0;
  std::vector<pass_record> passes;  // up to and including the first that released nothing
  int passes_to_baseline = -1;      // the first pass after which RSS <= 1.1 x parked; -1: none
  std::vector<double> idle_pass_us, cold_pass_us, ran_pass_us;
  std::size_t idle_released = 0, ran_released = 0;  // should stay 0
};

template <class Fiber>
std::size_t committed_sum(std::vector<Fiber>& fibers) {
  std::size_t sum = 0;
  for (auto& f : fibers) sum += f.stack_stats().committed;
  return sum;
}

// compact: a compact fiber type (its committed bytes are its storage; no bare comparison; a pass
// "releases nothing" when neither RSS nor the storage held went down, see below). yield_deep: each
// worker yields once at the deepest level of its recursion (deep_frames::at_bottom), so it is
// suspended deep and its frames are saved, before it comes back up and parks.
template <class Fiber>
scenario_result run_scenario(const config& cfg, bare_regions* bare, bool compact = false, bool yield_deep = false) {
  scenario_result r;
  ebb::trim_stack_pool();
  r.rss_start_kib = proc_status_kib("VmRSS");
  std::vector<int> results(cfg.workers);
  std::vector<Fiber> fibers;
  fibers.reserve(cfg.workers);
  for (std::size_t i = 0; i < cfg.workers; ++i) {
    int* out = &results[i];
    const int depth = cfg.depth;
    fibers.emplace_back([out, depth] {
      ebb::this_fiber::yield();  // parked, waiting for the burst
      *out = recurse_frames(depth);
      for (;;) ebb::this_fiber::yield();  // parked again, shallow, with a deep stack behind it
    });
  }
  for (auto& f : fibers) f.resume();
  r.rss_parked_kib = proc_status_kib("VmRSS");
  r.committed_parked = committed_sum(fibers);

  const std::uint64_t t0 = now_ns();
  if (yield_deep) deep_frames::at_bottom = [] { ebb::this_fiber::yield(); };
  for (auto& f : fibers) f.resume();
  if (yield_deep) {
    for (auto& f : fibers) f.resume();  // back up from the deepest level, and parked again
    deep_frames::at_bottom = nullptr;
  }
  r.recursion_ms = static_cast<double>(now_ns() - t0) / 1e6;
  r.rss_deep_kib = proc_status_kib("VmRSS");
  r.committed_deep = committed_sum(fibers);
  const ebb::stack_stats deep = fibers.front().stack_stats();
  r.peak = deep.peak;
  r.size_deep = deep.size;

  const std::size_t page = page_bytes();
  for (std::size_t k = 1; k <= cfg.max_passes; ++k) {
    pass_record p;
    const auto counted = pass_counters();
    const std::uint64_t s0 = now_ns();
    const ebb::shrink_report report = ebb::stack_registry::shrink_all();
    p.ms = static_cast<double>(now_ns() - s0) / 1e6;
    const auto counted_after = pass_counters();
    p.release_calls_ms = static_cast<double>(counted_after.release_ns - counted.release_ns) / 1e6;
    p.scan_calls_ms = static_cast<double>(counted_after.scan_ns - counted.scan_ns) / 1e6;
    p.release_calls = counted_after.release_calls - counted.release_calls;
    p.scans = counted_after.residency_scans - counted.residency_scans;
    p.shrunk = report.shrunk;
    p.released = report.released_bytes;
    p.rss_kib = proc_status_kib("VmRSS");
    p.committed = committed_sum(fibers);
    if (p.released > 0 && bare != nullptr) {
      // The same number of pages, spread over the same number of regions.
      const std::size_t per_region =
          std::max<std::size_t>(1, (p.released / page + cfg.workers / 2) / cfg.workers);
      p.bare_ms = bare->touch_then_release_ns(per_region) / 1e6;
      p.batched_ms = bare->touch_then_release_batched_ns(per_region) / 1e6;
      p.cooled_ms = bare->touch_then_release_batched_ns(per_region, /*cooled=*/true) / 1e6;
      p.bare_pages = per_region * cfg.workers;
    }
    if (r.passes_to_baseline < 0 && p.rss_kib * 10 <= r.rss_parked_kib * 11)
      r.passes_to_baseline = static_cast<int>(k);
    const pass_record before = r.passes.empty() ? pass_record{0, 0, 0, r.rss_deep_kib, r.committed_deep, 0, 0, 0, 0, 0, 0, 0, 0} : r.passes.back();
    r.passes.push_back(p);
    if (!compact && p.released == 0) break;
    // Compact fibers: judged by what the kernel and ebb hold, the storage did not shrink and RSS went
    // down by less than 64 KiB.
    if (compact && p.committed >= before.committed && p.rss_kib + 64 > before.rss_kib) break;
  }

  for (std::size_t k = 0; k < cfg.idle_passes; ++k) {
    const std::uint64_t s0 = now_ns();
    r.idle_released += ebb::stack_registry::shrink_all().released_bytes;
    r.idle_pass_us.push_back(static_cast<double>(now_ns() - s0) / 1e3);
  }
  {
    // The same with cold caches and TLB, as a program that did other work since its last pass has
    // them: a 64 MiB sweep before each pass evicts the fibers' control blocks from every cache level.
    std::vector<char> sweep(64u << 20, 1);
    unsigned sum = 0;
    for (std::size_t k = 0; k < cfg.idle_passes; ++k) {
      for (std::size_t i = 0; i < sweep.size(); i += 64) sum += static_cast<unsigned char>(sweep[i]++);
      const std::uint64_t s0 = now_ns();
      r.idle_released += ebb::stack_registry::shrink_all().released_bytes;
      r.cold_pass_us.push_back(static_cast<double>(now_ns() - s0) / 1e3);
    }
    if (sum == 1) std::printf(" ");
  }
  for (std::size_t k = 0; k < cfg.ran_passes; ++k) {
    for (auto& f : fibers) f.resume();  // runs one turn of its loop at the same depth, parks again
    const std::uint64_t s0 = now_ns();
    r.ran_released += ebb::stack_registry::shrink_all().released_bytes;
    r.ran_pass_us.push_back(static_cast<double>(now_ns() - s0) / 1e3);
  }

  int sink = 0;
  for (int v : results) sink += v;
  if (sink == 0) std::printf("(no recursion happened?)\n");
  fibers.clear();  // unwinds every suspended worker; the stacks go back to the pool
  ebb::trim_stack_pool();
  r.rss_cleanup_kib = proc_status_kib("VmRSS");
  return r;
}

// Compact fibers run on a thread of their own: they stay on the thread that first resumed them, the
// passes trim that thread's execution stacks, and when the thread ends its execution stacks go with
// it, so the in-place scenarios on the main thread never see them (a pass on a thread that has
// execution stacks reports their trim as released memory, which would blur those scenarios' "a pass
// that releases nothing"). RSS after cleanup is read once the thread has ended.
template <class Fiber>
scenario_result run_compact_scenario(const config& cfg, bool yield_deep) {
  scenario_result r;
  std::thread worker([&] { r = run_scenario<Fiber>(cfg, nullptr, /*compact=*/true, yield_deep); });
  worker.join();
  r.rss_cleanup_kib = proc_status_kib("VmRSS");
  return r;
}

// ---- Go -----------------------------------------------------------------------------------------
struct go_step {
  double ms = 0, seconds = 0;
  long rss_kib = 0, stack_kib = 0;
};
struct go_result {
  bool ok = false;
  std::string version;
  long frame_bytes = 0;
  long rss_parked_kib = 0, stack_parked_kib = 0, rss_deep_kib = 0, stack_deep_kib = 0, gcs_before = 0;
  double recursion_ms = 0;
  std::vector<go_step> gcs, waits;
  go_step free_os;
};

// The Go program to run: --go-binary, or built from bench/go/worker_pool.go with `go` from PATH.
std::string locate_go_program(const std::string& given, std::string& why_not) {
#ifdef EBB_BENCH_GO_SOURCE
  return ebb_bench::locate_go_program(given, EBB_BENCH_GO_SOURCE, "go_worker_pool", why_not);
#else
  return ebb_bench::locate_go_program(given, nullptr, "go_worker_pool", why_not);
#endif
}

go_result run_go(const std::string& binary, const config& cfg) {
  go_result g;
  char args[160];
  std::snprintf(args, sizeof args, " -workers %zu -depth %d -gcs %zu -wait %.3fs", cfg.workers, cfg.depth,
                cfg.go_gcs, cfg.go_wait_s);
  const std::string command = quoted(binary) + args;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return g;
  char line[512];
  while (std::fgets(line, sizeof line, pipe.get())) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    std::string k1, k2, k3, k4;
    if (key == "go_version") {
      in >> g.version;
    } else if (key == "parked") {
      in >> k1 >> g.rss_parked_kib >> k2 >> g.stack_parked_kib;
    } else if (key == "frame_bytes") {
      in >> g.frame_bytes;
    } else if (key == "deep") {
      in >> k1 >> g.rss_deep_kib >> k2 >> g.stack_deep_kib >> k3 >> g.recursion_ms >> k4 >> g.gcs_before;
    } else if (key == "gc") {
      go_step s;
      int index;
      in >> index >> k1 >> s.ms >> k2 >> s.rss_kib >> k3 >> s.stack_kib;
      g.gcs.push_back(s);
    } else if (key == "wait") {
      go_step s;
      in >> k1 >> s.seconds >> k2 >> s.rss_kib;
      g.waits.push_back(s);
    } else if (key == "free_os_memory") {
      in >> k1 >> g.free_os.ms >> k2 >> g.free_os.rss_kib >> k3 >> g.free_os.stack_kib;
      g.ok = true;
    }
  }
  if (::pclose(pipe.release()) != 0) g.ok = false;
  return g;
}

// ---- medians over the repetitions ---------------------------------------------------------------
template <class T, class Get>
double median_of(const std::vector<T>& runs, Get get) {
  std::vector<double> v;
  for (const T& r : runs) v.push_back(static_cast<double>(get(r)));
  return summarize(v).median;
}

// Median of a per-step figure, over the runs that have step k.
template <class T, class Steps, class Get>
double step_median(const std::vector<T>& runs, std::size_t k, Steps steps, Get get, bool* any = nullptr) {
  std::vector<double> v;
  for (const T& r : runs)
    if (k < steps(r).size()) v.push_back(static_cast<double>(get(steps(r)[k])));
  if (any) *any = !v.empty();
  return summarize(v).median;
}

struct policy_summary {
  std::string name;
  std::vector<scenario_result> runs;
  bool compact = false;  // compact fibers: "committed" is the saved frames' storage; no bare comparison
  std::size_t max_passes() const {
    std::size_t n = 0;
    for (const auto& r : runs) n = std::max(n, r.passes.size());
    return n;
  }
  double passes_to_baseline() const {
    // A run that never came back within 10% counts as 99 passes.
    return median_of(runs, [](const scenario_result& r) { return r.passes_to_baseline < 0 ? 99 : r.passes_to_baseline; });
  }
  double peak() const { return median_of(runs, [](const scenario_result& r) { return r.peak; }); }
  double idle_us() const {
    std::vector<double> all;
    for (const auto& r : runs) all.insert(all.end(), r.idle_pass_us.begin(), r.idle_pass_us.end());
    return summarize(all).median;
  }
  double cold_us() const {
    std::vector<double> all;
    for (const auto& r : runs) all.insert(all.end(), r.cold_pass_us.begin(), r.cold_pass_us.end());
    return summarize(all).median;
  }
  double ran_us() const {
    std::vector<double> all;
    for (const auto& r : runs) all.insert(all.end(), r.ran_pass_us.begin(), r.ran_pass_us.end());
    return summarize(all).median;
  }
  // ns per page released by pass k (ebb), and by the bare madvise made right after it.
  double ebb_ns_per_page(std::size_t k) const {
    const std::size_t page = page_bytes();
    return pass_median(k, [&](const pass_record& p) { return p.released ? p.ms * 1e6 / (p.released / page) : 0.0; });
  }
  double bare_ns_per_page(std::size_t k) const {
    return pass_median(k, [](const pass_record& p) { return p.bare_pages ? p.bare_ms * 1e6 / p.bare_pages : 0.0; });
  }
  double batched_ns_per_page(std::size_t k) const {
    return pass_median(k, [](const pass_record& p) { return p.bare_pages && p.batched_ms > 0 ? p.batched_ms * 1e6 / p.bare_pages : 0.0; });
  }
  double cooled_ns_per_page(std::size_t k) const {
    return pass_median(k, [](const pass_record& p) { return p.bare_pages && p.cooled_ms > 0 ? p.cooled_ms * 1e6 / p.bare_pages : 0.0; });
  }
  // ns per page released inside pass k's release calls alone (0: the pass made none).
  double calls_ns_per_page(std::size_t k) const {
    const std::size_t page = page_bytes();
    return pass_median(k, [&](const pass_record& p) { return p.released ? p.release_calls_ms * 1e6 / (p.released / page) : 0.0; });
  }
  // Pass k's time outside the system calls it made (its visits, decisions and bookkeeping), in ms.
  double own_ms(std::size_t k) const {
    return pass_median(k, [](const pass_record& p) { return std::max(0.0, p.ms - p.release_calls_ms - p.scan_calls_ms); });
  }
  // The releasing pass furthest above the bare batched call (ebb / batched per page); npos if none compared.
  std::size_t worst_pass(bool cooled = false) const {
    double worst = 0;
    std::size_t at = static_cast<std::size_t>(-1);
    for (std::size_t k = 0; k < max_passes(); ++k) {
      const double e = ebb_ns_per_page(k), b = cooled ? cooled_ns_per_page(k) : batched_ns_per_page(k);
      if (e > 0 && b > 0 && e / b > worst) worst = e / b, at = k;
    }
    return at;
  }
  double worst_vs_batched(bool cooled = false) const {
    const std::size_t k = worst_pass(cooled);
    if (k == static_cast<std::size_t>(-1)) return 0;
    return ebb_ns_per_page(k) / (cooled ? cooled_ns_per_page(k) : batched_ns_per_page(k));
  }
  // All passes that released memory together: total time / total pages, ebb and bare, per run.
  double ebb_ns_per_page_all() const {
    const std::size_t page = page_bytes();
    return median_of(runs, [&](const scenario_result& r) {
      double ms = 0, pages = 0;
      for (const auto& p : r.passes)
        if (p.released) ms += p.ms, pages += static_cast<double>(p.released / page);
      return pages ? ms * 1e6 / pages : 0.0;
    });
  }
  double bare_ns_per_page_all() const {
    return median_of(runs, [](const scenario_result& r) {
      double ms = 0, pages = 0;
      for (const auto& p : r.passes)
        if (p.bare_pages) ms += p.bare_ms, pages += static_cast<double>(p.bare_pages);
      return pages ? ms * 1e6 / pages : 0.0;
    });
  }
  template <class Get>
  double pass_median(std::size_t k, Get get, bool* any = nullptr) const {
    return step_median(runs, k, [](const scenario_result& r) -> const std::vector<pass_record>& { return r.passes; },
                       get, any);
  }
};

// Where each releasing pass's time went: inside its release calls, inside its residency scans, and
// the rest, which is ebb's own work (visiting the fibers, deciding, holding and letting go of them).
// The release calls' cost per page set beside the bare batched call's says how much of the gap to it
// is the kernel's, on these pages, rather than ebb's.
void print_time_split(const policy_summary& p, std::ostringstream& md) {
  const std::size_t page = page_bytes();
  std::printf("  where each releasing pass's time went (medians):\n");
  std::printf("  %4s  %9s  %6s  %9s  %6s  %9s  %9s  %6s  %11s  %11s  %6s\n", "pass", "time", "calls", "in them", "scans",
              "in them", "ebb's own", "share", "calls ns/pg", "batched/pg", "ratio");
  md << "\nWhere each releasing pass's time went (medians): inside its release calls (`process_madvise`, 64 "
        "fibers' ranges each), inside its residency scans (`PAGEMAP_SCAN`), and the rest, ebb's own work; the "
        "release calls' cost per page beside the bare batched call's:\n\n"
     << "| pass | time | release calls | in them | scans | in them | ebb's own work | share of the pass | release "
        "calls ns/page | bare process_madvise ns/page | calls / bare |\n"
     << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (std::size_t k = 0; k < p.max_passes(); ++k) {
    const double released = p.pass_median(k, [](const pass_record& r) { return r.released; });
    if (released < static_cast<double>(page)) continue;
    const double ms = p.pass_median(k, [](const pass_record& r) { return r.ms; });
    const double calls = p.pass_median(k, [](const pass_record& r) { return r.release_calls; });
    const double calls_ms = p.pass_median(k, [](const pass_record& r) { return r.release_calls_ms; });
    const double scans = p.pass_median(k, [](const pass_record& r) { return r.scans; });
    const double scans_ms = p.pass_median(k, [](const pass_record& r) { return r.scan_calls_ms; });
    const double own = p.own_ms(k), c = p.calls_ns_per_page(k), bb = p.batched_ns_per_page(k);
    std::printf("  %4zu  %6.2f ms  %6.0f  %6.2f ms  %6.0f  %6.2f ms  %6.2f ms  %5.1f%%  %11.0f  %11s  %6s\n", k + 1, ms,
                calls, calls_ms, scans, scans_ms, own, ms > 0 ? 100 * own / ms : 0.0, c, bb > 0 ? fmt("%.0f", bb).c_str() : "-",
                bb > 0 ? fmt("%.2fx", c / bb).c_str() : "-");
    md << "| " << k + 1 << " | " << fmt("%.2f ms", ms) << " | " << fmt("%.0f", calls) << " | " << fmt("%.2f ms", calls_ms)
       << " | " << fmt("%.0f", scans) << " | " << fmt("%.2f ms", scans_ms) << " | " << fmt("%.2f ms", own) << " | "
       << fmt("%.1f%%", ms > 0 ? 100 * own / ms : 0.0) << " | " << fmt("%.0f", c) << " | "
       << (bb > 0 ? fmt("%.0f", bb) : "-") << " | " << (bb > 0 ? fmt("%.2fx", c / bb) : "-") << " |\n";
  }
}

void print_policy(const policy_summary& p, const config& cfg, std::ostringstream& md) {
  const std::size_t page = page_bytes();
  auto med = [&](auto get) { return median_of(p.runs, get); };
  const double peak = p.peak();
  const char* held = p.compact ? "storage held" : "stacks committed";
  std::printf("\n== ebb, %s: %zu fibers x %d frames\n", p.name.c_str(), cfg.workers, cfg.depth);
  if (p.compact && peak < cfg.depth)
    std::printf("  peak seen at a suspension: %.0f bytes (a compact fiber's depth is seen only when it suspends; "
                "these workers never suspend deep)\n",
                peak);
  else
    std::printf("  measured frame: %.1f bytes per level (peak in use %.0f bytes / %d levels)\n",
                peak / cfg.depth, peak, cfg.depth);
  const double parked = med([](const scenario_result& r) { return r.rss_parked_kib; });
  std::printf("  before the fibers: RSS %.1f MiB\n", mib(med([](const scenario_result& r) { return r.rss_start_kib; })));
  std::printf("  parked baseline:   RSS %.1f MiB, %s %.1f MiB\n", mib(parked), held,
              med([](const scenario_result& r) { return r.committed_parked; }) / 1048576.0);
  std::printf("  after the recursion (%.0f ms for all fibers): RSS %.1f MiB, %s %.1f MiB, "
              "logical size %.0f KiB each\n",
              med([](const scenario_result& r) { return r.recursion_ms; }),
              mib(med([](const scenario_result& r) { return r.rss_deep_kib; })), held,
              med([](const scenario_result& r) { return r.committed_deep; }) / 1048576.0,
              med([](const scenario_result& r) { return r.size_deep; }) / 1024.0);
  std::printf("  %4s  %9s  %6s  %12s  %9s  %13s  %11s  %11s  %6s  %11s  %6s  %10s  %6s\n", "pass", "time", "shrunk",
              "released", "RSS", p.compact ? "storage" : "committed", "ebb ns/pg", "bare ns/pg", "ratio",
              "batched/pg", "ratio", "cooled/pg", "ratio");
  md << "\n**ebb, " << p.name << "** — " << cfg.workers << " fibers x " << cfg.depth << " frames of "
     << fmt("%.1f", peak / cfg.depth) << " bytes (measured); parked baseline RSS " << fmt("%.1f", mib(parked))
     << " MiB; after the recursion RSS "
     << fmt("%.1f", mib(med([](const scenario_result& r) { return r.rss_deep_kib; }))) << " MiB, " << held << " "
     << fmt("%.1f", med([](const scenario_result& r) { return r.committed_deep; }) / 1048576.0) << " MiB"
     << (p.compact ? " (storage: the saved frames' blocks, `stack_stats().committed`)" : "") << "\n\n"
     << "| pass | time | released | RSS after | " << (p.compact ? "storage" : "committed")
     << " after | ebb ns/page | bare madvise ns/page | ebb / bare | bare process_madvise ns/page | ebb / batched "
        "| the same, cooled | ebb / cooled |\n"
     << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (std::size_t k = 0; k < p.max_passes(); ++k) {
    const double ms = p.pass_median(k, [](const pass_record& r) { return r.ms; });
    const double shrunk = p.pass_median(k, [](const pass_record& r) { return r.shrunk; });
    const double released = p.pass_median(k, [](const pass_record& r) { return r.released; });
    const double rss = p.pass_median(k, [](const pass_record& r) { return r.rss_kib; });
    const double committed = p.pass_median(k, [](const pass_record& r) { return r.committed; });
    const double e = p.ebb_ns_per_page(k), b = p.bare_ns_per_page(k), bb = p.batched_ns_per_page(k),
                 bc = p.cooled_ns_per_page(k);
    const bool releases = released >= static_cast<double>(page) && !p.compact;
    std::printf("  %4zu  %6.2f ms  %6.0f  %8.1f MiB  %5.1f MiB  %9.1f MiB  %11s  %11s  %6s  %11s  %6s  %10s  %6s\n", k + 1, ms, shrunk,
                released / 1048576.0, mib(rss), committed / 1048576.0, releases ? fmt("%.0f", e).c_str() : "-",
                releases && b > 0 ? fmt("%.0f", b).c_str() : "-",
                releases && b > 0 ? fmt("%.2fx", e / b).c_str() : "-", releases && bb > 0 ? fmt("%.0f", bb).c_str() : "-",
                releases && bb > 0 ? fmt("%.2fx", e / bb).c_str() : "-", releases && bc > 0 ? fmt("%.0f", bc).c_str() : "-",
                releases && bc > 0 ? fmt("%.2fx", e / bc).c_str() : "-");
    md << "| " << k + 1 << " | " << fmt("%.2f ms", ms) << " | " << fmt("%.1f MiB", released / 1048576.0) << " | "
       << fmt("%.1f MiB", mib(rss)) << " | " << fmt("%.1f MiB", committed / 1048576.0) << " | "
       << (releases ? fmt("%.0f", e) : "-") << " | " << (releases && b > 0 ? fmt("%.0f", b) : "-") << " | "
       << (releases && b > 0 ? fmt("%.2fx", e / b) : "-") << " | " << (releases && bb > 0 ? fmt("%.0f", bb) : "-")
       << " | " << (releases && bb > 0 ? fmt("%.2fx", e / bb) : "-") << " | "
       << (releases && bc > 0 ? fmt("%.0f", bc) : "-") << " | " << (releases && bc > 0 ? fmt("%.2fx", e / bc) : "-")
       << " |\n";
  }
  if (!p.compact) print_time_split(p, md);
  if (p.compact)
    std::printf("  released: shrink_report.released_bytes (storage given back, and the execution stacks' resident\n"
                "  pages below their frames; idle passes reported %.0f KiB each); the passes stop at the first that\n"
                "  shrinks no storage and lowers RSS by less than 64 KiB\n",
                med([](const scenario_result& r) { return r.idle_released; }) / 1024.0 /
                    static_cast<double>(2 * cfg.idle_passes));
  const double to_baseline = p.passes_to_baseline();
  if (to_baseline >= 99)
    std::printf("  passes until RSS is within 10%% of the parked baseline: never (RSS after the last pass %.1f MiB, "
                "baseline %.1f MiB)\n",
                mib(p.pass_median(p.max_passes() - 1, [](const pass_record& r) { return r.rss_kib; })), mib(parked));
  else
    std::printf("  passes until RSS is within 10%% of the parked baseline: %.0f\n", to_baseline);
  std::printf("  pass that releases nothing (fibers idle since the last pass): median %.1f us over %zu passes x %zu runs%s\n",
              p.idle_us(), cfg.idle_passes, p.runs.size(),
              !p.compact && med([](const scenario_result& r) { return r.idle_released; }) ? " (it DID release memory)" : "");
  std::printf("  the same with cold caches (a 64 MiB sweep before each pass): median %.1f us\n", p.cold_us());
  std::printf("  pass that releases nothing (every fiber resumed once since): median %.1f us\n", p.ran_us());
  std::printf("  after destroying the fibers and trim_stack_pool(): RSS %.1f MiB\n",
              mib(med([](const scenario_result& r) { return r.rss_cleanup_kib; })));
}

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--reps N] [--quick] [--workers N] [--depth N] [--go-binary PATH] [--no-go]\n"
                 "          [--go-wait SECONDS] [--markdown FILE]\n"
                 "  --reps N           repetitions of the whole set (default 5; --quick: 1); medians over them\n"
                 "  --quick            one repetition, fewer idle passes\n"
                 "  --workers N        fibers / goroutines (default 1000)\n"
                 "  --depth N          frames each recursion goes down (default 10000)\n"
                 "  --go-binary PATH   the built bench/go/worker_pool.go (default: build it with `go` from PATH)\n"
                 "  --no-go            do not run the Go comparison\n"
                 "  --go-wait SECONDS  how long the Go program waits for its scavenger after the GCs (default 2)\n"
                 "  --markdown FILE    also write the results to FILE, as Markdown\n");
  config cfg;
  const bool quick = args.flag("--quick");
  if (quick) cfg.reps = 1, cfg.idle_passes = 11, cfg.ran_passes = 3;
  cfg.reps = args.number("--reps", cfg.reps);
  cfg.workers = args.number("--workers", cfg.workers);
  cfg.depth = static_cast<int>(args.number("--depth", static_cast<std::size_t>(cfg.depth)));
  const std::string go_binary_given = args.text("--go-binary", "");
  const bool no_go = args.flag("--no-go");
  cfg.go_wait_s = args.real("--go-wait", cfg.go_wait_s);
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();

  std::printf("worker pool: %zu fibers park, recurse %d frames each, park again; shrink passes until one "
              "releases nothing. %zu repetition(s), medians; the in-place scenarios and Go run one after another, "
              "rotated each repetition, then the compact ones\n",
              cfg.workers, cfg.depth, cfg.reps);
  std::printf("machine: %s\n", machine_description().c_str());

  std::string go_binary, go_why_not = "--no-go";
  if (!no_go) go_binary = locate_go_program(go_binary_given, go_why_not);
  std::printf("go: %s\n", go_binary.empty() ? ("not run: " + go_why_not).c_str() : go_binary.c_str());
  std::fflush(stdout);

  // The bare comparison's regions: the shape of a default ebb reservation (guard + 1 MiB + a page).
  bare_regions bare(cfg.workers, ebb::default_guard_size + ebb::default_max_stack + page_bytes());

  policy_summary quarter{"quarter_shrink (ebb::fiber, the default)", {}};
  policy_summary fit{"shrink_to_fit", {}};
  policy_summary compact_deep{"ebb::compact_fiber (quarter_shrink), suspended at the deepest level", {}, true};
  policy_summary compact_flat{"ebb::compact_fiber (quarter_shrink), not suspended deep (as the scenarios above)", {}, true};
  std::vector<go_result> go_runs;
  const std::size_t kinds = go_binary.empty() ? 2 : 3;
  for (std::size_t rep = 0; rep < cfg.reps; ++rep) {
    for (std::size_t j = 0; j < kinds; ++j) {
      const std::size_t which = (rep + j) % kinds;
      if (which == 0) {
        quarter.runs.push_back(run_scenario<quarter_fiber>(cfg, &bare));
      } else if (which == 1) {
        fit.runs.push_back(run_scenario<fit_fiber>(cfg, &bare));
      } else {
        go_result g = run_go(go_binary, cfg);
        if (g.ok) go_runs.push_back(g);
        else std::printf("the Go program failed (run %zu)\n", rep + 1);
      }
      std::fflush(stdout);
    }
  }
  // The compact scenarios after all of those: what they leave in the process when they are done (a
  // chunk of the block heap per size class is kept, and the thread's malloc arena) would otherwise
  // raise the RSS baselines that the in-place scenarios and Go are printed with.
  for (std::size_t rep = 0; rep < cfg.reps; ++rep) {
    for (std::size_t j = 0; j < 2; ++j) {
      if ((rep + j) % 2 == 0)
        compact_deep.runs.push_back(run_compact_scenario<ebb::compact_fiber>(cfg, /*yield_deep=*/true));
      else
        compact_flat.runs.push_back(run_compact_scenario<ebb::compact_fiber>(cfg, /*yield_deep=*/false));
      std::fflush(stdout);
    }
  }

  std::ostringstream md;
  md << "Worker pool: " << cfg.workers << " fibers park, each recurses " << cfg.depth
     << " frames, parks again; `stack_registry::shrink_all()` until a pass releases nothing. Medians of "
     << cfg.reps << " repetition(s); the bare madvise comparison is made right after each pass, in the same "
        "process.\n";
  print_policy(quarter, cfg, md);
  print_policy(fit, cfg, md);
  md << "\nCompact fibers (`ebb::compact_fiber`, on a thread of their own, all resumed there): \"suspended at the "
        "deepest level\" yields once at the bottom of the recursion, so its frames are saved deep and its storage "
        "grows; \"not suspended deep\" runs the recursion exactly as the scenarios above, on the execution stack. "
        "\"released\" is `shrink_report.released_bytes` (storage given back, and the execution stacks' resident "
        "pages below their frames); the passes stop at the first that shrinks no storage and lowers RSS by "
        "less than 64 KiB.\n";
  print_policy(compact_deep, cfg, md);
  print_policy(compact_flat, cfg, md);

  // ---- Go, and everything side by side --------------------------------------------------------------
  const bool have_go = !go_runs.empty();
  auto gmed = [&](auto get) { return median_of(go_runs, get); };
  auto go_gcs = [](const go_result& g) -> const std::vector<go_step>& { return g.gcs; };
  auto go_waits = [](const go_result& g) -> const std::vector<go_step>& { return g.waits; };
  if (have_go) {
    std::printf("\n== Go (%s), %zu goroutines x %d frames of %ld bytes (measured), %zu run(s)\n",
                go_runs.front().version.c_str(), cfg.workers, cfg.depth, go_runs.front().frame_bytes, go_runs.size());
    std::printf("  parked baseline: RSS %.1f MiB; after the recursion (%.0f ms): RSS %.1f MiB, stacks in use %.1f MiB"
                " (GCs before the forced ones: %.0f)\n",
                mib(gmed([](const go_result& g) { return g.rss_parked_kib; })),
                gmed([](const go_result& g) { return g.recursion_ms; }),
                mib(gmed([](const go_result& g) { return g.rss_deep_kib; })),
                mib(gmed([](const go_result& g) { return g.stack_deep_kib; })),
                gmed([](const go_result& g) { return g.gcs_before; }));
  }

  std::printf("\n== side by side: ebb shrink passes and Go runtime.GC() calls (medians)\n");
  std::printf("  %-22s  %-22s  %-22s  %-32s\n", "step", "ebb quarter_shrink", "ebb shrink_to_fit",
              have_go ? "Go runtime.GC()" : "Go: not run");
  std::printf("  %-22s  %9s  %10s  %9s  %10s  %9s  %10s  %10s\n", "", "time", "RSS", "time", "RSS", "time", "RSS",
              "Go stacks");
  md << "\n**Side by side** (medians; ebb: one `shrink_all()` pass per row; Go: one `runtime.GC()` per row; "
        "RSS after each; \"Go stacks\" is `MemStats.StackInuse`):\n\n"
     << "| step | ebb quarter_shrink time | RSS | ebb shrink_to_fit time | RSS | Go GC time | Go RSS | Go stacks |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  auto row = [&](const std::string& step, const std::string& qt, const std::string& qr, const std::string& ft,
                 const std::string& fr, const std::string& gt, const std::string& gr, const std::string& gs) {
    std::printf("  %-22s  %9s  %10s  %9s  %10s  %9s  %10s  %10s\n", step.c_str(), qt.c_str(), qr.c_str(), ft.c_str(),
                fr.c_str(), gt.c_str(), gr.c_str(), gs.c_str());
    md << "| " << step << " | " << qt << " | " << qr << " | " << ft << " | " << fr << " | " << gt << " | " << gr
       << " | " << gs << " |\n";
  };
  auto mib_text = [](double kib) { return fmt("%.1f MiB", kib / 1024.0); };
  auto ms_text = [](double ms) { return fmt("%.2f ms", ms); };
  row("parked baseline", "", mib_text(median_of(quarter.runs, [](const scenario_result& r) { return r.rss_parked_kib; })),
      "", mib_text(median_of(fit.runs, [](const scenario_result& r) { return r.rss_parked_kib; })), "",
      have_go ? mib_text(gmed([](const go_result& g) { return g.rss_parked_kib; })) : "",
      have_go ? mib_text(gmed([](const go_result& g) { return g.stack_parked_kib; })) : "");
  row("after the recursion", "", mib_text(median_of(quarter.runs, [](const scenario_result& r) { return r.rss_deep_kib; })),
      "", mib_text(median_of(fit.runs, [](const scenario_result& r) { return r.rss_deep_kib; })), "",
      have_go ? mib_text(gmed([](const go_result& g) { return g.rss_deep_kib; })) : "",
      have_go ? mib_text(gmed([](const go_result& g) { return g.stack_deep_kib; })) : "");
  std::size_t steps = std::max(quarter.max_passes(), fit.max_passes());
  std::size_t go_steps = 0;
  for (const auto& g : go_runs) go_steps = std::max(go_steps, g.gcs.size());
  steps = std::max(steps, go_steps);
  for (std::size_t k = 0; k < steps; ++k) {
    bool q_any = false, f_any = false, g_any = false;
    const double qt = quarter.pass_median(k, [](const pass_record& p) { return p.ms; }, &q_any);
    const double qr = quarter.pass_median(k, [](const pass_record& p) { return p.rss_kib; });
    const double ft = fit.pass_median(k, [](const pass_record& p) { return p.ms; }, &f_any);
    const double fr = fit.pass_median(k, [](const pass_record& p) { return p.rss_kib; });
    const double gt = step_median(go_runs, k, go_gcs, [](const go_step& s) { return s.ms; }, &g_any);
    const double gr = step_median(go_runs, k, go_gcs, [](const go_step& s) { return s.rss_kib; });
    const double gs = step_median(go_runs, k, go_gcs, [](const go_step& s) { return s.stack_kib; });
    row("pass / GC " + std::to_string(k + 1), q_any ? ms_text(qt) : "", q_any ? mib_text(qr) : "",
        f_any ? ms_text(ft) : "", f_any ? mib_text(fr) : "", g_any ? ms_text(gt) : "", g_any ? mib_text(gr) : "",
        g_any ? mib_text(gs) : "");
  }
  if (have_go) {
    std::size_t waits = 0;
    for (const auto& g : go_runs) waits = std::max(waits, g.waits.size());
    for (std::size_t k = 0; k < waits; ++k) {
      bool any = false;
      const double s = step_median(go_runs, k, go_waits, [](const go_step& w) { return w.seconds; }, &any);
      const double r = step_median(go_runs, k, go_waits, [](const go_step& w) { return w.rss_kib; });
      if (any) row("Go: " + fmt("%.1f", s) + " s after the GCs", "", "", "", "", "", mib_text(r), "");
    }
    row("Go: debug.FreeOSMemory()", "", "", "", "", ms_text(gmed([](const go_result& g) { return g.free_os.ms; })),
        mib_text(gmed([](const go_result& g) { return g.free_os.rss_kib; })),
        mib_text(gmed([](const go_result& g) { return g.free_os.stack_kib; })));
  }

  // ---- the targets ------------------------------------------------------------------------------------
  const double min_size = static_cast<double>(ebb::default_min_stack);
  std::vector<derived_row> derived;
  const double log2_peak = std::log2(quarter.peak() / min_size);
  derived.push_back({"quarter_shrink: passes to within 10% of baseline (target log2(peak/2 KiB))",
                     quarter.passes_to_baseline(), "", log2_peak});
  derived.push_back({"(halvings from the grown logical size to 2 KiB: log2(size/2 KiB))",
                     std::log2(median_of(quarter.runs, [](const scenario_result& r) { return r.size_deep; }) / min_size),
                     "", 0});
  derived.push_back({"shrink_to_fit: passes to within 10% of baseline", fit.passes_to_baseline(), "", 1});
  const std::string idle_label = ": pass releasing nothing, " + std::to_string(cfg.workers) + " idle fibers";
  derived.push_back({"quarter_shrink" + idle_label, quarter.idle_us(), " us", 100});
  derived.push_back({"shrink_to_fit" + idle_label, fit.idle_us(), " us", 100});
  derived.push_back({"quarter_shrink: the same, cold caches and TLB", quarter.cold_us(), " us", 100});
  derived.push_back({"quarter_shrink: pass releasing nothing, fibers ran since", quarter.ran_us(), " us", 0});
  derived.push_back({"quarter_shrink pass 1: ebb ns/page / bare madvise ns/page",
                     quarter.ebb_ns_per_page(0) / quarter.bare_ns_per_page(0), "x", 0.75});
  derived.push_back({"quarter_shrink, all releasing passes: ebb / bare madvise per page",
                     quarter.ebb_ns_per_page_all() / quarter.bare_ns_per_page_all(), "x", 0.5});
  derived.push_back({"shrink_to_fit pass 1: ebb ns/page / bare madvise ns/page",
                     fit.ebb_ns_per_page(0) / fit.bare_ns_per_page(0), "x", 0.75});
  derived.push_back({"quarter_shrink, worst releasing pass: ebb / bare process_madvise per page (0: refused)",
                     quarter.worst_vs_batched(), "x", 1.15});
  derived.push_back({"shrink_to_fit, worst releasing pass: ebb / bare process_madvise per page (0: refused)",
                     fit.worst_vs_batched(), "x", 1.15});
  for (const policy_summary* p : {&quarter, &fit}) {
    const std::size_t k = p->worst_pass();
    if (k == static_cast<std::size_t>(-1)) continue;
    const double ms = p->pass_median(k, [](const pass_record& r) { return r.ms; });
    const double bb = p->batched_ns_per_page(k);
    derived.push_back({p->name.substr(0, p->name.find(' ')) + ", the same worst pass: ebb's own work (outside system calls), share of it",
                       ms > 0 ? 100 * p->own_ms(k) / ms : 0.0, "%", 0});
    derived.push_back({p->name.substr(0, p->name.find(' ')) + ", the same worst pass: its release calls / bare process_madvise per page",
                       bb > 0 ? p->calls_ns_per_page(k) / bb : 0.0, "x", 0});
  }
  derived.push_back({"quarter_shrink, worst releasing pass: ebb / bare process_madvise on cooled pages",
                     quarter.worst_vs_batched(true), "x", 0});
  derived.push_back({"shrink_to_fit, worst releasing pass: ebb / bare process_madvise on cooled pages", fit.worst_vs_batched(true),
                     "x", 0});
  {
    const double deep_peak = compact_deep.peak();
    derived.push_back({"compact, suspended deep: passes to within 10% of baseline (99: never; target log2(peak/2 KiB))",
                       compact_deep.passes_to_baseline(), "", std::log2(deep_peak / min_size)});
    auto last_rss = [](const policy_summary& p) {
      return p.pass_median(p.max_passes() - 1, [](const pass_record& r) { return r.rss_kib; });
    };
    auto parked_rss = [](const policy_summary& p) {
      return median_of(p.runs, [](const scenario_result& r) { return r.rss_parked_kib; });
    };
    derived.push_back({"compact, suspended deep: RSS after the last pass / parked baseline",
                       last_rss(compact_deep) / parked_rss(compact_deep), "x", 0});
    derived.push_back({"compact, suspended deep: pass 1",
                       compact_deep.pass_median(0, [](const pass_record& r) { return r.ms; }), " ms", 0});
    derived.push_back({"compact, suspended deep" + idle_label, compact_deep.idle_us(), " us", 100});
    derived.push_back({"compact, not suspended deep: passes to within 10% of baseline (99: never)",
                       compact_flat.passes_to_baseline(), "", 0});
    derived.push_back({"compact, not suspended deep: RSS after the last pass / parked baseline",
                       last_rss(compact_flat) / parked_rss(compact_flat), "x", 0});
  }
  if (have_go) {
    // Go's GCs needed to bring RSS within 10% of its own parked baseline (0: not within the GCs run).
    const double go_parked = gmed([](const go_result& g) { return g.rss_parked_kib; });
    double go_gcs_needed = 0;
    for (std::size_t k = 0; k < go_steps; ++k) {
      const double rss = step_median(go_runs, k, go_gcs, [](const go_step& s) { return s.rss_kib; });
      if (rss <= go_parked * 1.1) {
        go_gcs_needed = static_cast<double>(k + 1);
        break;
      }
    }
    double gc_ms_max = 0, gc_ms_first = step_median(go_runs, 0, go_gcs, [](const go_step& s) { return s.ms; });
    for (std::size_t k = 0; k < go_steps; ++k)
      gc_ms_max = std::max(gc_ms_max, step_median(go_runs, k, go_gcs, [](const go_step& s) { return s.ms; }));
    derived.push_back({"Go: GCs to within 10% of its baseline (0: none of them)", go_gcs_needed, "", 0});
    derived.push_back({"Go: first GC", gc_ms_first, " ms", 0});
    derived.push_back({"Go: slowest GC (median per GC index)", gc_ms_max, " ms", 0});
    derived.push_back({"ebb quarter_shrink pass 1 / Go GC 1 (time)",
                       quarter.pass_median(0, [](const pass_record& p) { return p.ms; }) / gc_ms_first, "x", 0});
  }
  std::printf("\n");
  print_derived(derived);
  md << "\n" << markdown_derived(derived);
  if (!markdown_path.empty()) write_file(markdown_path, md.str());
  return 0;
}
