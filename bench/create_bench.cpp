// SPDX-License-Identifier: BSL-1.0
// bench/create_bench.cpp — the cost of a short-lived fiber.
//
// Measured: create a fiber, resume it once so its (trivial) function runs to completion, destroy it;
// nanoseconds per fiber. Contenders, all in this one process:
//
//   ebb::fiber (default)        default allocator: stacks are reservations recycled through the
//                               thread's cache, so after the first fiber no system call is made
//   ebb::fiber (lean)           the same, compiled with -DEBB_LEAN=1 (create_bench_lean.cpp)
//   ebb fixed_stack_allocator<> 64 KiB fixed stacks, pooled the same way
//   ebb, mmap per fiber         ebb's fiber with a bench-local allocator that maps a stack for every
//                               fiber and unmaps it at the end: what the pool saves (contrast)
//   Boost pooled_fixedsize      boost::context::fiber with pooled_fixedsize_stack (boost::pool)
//   Boost protected_fixedsize   boost::context::fiber with protected_fixedsize_stack: mmap + guard
//                               page for every fiber, munmap at its end (contrast)
//
// Each repetition runs every contender once, in rotated order, each for about 20 ms (the number of
// fibers per contender is calibrated once, up front, unless --iterations fixes it); the figure is the
// median over the repetitions. Target: ebb default <= 100 ns per fiber.
//
// Then, on Linux, creation from cold: 100,000 default fibers created in a row and kept alive, after
// ebb::trim_stack_pool(), so that no pooled reservation exists and every one comes from a new slab
// (one mmap per 31 reservations, a guard installed on each, the first write to each stack's top page
// a page fault). Beside it in the same run, the same kernel work done bare: mmap of slabs of the same
// size (with MADV_NOHUGEPAGE, as ebb's), the guard installed below each stack by the method ebb chose
// (MADV_GUARD_INSTALL, or mprotect where the kernel lacks it), and one byte written to each stack's
// top page; and, for information, the same without the writes (the system calls alone). Each is
// timed over the whole 100,000 and reported per fiber; medians over the cold repetitions, the two
// loops alternating, everything unmapped (and the pool trimmed) between repetitions.
#include "bench_common.hpp"
#include "ebb_workloads.hpp"
#include "lean.hpp"

#include <cstdio>
#include <new>
#include <sstream>
#include <utility>
#include <vector>

#if !defined(_WIN32)
#include <sys/mman.h>
#include <unistd.h>
#endif
#if defined(__linux__)
#include <algorithm>
#endif

#if EBB_BENCH_HAVE_BOOST
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <boost/context/stack_traits.hpp>
#endif

namespace {

using fixed_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::fixed_stack_allocator<>>;

// The contrast to ebb's pool: a StackAllocator (bench-local, public interface only) that maps every
// stack when the fiber is created and unmaps it when the fiber is destroyed, with a guard below it:
// mmap + mprotect + munmap per fiber, the same system calls as Boost's protected_fixedsize_stack, and
// a reservation of the same shape as ebb's default (guard + the fiber's maximum size).
// On Windows the same with the Windows calls: VirtualAlloc(MEM_RESERVE) + VirtualAlloc(MEM_COMMIT) of
// the stack + VirtualFree(MEM_RELEASE).
struct mmap_per_fiber_allocator {
  ebb::stack_region allocate(const ebb::stack_request& request) {
    const std::size_t page = ebb_bench::page_bytes();
    const std::size_t guard = round_up(request.guard_size ? request.guard_size : 16 * 1024, page);
    const std::size_t stack = round_up(request.max_size, page);
    ebb::stack_region region;
    region.base = map_guarded(guard, stack);
    region.reserved = guard + stack;
    region.limit = static_cast<char*>(region.base) + guard;
    region.top = static_cast<char*>(region.base) + guard + stack;
    return region;
  }
#if defined(_WIN32)
  static void* map_guarded(std::size_t guard, std::size_t stack) {
    void* base = ::VirtualAlloc(nullptr, guard + stack, MEM_RESERVE, PAGE_NOACCESS);
    if (base == nullptr) throw std::bad_alloc();
    if (::VirtualAlloc(static_cast<char*>(base) + guard, stack, MEM_COMMIT, PAGE_READWRITE) == nullptr) {
      ::VirtualFree(base, 0, MEM_RELEASE);
      throw std::bad_alloc();
    }
    return base;
  }
  void deallocate(const ebb::stack_region& region) noexcept { ::VirtualFree(region.base, 0, MEM_RELEASE); }
#else
  static void* map_guarded(std::size_t guard, std::size_t stack) {
    void* base = ::mmap(nullptr, guard + stack, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    if (::mprotect(base, guard, PROT_NONE) != 0) {
      ::munmap(base, guard + stack);
      throw std::bad_alloc();
    }
    return base;
  }
  void deallocate(const ebb::stack_region& region) noexcept { ::munmap(region.base, region.reserved); }
#endif

  static std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
};

using mmap_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, mmap_per_fiber_allocator>;

#if EBB_BENCH_HAVE_BOOST
namespace ctx = boost::context;

// The same create + run + destroy with Boost.Context: the fiber's function returns the caller, upon
// which Boost destroys the fiber and hands its stack back to `stacks`.
template <class StackAllocator>
double boost_create_ns(const StackAllocator& stacks, std::size_t count) {
  std::size_t ran = 0;
  const std::uint64_t t0 = ebb_bench::now_ns();
  for (std::size_t i = 0; i < count; ++i) {
    ctx::fiber f{std::allocator_arg, StackAllocator(stacks), [&ran](ctx::fiber&& caller) {
                   ++ran;
                   return std::move(caller);
                 }};
    f = std::move(f).resume();
  }
  const std::uint64_t t1 = ebb_bench::now_ns();
  if (ran != count) std::abort();
  return static_cast<double>(t1 - t0) / static_cast<double>(count);
}
#endif

// One contender before calibration: measure(count) returns ns per fiber over `count` fibers.
struct candidate {
  const char* name;
  std::function<double(std::size_t)> measure;
};

// How many fibers one measurement of `measure` should make to last about `budget_ns`. Runs it a few
// times first, which also warms it up: the pools are filled and the code and data are in cache before
// the first timed repetition.
std::size_t calibrate(const std::function<double(std::size_t)>& measure, double budget_ns) {
  constexpr std::size_t probe = 256;
  double per_fiber = measure(probe);
  for (int i = 0; i < 3; ++i) {
    const double again = measure(probe);
    if (again < per_fiber) per_fiber = again;  // the least disturbed probe
  }
  const double wanted = budget_ns / (per_fiber > 1 ? per_fiber : 1);
  if (wanted < probe) return probe;
  if (wanted > 4'000'000) return 4'000'000;
  return static_cast<std::size_t>(wanted);
}

#if defined(__linux__)
// Creation from cold (see the top of this file). The reservation's shape is read from a real fiber
// (stack_stats().reserved: guard + stack) and the slab size follows acquire_reservation's rule
// (allocators/thread_stack_cache.hpp): as many reservations as fit in 32 MiB, at most 32.
struct cold_shape {
  std::size_t guard = 0, stack = 0, per_slab = 0;
  std::size_t each() const { return guard + stack; }
};

cold_shape default_fiber_shape() {
  cold_shape s;
  ebb::fiber probe([] {});
  s.guard = ebb::default_guard_size;
  s.stack = probe.stack_stats().reserved - s.guard;
  const std::size_t n = (std::size_t{32} << 20) / s.each();
  s.per_slab = n < 1 ? 1 : (n > 32 ? 32 : n);
  return s;
}

// How many fibers a cold repetition makes: 100,000, unless guards split mappings (mprotect) and
// vm.max_map_count would not allow that many (two mappings per reservation, plus what exists).
std::size_t cold_fiber_count() {
  std::size_t n = 100'000;
  if (ebb::runtime_v1::os::chosen_guard_method() == ebb::runtime_v1::os::guard_method::mprotect) {
    const long limit = ebb::runtime_v1::os::max_map_count();
    const long used = ebb::runtime_v1::os::mapping_count();
    if (limit > 0 && used >= 0) {
      const long room = (limit - used - 2000) / 2;
      n = std::min<std::size_t>(n, room > 1000 ? static_cast<std::size_t>(room) : 1000);
    }
  }
  return n;
}

double ebb_cold_create_ns(std::size_t count) {
  ebb::trim_stack_pool();  // nothing pooled: every reservation comes from a new slab
  std::size_t ran = 0;
  std::vector<ebb::fiber> fibers;
  fibers.reserve(count);
  const std::uint64_t t0 = ebb_bench::now_ns();
  for (std::size_t i = 0; i < count; ++i) fibers.emplace_back([&ran] { ++ran; });
  const std::uint64_t t1 = ebb_bench::now_ns();
  for (auto& f : fibers) f.resume();
  if (ran != count) std::abort();
  fibers.clear();
  ebb::trim_stack_pool();
  return static_cast<double>(t1 - t0) / static_cast<double>(count);
}

// The same kernel work without ebb: slabs mapped, guards installed, (optionally) each top page
// written. The guard method is the one ebb uses in this process.
double bare_cold_ns(const cold_shape& s, std::size_t count, bool touch) {
  const bool guard_install =
      ebb::runtime_v1::os::chosen_guard_method() == ebb::runtime_v1::os::guard_method::guard_install;
  const std::size_t page = ebb_bench::page_bytes();
  std::vector<void*> slabs;
  slabs.reserve(count / s.per_slab + 1);
  const std::uint64_t t0 = ebb_bench::now_ns();
  for (std::size_t made = 0; made < count; made += s.per_slab) {
    const std::size_t total = s.each() * s.per_slab;
    void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) std::abort();
    ::madvise(base, total, MADV_NOHUGEPAGE);
    slabs.push_back(base);
    for (std::size_t i = 0; i < s.per_slab; ++i) {
      char* r = static_cast<char*>(base) + i * s.each();
      const int rc = guard_install ? ::madvise(r, s.guard, ebb::runtime_v1::os::madv_guard_install)
                                   : ::mprotect(r, s.guard, PROT_NONE);
      if (rc != 0) std::abort();
      if (touch) *reinterpret_cast<volatile char*>(r + s.each() - page) = 1;
    }
  }
  const std::uint64_t t1 = ebb_bench::now_ns();
  for (void* base : slabs) ::munmap(base, s.each() * s.per_slab);
  return static_cast<double>(t1 - t0) / static_cast<double>(count);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace ebb_bench;
  const options opt = parse_options(argc, argv, "fibers per contender and repetition, for all contenders "
                                                "(default: calibrated to about 20 ms each)");
  if (!lean_create_tu_is_lean()) {
    std::fprintf(stderr, "create_bench_lean.cpp was not compiled with -DEBB_LEAN=1\n");
    return 1;
  }

  std::vector<candidate> candidates;
  candidates.push_back({"ebb::fiber (default)", [](std::size_t n) { return ebb_create_ns<ebb::fiber>(n); }});
  candidates.push_back({"ebb::fiber (lean)", [](std::size_t n) { return lean_create_ns(n); }});
  candidates.push_back({"ebb fixed_stack_allocator<>", [](std::size_t n) { return ebb_create_ns<fixed_fiber>(n); }});
  candidates.push_back({"ebb, mmap per fiber (bench allocator)", [](std::size_t n) { return ebb_create_ns<mmap_fiber>(n); }});
#if EBB_BENCH_HAVE_BOOST
  // One pool for the whole run, as a program would keep one; copies share it.
  const ctx::pooled_fixedsize_stack pooled;
  const ctx::protected_fixedsize_stack protected_stacks;
  candidates.push_back({"Boost pooled_fixedsize_stack",
                        [pooled](std::size_t n) { return boost_create_ns(pooled, n); }});
  candidates.push_back({"Boost protected_fixedsize_stack",
                        [protected_stacks](std::size_t n) { return boost_create_ns(protected_stacks, n); }});
#endif

  std::printf("create: create + run to completion + destroy, ns per fiber, median of %zu repetitions, "
              "contenders interleaved in rotated order\n",
              opt.repetitions);
  std::printf("machine: %s\n", machine_description().c_str());
#if EBB_BENCH_HAVE_BOOST
  std::printf("boost: %s, stack size %zu bytes (stack_traits::default_size)\n", boost_description().c_str(),
              ctx::stack_traits::default_size());
#else
  std::printf("boost: %s\n", boost_description().c_str());
#endif

  std::vector<contender> contenders;
  std::vector<std::size_t> counts;
  for (const candidate& c : candidates) {
    const std::size_t count = opt.iterations ? opt.iterations : calibrate(c.measure, 20e6);
    counts.push_back(count);
    std::printf("  %-38s %8zu fibers per repetition\n", c.name, count);
    auto measure = c.measure;
    contenders.push_back({c.name, [measure, count] { return measure(count); }, {}});
  }
  std::fflush(stdout);

  run_rotated(contenders, opt.repetitions);

  print_table(contenders, "ns");
  auto median_of = [&](std::size_t i) { return summarize(contenders[i].samples).median; };
  std::vector<derived_row> derived;
  derived.push_back({"ebb default, ns per fiber", median_of(0), " ns", 100});
#if EBB_BENCH_HAVE_BOOST
  derived.push_back({"ebb default / Boost pooled", median_of(0) / median_of(4), "x", 1.0});
  derived.push_back({"Boost protected / ebb default", median_of(5) / median_of(0), "x", 0});
#endif
  derived.push_back({"ebb mmap per fiber / ebb default", median_of(3) / median_of(0), "x", 0});
  print_derived(derived);

#if defined(__linux__)
  // Creation from cold: fewer repetitions (each makes 100,000 reservations' worth of slabs).
  const std::size_t cold_reps = opt.repetitions / 3 < 3 ? 3 : opt.repetitions / 3;
  const cold_shape shape = default_fiber_shape();
  const std::size_t cold_count = cold_fiber_count();
  const bool guard_install =
      ebb::runtime_v1::os::chosen_guard_method() == ebb::runtime_v1::os::guard_method::guard_install;
  std::printf("\ncold: %zu fibers created with nothing pooled (new slabs of %zu reservations of %zu bytes, "
              "guard %zu bytes by %s), ns per fiber, median of %zu repetitions\n",
              cold_count, shape.per_slab, shape.each(), shape.guard,
              guard_install ? "MADV_GUARD_INSTALL" : "mprotect", cold_reps);
  std::vector<contender> cold;
  cold.push_back({"ebb::fiber (default), from cold", [cold_count] { return ebb_cold_create_ns(cold_count); }, {}});
  cold.push_back({"bare: mmap slabs + guards + top-page write",
                  [shape, cold_count] { return bare_cold_ns(shape, cold_count, true); }, {}});
  cold.push_back({"bare: mmap slabs + guards (calls only)",
                  [shape, cold_count] { return bare_cold_ns(shape, cold_count, false); }, {}});
  run_rotated(cold, cold_reps);
  print_table(cold, "ns");
  auto cold_median = [&](std::size_t i) { return summarize(cold[i].samples).median; };
  std::vector<derived_row> cold_derived;
  cold_derived.push_back({"ebb cold / bare (calls + top-page write)", cold_median(0) / cold_median(1), "x", 0});
  cold_derived.push_back({"ebb cold / bare calls only", cold_median(0) / cold_median(2), "x", 0});
  print_derived(cold_derived);
#endif

  if (!opt.markdown_path.empty()) {
    std::ostringstream md;
    md << "Fiber create + run to completion + destroy, ns per fiber; median of " << opt.repetitions
       << " repetitions per contender, interleaved (fibers per repetition: ";
    for (std::size_t i = 0; i < contenders.size(); ++i) md << (i ? ", " : "") << counts[i];
    md << ", in table order):\n\n" << markdown_table(contenders, "ns") << "\n" << markdown_derived(derived);
#if defined(__linux__)
    md << "\nCreation from cold: " << cold_count << " fibers created and kept, nothing pooled (new slabs of "
       << shape.per_slab << " reservations of " << shape.each() << " bytes, guards by "
       << (guard_install ? "MADV_GUARD_INSTALL" : "mprotect") << "), ns per fiber; median of " << cold_reps
       << " repetitions, interleaved with the bare system calls:\n\n"
       << markdown_table(cold, "ns") << "\n" << markdown_derived(cold_derived);
#endif
    write_file(opt.markdown_path, md.str());
  }
  return 0;
}
