// SPDX-License-Identifier: BSL-1.0
// bench/compact_switch_bench.cpp — what a compact fiber's switch costs when its live frames must be
// copied, against one that copies nothing and against an in-place ebb::fiber.
//
// Measured: ns per ROUND TRIP (one resume() + the fiber's this_fiber::yield(), i.e. two switches; note
// that ebb_switch_bench reports per switch, half of this), with 0, 1 KiB and 4 KiB of extra live frames
// at the yield (a local array in a function below the fiber's loop; the live bytes measured at the
// yield, stack_stats().used, are printed). Contenders for each size:
//
//   compact, copied     two fibers of basic_compact_fiber<doubling_growth<>, quarter_shrink<>,
//                       shared_stack<1>> alternating (a.resume(); b.resume();) on the thread's ONE
//                       execution stack: every resume saves the other fiber's live frames into its
//                       storage and copies this one's back (the program checks that the thread has one execution stack)
//   compact, alone      one ebb::compact_fiber resumed again and again: it is the occupant of its
//                       execution stack, so nothing is copied (nothing else runs on its thread)
//   ebb::fiber          two in-place fibers alternating (a.resume(); b.resume();), each on its stack
//
// Every measurement runs in a thread of its own, started for it: execution stacks are per thread and
// shared by all compact fibers of the thread with the same stack size, so a fresh thread guarantees
// that the one-stack pair really has one stack. The fibers are created and warmed up outside the timed
// region. Each repetition runs every contender once, in rotated order; the figures are medians over
// the repetitions (bench_common.hpp). libaco's copying stacks are quoted for orientation, NOT measured
// here.
#include "bench_common.hpp"

#include <ebb/ebb.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace ebb_bench;

using one_stack_fiber = ebb::basic_compact_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::shared_stack<1>>;

constexpr std::size_t default_round_trips = 1'000'000;

// The fiber's loop, `Bytes` of live local array above the yield (0: none).
template <std::size_t Bytes>
__attribute__((noinline)) void park_with(const std::atomic<bool>& stop) {
  if constexpr (Bytes == 0) {
    while (!stop.load(std::memory_order_relaxed)) ebb::this_fiber::yield();
  } else {
    alignas(16) char live[Bytes];
    std::memset(live, 1, sizeof live);
    __asm__ volatile("" : : "r"(live) : "memory");
    while (!stop.load(std::memory_order_relaxed)) ebb::this_fiber::yield();
    __asm__ volatile("" : : "r"(live) : "memory");
  }
}

struct sample {
  double ns = 0;         // per round trip
  double live = 0;       // bytes of live frames at the yield
};

// Two fibers of type Fiber alternating: ns per round trip. compact: the thread (a fresh one) must have
// exactly one execution stack after the warm-up, so the two share it and every resume copies.
template <class Fiber, std::size_t Bytes>
sample pair_round_trip(std::size_t round_trips, bool compact) {
  sample s;
  std::atomic<bool> stop{false};
  Fiber a([&stop] { park_with<Bytes>(stop); });
  Fiber b([&stop] { park_with<Bytes>(stop); });
  const std::size_t warmup = round_trips / 16 < 50000 ? round_trips / 16 : 50000;
  for (std::size_t i = 0; i < warmup; ++i) a.resume(), b.resume();
  if (compact && ebb::runtime_v1::this_thread_execution_stacks().count != 1) {
    std::fprintf(stderr, "compact switch benchmark: the two one-stack fibers were not copied (not on one stack?)\n");
    std::abort();
  }
  s.live = static_cast<double>(a.stack_stats().used);
  const std::size_t pairs = round_trips / 2;
  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < pairs; ++i) a.resume(), b.resume();
  const std::uint64_t t1 = now_ns();
  stop.store(true, std::memory_order_relaxed);
  if (a.resume() || b.resume()) {
    std::fprintf(stderr, "compact switch benchmark: a fiber did not finish\n");
    std::abort();
  }
  s.ns = static_cast<double>(t1 - t0) / static_cast<double>(2 * pairs);
  return s;
}

// One compact fiber alone, resumed again and again: never copied.
template <std::size_t Bytes>
sample alone_round_trip(std::size_t round_trips) {
  sample s;
  std::atomic<bool> stop{false};
  ebb::compact_fiber f([&stop] { park_with<Bytes>(stop); });
  const std::size_t warmup = round_trips / 16 < 50000 ? round_trips / 16 : 50000;
  for (std::size_t i = 0; i < warmup; ++i) f.resume();
  // Nothing else runs on this thread (a fresh one), so nothing ever takes its execution stack: it is
  // never saved. (Its storage cannot tell: the first storage is part of its own block from the start.)
  s.live = static_cast<double>(f.stack_stats().used);
  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < round_trips; ++i) f.resume();
  const std::uint64_t t1 = now_ns();
  stop.store(true, std::memory_order_relaxed);
  if (f.resume()) {
    std::fprintf(stderr, "compact switch benchmark: the fiber did not finish\n");
    std::abort();
  }
  s.ns = static_cast<double>(t1 - t0) / static_cast<double>(round_trips);
  return s;
}

// Runs `measure` on a thread of its own (fresh execution stacks), returns its sample.
template <class Measure>
sample on_fresh_thread(Measure measure) {
  sample s;
  std::thread t([&] { s = measure(); });
  t.join();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv, "round trips per contender and repetition (default 1000000)");
  const std::size_t round_trips = opt.iterations ? opt.iterations : default_round_trips;

  std::vector<contender> contenders;
  std::vector<double> live(9, 0);  // last measured live bytes of each contender
  auto add = [&](std::string name, auto measure) {
    const std::size_t index = contenders.size();
    contenders.push_back({std::move(name),
                          [measure, index, &live] {
                            const sample s = on_fresh_thread(measure);
                            live[index] = s.live;
                            return s.ns;
                          },
                          {}});
  };
  const std::size_t n = round_trips;
  add("compact, copied, +0 B", [n] { return pair_round_trip<one_stack_fiber, 0>(n, true); });
  add("compact, alone, +0 B", [n] { return alone_round_trip<0>(n); });
  add("ebb::fiber, +0 B", [n] { return pair_round_trip<ebb::fiber, 0>(n, false); });
  add("compact, copied, +1 KiB", [n] { return pair_round_trip<one_stack_fiber, 1024>(n, true); });
  add("compact, alone, +1 KiB", [n] { return alone_round_trip<1024>(n); });
  add("ebb::fiber, +1 KiB", [n] { return pair_round_trip<ebb::fiber, 1024>(n, false); });
  add("compact, copied, +4 KiB", [n] { return pair_round_trip<one_stack_fiber, 4096>(n, true); });
  add("compact, alone, +4 KiB", [n] { return alone_round_trip<4096>(n); });
  add("ebb::fiber, +4 KiB", [n] { return pair_round_trip<ebb::fiber, 4096>(n, false); });

  std::printf("compact switch: resume + yield round trip with live frames, ns per ROUND TRIP (two switches), "
              "median of %zu repetitions x %zu round trips, contenders interleaved in rotated order, each "
              "measurement on a fresh thread\n",
              opt.repetitions, round_trips);
  std::printf("machine: %s\n", machine_description().c_str());
  std::fflush(stdout);

  run_rotated(contenders, opt.repetitions);

  print_table(contenders, "ns");
  std::printf("  live frames at the yield (stack_stats().used): ");
  for (std::size_t i = 0; i < contenders.size(); i += 3)
    std::printf("%s%.0f B", i ? ", " : "", live[i]);
  std::printf(" (+0 B, +1 KiB, +4 KiB; the same for the three kinds)\n");
  std::printf("  libaco copying stacks, NOT measured here (measured elsewhere on this machine type): 14, 34 and 103 "
              "ns per round trip for 0, 1 KiB and 4 KiB\n");

  auto median = [&](std::size_t i) { return summarize(contenders[i].samples).median; };
  const char* sizes[] = {"+0 B", "+1 KiB", "+4 KiB"};
  const double libaco[] = {14, 34, 103};
  std::vector<derived_row> derived;
  for (std::size_t k = 0; k < 3; ++k) {
    const std::size_t c = 3 * k, a = c + 1, f = c + 2;
    derived.push_back({std::string("compact copied - alone (the copies), ") + sizes[k], median(c) - median(a), " ns", 0});
    derived.push_back({std::string("compact copied / ebb::fiber, ") + sizes[k], median(c) / median(f), "x", 0});
    derived.push_back({std::string("compact alone / ebb::fiber, ") + sizes[k], median(a) / median(f), "x", 0});
    derived.push_back({std::string("compact copied / libaco (not measured here), ") + sizes[k], median(c) / libaco[k], "x", 0});
  }
  print_derived(derived);

  if (!opt.markdown_path.empty()) {
    std::ostringstream md;
    char buf[64];
    md << "Compact fiber switch with live frames, ns per **round trip** (resume + yield: two switches); median of "
       << opt.repetitions << " repetitions x " << round_trips
       << " round trips per contender, interleaved, each on a fresh thread. \"copied\": two `shared_stack<1>` "
          "fibers alternating on one execution stack; \"alone\": one `compact_fiber` resumed repeatedly (no copy); "
          "`ebb::fiber`: two in-place fibers alternating. Live frames at the yield: ";
    for (std::size_t i = 0; i < contenders.size(); i += 3) {
      std::snprintf(buf, sizeof buf, "%s%.0f B", i ? ", " : "", live[i]);
      md << buf;
    }
    md << ".\n\n" << markdown_table(contenders, "ns")
       << "\nlibaco's copying stacks, **not measured here** (measured elsewhere on this machine type): 14, 34 and "
          "103 ns per round trip at 0, 1 KiB and 4 KiB.\n\n"
       << markdown_derived(derived);
    write_file(opt.markdown_path, md.str());
  }
  return 0;
}
