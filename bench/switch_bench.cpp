// SPDX-License-Identifier: BSL-1.0
// bench/switch_bench.cpp — the cost of one context switch.
//
// Measured: a resume() + this_fiber::yield() round trip of a fiber that does nothing else, i.e. two
// switches, reported as nanoseconds per switch (round trip / 2). Contenders, all in this one process:
//
//   ebb::fiber (default)   exception-state swap and misuse checks on (this translation unit)
//   ebb::fiber (lean)      both compiled out: switch_bench_lean.cpp, built with -DEBB_LEAN=1
//   boost::context::fiber  Boost.Context's fiber (fcontext), `f = std::move(f).resume()` both ways;
//                          only when built with EBB_BENCH_HAVE_BOOST
//
// Each repetition runs every contender once, in rotated order; the figure is the median over the
// repetitions, and the ratios ebb/Boost are taken between medians of this same run (see
// bench_common.hpp for why). Targets: default <= 1.10x Boost, lean <= 1.0x Boost.
#include "bench_common.hpp"
#include "ebb_workloads.hpp"
#include "lean.hpp"

#include <atomic>
#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

#if EBB_BENCH_HAVE_BOOST
#include <boost/context/fiber.hpp>
#endif

namespace {

// Several million switches per contender and repetition: long enough that timer cost and a single
// scheduler tick vanish, short enough that 15 rotated repetitions finish in a few seconds.
constexpr std::size_t default_round_trips = 2'500'000;

#if EBB_BENCH_HAVE_BOOST
// The same round trip with Boost.Context 1.81: main resumes the fiber, the fiber resumes main.
// The fiber's stack comes from Boost's default fixedsize_stack, allocated outside the timed region.
double boost_switch_ns(std::size_t round_trips) {
  namespace ctx = boost::context;
  std::atomic<bool> stop{false};
  ctx::fiber f{[&stop](ctx::fiber&& caller) {
    while (!stop.load(std::memory_order_relaxed)) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  const std::size_t warmup = round_trips / 16 < 100000 ? round_trips / 16 : 100000;
  for (std::size_t i = 0; i < warmup; ++i) f = std::move(f).resume();

  const std::uint64_t t0 = ebb_bench::now_ns();
  for (std::size_t i = 0; i < round_trips; ++i) f = std::move(f).resume();
  const std::uint64_t t1 = ebb_bench::now_ns();

  stop.store(true, std::memory_order_relaxed);
  f = std::move(f).resume();  // the function returns; Boost frees its stack
  if (f) {
    std::fprintf(stderr, "switch benchmark: the Boost fiber did not finish\n");
    std::abort();
  }
  return static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(round_trips));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace ebb_bench;
  const options opt = parse_options(argc, argv, "resume+yield round trips per contender and repetition "
                                                "(default 2500000, i.e. 5 million switches)");
  const std::size_t round_trips = opt.iterations ? opt.iterations : default_round_trips;

  if (!lean_switch_tu_is_lean()) {
    std::fprintf(stderr, "switch_bench_lean.cpp was not compiled with -DEBB_LEAN=1\n");
    return 1;
  }

  std::vector<contender> contenders;
  contenders.push_back({"ebb::fiber (default)", [=] { return ebb_switch_ns<ebb::fiber>(round_trips); }, {}});
  contenders.push_back({"ebb::fiber (lean)", [=] { return lean_switch_ns(round_trips); }, {}});
#if EBB_BENCH_HAVE_BOOST
  contenders.push_back({"boost::context::fiber", [=] { return boost_switch_ns(round_trips); }, {}});
#endif

  std::printf("switch: resume + yield round trip, ns per switch (round trip / 2), median of %zu "
              "repetitions x %zu round trips, contenders interleaved in rotated order\n",
              opt.repetitions, round_trips);
  std::printf("machine: %s\n", machine_description().c_str());
  std::printf("boost: %s\n", boost_description().c_str());
  std::fflush(stdout);

  run_rotated(contenders, opt.repetitions);

  print_table(contenders, "ns");
  std::vector<derived_row> ratios;
#if EBB_BENCH_HAVE_BOOST
  const double boost = summarize(contenders[2].samples).median;
  ratios.push_back({"ebb default / Boost", summarize(contenders[0].samples).median / boost, "x", 1.10});
  ratios.push_back({"ebb lean / Boost", summarize(contenders[1].samples).median / boost, "x", 1.00});
  print_derived(ratios);
#endif

  if (!opt.markdown_path.empty()) {
    std::ostringstream md;
    md << "Context switch, ns per switch (resume + yield round trip / 2); median of " << opt.repetitions
       << " repetitions x " << round_trips << " round trips per contender, interleaved:\n\n"
       << markdown_table(contenders, "ns");
    if (!ratios.empty()) md << "\n" << markdown_derived(ratios);
    write_file(opt.markdown_path, md.str());
  }
  return 0;
}
