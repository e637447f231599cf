// SPDX-License-Identifier: BSL-1.0
// bench/idle_memory_bench.cpp — what a suspended fiber costs in memory, as the kernel counts it.
//
// N fibers (100,000; --million: also 1,000,000) are created and resumed once; each parks in
// `for (;;) ebb::this_fiber::yield();`. Measured: the growth of VmRSS (resident memory) and of VmPTE
// (page tables, which RSS does not include) from before the first fiber to after the last, divided by
// N. The std::vector of fiber handles (8 bytes a fiber) is counted: a program keeps its fibers
// somewhere. Before each measurement the stack pool is trimmed, so every reservation comes from a new
// slab. Targets for the default ebb::fiber (1 MiB maximum): RSS <= 4.5 KiB a fiber, RSS + page tables
// <= 6.5 KiB a fiber.
//
// Then the same at 100,000 fibers for several maxima, set per fiber with fiber_options().max_size():
// 64 KiB, 256 KiB, 1 MiB, 8 MiB, on a fiber type whose GrowthPolicy allows 8 MiB
// (doubling_growth<2 KiB, 8 MiB>; ebb::fiber's policy caps the option at 1 MiB). A fiber touches only
// its top page whatever its maximum, so RSS stays the same; the page tables grow with the spacing of
// the reservations: one 4 KiB page-table page maps 2 MiB of address space, so reservations 1 MiB
// apart share one between two fibers, and 8 MiB apart need one each.
//
// Go for reference (measured elsewhere, not by this program): an idle goroutine costs about 2.7 KB of
// RSS.
#include "bench_common.hpp"

#include <ebb/ebb.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace ebb_bench;

using wide_fiber = ebb::basic_fiber<ebb::doubling_growth<ebb::default_min_stack, 8u << 20>>;

struct idle_sample {
  double rss_bytes = 0, pte_bytes = 0;  // per fiber
  double stack_committed = 0;           // per fiber, from stack_registry::profile()
  double create_ns = 0;                 // per fiber: create + first resume, including slab mapping
  long mappings = 0;                    // mappings added in all
};

long mapping_count() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(maps, line)) ++n;
  return n;
}

template <class Fiber>
idle_sample measure(std::size_t count, std::size_t max_size) {
  idle_sample s;
  ebb::trim_stack_pool();
  const long rss0 = proc_status_kib("VmRSS"), pte0 = proc_status_kib("VmPTE");
  const long maps0 = mapping_count();
  std::vector<Fiber> fibers;
  fibers.reserve(count);
  const ebb::fiber_options options = ebb::fiber_options().max_size(max_size);
  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < count; ++i) {
    fibers.emplace_back(options, [] {
      for (;;) ebb::this_fiber::yield();
    });
    fibers.back().resume();
  }
  s.create_ns = static_cast<double>(now_ns() - t0) / static_cast<double>(count);
  const long rss1 = proc_status_kib("VmRSS"), pte1 = proc_status_kib("VmPTE");
  s.mappings = mapping_count() - maps0;
  s.rss_bytes = static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(count);
  s.pte_bytes = static_cast<double>(pte1 - pte0) * 1024.0 / static_cast<double>(count);
  const ebb::stack_profile profile = ebb::stack_registry::profile();
  s.stack_committed = profile.fibers ? static_cast<double>(profile.committed) / static_cast<double>(profile.fibers) : 0;
  for (auto& f : fibers)
    if (!f.resume()) std::abort();  // every one still alive
  fibers.clear();
  fibers.shrink_to_fit();
  ebb::trim_stack_pool();
  return s;
}

template <class Fiber>
idle_sample median_sample(std::size_t reps, std::size_t count, std::size_t max_size) {
  std::vector<double> rss, pte, committed, create, maps;
  for (std::size_t r = 0; r < reps; ++r) {
    const idle_sample s = measure<Fiber>(count, max_size);
    rss.push_back(s.rss_bytes), pte.push_back(s.pte_bytes), committed.push_back(s.stack_committed);
    create.push_back(s.create_ns), maps.push_back(static_cast<double>(s.mappings));
  }
  idle_sample m;
  m.rss_bytes = summarize(rss).median;
  m.pte_bytes = summarize(pte).median;
  m.stack_committed = summarize(committed).median;
  m.create_ns = summarize(create).median;
  m.mappings = static_cast<long>(summarize(maps).median);
  return m;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string size_text(std::size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--fibers N] [--million] [--reps N] [--quick] [--markdown FILE]\n"
                 "  --fibers N       fibers per measurement (default 100000; --quick: 20000)\n"
                 "  --million        also measure 1,000,000 default fibers (about 6 GB of RSS + page tables)\n"
                 "  --reps N         measurements of each configuration (default 3; --quick: 1); medians\n"
                 "  --markdown FILE  also write the results to FILE, as Markdown\n");
  const bool quick = args.flag("--quick");
  const std::size_t count = args.number("--fibers", quick ? 20000 : 100000);
  const bool million = args.flag("--million");
  const std::size_t reps = args.number("--reps", quick ? 1 : 3);
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();

  std::printf("idle memory: suspended fibers, VmRSS and VmPTE growth per fiber; median of %zu measurement(s)\n",
              reps);
  std::printf("machine: %s\n", machine_description().c_str());
  std::fflush(stdout);

  std::ostringstream md;
  std::vector<derived_row> derived;

  // ---- default fibers ---------------------------------------------------------------------------
  std::vector<std::size_t> counts{count};
  if (million && count != 1000000) counts.push_back(1000000);
  md << "Suspended default `ebb::fiber`s (1 MiB maximum), growth of VmRSS and VmPTE per fiber (the vector of "
        "handles included); median of "
     << reps << " measurement(s):\n\n"
     << "| fibers | RSS / fiber | page tables / fiber | RSS + page tables | stack committed / fiber | mappings added | create + first resume |\n"
     << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  std::printf("  %9s  %12s  %12s  %12s  %12s  %9s  %12s\n", "fibers", "RSS/fiber", "PTE/fiber", "RSS+PTE",
              "stack/fiber", "mappings", "create");
  for (std::size_t n : counts) {
    const idle_sample s = median_sample<ebb::fiber>(n == 1000000 ? 1 : reps, n, 0);
    std::printf("  %9zu  %10.0f B  %10.0f B  %10.0f B  %10.0f B  %9ld  %9.0f ns\n", n, s.rss_bytes, s.pte_bytes,
                s.rss_bytes + s.pte_bytes, s.stack_committed, s.mappings, s.create_ns);
    md << "| " << n << " | " << fmt("%.0f B", s.rss_bytes) << " | " << fmt("%.0f B", s.pte_bytes) << " | "
       << fmt("%.0f B", s.rss_bytes + s.pte_bytes) << " | " << fmt("%.0f B", s.stack_committed) << " | "
       << s.mappings << " | " << fmt("%.0f ns", s.create_ns) << " |\n";
    const std::string at = " (" + std::to_string(n) + " fibers)";
    derived.push_back({"RSS per idle fiber, KiB" + at, s.rss_bytes / 1024, " KiB", 4.5});
    derived.push_back({"RSS + page tables per idle fiber, KiB" + at, (s.rss_bytes + s.pte_bytes) / 1024, " KiB", 6.5});
    std::fflush(stdout);
  }
  std::printf("  Go, for reference (measured elsewhere, not by this program): about 2.7 KB of RSS per idle goroutine\n");

  // ---- by maximum --------------------------------------------------------------------------------
  const std::size_t maxima[] = {64u << 10, 256u << 10, 1u << 20, 8u << 20};
  std::printf("\n  by maximum size (fiber_options().max_size(), doubling_growth<2 KiB, 8 MiB>), %zu fibers:\n", count);
  std::printf("  %9s  %12s  %12s  %12s  %9s\n", "max_size", "RSS/fiber", "PTE/fiber", "RSS+PTE", "mappings");
  md << "\nBy maximum stack size, " << count
     << " suspended fibers of `basic_fiber<doubling_growth<2 KiB, 8 MiB>>` with `fiber_options().max_size(...)`:\n\n"
     << "| max_size | RSS / fiber | page tables / fiber | RSS + page tables | mappings added |\n"
     << "| ---: | ---: | ---: | ---: | ---: |\n";
  for (std::size_t max : maxima) {
    const idle_sample s = median_sample<wide_fiber>(reps, count, max);
    std::printf("  %9s  %10.0f B  %10.0f B  %10.0f B  %9ld\n", size_text(max).c_str(), s.rss_bytes, s.pte_bytes,
                s.rss_bytes + s.pte_bytes, s.mappings);
    md << "| " << size_text(max) << " | " << fmt("%.0f B", s.rss_bytes) << " | " << fmt("%.0f B", s.pte_bytes)
       << " | " << fmt("%.0f B", s.rss_bytes + s.pte_bytes) << " | " << s.mappings << " |\n";
    std::fflush(stdout);
  }

  std::printf("\n");
  print_derived(derived);
  md << "\n" << markdown_derived(derived)
     << "\nGo, for reference (measured elsewhere, not by `bench/`): about 2.7 KB of RSS per idle goroutine.\n";
  if (!markdown_path.empty()) write_file(markdown_path, md.str());
  return 0;
}
