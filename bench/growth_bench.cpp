// SPDX-License-Identifier: BSL-1.0
// bench/growth_bench.cpp — what growing a stack costs: from 2 KiB to 1 MiB in one recursion.
//
// ebb grows a stack in place: the stack part of the reservation is mapped from the start and the
// kernel commits each page the first time the fiber touches it; ebb itself only raises the logical
// size (2 KiB, 4 KiB, ... 1 MiB: nine doublings) when it sees the depth at the next switch. So growth
// should cost what first-touching those pages costs, and nothing more. Measured, in one process:
//
//   ebb, fresh reservation   ebb::trim_stack_pool() first, so the fiber gets a reservation from a new
//                            slab whose pages were never touched; the fiber is created and started
//                            (it parks at once) outside the timed region; timed: one resume() in
//                            which it recurses to about 1 MiB - 16 KiB (88-byte frames on average,
//                            bench/deep_frames.hpp) and yields at the deepest level; resume() returns
//                            with the logical size grown to 1 MiB (the grows are checked)
//   bare first touch         a fresh mmap of the reservation's size (MAP_NORESERVE | MAP_STACK,
//                            MADV_NOHUGEPAGE, like ebb's slabs; the mmap is not timed), the same
//                            number of pages touched top down, one byte per page
//   ebb, warm stack          (information) the same fiber does the same recursion again, its pages
//                            resident now: what the recursion itself costs without any growth
//
// Repetitions rotate the order; figures are medians. Target: ebb fresh / bare first touch <= 1.2x.
#include "bench_common.hpp"
#include "deep_frames.hpp"

#include <ebb/ebb.hpp>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <sys/mman.h>

namespace {

using namespace ebb_bench;

struct growth_sample {
  double fresh_ns = 0, warm_ns = 0;
  std::size_t pages = 0;      // pages committed by the recursion
  std::uint64_t grows = 0;    // growth steps it took
  std::size_t size_before = 0, size_after = 0, peak = 0;
};

growth_sample ebb_growth(int levels) {
  growth_sample s;
  ebb::trim_stack_pool();  // the next reservation comes from a new slab: untouched pages
  int sink = 0;
  ebb::fiber f([levels, &sink] {
    for (;;) {
      ebb::this_fiber::yield();  // parked between recursions
      sink += recurse_frames(levels);
    }
  });
  f.resume();  // started: the entry frames are in place, parked above the recursion
  const ebb::stack_stats before = f.stack_stats();
  s.size_before = before.size;

  std::uint64_t t0 = now_ns();
  f.resume();  // down to the deepest level, where it yields
  s.fresh_ns = static_cast<double>(now_ns() - t0);
  const ebb::stack_stats after = f.stack_stats();
  s.pages = (after.committed - before.committed) / page_bytes();
  s.grows = after.grows - before.grows;
  s.size_after = after.size;
  s.peak = after.peak;
  f.resume();  // back up, parked again

  t0 = now_ns();
  f.resume();  // the same recursion over resident pages
  s.warm_ns = static_cast<double>(now_ns() - t0);
  f.resume();
  if (sink == 42) std::printf(" ");  // keeps the recursion's result observable
  return s;
}

// Touch `pages` pages top down, one byte each, on a fresh mapping of `bytes`; ns for the touching.
double bare_first_touch(std::size_t bytes, std::size_t pages) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
#ifdef MADV_NOHUGEPAGE
  ::madvise(p, bytes, MADV_NOHUGEPAGE);
#endif
  char* top = static_cast<char*>(p) + bytes;
  const std::size_t page = page_bytes();
  const std::uint64_t t0 = now_ns();
  for (std::size_t k = 1; k <= pages; ++k) static_cast<volatile char*>(top - k * page)[0] = 1;
  const double ns = static_cast<double>(now_ns() - t0);
  ::munmap(p, bytes);
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--reps N] [--quick] [--markdown FILE]\n"
                 "  --reps N         repetitions (default 31; --quick: 7); medians over them\n"
                 "  --quick          fewer repetitions\n"
                 "  --markdown FILE  also write the results to FILE, as Markdown\n");
  const bool quick = args.flag("--quick");
  const std::size_t reps = args.number("--reps", quick ? 7 : 31);
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();

  // Down to 16 KiB short of the 1 MiB maximum: past 512 KiB, so the logical size doubles to 1 MiB.
  const std::size_t target_bytes = ebb::default_max_stack - 16 * 1024;
  const int levels = static_cast<int>(static_cast<double>(target_bytes) / nominal_frame_bytes);
  const std::size_t region_bytes = ebb::default_guard_size + ebb::default_max_stack + page_bytes();
  deep_frames::at_bottom = [] { ebb::this_fiber::yield(); };

  std::printf("growth: one recursion of %d levels in a fresh fiber (2 KiB -> 1 MiB), against the bare first "
              "touch of as many pages; median of %zu repetitions, order rotated\n",
              levels, reps);
  std::printf("machine: %s\n", machine_description().c_str());
  std::fflush(stdout);

  // One untimed round first: the page count for the bare contender, and everything warmed up.
  const growth_sample probe = ebb_growth(levels);
  const std::size_t pages = probe.pages;

  std::vector<growth_sample> ebb_samples;
  std::vector<double> fresh, warm, bare, ratio;
  for (std::size_t r = 0; r < reps; ++r) {
    for (int j = 0; j < 2; ++j) {
      if ((r + j) % 2 == 0) {
        ebb_samples.push_back(ebb_growth(levels));
        fresh.push_back(ebb_samples.back().fresh_ns / 1e3);
        warm.push_back(ebb_samples.back().warm_ns / 1e3);
      } else {
        bare.push_back(bare_first_touch(region_bytes, pages) / 1e3);
      }
    }
  }
  const growth_sample& last = ebb_samples.back();
  const summary sf = summarize(fresh), sw = summarize(warm), sb = summarize(bare);
  const double grows = static_cast<double>(last.grows);

  std::printf("  fiber: logical size %zu -> %zu bytes in %llu growth steps; peak in use %zu bytes = %.1f bytes "
              "per level; %zu pages committed by the recursion\n",
              last.size_before, last.size_after, static_cast<unsigned long long>(last.grows), last.peak,
              static_cast<double>(last.peak) / levels, pages);
  std::printf("  %-34s  %12s  %12s  %12s  %12s\n", "contender", "median", "min", "max", "per page");
  auto line = [&](const char* name, const summary& s) {
    std::printf("  %-34s  %9.1f us  %9.1f us  %9.1f us  %9.0f ns\n", name, s.median, s.min, s.max,
                s.median * 1e3 / pages);
  };
  line("ebb, fresh reservation", sf);
  line("bare first touch (same pages)", sb);
  line("ebb, warm stack (no growth)", sw);

  std::vector<derived_row> derived;
  derived.push_back({"ebb fresh / bare first touch", sf.median / sb.median, "x", 1.2});
  derived.push_back({"ebb growth 2 KiB -> 1 MiB, total", sf.median, " us", 0});
  derived.push_back({"ebb, per growth step (total / steps)", grows > 0 ? sf.median / grows : 0, " us", 0});
  derived.push_back({"ebb fresh - warm (growth without the recursion's own work)", sf.median - sw.median, " us", 0});
  derived.push_back({"(ebb fresh - warm) / bare first touch", (sf.median - sw.median) / sb.median, "x", 0});
  print_derived(derived);

  if (!markdown_path.empty()) {
    std::ostringstream md;
    md << "Growth from " << last.size_before / 1024 << " KiB to " << last.size_after / 1024
       << " KiB in one recursion of " << levels << " levels (" << fmt("%.1f", static_cast<double>(last.peak) / levels)
       << " bytes per level measured, " << pages << " pages committed, " << last.grows
       << " growth steps); median of " << reps << " repetitions, order rotated:\n\n"
       << "| contender | median | min | max | per page |\n| --- | ---: | ---: | ---: | ---: |\n";
    auto row = [&](const char* name, const summary& s) {
      md << "| " << name << " | " << fmt("%.1f us", s.median) << " | " << fmt("%.1f us", s.min) << " | "
         << fmt("%.1f us", s.max) << " | " << fmt("%.0f ns", s.median * 1e3 / pages) << " |\n";
    };
    row("ebb, fresh reservation", sf);
    row("bare first touch of the same pages", sb);
    row("ebb, warm stack (the recursion alone)", sw);
    md << "\n" << markdown_derived(derived);
    write_file(markdown_path, md.str());
  }
  return 0;
}
