// SPDX-License-Identifier: BSL-1.0
// bench/entity_scripts_bench.cpp — a game's entity scripts: 50,000 fibers (--fibers), each the script
// of one entity, resumed once per frame for 100 frames (--frames). What compact fibers are for.
//
// Each script keeps a few locals and an empty std::map (its header lives in the script's frame and
// points at itself) alive across its yields, and per frame does a few nanoseconds of work: moves its
// entity (a 32-byte struct in one std::vector of entities), bounces it off the walls, reads the map,
// counts, yields. After 100 frames each script ends; the program checks that every entity moved 100
// times.
//
// Measured per contender:
//   * the first frame: creating every fiber and resuming it once (its stack or storage, control block
//     and the first switch; for the Boost pool, mapping its address space too), in ms;
//   * a frame: one resume of every fiber, each running one step of its script and yielding; the
//     median over frames 2..100 of one run, in ms (and ns per fiber);
//   * memory: growth of VmRSS + VmPTE from before the first frame to after the 100th (every script
//     suspended), divided by the number of fibers, the vector of handles included (the entities' own
//     vector is allocated before the baseline: it is the game's, not the fibers').
// Contenders:
//   ebb::compact_fiber     frames on the thread's execution stack, copied into 2 KiB storage when
//                          the next fiber takes the stack (mappers/shared_stack.hpp)
//   ebb::fiber             its own elastic stack (1 MiB reservation, pages committed as touched)
//   boost::context::fiber  16 KiB fixed stacks from a dense pool (bench/dense_stack_pool.hpp): one mmap of
//                          fibers x 16 KiB (MAP_NORESERVE, MADV_NOHUGEPAGE), carved in order, no guard
//                          page (as Boost's pooled_fixedsize_stack), freed stacks kept on a std::vector
//                          so the pool itself never writes into a stack: only the pages the fiber
//                          touches become resident. Only when built with EBB_BENCH_HAVE_BOOST.
//   Boost pooled_fixedsize_stack(16 KiB), for information: boost::pool's segregation writes a free-list
//                          link into the lowest word of every stack of each block it mallocs, so each
//                          stack has its bottom page resident as well as its top one.
//
// Each run of a contender is a child process of its own (fork() before anything of ebb or Boost has
// run in the parent), so every contender starts from a fresh heap, a fresh stack pool and an empty
// block heap, and its memory is a delta inside that child. --reps N runs (default 5; --quick: 1) of
// every contender, in an order rotated each repetition; every figure printed is the median over the
// runs, every ratio taken between medians of this run. Targets: compact per frame <= 1.0x Boost,
// compact first frame <= 1.0x Boost, compact RSS + page tables <= 2.5 KiB per fiber.
#include "bench_common.hpp"
#include "child_process.hpp"
#include "dense_stack_pool.hpp"

#include <ebb/ebb.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#if EBB_BENCH_HAVE_BOOST
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/context/stack_context.hpp>
#endif

namespace {

using namespace ebb_bench;

struct entity {
  float x, y, vx, vy;
  float energy;
  std::uint32_t frames;
  std::uint32_t bounces;
  std::uint32_t id;
};
static_assert(sizeof(entity) == 32, "one entity: 32 bytes");

// One entity's script: `frames` steps, yielding after each. `yield` is the fiber library's.
template <class Yield>
void script(entity& e, int frames, Yield&& yield) {
  std::map<std::uint32_t, float> timers;  // empty: its header, in this frame, points at itself
  float travelled = 0;
  std::uint32_t bounces = 0;
  for (int f = 0; f < frames; ++f) {
    e.x += e.vx;
    e.y += e.vy;
    if (e.x < 0 || e.x > 1000) e.vx = -e.vx, ++bounces;
    if (e.y < 0 || e.y > 1000) e.vy = -e.vy, ++bounces;
    travelled += std::fabs(e.vx) + std::fabs(e.vy);
    if (!timers.empty()) e.energy += timers.begin()->second;  // reads the header across yields
    ++e.frames;
    yield();
  }
  e.energy += travelled + static_cast<float>(timers.size());
  e.bounces = bounces;
}

std::vector<entity> make_entities(std::size_t count) {
  std::vector<entity> es(count);
  for (std::size_t i = 0; i < count; ++i) {
    const float f = static_cast<float>(i);
    es[i] = {std::fmod(f * 7.0f, 1000.0f), std::fmod(f * 13.0f, 1000.0f), 1.0f + std::fmod(f, 3.0f),
             2.0f - std::fmod(f, 5.0f), 0.0f, 0, 0, static_cast<std::uint32_t>(i)};
  }
  return es;
}

// What one run (one child process) reports to the parent through a pipe.
struct run_result {
  int ok = 0;
  double first_ms = 0;
  double frame_ms = 0;      // median over frames 2..frames
  double frame_min_ms = 0, frame_max_ms = 0;
  double rss_bytes = 0, pte_bytes = 0;  // per fiber
  double live = 0, storage = 0;         // ebb: stack_stats().used and .committed of fiber 0 after the last frame
};

struct run_config {
  std::size_t fibers = 50000;
  int frames = 100;
};

bool entities_ok(const std::vector<entity>& es, int frames) {
  for (const entity& e : es)
    if (e.frames != static_cast<std::uint32_t>(frames)) return false;
  return true;
}

// The timed scenario for an ebb fiber type: the frame loop, memory, then every script finishes.
template <class Fiber>
run_result run_ebb(const run_config& cfg) {
  run_result r;
  std::vector<entity> es = make_entities(cfg.fibers);
  std::vector<double> frame_ms;
  const long rss0 = proc_status_kib("VmRSS"), pte0 = proc_status_kib("VmPTE");
  std::uint64_t t0 = now_ns();
  std::vector<Fiber> fibers;
  fibers.reserve(cfg.fibers);
  const int frames = cfg.frames;
  for (std::size_t i = 0; i < cfg.fibers; ++i) {
    entity* e = &es[i];
    fibers.emplace_back([e, frames] { script(*e, frames, [] { ebb::this_fiber::yield(); }); });
    fibers.back().resume();
  }
  r.first_ms = static_cast<double>(now_ns() - t0) / 1e6;
  for (int f = 2; f <= frames; ++f) {
    t0 = now_ns();
    for (auto& fiber : fibers) fiber.resume();
    frame_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
  }
  const long rss1 = proc_status_kib("VmRSS"), pte1 = proc_status_kib("VmPTE");
  r.rss_bytes = static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(cfg.fibers);
  r.pte_bytes = static_cast<double>(pte1 - pte0) * 1024.0 / static_cast<double>(cfg.fibers);
  const ebb::stack_stats s = fibers.front().stack_stats();
  r.live = static_cast<double>(s.used);
  r.storage = static_cast<double>(s.committed);
  for (auto& fiber : fibers)
    if (fiber.resume()) return r;  // each script ends after its last step: not done means a bug
  fibers.clear();
  const summary fs = summarize(frame_ms);
  r.frame_ms = fs.median, r.frame_min_ms = fs.min, r.frame_max_ms = fs.max;
  r.ok = entities_ok(es, frames);
  return r;
}

#if EBB_BENCH_HAVE_BOOST
namespace ctx = boost::context;

constexpr std::size_t boost_stack_bytes = 16 * 1024;

template <class MakeAllocator>
run_result run_boost(const run_config& cfg, MakeAllocator make_allocator) {
  run_result r;
  std::vector<entity> es = make_entities(cfg.fibers);
  std::vector<double> frame_ms;
  const long rss0 = proc_status_kib("VmRSS"), pte0 = proc_status_kib("VmPTE");
  std::uint64_t t0 = now_ns();
  auto allocator = make_allocator(cfg.fibers);  // the pool's mapping belongs to the first frame
  std::vector<ctx::fiber> fibers;
  fibers.reserve(cfg.fibers);
  const int frames = cfg.frames;
  for (std::size_t i = 0; i < cfg.fibers; ++i) {
    entity* e = &es[i];
    fibers.emplace_back(std::allocator_arg, allocator.get(), [e, frames](ctx::fiber&& caller) {
      script(*e, frames, [&caller] { caller = std::move(caller).resume(); });
      return std::move(caller);
    });
    fibers.back() = std::move(fibers.back()).resume();
  }
  r.first_ms = static_cast<double>(now_ns() - t0) / 1e6;
  for (int f = 2; f <= frames; ++f) {
    t0 = now_ns();
    for (auto& fiber : fibers) fiber = std::move(fiber).resume();
    frame_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
  }
  const long rss1 = proc_status_kib("VmRSS"), pte1 = proc_status_kib("VmPTE");
  r.rss_bytes = static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(cfg.fibers);
  r.pte_bytes = static_cast<double>(pte1 - pte0) * 1024.0 / static_cast<double>(cfg.fibers);
  for (auto& fiber : fibers) {
    fiber = std::move(fiber).resume();
    if (fiber) return r;  // each script ends after its last step
  }
  fibers.clear();
  const summary fs = summarize(frame_ms);
  r.frame_ms = fs.median, r.frame_min_ms = fs.min, r.frame_max_ms = fs.max;
  r.ok = entities_ok(es, frames);
  return r;
}

// The dense pool, held by the run; each fiber copies the small allocator that points at it.
struct dense_holder {
  std::unique_ptr<dense_stack_pool> pool;
  explicit dense_holder(std::size_t count) : pool(new dense_stack_pool(boost_stack_bytes, count)) {}
  dense_stack_allocator get() const { return {pool.get()}; }
};
struct pooled_holder {
  ctx::pooled_fixedsize_stack stacks;
  explicit pooled_holder(std::size_t) : stacks(boost_stack_bytes) {}
  ctx::pooled_fixedsize_stack get() const { return stacks; }
};
#endif

struct variant {
  std::string name;
  std::function<run_result(const run_config&)> run;
  std::vector<run_result> runs;
  bool information = false;
  std::vector<std::vector<double>> scaled;  // per scaling count: ns per fiber per frame, one per run
};

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--fibers N] [--frames N] [--reps N] [--quick] [--markdown FILE]\n"
                 "  --fibers N       entity scripts, one fiber each (default 50000)\n"
                 "  --frames N       frames; every fiber is resumed once per frame (default 100)\n"
                 "  --reps N         runs of every contender, each in a child process (default 5; --quick: 1)\n"
                 "  --markdown FILE  also write the results to FILE, as Markdown\n");
  const bool quick = args.flag("--quick");
  run_config cfg;
  cfg.fibers = args.number("--fibers", cfg.fibers);
  cfg.frames = static_cast<int>(args.number("--frames", static_cast<std::size_t>(cfg.frames)));
  const std::size_t reps = args.number("--reps", quick ? 1 : 5);
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();
  if (cfg.frames < 2) {
    std::fprintf(stderr, "--frames must be at least 2\n");
    return 2;
  }

  std::printf("entity scripts: %zu fibers, each resumed once per frame for %d frames; per frame: median over frames "
              "2..%d; %zu run(s) of each contender, each in a child process of its own, rotated; medians over the runs\n",
              cfg.fibers, cfg.frames, cfg.frames, reps);
  std::printf("machine: %s\n", machine_description().c_str());
  std::printf("boost: %s\n", boost_description().c_str());
  std::fflush(stdout);

  std::vector<variant> variants;
  variants.push_back({"ebb::compact_fiber", [](const run_config& c) { return run_ebb<ebb::compact_fiber>(c); }, {}, false, {}});
  variants.push_back({"ebb::fiber", [](const run_config& c) { return run_ebb<ebb::fiber>(c); }, {}, false, {}});
#if EBB_BENCH_HAVE_BOOST
  variants.push_back({"boost::context::fiber, 16 KiB dense pool",
                      [](const run_config& c) { return run_boost(c, [](std::size_t k) { return dense_holder(k); }); },
                      {}, false, {}});
  variants.push_back({"Boost pooled_fixedsize_stack(16 KiB)",
                      [](const run_config& c) { return run_boost(c, [](std::size_t k) { return pooled_holder(k); }); },
                      {}, true, {}});
#endif
  // The same at fewer fibers, per frame only: how the cost of a resume grows as the fibers' memory
  // outgrows the caches.
  std::vector<std::size_t> scaling;
  for (std::size_t k : {std::size_t(1000), std::size_t(10000)})
    if (k < cfg.fibers) scaling.push_back(k);
  for (variant& v : variants) v.scaled.resize(scaling.size());
  const std::size_t n = variants.size();
  for (std::size_t r = 0; r < reps; ++r)
    for (std::size_t k = 0; k < n; ++k) {
      variant& v = variants[(r + k) % n];
      run_result res = in_child([&] { return v.run(cfg); });
      if (!res.ok) std::printf("  %s: run %zu FAILED (the child crashed or a script did not finish)\n", v.name.c_str(), r + 1);
      else v.runs.push_back(res);
      for (std::size_t i = 0; i < scaling.size(); ++i) {
        run_config small = cfg;
        small.fibers = scaling[i];
        const run_result sr = in_child([&] { return v.run(small); });
        if (sr.ok) v.scaled[i].push_back(sr.frame_ms * 1e6 / static_cast<double>(small.fibers));
      }
    }

  auto med = [](const variant& v, double run_result::*field) {
    std::vector<double> x;
    for (const run_result& r : v.runs) x.push_back(r.*field);
    return summarize(x);
  };
  const double per_fiber = 1e6 / static_cast<double>(cfg.fibers);  // ms per frame -> ns per fiber

  std::size_t width = 9;
  for (const variant& v : variants) width = std::max(width, v.name.size());
  std::printf("  %-*s  %10s  %10s  %10s  %9s  %10s  %10s  %10s  %10s  %8s  %9s\n", static_cast<int>(width), "contender",
              "frame", "min", "max", "ns/fiber", "1st frame", "RSS/fiber", "PTE/fiber", "RSS+PTE", "live", "storage");
  std::ostringstream md;
  md << "Entity scripts: " << cfg.fibers << " fibers, one resume each per frame, " << cfg.frames
     << " frames. \"frame\": median over frames 2.." << cfg.frames << " of one run, then the median (min, max) over "
     << reps << " run(s), each in a child process of its own; \"1st frame\": creating every fiber and resuming it "
        "once; memory: growth of VmRSS and VmPTE per fiber after the last frame, the vector of handles included; "
        "\"live\", \"storage\": `stack_stats().used` and `.committed` of one ebb fiber after the last frame.\n\n"
     << "| contender | frame | min | max | ns per fiber | 1st frame | RSS / fiber | page tables / fiber | RSS + page tables | live | storage |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const variant& v : variants) {
    if (v.runs.empty()) {
      std::printf("  %-*s  no successful run\n", static_cast<int>(width), v.name.c_str());
      md << "| " << v.name << " | no successful run |||||||||| \n";
      continue;
    }
    const summary f = med(v, &run_result::frame_ms);
    const double first = med(v, &run_result::first_ms).median;
    const double rss = med(v, &run_result::rss_bytes).median, pte = med(v, &run_result::pte_bytes).median;
    const bool ebb_side = v.name.rfind("ebb", 0) == 0;
    const std::string live = ebb_side ? fmt("%.0f B", med(v, &run_result::live).median) : "-";
    const std::string storage = ebb_side ? fmt("%.0f B", med(v, &run_result::storage).median) : "-";
    std::printf("  %-*s  %7.3f ms  %7.3f ms  %7.3f ms  %6.1f ns  %7.2f ms  %8.0f B  %8.0f B  %8.0f B  %8s  %9s\n",
                static_cast<int>(width), v.name.c_str(), f.median, f.min, f.max, f.median * per_fiber, first, rss, pte,
                rss + pte, live.c_str(), storage.c_str());
    md << "| " << v.name << (v.information ? " (information)" : "") << " | " << fmt("%.3f ms", f.median) << " | "
       << fmt("%.3f ms", f.min) << " | " << fmt("%.3f ms", f.max) << " | " << fmt("%.1f ns", f.median * per_fiber)
       << " | " << fmt("%.2f ms", first) << " | " << fmt("%.0f B", rss) << " | " << fmt("%.0f B", pte) << " | "
       << fmt("%.0f B", rss + pte) << " | " << live << " | " << storage << " |\n";
  }

  if (!scaling.empty()) {
    std::printf("\n  per frame at fewer fibers, ns per fiber (median over frames 2..%d, then over the runs):\n", cfg.frames);
    std::printf("  %-*s", static_cast<int>(width), "contender");
    md << "\nPer frame at fewer fibers, ns per fiber (the same runs' medians), beside the " << cfg.fibers << " above:\n\n"
       << "| contender |";
    for (std::size_t k : scaling) {
      std::printf("  %10zu", k);
      md << " " << k << " fibers |";
    }
    std::printf("  %10zu\n", cfg.fibers);
    md << " " << cfg.fibers << " fibers |\n| --- |";
    for (std::size_t i = 0; i <= scaling.size(); ++i) md << " ---: |";
    md << "\n";
    for (const variant& v : variants) {
      std::printf("  %-*s", static_cast<int>(width), v.name.c_str());
      md << "| " << v.name << " |";
      for (const auto& samples : v.scaled) {
        const double x = summarize(samples).median;
        std::printf("  %7.1f ns", x);
        md << " " << fmt("%.1f ns", x) << " |";
      }
      const double full = v.runs.empty() ? 0 : med(v, &run_result::frame_ms).median * per_fiber;
      std::printf("  %7.1f ns\n", full);
      md << " " << fmt("%.1f ns", full) << " |\n";
    }
  }

  std::vector<derived_row> derived;
  auto have = [&](std::size_t i) { return i < variants.size() && !variants[i].runs.empty(); };
  auto frame = [&](std::size_t i) { return med(variants[i], &run_result::frame_ms).median; };
  auto first = [&](std::size_t i) { return med(variants[i], &run_result::first_ms).median; };
  auto memory = [&](std::size_t i) {
    return med(variants[i], &run_result::rss_bytes).median + med(variants[i], &run_result::pte_bytes).median;
  };
  if (have(0)) derived.push_back({"compact: RSS + page tables per fiber, KB (1000 B)", memory(0) / 1000, " KB", 2.5});
  if (have(0) && have(2)) {
    derived.push_back({"compact / Boost dense: per frame", frame(0) / frame(2), "x", 1.0});
    derived.push_back({"compact / Boost dense: first frame", first(0) / first(2), "x", 1.0});
    derived.push_back({"compact / Boost dense: memory per fiber", memory(0) / memory(2), "x", 0});
  }
  if (have(1) && have(2)) {
    derived.push_back({"ebb::fiber / Boost dense: per frame", frame(1) / frame(2), "x", 0});
    derived.push_back({"ebb::fiber / Boost dense: first frame", first(1) / first(2), "x", 0});
  }
  if (have(0) && have(1)) derived.push_back({"compact / ebb::fiber: per frame", frame(0) / frame(1), "x", 0});
  if (have(2)) derived.push_back({"Boost dense: RSS + page tables per fiber, KiB", memory(2) / 1024, " KiB", 0});
  if (have(1)) derived.push_back({"ebb::fiber: RSS + page tables per fiber, KiB", memory(1) / 1024, " KiB", 0});
  std::printf("\n");
  print_derived(derived);
  md << "\n" << markdown_derived(derived);
  if (!markdown_path.empty()) write_file(markdown_path, md.str());
  for (const variant& v : variants)
    if (v.runs.size() != reps) return 1;
  return 0;
}
