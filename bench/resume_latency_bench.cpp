// SPDX-License-Identifier: BSL-1.0
// bench/resume_latency_bench.cpp — how long a resume() can wait while a shrink pass runs.
//
// A registry pass (ebb::stack_registry::shrink_all()) visits suspended fibers while their owners may
// resume them on any thread. ebb promises that a resume never waits for more than one group: a resume
// that comes while its fiber is only claimed takes the claim back and runs; one that comes while its
// fiber is held waits for that fiber's group, up to 64 fibers held together for their visits, one
// residency scan and one release call (detail/registry_shards.hpp). This program measures it.
//
// Setup: 20,000 ebb::fiber fibers (--fibers), created and resumed by the main thread, "the resumer".
// Each repetition:
//   * a deepen round (untimed): every fiber recurses 64 KiB deep (--depth-kib; bench/deep_frames.hpp),
//     comes back up and yields, so every stack holds pages a pass can release;
//   * with a pass: a second thread runs shrink_all() once while the resumer resumes the fibers
//     round-robin (each yields straight back) and times every resume() call with steady_clock, from
//     the moment the pass starts until it ends;
//   * baseline: the same resumes for as long as the last pass lasted, with no pass running.
// The order of the two timed phases alternates from one repetition to the next.
//
// To make the promise checkable, the pass thread stamps every group it holds (the registry's group
// hook: once held, and after its release call) and every visit (the visit hook, with the fiber's id),
// with the time and its own CPU time. A group's hold on the pass thread's CPU is its work; a wall span
// far above it means the pass thread was off its CPU meanwhile (preempted while holding the fibers).
// Every resume slower than 1 us (--slow-ns) is kept with its fiber; after the pass, each is matched
// against the hold of its fiber's group:
//   * overlapping its fiber's hold: the resume may have waited for that group. The promise holds if
//     what such a resume spent outside the hold is no more than a resume costs anyway (compare the
//     baseline's figures);
//   * overlapping no hold of its fiber: slow for other reasons. What else a pass does to a resumer:
//     the process-wide fence before each batch of claims (membarrier, an interrupt on every CPU running
//     the process), the TLB shootdown of each release call (an interrupt too), and sharing two CPUs with
//     the pass thread and the rest of the machine.
// The involuntary context switches of both threads are counted (getrusage(RUSAGE_THREAD)), to tell a
// scheduler's preemption from ebb's waiting.
// Printed: median, p99, p99.9 and max resume latency with a pass and without (medians over the
// repetitions, with their min and max), the pass's duration, CPU time and what it released, the visits'
// spans, and the slow resumes classified as above. Timings are never asserted; nothing here fails on
// them. Linux only (the CPU clock and getrusage of a thread).
#include "bench_common.hpp"
#include "deep_frames.hpp"

#include <ebb/ebb.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sched.h>
#include <sys/resource.h>
#include <time.h>

namespace {

using namespace ebb_bench;

// ---- the visit hook: one stamp per visit, written by the pass thread only ----------------------
// The pass thread's CPU time besides the wall clock: a visit whose wall span is far above its CPU time
// is one during which the pass thread was off its CPU (preempted), holding the fiber. Reading the
// thread's CPU clock is a system call (about 0.3 us here): it lengthens each visit by that much, and
// only the pass thread pays it.
std::uint64_t thread_cpu_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Involuntary context switches of the calling thread so far: how often the scheduler took its CPU.
long involuntary_switches() noexcept {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return u.ru_nivcsw;
}

struct visit_stamp {
  std::uint64_t t;      // steady_clock ns at the start of the visit
  std::uint64_t cpu;    // the pass thread's CPU time then
  std::uint64_t id;     // the visited fiber's id (fiber::id())
  std::size_t group;    // the group it was held in (g_groups)
};
// A group: up to 64 fibers held together from before their residency scan to after their release call.
struct group_stamp {
  std::uint64_t t0 = 0, cpu0 = 0, t1 = 0, cpu1 = 0;
};
std::vector<visit_stamp> g_visits;  // sized before the first pass; the hooks never allocate
std::size_t g_visit_count = 0;
std::vector<group_stamp> g_groups;
std::size_t g_group_count = 0;

void stamp_visit(ebb::runtime_v1::fiber_context& c) noexcept {
  if (g_visit_count < g_visits.size() && g_group_count > 0)
    g_visits[g_visit_count++] = {now_ns(), thread_cpu_ns(), c.id, g_group_count - 1};
}
void stamp_group(bool held) noexcept {
  if (held) {
    if (g_group_count < g_groups.size()) g_groups[g_group_count++] = {now_ns(), thread_cpu_ns(), 0, 0};
  } else if (g_group_count > 0) {
    g_groups[g_group_count - 1].t1 = now_ns();
    g_groups[g_group_count - 1].cpu1 = thread_cpu_ns();
  }
}

// ---- the pass thread ------------------------------------------------------------------------------
// Blocked on a condition variable between passes, so that the baseline phase runs with it asleep.
class pass_thread {
 public:
  pass_thread() : thread_([this] { loop(); }) {}
  ~pass_thread() {
    {
      std::lock_guard<std::mutex> lock(m_);
      quit_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  // Starts one pass; running() turns true just before shrink_all() is called, done() after it returns.
  void start() {
    running_.store(false), done_.store(false);
    {
      std::lock_guard<std::mutex> lock(m_);
      ++requested_;
    }
    cv_.notify_one();
  }
  bool running() const { return running_.load(std::memory_order_acquire); }
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Valid once done().
  ebb::shrink_report report;
  std::uint64_t t_start = 0, t_end = 0, cpu_start = 0, cpu_end = 0;
  long preempted = 0;  // involuntary context switches of the pass thread during the pass

 private:
  void loop() {
    std::uint64_t served = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(m_);
        cv_.wait(lock, [&] { return quit_ || requested_ != served; });
        if (quit_) return;
        served = requested_;
      }
      g_visit_count = g_group_count = 0;
      ebb::runtime_v1::process_registry().visit_hook = &stamp_visit;
      ebb::runtime_v1::process_registry().group_hook = &stamp_group;
      const long switches = involuntary_switches();
      cpu_start = thread_cpu_ns();
      t_start = now_ns();
      running_.store(true, std::memory_order_release);
      report = ebb::stack_registry::shrink_all();
      t_end = now_ns();
      cpu_end = thread_cpu_ns();
      preempted = involuntary_switches() - switches;
      ebb::runtime_v1::process_registry().visit_hook = nullptr;
      ebb::runtime_v1::process_registry().group_hook = nullptr;
      done_.store(true, std::memory_order_release);
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  bool quit_ = false;
  std::uint64_t requested_ = 0;
  std::atomic<bool> running_{false}, done_{false};
  std::thread thread_;
};

// ---- the resumer's records ------------------------------------------------------------------------
struct slow_resume {
  std::uint64_t t0, t1;
  std::size_t fiber;  // index into the fibers
};

struct phase_samples {
  std::vector<std::uint32_t> latency;  // ns of every resume() of the phase
  std::vector<slow_resume> slow;       // those over the slow threshold
};

// Round-robin resumes, each timed, until keep_going() says stop. `next` carries the round-robin position
// from one phase to the next, so no fiber is favoured.
template <class Fibers, class KeepGoing>
void resume_round_robin(Fibers& fibers, std::size_t& next, std::uint64_t slow_ns, phase_samples& out,
                        KeepGoing keep_going) {
  out.latency.clear();
  out.slow.clear();
  const std::size_t n = fibers.size();
  while (keep_going() && out.latency.size() < out.latency.capacity()) {
    const std::size_t i = next;
    next = next + 1 == n ? 0 : next + 1;
    const std::uint64_t t0 = now_ns();
    fibers[i].resume();
    const std::uint64_t t1 = now_ns();
    out.latency.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(t1 - t0, UINT32_MAX)));
    if (t1 - t0 > slow_ns && out.slow.size() < out.slow.capacity()) out.slow.push_back({t0, t1, i});
  }
}

// Percentiles of one phase, in ns.
struct latency_figures {
  double median = 0, p99 = 0, p999 = 0, max = 0;
  double count = 0;
};

latency_figures percentiles(std::vector<std::uint32_t>& v) {
  latency_figures f;
  if (v.empty()) return f;
  auto at = [&](double q) {
    const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]);
  };
  f.median = at(0.5), f.p99 = at(0.99), f.p999 = at(0.999);
  f.max = static_cast<double>(*std::max_element(v.begin(), v.end()));
  f.count = static_cast<double>(v.size());
  return f;
}

// A slow resume that overlapped the hold of its own fiber's group, with that hold.
struct waited_resume {
  double latency = 0;      // ns
  double visit_wall = 0;   // the hold of its group, ns (held to let go)
  double visit_cpu = 0;    // the pass thread's CPU time over that hold, ns
  double uncovered = 0;    // latency minus the part of it that the hold covered, ns
};

// What matching one pass's slow resumes against its groups found.
struct matching {
  std::size_t slow = 0;         // resumes over the threshold
  std::size_t waited = 0;       // ... that overlapped the hold of their fiber
  waited_resume worst;          // the slowest of those
  double max_uncovered = 0;     // the most any of those spent outside its fiber's hold, ns
  double other_max = 0;         // the slowest resume that overlapped no hold of its fiber, ns
  std::vector<double> wall_spans, cpu_spans;  // every group hold's, ns

  void add(const matching& m) {
    slow += m.slow;
    waited += m.waited;
    if (m.worst.latency > worst.latency) worst = m.worst;
    max_uncovered = std::max(max_uncovered, m.max_uncovered);
    other_max = std::max(other_max, m.other_max);
    wall_spans.insert(wall_spans.end(), m.wall_spans.begin(), m.wall_spans.end());
    cpu_spans.insert(cpu_spans.end(), m.cpu_spans.begin(), m.cpu_spans.end());
  }
};

matching match(const phase_samples& s, const std::vector<visit_stamp>& visits, std::size_t visit_count,
               std::uint64_t pass_end, std::uint64_t pass_cpu_end,
               const std::unordered_map<std::uint64_t, std::size_t>& index_of_id, std::size_t fibers) {
  matching m;
  // A fresh pass visits each fiber at most once. A fiber is held for its whole group: from before the
  // group's scan to after its release call.
  (void)pass_end, (void)pass_cpu_end;
  std::vector<std::uint64_t> start(fibers, 0), end(fibers, 0), cpu(fibers, 0);
  for (std::size_t g = 0; g < g_group_count; ++g) {
    m.wall_spans.push_back(static_cast<double>(g_groups[g].t1 - g_groups[g].t0));
    m.cpu_spans.push_back(static_cast<double>(g_groups[g].cpu1 - g_groups[g].cpu0));
  }
  for (std::size_t k = 0; k < visit_count; ++k) {
    const group_stamp& g = g_groups[visits[k].group];
    const auto it = index_of_id.find(visits[k].id);
    if (it != index_of_id.end()) start[it->second] = g.t0, end[it->second] = g.t1, cpu[it->second] = g.cpu1 - g.cpu0;
  }
  m.slow = s.slow.size();
  for (const slow_resume& r : s.slow) {
    const double latency = static_cast<double>(r.t1 - r.t0);
    const std::size_t f = r.fiber;
    if (start[f] == 0 || start[f] > r.t1 || end[f] < r.t0) {
      m.other_max = std::max(m.other_max, latency);
      continue;
    }
    ++m.waited;
    const double covered = static_cast<double>(std::min(r.t1, end[f]) - std::max(r.t0, start[f]));
    const waited_resume w{latency, static_cast<double>(end[f] - start[f]), static_cast<double>(cpu[f]),
                          latency - covered};
    if (w.latency > m.worst.latency) m.worst = w;
    m.max_uncovered = std::max(m.max_uncovered, w.uncovered);
  }
  return m;
}

std::string us(double ns) { return fmt("%.2f us", ns / 1000.0); }

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--fibers N] [--depth-kib N] [--reps N] [--slow-ns N] [--quick] [--markdown FILE]\n"
                 "  --fibers N       suspended fibers (default 20000)\n"
                 "  --depth-kib N    how deep each fiber goes before every pass, in KiB (default 64)\n"
                 "  --reps N         repetitions: one pass and one baseline each (default 7; --quick: 3)\n"
                 "  --slow-ns N      resumes slower than this are matched against the pass's visits (default 1000)\n"
                 "  --markdown FILE  also write the results to FILE, as Markdown\n");
  const bool quick = args.flag("--quick");
  const std::size_t fiber_count = args.number("--fibers", 20000);
  const std::size_t depth_kib = args.number("--depth-kib", 64);
  const std::size_t reps = args.number("--reps", quick ? 3 : 7);
  const std::uint64_t slow_ns = args.number("--slow-ns", 1000);
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();
  const int levels = static_cast<int>(static_cast<double>(depth_kib * 1024) / nominal_frame_bytes);

  std::printf("resume latency: %zu suspended ebb::fiber fibers, each %zu KiB deep before every pass; one thread runs "
              "stack_registry::shrink_all() while another resumes the fibers round-robin and times each resume(); "
              "baseline: the same with no pass; %zu repetitions, medians over them\n",
              fiber_count, depth_kib, reps);
  std::printf("machine: %s\n", machine_description().c_str());
  // The pass and the resumer are meant to run side by side. On one CPU, a resume that finds its fiber
  // being visited waits for the scheduler to run the pass thread again: that measures the scheduler.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  const int cpus = ::sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : 0;
  std::printf("cpus this process may run on: %d%s\n", cpus,
              cpus == 1 ? " (the pass and the resumer share it: the figures are the scheduler's; give it two)" : "");
  std::fflush(stdout);

  std::atomic<bool> deepen{false}, stop{false};
  std::atomic<int> sink{0};  // keeps each recursion's result observable
  std::vector<ebb::fiber> fibers;
  fibers.reserve(fiber_count);
  for (std::size_t i = 0; i < fiber_count; ++i)
    fibers.emplace_back([&, levels] {
      while (!stop.load(std::memory_order_relaxed)) {
        if (deepen.load(std::memory_order_relaxed))
          sink.fetch_add(recurse_frames(levels), std::memory_order_relaxed);
        ebb::this_fiber::yield();
      }
    });
  std::unordered_map<std::uint64_t, std::size_t> index_of_id;
  for (std::size_t i = 0; i < fiber_count; ++i) index_of_id[fibers[i].id()] = i;
  for (auto& f : fibers) f.resume();  // every fiber started and suspended at its yield

  pass_thread passer;
  g_visits.assign(fiber_count + 64, visit_stamp{});
  g_groups.assign(fiber_count + 64, group_stamp{});
  // Room for every resume of a long pass (about 200 ns each) without allocating while timing.
  phase_samples with_pass, without_pass;
  for (phase_samples* p : {&with_pass, &without_pass}) {
    p->latency.reserve(16u << 20);
    p->slow.reserve(1u << 20);
  }

  // Per repetition: each phase's latency figures, the pass's own figures.
  std::vector<latency_figures> with_figures, without_figures;
  std::vector<double> with_preempted, without_preempted;  // the resumer's involuntary switches per phase
  std::vector<double> pass_ms, pass_cpu_ms, pass_preempted, visited, shrunk, released_mib;
  std::vector<double> committed_before_kib, committed_after_kib;
  matching total;  // over every pass
  std::uint64_t last_pass_ns = 0;
  std::size_t next = 0;
  const auto committed_kib = [&] {  // stack_stats() from outside: untimed, between the phases
    double sum = 0;
    for (auto& f : fibers) sum += static_cast<double>(f.stack_stats().committed);
    return sum / 1024.0 / static_cast<double>(fiber_count);
  };

  for (std::size_t r = 0; r < reps; ++r) {
    // Deepen every fiber, so the pass has pages to release.
    deepen.store(true, std::memory_order_relaxed);
    for (auto& f : fibers) f.resume();
    deepen.store(false, std::memory_order_relaxed);
    committed_before_kib.push_back(committed_kib());

    auto run_pass = [&] {
      passer.start();
      while (!passer.running()) std::this_thread::yield();
      const long switches = involuntary_switches();
      resume_round_robin(fibers, next, slow_ns, with_pass, [&] { return !passer.done(); });
      with_preempted.push_back(static_cast<double>(involuntary_switches() - switches));
      while (!passer.done()) std::this_thread::yield();  // the sample buffer filled up first
      last_pass_ns = passer.t_end - passer.t_start;
      pass_ms.push_back(static_cast<double>(last_pass_ns) / 1e6);
      pass_cpu_ms.push_back(static_cast<double>(passer.cpu_end - passer.cpu_start) / 1e6);
      pass_preempted.push_back(static_cast<double>(passer.preempted));
      visited.push_back(static_cast<double>(passer.report.visited));
      shrunk.push_back(static_cast<double>(passer.report.shrunk));
      released_mib.push_back(static_cast<double>(passer.report.released_bytes) / 1048576.0);
      total.add(match(with_pass, g_visits, g_visit_count, passer.t_end, passer.cpu_end, index_of_id, fiber_count));
      with_figures.push_back(percentiles(with_pass.latency));
    };
    auto run_baseline = [&] {
      const std::uint64_t until = now_ns() + last_pass_ns;
      const long switches = involuntary_switches();
      resume_round_robin(fibers, next, slow_ns, without_pass, [&] { return now_ns() < until; });
      without_preempted.push_back(static_cast<double>(involuntary_switches() - switches));
      without_figures.push_back(percentiles(without_pass.latency));
    };
    // The first repetition must run a pass first: the baseline lasts as long as the last pass did.
    if (r % 2 == 0) {
      run_pass();
      committed_after_kib.push_back(committed_kib());
      run_baseline();
    } else {
      run_baseline();
      run_pass();
      committed_after_kib.push_back(committed_kib());
    }
  }

  stop.store(true, std::memory_order_relaxed);
  for (auto& f : fibers)
    if (f.resume()) {
      std::fprintf(stderr, "resume latency benchmark: a fiber did not finish\n");
      return 1;
    }

  // ---- output --------------------------------------------------------------------------------------
  std::ostringstream md;
  md << "Resume latency: " << fiber_count << " suspended `ebb::fiber`s, each " << depth_kib
     << " KiB deep before every pass; one thread runs `shrink_all()` while the main thread resumes the fibers "
        "round-robin and times every `resume()`; baseline: as long, with no pass. Each figure: the median over "
     << reps << " repetitions of that phase's figure (min, max over them).\n\n"
     << "| resume() latency | with a pass running | min | max | no pass | min | max |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  std::printf("\n  resume() latency: the median over %zu repetitions of each phase's figure (min .. max over them)\n",
              reps);
  std::printf("  %-28s  %34s  %34s\n", "", "with a pass running", "no pass (baseline)");
  // One row: the per-repetition figures of both phases, `format` printing one with its unit.
  auto row = [&](const char* what, const std::vector<double>& a, const std::vector<double>& b, const auto& format) {
    const summary x = summarize(a), y = summarize(b);
    std::printf("  %-28s  %10s (%9s .. %9s)  %10s (%9s .. %9s)\n", what, format(x.median).c_str(),
                format(x.min).c_str(), format(x.max).c_str(), format(y.median).c_str(), format(y.min).c_str(),
                format(y.max).c_str());
    md << "| " << what << " | " << format(x.median) << " | " << format(x.min) << " | " << format(x.max) << " | "
       << format(y.median) << " | " << format(y.min) << " | " << format(y.max) << " |\n";
  };
  auto pick = [](const std::vector<latency_figures>& v, double latency_figures::*field) {
    std::vector<double> x;
    for (const latency_figures& f : v) x.push_back(f.*field);
    return x;
  };
  const auto count = [](double v) { return fmt("%.0f", v); };
  row("median", pick(with_figures, &latency_figures::median), pick(without_figures, &latency_figures::median), us);
  row("p99", pick(with_figures, &latency_figures::p99), pick(without_figures, &latency_figures::p99), us);
  row("p99.9", pick(with_figures, &latency_figures::p999), pick(without_figures, &latency_figures::p999), us);
  row("max", pick(with_figures, &latency_figures::max), pick(without_figures, &latency_figures::max), us);
  row("resumes timed", pick(with_figures, &latency_figures::count), pick(without_figures, &latency_figures::count), count);
  row("resumer preempted (times)", with_preempted, without_preempted, count);

  const auto span_percentile = [](std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  const summary wall = summarize(total.wall_spans), cpu = summarize(total.cpu_spans);
  const double wall_p99 = span_percentile(total.wall_spans, 0.99), cpu_p99 = span_percentile(total.cpu_spans, 0.99);
  const summary ms = summarize(pass_ms), cpu_ms = summarize(pass_cpu_ms), pre = summarize(pass_preempted);
  const summary vis = summarize(visited), shr = summarize(shrunk), rel = summarize(released_mib);
  const summary cb = summarize(committed_before_kib), ca = summarize(committed_after_kib);
  std::printf("\n  the pass (medians over the repetitions): %.1f ms (min %.1f, max %.1f), of which %.1f ms on its CPU; "
              "pass thread preempted %.0f times; visited %.0f fibers, shrunk %.0f, released %.1f MiB\n",
              ms.median, ms.min, ms.max, cpu_ms.median, pre.median, vis.median, shr.median, rel.median);
  std::printf("  committed stack per fiber: %.1f KiB after the deepen round, %.1f KiB after the pass\n", cb.median,
              ca.median);
  std::printf("  one group held (up to 64 visits, their residency scan and their release call; every group of every pass): wall median %s, "
              "p99 %s, max %s; on the pass thread's CPU median %s, p99 %s, max %s\n",
              us(wall.median).c_str(), us(wall_p99).c_str(), us(wall.max).c_str(), us(cpu.median).c_str(),
              us(cpu_p99).c_str(), us(cpu.max).c_str());
  std::printf("  resumes slower than %llu ns during the passes: %zu; of them, overlapping the hold of their own "
              "fiber: %zu\n",
              static_cast<unsigned long long>(slow_ns), total.slow, total.waited);
  if (total.waited > 0)
    std::printf("  the slowest of those: %s, of which %s outside its fiber's hold; that group: %s wall, %s on the "
                "pass thread's CPU; the most any of them spent outside its fiber's hold: %s\n",
                us(total.worst.latency).c_str(), us(total.worst.uncovered).c_str(), us(total.worst.visit_wall).c_str(),
                us(total.worst.visit_cpu).c_str(), us(total.max_uncovered).c_str());
  std::printf("  the slowest resume overlapping no hold of its fiber: %s\n", us(total.other_max).c_str());

  md << "\n| the pass | median | min | max |\n| --- | ---: | ---: | ---: |\n";
  auto pass_row = [&](const char* what, const summary& x, const char* format) {
    md << "| " << what << " | " << fmt(format, x.median) << " | " << fmt(format, x.min) << " | " << fmt(format, x.max)
       << " |\n";
  };
  pass_row("duration (wall)", ms, "%.1f ms");
  pass_row("on the pass thread's CPU", cpu_ms, "%.1f ms");
  pass_row("pass thread preempted (times)", pre, "%.0f");
  pass_row("fibers visited", vis, "%.0f");
  pass_row("fibers shrunk", shr, "%.0f");
  pass_row("released", rel, "%.1f MiB");
  pass_row("committed stack per fiber before", cb, "%.1f KiB");
  pass_row("committed stack per fiber after", ca, "%.1f KiB");
  md << "\nOne group held (up to 64 visits, their residency scan and their release call; every group of every pass): wall median "
     << us(wall.median) << ", p99 " << us(wall_p99) << ", max " << us(wall.max) << "; on the pass thread's CPU median "
     << us(cpu.median) << ", p99 " << us(cpu_p99) << ", max " << us(cpu.max) << ".\n\n"
     << "Resumes slower than " << slow_ns << " ns during the passes: " << total.slow
     << "; of them, overlapping the hold of their own fiber: " << total.waited
     << "; the most any of those spent outside its fiber's hold: " << us(total.max_uncovered) << ".\n\n";

  // The promise, as numbers: the worst resume against the worst visit, and what the matching found.
  std::vector<derived_row> derived;
  auto worst_of = [](const std::vector<latency_figures>& v) {
    double m = 0;
    for (const latency_figures& f : v) m = std::max(m, f.max);
    return m;
  };
  derived.push_back({"worst resume with a pass running, us", worst_of(with_figures) / 1000.0, " us", 0});
  derived.push_back({"worst resume without a pass, us", worst_of(without_figures) / 1000.0, " us", 0});
  derived.push_back({"longest group hold on the pass thread's CPU, us", cpu.max / 1000.0, " us", 0});
  derived.push_back({"longest group hold, wall, us", wall.max / 1000.0, " us", 0});
  if (total.waited > 0) {
    derived.push_back({"slowest resume overlapping its fiber's hold, us", total.worst.latency / 1000.0, " us", 0});
    derived.push_back({"... of which outside that hold, us", total.worst.uncovered / 1000.0, " us", 0});
    derived.push_back({"... that group's hold, wall, us", total.worst.visit_wall / 1000.0, " us", 0});
    derived.push_back({"... that group's hold on the pass thread's CPU, us", total.worst.visit_cpu / 1000.0, " us", 0});
  }
  derived.push_back({"slowest resume overlapping no hold of its fiber, us", total.other_max / 1000.0, " us", 0});
  std::printf("\n");
  print_derived(derived);
  // Not markdown_derived(): its header says "from the medians", and these are the worst of all passes.
  md << "| over every pass and phase | measured |\n| --- | ---: |\n";
  for (const derived_row& d : derived) md << "| " << d.what << " | " << format_value(d.value, d.unit) << " |\n";
  if (!markdown_path.empty()) write_file(markdown_path, md.str());
  return 0;
}
