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
// Compact fibers (ebb::compact_fiber, mappers/shared_stack.hpp), beside goroutines: N of each
// (the same N; --million: also 1,000,000) park at a shallow depth (the same loop: about 112 bytes of
// live frames at the yield, printed). Every compact fiber is resumed once as it is created, so each new
// one takes an execution stack and the fiber that was on it is evicted: its live frames are copied
// into storage sized by the policies. After the loop all but one or two are saved (the program counts
// them: "saved"); those still on an execution stack hold no storage yet. Measured as above: growth of VmRSS + VmPTE
// per fiber, the vector of handles included. Two policies: the default (2 KiB minimum: storage of
// 2 KiB) and a 256-byte minimum (basic_compact_fiber<doubling_growth<256>, quarter_shrink<256>>). Also
// printed: the block each fiber's control block and callable take (stack_stats().reserved) and
// sizeof the control block, which together with the storage explain the figure. Goroutines are
// measured by bench/go/idle_goroutines.go in a child process (it parks N goroutines on a channel
// receive and prints its own VmRSS + VmPTE growth per goroutine); its path comes from --go-binary, or
// it is built with `go` from PATH. The three run one after another in an order rotated each
// repetition; the figures are medians, the ratios to Go taken within this run. Targets: RSS + page
// tables <= 2.5 KiB per default compact fiber, <= 0.75 KiB with the 256-byte minimum.
#include "bench_common.hpp"
#include "go_program.hpp"

#include <ebb/ebb.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace ebb_bench;

using wide_fiber = ebb::basic_fiber<ebb::doubling_growth<ebb::default_min_stack, 8u << 20>>;
using small_compact_fiber = ebb::basic_compact_fiber<ebb::doubling_growth<256>, ebb::quarter_shrink<256>>;

// sizeof the control block of a fiber type: ebb's internal type (detail::fiber_control), named here
// only to explain the figures; the block a fiber really takes is stack_stats().reserved.
template <class Fiber>
constexpr std::size_t control_block_sizeof() {
  return sizeof(ebb::detail::fiber_control<typename Fiber::growth_policy, typename Fiber::shrink_policy,
                                           typename Fiber::stack_allocator, typename Fiber::frame_mapper>);
}

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

// ---- compact fibers and goroutines ---------------------------------------------------------------
struct compact_sample {
  double rss_bytes = 0, pte_bytes = 0;  // per fiber
  double storage = 0;                   // per fiber: stack_stats().committed (the saved frames' storage)
  double block = 0;                     // per fiber: stack_stats().reserved (control block + callable)
  double live = 0;                      // bytes of live frames at the yield (stack_stats().used)
  double saved = 0;                     // fibers whose frames were copied into storage
  double create_ns = 0;                 // per fiber: create + first resume (+ the eviction it causes)
};

template <class Fiber>
compact_sample measure_compact(std::size_t count) {
  compact_sample s;
  const long rss0 = proc_status_kib("VmRSS"), pte0 = proc_status_kib("VmPTE");
  std::vector<Fiber> fibers;
  fibers.reserve(count);
  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < count; ++i) {
    fibers.emplace_back([] {
      for (;;) ebb::this_fiber::yield();
    });
    fibers.back().resume();  // takes an execution stack; the fiber that was on it is saved
  }
  s.create_ns = static_cast<double>(now_ns() - t0) / static_cast<double>(count);
  const long rss1 = proc_status_kib("VmRSS"), pte1 = proc_status_kib("VmPTE");
  s.rss_bytes = static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(count);
  s.pte_bytes = static_cast<double>(pte1 - pte0) * 1024.0 / static_cast<double>(count);
  double storage = 0, block = 0, saved = 0;
  for (auto& f : fibers) {
    const ebb::stack_stats st = f.stack_stats();
    storage += static_cast<double>(st.committed);
    block += static_cast<double>(st.reserved);
    saved += st.committed != 0;
  }
  s.storage = storage / static_cast<double>(count);
  s.block = block / static_cast<double>(count);
  s.saved = saved;
  s.live = static_cast<double>(fibers.front().stack_stats().used);
  for (auto& f : fibers)
    if (!f.resume()) std::abort();  // every one still alive
  fibers.clear();  // unwinds each on its execution stack; the blocks go back to the block heap
  fibers.shrink_to_fit();
  return s;
}

struct go_idle_sample {
  bool ok = false;
  std::string version;
  double rss_bytes = 0, pte_bytes = 0, stack_bytes = 0;  // per goroutine
};

go_idle_sample run_go_idle(const std::string& binary, std::size_t count) {
  go_idle_sample g;
  const std::string command = quoted(binary) + " -n " + std::to_string(count);
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return g;
  char line[512];
  while (std::fgets(line, sizeof line, pipe.get())) {
    std::istringstream in(line);
    std::string key, k1, k2, k3;
    in >> key;
    if (key == "go_version") {
      in >> g.version;
    } else if (key == "per_goroutine") {
      in >> k1 >> g.rss_bytes >> k2 >> g.pte_bytes >> k3 >> g.stack_bytes;
      g.ok = static_cast<bool>(in);
    }
  }
  if (::pclose(pipe.release()) != 0) g.ok = false;
  return g;
}

std::string size_text(std::size_t bytes) {
  return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--fibers N] [--million] [--reps N] [--quick] [--go-binary PATH] [--no-go] [--markdown FILE]\n"
                 "  --fibers N        fibers per measurement (default 100000; --quick: 20000)\n"
                 "  --million         also measure 1,000,000 default fibers (about 6 GB of RSS + page tables),\n"
                 "                    compact fibers and goroutines (about 2.7 GB each)\n"
                 "  --reps N          measurements of each configuration (default 3; --quick: 1); medians\n"
                 "  --go-binary PATH  the built bench/go/idle_goroutines.go (default: build it with `go` from PATH)\n"
                 "  --no-go           do not measure goroutines\n"
                 "  --markdown FILE   also write the results to FILE, as Markdown\n");
  const bool quick = args.flag("--quick");
  const std::size_t count = args.number("--fibers", quick ? 20000 : 100000);
  const bool million = args.flag("--million");
  const std::size_t reps = args.number("--reps", quick ? 1 : 3);
  const std::string go_binary_given = args.text("--go-binary", "");
  const bool no_go = args.flag("--no-go");
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();

  std::printf("idle memory: suspended fibers, VmRSS and VmPTE growth per fiber; median of %zu measurement(s)\n",
              reps);
  std::printf("machine: %s\n", machine_description().c_str());
  std::string go_binary, go_why_not = "--no-go";
#ifdef EBB_BENCH_GO_IDLE_SOURCE
  const char* go_source = EBB_BENCH_GO_IDLE_SOURCE;
#else
  const char* go_source = nullptr;
#endif
  if (!no_go) go_binary = locate_go_program(go_binary_given, go_source, "go_idle_goroutines", go_why_not);
  std::printf("go: %s\n", go_binary.empty() ? ("not run: " + go_why_not).c_str() : go_binary.c_str());
  std::fflush(stdout);

  std::ostringstream md;
  std::vector<derived_row> derived;

  // ---- default fibers ---------------------------------------------------------------------------
  std::vector<std::size_t> counts{count};
  if (million && count != 1000000) counts.push_back(1000000);
  std::vector<double> default_rss_pte;  // per fiber, for each of counts
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
    default_rss_pte.push_back(s.rss_bytes + s.pte_bytes);
    std::fflush(stdout);
  }

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

  // ---- compact fibers beside goroutines -----------------------------------------------------------
  std::printf("\n  compact fibers and goroutines, parked shallow; the three rotated each repetition, medians:\n");
  std::printf("  control block: sizeof %zu B (ebb::compact_fiber), %zu B (256-byte minimum); the block with the "
              "callable is the \"block\" column\n",
              control_block_sizeof<ebb::compact_fiber>(), control_block_sizeof<small_compact_fiber>());
  std::printf("  %-30s  %9s  %10s  %10s  %10s  %12s  %10s  %7s  %9s  %10s\n", "variant", "fibers", "RSS/fiber",
              "PTE/fiber", "RSS+PTE", "storage", "block", "live", "saved", "create");
  md << "\nCompact fibers beside goroutines, parked shallow (growth of VmRSS and VmPTE per fiber, the vector of "
        "handles included; goroutines measured by `bench/go/idle_goroutines.go` in a child process). "
        "\"storage\": the saved frames' storage per fiber (`stack_stats().committed`; for Go, the stack: "
        "`MemStats.StackInuse` growth per goroutine); \"block\": the control block and the callable "
        "(`stack_stats().reserved`); sizeof the control block: "
     << control_block_sizeof<ebb::compact_fiber>() << " B. Medians of " << reps
     << " measurement(s) (1 at 1,000,000), the three rotated:\n\n"
     << "| variant | fibers | RSS / fiber | page tables / fiber | RSS + page tables | storage / fiber | block / fiber "
        "| live frames | saved | create + first resume |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  std::string go_version;
  for (std::size_t ci = 0; ci < counts.size(); ++ci) {
    const std::size_t n = counts[ci];
    const std::size_t r_n = n == 1000000 ? 1 : reps;
    std::vector<compact_sample> normal, small;
    std::vector<go_idle_sample> gos;
    const std::size_t kinds = go_binary.empty() ? 2 : 3;
    for (std::size_t r = 0; r < r_n; ++r) {
      for (std::size_t k = 0; k < kinds; ++k) {
        const std::size_t which = (r + k) % kinds;
        if (which == 0) {
          normal.push_back(measure_compact<ebb::compact_fiber>(n));
        } else if (which == 1) {
          small.push_back(measure_compact<small_compact_fiber>(n));
        } else {
          go_idle_sample g = run_go_idle(go_binary, n);
          if (g.ok) gos.push_back(g), go_version = g.version;
          else std::printf("  the Go program failed (%zu goroutines)\n", n);
        }
      }
    }
    auto med = [](const auto& v, auto get) {
      std::vector<double> x;
      for (const auto& e : v) x.push_back(get(e));
      return summarize(x).median;
    };
    auto row = [&](const std::string& name, const std::vector<compact_sample>& v) {
      compact_sample m;
      m.rss_bytes = med(v, [](const compact_sample& e) { return e.rss_bytes; });
      m.pte_bytes = med(v, [](const compact_sample& e) { return e.pte_bytes; });
      m.storage = med(v, [](const compact_sample& e) { return e.storage; });
      m.block = med(v, [](const compact_sample& e) { return e.block; });
      m.live = med(v, [](const compact_sample& e) { return e.live; });
      m.saved = med(v, [](const compact_sample& e) { return e.saved; });
      m.create_ns = med(v, [](const compact_sample& e) { return e.create_ns; });
      std::printf("  %-30s  %9zu  %8.0f B  %8.0f B  %8.0f B  %10.0f B  %8.0f B  %5.0f B  %9.0f  %7.0f ns\n",
                  name.c_str(), n, m.rss_bytes, m.pte_bytes, m.rss_bytes + m.pte_bytes, m.storage, m.block, m.live,
                  m.saved, m.create_ns);
      md << "| " << name << " | " << n << " | " << fmt("%.0f B", m.rss_bytes) << " | " << fmt("%.0f B", m.pte_bytes)
         << " | " << fmt("%.0f B", m.rss_bytes + m.pte_bytes) << " | " << fmt("%.0f B", m.storage) << " | "
         << fmt("%.0f B", m.block) << " | " << fmt("%.0f B", m.live) << " | " << fmt("%.0f", m.saved) << " | "
         << fmt("%.0f ns", m.create_ns) << " |\n";
      std::fflush(stdout);
      return m.rss_bytes + m.pte_bytes;
    };
    const double c_normal = row("ebb::compact_fiber (2 KiB min)", normal);
    const double c_small = row("compact, 256-byte minimum", small);
    double c_go = 0;
    if (!gos.empty()) {
      const double rss = med(gos, [](const go_idle_sample& g) { return g.rss_bytes; });
      const double pte = med(gos, [](const go_idle_sample& g) { return g.pte_bytes; });
      const double stack = med(gos, [](const go_idle_sample& g) { return g.stack_bytes; });
      c_go = rss + pte;
      const std::string name = "Go goroutine (" + go_version + ")";
      std::printf("  %-30s  %9zu  %8.0f B  %8.0f B  %8.0f B  %10.0f B  %10s  %7s  %9s  %10s\n", name.c_str(), n, rss,
                  pte, c_go, stack, "-", "-", "-", "-");
      md << "| " << name << " | " << n << " | " << fmt("%.0f B", rss) << " | " << fmt("%.0f B", pte) << " | "
         << fmt("%.0f B", c_go) << " | " << fmt("%.0f B", stack) << " | - | - | - | - |\n";
    } else {
      std::printf("  Go: not run (%s)\n", go_binary.empty() ? go_why_not.c_str() : "the program failed");
    }
    const std::string at = " (" + std::to_string(n) + ")";
    derived.push_back({"compact_fiber: RSS + page tables per idle fiber, KB (1000 B)" + at, c_normal / 1000, " KB", 2.5});
    derived.push_back({"compact 256-byte min: RSS + page tables per idle fiber, KB (1000 B)" + at, c_small / 1000, " KB", 0.75});
    if (c_go > 0) {
      derived.push_back({"Go: RSS + page tables per idle goroutine, KB (1000 B)" + at, c_go / 1000, " KB", 0});
      derived.push_back({"compact_fiber / Go goroutine" + at, c_normal / c_go, "x", 0});
      derived.push_back({"compact 256-byte min / Go goroutine" + at, c_small / c_go, "x", 0});
    }
    derived.push_back({"compact_fiber / ebb::fiber (default)" + at, c_normal / default_rss_pte[ci], "x", 0});
  }

  std::printf("\n");
  print_derived(derived);
  md << "\n" << markdown_derived(derived);
  if (!markdown_path.empty()) write_file(markdown_path, md.str());
  return 0;
}
