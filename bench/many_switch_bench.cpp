// SPDX-License-Identifier: BSL-1.0
// bench/many_switch_bench.cpp — a switch among many fibers: 50,000 fibers (--fibers) resumed
// round-robin, each yielding at once, round after round; the same with 1,000 fibers (--small).
//
// ebb_switch_bench measures one fiber resumed again and again: its stack, control block and page-table
// entries never leave the caches. A program with tens of thousands of fibers (connections, entity
// scripts) resumes each after all the others, so every resume finds its fiber's memory, and the
// translation of its address, cold. What that costs depends on the memory layout more than on the
// switch itself, which is why this benchmark prints memory per fiber (resident pages and page tables)
// next to the time, and the same run at 1,000 fibers, where everything fits in the caches and TLB.
//
// Measured per contender and fiber count, in a child process of its own:
//   * a round: one resume() of every fiber, each yielding straight back (a resume + yield round trip,
//     two switches); timed per round, reported in ns per resume, the median over the rounds;
//   * memory: growth of VmRSS + VmPTE from before the fibers were created to after two untimed warm-up
//     rounds (every fiber suspended), per fiber, the vector of handles included.
// Contenders:
//   ebb::fiber             its own elastic stack: a 1 MiB reservation (control block and top page resident)
//   ebb::compact_fiber     frames on the thread's execution stack, copied into the fiber's storage when the
//                          next fiber takes the stack, back when it resumes: every resume here copies twice
//   boost::context::fiber  16 KiB fixed stacks, densely pooled (bench/dense_stack_pool.hpp): one mapping,
//                          no guard pages, only the pages a fiber touches resident. Only when built with
//                          EBB_BENCH_HAVE_BOOST.
//
// --reps N runs (default 5; --quick: 1) of every contender at both counts, in an order rotated each
// repetition; each run is a child forked before anything of ebb or Boost ran in the parent, so each
// starts from a fresh heap and stack pool and its memory is a clean delta. Every figure printed is the
// median over the runs, every ratio taken between medians of this run. No targets: the figures are
// reported for what they explain.
#include "bench_common.hpp"
#include "child_process.hpp"
#include "dense_stack_pool.hpp"

#include <ebb/ebb.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#if EBB_BENCH_HAVE_BOOST
#include <boost/context/fiber.hpp>
#endif

namespace {

using namespace ebb_bench;

// What one run (one child process) reports to the parent through a pipe.
struct run_result {
  int ok = 0;
  double ns = 0;                        // per resume: the median over the timed rounds
  double rss_bytes = 0, pte_bytes = 0;  // per fiber
};

struct run_config {
  std::size_t fibers = 50000;
  std::size_t rounds = 100;  // timed rounds, after two untimed ones
};

// Two untimed rounds first: the first resume of a fiber runs its start (and, for ebb::fiber, may
// commit its first page), the second trains the branch predictors on the loop everybody then runs.
constexpr int warmup_rounds = 2;

struct memory_baseline {
  long rss = proc_status_kib("VmRSS"), pte = proc_status_kib("VmPTE");
  void finish(run_result& r, std::size_t fibers) const {
    r.rss_bytes = static_cast<double>(proc_status_kib("VmRSS") - rss) * 1024.0 / static_cast<double>(fibers);
    r.pte_bytes = static_cast<double>(proc_status_kib("VmPTE") - pte) * 1024.0 / static_cast<double>(fibers);
  }
};

// The rounds, for any fiber type: resume_one(fiber) resumes one fiber once. Returns ns per resume,
// the median over the rounds (a round that a timer interrupt or a neighbour's burst hit is an outlier
// of the median's, not part of the figure).
template <class Fibers, class ResumeOne>
double timed_rounds(Fibers& fibers, std::size_t rounds, ResumeOne resume_one) {
  std::vector<double> per_round;
  per_round.reserve(rounds);
  const double n = static_cast<double>(fibers.size());
  for (std::size_t round = 0; round < rounds; ++round) {
    const std::uint64_t t0 = now_ns();
    for (auto& f : fibers) resume_one(f);
    per_round.push_back(static_cast<double>(now_ns() - t0) / n);
  }
  return summarize(per_round).median;
}

template <class Fiber>
run_result run_ebb(const run_config& cfg) {
  run_result r;
  std::atomic<bool> stop{false};  // relaxed loads: a plain load on x86-64, as in ebb_switch_bench
  const memory_baseline before;
  std::vector<Fiber> fibers;
  fibers.reserve(cfg.fibers);
  for (std::size_t i = 0; i < cfg.fibers; ++i)
    fibers.emplace_back([&stop] {
      while (!stop.load(std::memory_order_relaxed)) ebb::this_fiber::yield();
    });
  for (int w = 0; w < warmup_rounds; ++w)
    for (auto& f : fibers) f.resume();
  before.finish(r, cfg.fibers);
  r.ns = timed_rounds(fibers, cfg.rounds, [](Fiber& f) { f.resume(); });
  stop.store(true, std::memory_order_relaxed);
  for (auto& f : fibers)
    if (f.resume()) return r;  // each loop ends when it sees stop: a fiber still running is a bug
  r.ok = 1;
  return r;
}

#if EBB_BENCH_HAVE_BOOST
namespace ctx = boost::context;

constexpr std::size_t boost_stack_bytes = 16 * 1024;

run_result run_boost(const run_config& cfg) {
  run_result r;
  std::atomic<bool> stop{false};
  const memory_baseline before;
  dense_stack_pool pool(boost_stack_bytes, cfg.fibers);  // one mapping, reserved only: no RSS yet
  std::vector<ctx::fiber> fibers;
  fibers.reserve(cfg.fibers);
  for (std::size_t i = 0; i < cfg.fibers; ++i)
    fibers.emplace_back(std::allocator_arg, dense_stack_allocator{&pool}, [&stop](ctx::fiber&& caller) {
      while (!stop.load(std::memory_order_relaxed)) caller = std::move(caller).resume();
      return std::move(caller);
    });
  for (int w = 0; w < warmup_rounds; ++w)
    for (auto& f : fibers) f = std::move(f).resume();
  before.finish(r, cfg.fibers);
  r.ns = timed_rounds(fibers, cfg.rounds, [](ctx::fiber& f) { f = std::move(f).resume(); });
  stop.store(true, std::memory_order_relaxed);
  for (auto& f : fibers) {
    f = std::move(f).resume();
    if (f) return r;  // the function returned: Boost hands back an empty fiber
  }
  fibers.clear();  // the stacks go back to the pool before the pool goes
  r.ok = 1;
  return r;
}
#endif

struct library {
  std::string name;
  std::function<run_result(const run_config&)> run;
  std::vector<run_result> runs[2];  // [0]: the many fibers, [1]: the few
};

summary over_runs(const std::vector<run_result>& runs, double run_result::*field) {
  std::vector<double> x;
  for (const run_result& r : runs) x.push_back(r.*field);
  return summarize(x);
}

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--fibers N] [--small N] [--rounds N] [--reps N] [--quick] [--markdown FILE]\n"
                 "  --fibers N       fibers resumed round-robin (default 50000)\n"
                 "  --small N        the same with this many fibers, which fit in the caches (default 1000)\n"
                 "  --rounds N       timed rounds at --fibers (default 100; --quick: 20); the small run makes\n"
                 "                   as many resumes in all\n"
                 "  --reps N         runs of every contender at each count, each in a child process (default 5;\n"
                 "                   --quick: 1)\n"
                 "  --markdown FILE  also write the results to FILE, as Markdown\n");
  const bool quick = args.flag("--quick");
  run_config many;
  many.fibers = args.number("--fibers", many.fibers);
  many.rounds = args.number("--rounds", quick ? 20 : many.rounds);
  run_config few;
  few.fibers = args.number("--small", 1000);
  // As many resumes in all as the big run makes, so both runs last long enough to time.
  few.rounds = std::max<std::size_t>(1, many.rounds * many.fibers / few.fibers);
  const std::size_t reps = args.number("--reps", quick ? 1 : 5);
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();
  const run_config configs[2] = {many, few};

  std::printf("many switch: N fibers resumed round-robin, each yielding at once; ns per resume (a resume + yield "
              "round trip, two switches), median over %zu rounds of %zu fibers and %zu rounds of %zu; %zu run(s) "
              "of each contender at each count, each in a child process of its own, rotated; medians over the runs\n",
              many.rounds, many.fibers, few.rounds, few.fibers, reps);
  std::printf("machine: %s\n", machine_description().c_str());
  std::printf("boost: %s\n", boost_description().c_str());
  std::fflush(stdout);

  std::vector<library> contenders;
  contenders.push_back({"ebb::fiber (default)", [](const run_config& c) { return run_ebb<ebb::fiber>(c); }, {}});
  contenders.push_back({"ebb::compact_fiber", [](const run_config& c) { return run_ebb<ebb::compact_fiber>(c); }, {}});
#if EBB_BENCH_HAVE_BOOST
  contenders.push_back({"boost::context::fiber, 16 KiB dense pool", [](const run_config& c) { return run_boost(c); }, {}});
#endif

  const std::size_t n = contenders.size();
  bool failed = false;
  for (std::size_t r = 0; r < reps; ++r)
    for (std::size_t k = 0; k < n; ++k) {
      library& c = contenders[(r + k) % n];
      for (int i = 0; i < 2; ++i) {
        const run_config cfg = configs[i];
        const run_result res = in_child([&] { return c.run(cfg); });
        if (res.ok) {
          c.runs[i].push_back(res);
        } else {
          failed = true;
          std::printf("  %s, %zu fibers: run %zu FAILED (the child crashed or a fiber did not finish)\n", c.name.c_str(),
                      cfg.fibers, r + 1);
        }
      }
    }

  std::size_t width = 9;
  for (const library& c : contenders) width = std::max(width, c.name.size());
  std::ostringstream md;
  md << "Many-fiber switch: every fiber resumed once per round, each yielding at once. \"per resume\": ns per "
        "resume + yield round trip (two switches), the median over the rounds of one run, then the median (min, "
        "max) over "
     << reps << " run(s), each in a child process of its own; memory: growth of VmRSS and VmPTE per fiber with "
        "every fiber suspended, the vector of handles included.\n\n"
     << "| contender | fibers | per resume | min | max | RSS / fiber | page tables / fiber | RSS + page tables |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  std::printf("  %-*s  %7s  %10s  %10s  %10s  %10s  %10s  %10s\n", static_cast<int>(width), "contender", "fibers",
              "per resume", "min", "max", "RSS/fiber", "PTE/fiber", "RSS+PTE");
  for (int i = 0; i < 2; ++i)
    for (const library& c : contenders) {
      if (c.runs[i].empty()) {
        std::printf("  %-*s  %7zu  no successful run\n", static_cast<int>(width), c.name.c_str(), configs[i].fibers);
        md << "| " << c.name << " | " << configs[i].fibers << " | no successful run ||||||\n";
        continue;
      }
      const summary t = over_runs(c.runs[i], &run_result::ns);
      const double rss = over_runs(c.runs[i], &run_result::rss_bytes).median;
      const double pte = over_runs(c.runs[i], &run_result::pte_bytes).median;
      std::printf("  %-*s  %7zu  %7.1f ns  %7.1f ns  %7.1f ns  %8.0f B  %8.0f B  %8.0f B\n", static_cast<int>(width),
                  c.name.c_str(), configs[i].fibers, t.median, t.min, t.max, rss, pte, rss + pte);
      md << "| " << c.name << " | " << configs[i].fibers << " | " << fmt("%.1f ns", t.median) << " | "
         << fmt("%.1f ns", t.min) << " | " << fmt("%.1f ns", t.max) << " | " << fmt("%.0f B", rss) << " | "
         << fmt("%.0f B", pte) << " | " << fmt("%.0f B", rss + pte) << " |\n";
    }

  // Ratios between medians of this run: each ebb fiber against Boost at both counts, and each
  // contender's cost at many fibers against its own at few (what cold caches and TLB add).
  std::vector<derived_row> derived;
  auto have = [&](std::size_t c, int i) { return c < n && !contenders[c].runs[i].empty(); };
  auto ns = [&](std::size_t c, int i) { return over_runs(contenders[c].runs[i], &run_result::ns).median; };
  const std::string many_text = std::to_string(many.fibers) + " fibers", few_text = std::to_string(few.fibers) + " fibers";
  for (std::size_t c = 0; c < 2; ++c)
    for (int i = 0; i < 2; ++i)
      if (have(c, i) && have(2, i))
        derived.push_back({contenders[c].name + " / Boost dense, " + (i == 0 ? many_text : few_text),
                           ns(c, i) / ns(2, i), "x", 0});
  for (std::size_t c = 0; c < n; ++c)
    if (have(c, 0) && have(c, 1))
      derived.push_back({contenders[c].name + ": " + many_text + " / " + few_text, ns(c, 0) / ns(c, 1), "x", 0});
  std::printf("\n");
  print_derived(derived);
  md << "\n" << markdown_derived(derived);
  if (!markdown_path.empty()) write_file(markdown_path, md.str());
  return failed ? 1 : 0;
}
