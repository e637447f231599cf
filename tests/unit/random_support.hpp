// SPDX-License-Identifier: BSL-1.0
// Test helper for the randomized and stress tests: a seeded PRNG whose seed can be replayed, fibers
// of several policy types behind one interface, the sizes a policy can reach, checksummed containers
// that live on a fiber's stack, and a few process measurements.
#pragma once

#include <ebb/ebb.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tool_support.hpp"

namespace test_support {

// ---- environment -------------------------------------------------------------------------------

inline std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 0);
}

// EBB_RANDOM_SEED when set (to replay a failure), otherwise a fresh one.
inline std::uint64_t random_seed() {
  if (const char* text = std::getenv("EBB_RANDOM_SEED"); text != nullptr && *text != '\0')
    return std::strtoull(text, nullptr, 0);
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

// Deterministic everywhere: only the raw output of mt19937_64 is used (the standard distributions
// are implementation-defined), so a seed replays the same run with g++ and clang++.
class rng {
 public:
  explicit rng(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t next() { return engine_(); }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : engine_() % n; }
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  bool chance(unsigned percent) { return below(100) < percent; }

 private:
  std::mt19937_64 engine_;
};

// ---- process measurements ------------------------------------------------------------------------

inline long peak_rss_kib() { return status_kib("VmHWM:"); }

// ---- fibers of several policy types behind one interface -------------------------------------------

enum class fiber_kind : int {
  default_policies,  // doubling_growth, quarter_shrink, virtual_stack_allocator
  shrink_to_fit,
  peak_shrink,
  fixed_increment,   // fixed_increment_growth<8 KiB>
  fixed_stack,       // fixed_stack_allocator<128 KiB>
  tripwire,          // tripwire_stack_allocator (its windows count against the stack budget)
  // Compact fibers (mappers/shared_stack.hpp): only in the mix of a test that keeps them on the thread
  // that first ran them (random_kind(random, true)), since they may not run anywhere else.
  compact,           // ebb::compact_fiber: the thread's default execution stacks (two, 1 MiB)
  compact_single,    // one 256 KiB execution stack per thread: every other fiber's turn evicts it
  count
};

// Tripwire fibers join the mix except under tools that cannot follow them yet: under Valgrind a
// tripwire fiber's forced unwind dies in _Unwind_RaiseException (test_tripwire.cpp's fibers too), and
// under TSan growth inside the fault handler is reported as a race with later resumes and registry
// passes on other threads. Both are reported to the maintainers; remove the exclusion once fixed.
// Nor under qemu-i386, where a thread that returns from a signal handler (a tripwire growth fault)
// reads another thread's thread-locals afterwards (test_support::emulated_signals_break_threads).
inline bool tripwire_in_mix() {
#if !EBB_HAS_TRIPWIRE
  return false;
#endif
  if (test_support::emulated_signals_break_threads && test_support::emulated()) return false;
#if EBB_TSAN
  return false;
#elif EBB_VALGRIND
  return RUNNING_ON_VALGRIND == 0;
#else
  return true;
#endif
}

inline bool is_compact(fiber_kind k) { return k == fiber_kind::compact || k == fiber_kind::compact_single; }

// A random kind among those in the mix; compact kinds only when asked for (the caller keeps them on
// their thread). Without them, a seed picks the same kinds as before they existed.
template <class Rng>
fiber_kind random_kind(Rng& random, bool with_compact = false) {
  fiber_kind kinds[static_cast<int>(fiber_kind::count)];
  int n = 0;
  for (int k = 0; k < static_cast<int>(fiber_kind::tripwire); ++k) kinds[n++] = static_cast<fiber_kind>(k);
  if (tripwire_in_mix()) kinds[n++] = fiber_kind::tripwire;
  if (with_compact) {
    kinds[n++] = fiber_kind::compact;
    kinds[n++] = fiber_kind::compact_single;
  }
  return kinds[random.below(static_cast<std::uint64_t>(n))];
}

inline const char* kind_name(fiber_kind k) {
  switch (k) {
    case fiber_kind::default_policies: return "default";
    case fiber_kind::shrink_to_fit: return "shrink_to_fit";
    case fiber_kind::peak_shrink: return "peak_shrink";
    case fiber_kind::fixed_increment: return "fixed_increment_growth";
    case fiber_kind::fixed_stack: return "fixed_stack_allocator";
    case fiber_kind::tripwire: return "tripwire";
    case fiber_kind::compact: return "compact";
    case fiber_kind::compact_single: return "compact_single";
    default: return "?";
  }
}

using shrink_to_fit_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::shrink_to_fit<>>;
using peak_shrink_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::peak_shrink<>>;
using fixed_increment_fiber = ebb::basic_fiber<ebb::fixed_increment_growth<8 * 1024>>;
using fixed_stack_fiber =
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::fixed_stack_allocator<128 * 1024>>;
using compact_single_fiber =
    ebb::basic_compact_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::shared_stack<1, 256 * 1024>>;
#if EBB_HAS_TRIPWIRE
using tripwire_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>>;
#endif

// Every logical size the policies can set, starting from `start` and stepping only the way ebb does:
// the GrowthPolicy's next_size clamped to the fiber's maximum, or a halving that stays at or above the
// minimum (the shipped shrink policies only ever halve). A size outside this set means ebb
// invented a size no policy step produces. (For doubling growth the set is a handful of sizes; for
// fixed_increment_growth with halving shrinks it is nearly every size in [min, max].)
template <class Growth>
std::vector<bool> reachable_sizes(std::size_t start, std::size_t max_size) {
  std::vector<bool> seen(max_size + 1);
  std::vector<std::size_t> todo{start};
  seen[start] = true;
  const Growth growth{};
  while (!todo.empty()) {
    const std::size_t s = todo.back();
    todo.pop_back();
    std::size_t up = growth.next_size(s, s + 1);
    if (up > max_size) up = max_size;
    if (up > s && !seen[up]) {
      seen[up] = true;
      todo.push_back(up);
    }
    if (s / 2 >= Growth::min_size && !seen[s / 2]) {
      seen[s / 2] = true;
      todo.push_back(s / 2);
    }
  }
  return seen;
}

class any_fiber {
 public:
  virtual ~any_fiber() = default;
  virtual bool resume() = 0;
  virtual bool done() const = 0;
  virtual bool running() const = 0;
  virtual ebb::stack_stats stats() const = 0;
  virtual std::size_t shrink() = 0;
  virtual std::size_t min_size() const = 0;
  virtual fiber_kind kind() const = 0;
  // The sizes this fiber's policies can reach from where it started (computed once per shape).
  virtual bool reachable(std::size_t size, std::size_t start, std::size_t max_size) const = 0;
  // Move the handle out and back in (move construction and move assignment of basic_fiber).
  virtual void shuffle_handle() = 0;
  // resume_with(fn); and, from inside another fiber, this_fiber::switch_to(this fiber).
  virtual bool resume_with(const std::function<void()>& fn) = 0;
  virtual void switch_to_this() = 0;
};

template <class Fiber, fiber_kind Kind>
class typed_fiber final : public any_fiber {
 public:
  template <class Fn>
  typed_fiber(const ebb::fiber_options& options, Fn&& fn) : fiber_(options, std::forward<Fn>(fn)) {}
  explicit typed_fiber(Fiber&& made) : fiber_(std::move(made)) {}  // from try_create
  bool resume() override { return fiber_.resume(); }
  bool done() const override { return fiber_.done(); }
  bool running() const override { return fiber_.running(); }
  ebb::stack_stats stats() const override { return fiber_.stack_stats(); }
  std::size_t shrink() override { return fiber_.shrink_stack(); }
  std::size_t min_size() const override { return Fiber::growth_policy::min_size; }
  fiber_kind kind() const override { return Kind; }
  bool reachable(std::size_t size, std::size_t start, std::size_t max_size) const override {
    static std::mutex mutex;
    static std::map<std::pair<std::size_t, std::size_t>, std::vector<bool>> cache;
    std::lock_guard<std::mutex> lock(mutex);
    auto key = std::make_pair(start, max_size);
    auto it = cache.find(key);
    if (it == cache.end())
      it = cache.emplace(key, reachable_sizes<typename Fiber::growth_policy>(start, max_size)).first;
    return size < it->second.size() && it->second[size];
  }
  bool resume_with(const std::function<void()>& fn) override { return fiber_.resume_with(fn); }
  void switch_to_this() override { ebb::this_fiber::switch_to(fiber_); }
  void shuffle_handle() override {
    Fiber moved(std::move(fiber_));
    Fiber other;
    other = std::move(moved);
    fiber_ = std::move(other);
  }

 private:
  Fiber fiber_;
};

template <class Fn>
std::unique_ptr<any_fiber> make_fiber(fiber_kind kind, const ebb::fiber_options& options, Fn&& fn) {
  switch (kind) {
    case fiber_kind::shrink_to_fit:
      return std::make_unique<typed_fiber<shrink_to_fit_fiber, fiber_kind::shrink_to_fit>>(options, std::forward<Fn>(fn));
    case fiber_kind::peak_shrink:
      return std::make_unique<typed_fiber<peak_shrink_fiber, fiber_kind::peak_shrink>>(options, std::forward<Fn>(fn));
    case fiber_kind::fixed_increment:
      return std::make_unique<typed_fiber<fixed_increment_fiber, fiber_kind::fixed_increment>>(options, std::forward<Fn>(fn));
    case fiber_kind::fixed_stack:
      return std::make_unique<typed_fiber<fixed_stack_fiber, fiber_kind::fixed_stack>>(options, std::forward<Fn>(fn));
    case fiber_kind::compact:
      return std::make_unique<typed_fiber<ebb::compact_fiber, fiber_kind::compact>>(options, std::forward<Fn>(fn));
    case fiber_kind::compact_single:
      return std::make_unique<typed_fiber<compact_single_fiber, fiber_kind::compact_single>>(options, std::forward<Fn>(fn));
    case fiber_kind::tripwire:
#if EBB_HAS_TRIPWIRE
      return std::make_unique<typed_fiber<tripwire_fiber, fiber_kind::tripwire>>(options, std::forward<Fn>(fn));
#else
      [[fallthrough]];  // never chosen: tripwire_in_mix() is false
#endif
    default:
      return std::make_unique<typed_fiber<ebb::fiber, fiber_kind::default_policies>>(options, std::forward<Fn>(fn));
  }
}

// What stack_stats must always satisfy. Returns "" or what is wrong. A compact fiber's `reserved` is
// its control block (its frames run on the thread's execution stack, and are saved in storage that
// `committed` counts), so it bounds neither committed nor max_size.
inline std::string stats_problem(const ebb::stack_stats& s, bool compact = false) {
  char line[256];
  auto show = [&](const char* what) {
    std::snprintf(line, sizeof line, "%s (size %zu, committed %zu, used %zu, peak %zu, reserved %zu, max %zu)",
                  what, s.size, s.committed, s.used, s.peak, s.reserved, s.max_size);
    return std::string(line);
  };
  if (s.used > s.peak) return show("used > peak");
  if (s.peak > s.size) return show("peak > size");
  if (s.size > s.max_size) return show("size > max_size");
  if (!compact && s.committed > s.reserved) return show("committed > reserved");
  if (!compact && s.max_size > s.reserved) return show("max_size > reserved");
  return {};
}

// ---- containers on a fiber's stack ----------------------------------------------------------------

// A std::map (its header node lives in the object, and every tree node points back into it), a
// std::vector and a std::string (short ones live inside the object: on the fiber's stack). Mutated
// at every step; the checksum is recomputed from scratch and compared with the expected one.
struct stack_payload {
  std::map<int, std::string> map;
  std::vector<std::uint64_t> vector;
  std::string text;
  std::uint64_t step = 0;

  std::uint64_t checksum() const {
    std::uint64_t h = 1469598103934665603ull ^ step;
    auto mix = [&h](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    for (const auto& [k, v] : map) {
      mix(static_cast<std::uint64_t>(k));
      for (char c : v) mix(static_cast<unsigned char>(c));
    }
    for (std::uint64_t v : vector) mix(v);
    for (char c : text) mix(static_cast<unsigned char>(c));
    mix(map.size() * 31 + vector.size() * 7 + text.size());
    return h;
  }

  // One deterministic change, so the expected checksum depends on the whole history.
  void mutate(std::uint64_t salt) {
    ++step;
    const std::uint64_t x = (step * 0x9E3779B97F4A7C15ull) ^ salt;
    map[static_cast<int>(x % 61)] = std::to_string(x % 100000) + (x & 1 ? "-odd-and-long-enough-for-the-heap" : "");
    if (map.size() > 40) map.erase(map.begin());
    vector.push_back(x);
    if (vector.size() > 48) vector.erase(vector.begin(), vector.begin() + 24);
    text.push_back(static_cast<char>('a' + x % 26));
    if (text.size() > (x % 3 == 0 ? 10u : 120u)) text.erase(0, text.size() / 2);  // short (on the stack) or long
  }
};

// ---- recursion whose frames are checked -----------------------------------------------------------

inline unsigned char frame_byte(std::uint64_t salt, std::uint32_t depth, std::size_t i) {
  return static_cast<unsigned char>(salt * 131 + depth * 29 + i * 7);
}

// About `bytes` of stack in ~1 KiB frames; yields `yields` times at the bottom (where it may also give
// its stack a shrink point from inside), and on the way back up checks that every frame's buffer
// still holds what it wrote: a page released under a live frame reads back as zeros. Returns the
// number of damaged frames. (Under ASan the frames stay on the fiber's stack: TEST_REAL_STACK.)
TEST_REAL_STACK __attribute__((noinline)) inline int checked_dive(std::size_t bytes, int yields, bool shrink_at_bottom,
                                                  std::uint64_t salt, std::uint32_t depth = 0) {
  unsigned char frame[1024];
  for (std::size_t i = 0; i < sizeof frame; ++i) frame[i] = frame_byte(salt, depth, i);
  __asm__ volatile("" : : "r"(frame) : "memory");
  int damaged = 0;
  if (bytes > sizeof frame) {
    damaged = checked_dive(bytes - sizeof frame, yields, shrink_at_bottom, salt, depth + 1);
  } else {
    if (shrink_at_bottom) ebb::this_fiber::shrink_stack();
    for (int i = 0; i < yields; ++i) ebb::this_fiber::yield();
  }
  __asm__ volatile("" : : "r"(frame) : "memory");
  for (std::size_t i = 0; i < sizeof frame; ++i)
    if (frame[i] != frame_byte(salt, depth, i)) return damaged + 1;
  return damaged;
}

}  // namespace test_support
