// SPDX-License-Identifier: BSL-1.0
// custom_policies: one user-written policy of each of the four kinds, composed into a fiber type.
#include <ebb/ebb.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <new>

// Growth: start at 8 KiB and grow by half again each step (gentler than doubling), up to 256 KiB.
struct one_and_a_half_growth {
  static constexpr std::size_t min_size = 8 * 1024;
  static constexpr std::size_t max_size = 256 * 1024;
  static constexpr std::size_t initial_size = 8 * 1024;
  std::size_t next_size(std::size_t current, std::size_t /*needed*/) const noexcept {
    return current + current / 2;
  }
};

// Shrink: keep some headroom above the peak since the last shrink point, in 8 KiB steps.
struct peak_plus_headroom {
  std::size_t next_size(const ebb::shrink_sample& s) const noexcept {
    std::size_t want = (s.peak + s.peak / 2 + 8191) / 8192 * 8192;
    return want < s.size ? want : s.size;
  }
};

// Allocator: stacks carved from an arena the caller owns (the console case: no mmap at all).
// Minimal: allocate and deallocate only; no guard and no decommit, so nothing is ever released.
// It is stateful (it points at its arena), so fibers are created with std::allocator_arg and an
// allocator object, of which each fiber keeps its own copy.
struct stack_arena {
  static constexpr int slots = 4;
  static constexpr std::size_t slot = 272 * 1024;
  alignas(4096) unsigned char memory[slots][slot];
  bool used[slots] = {};
};

[[noreturn]] inline void arena_exhausted() {
#if defined(__cpp_exceptions)
  throw std::bad_alloc();
#else
  std::fputs("custom_policies: the stack arena is exhausted\n", stderr);
  std::abort();
#endif
}

struct arena_allocator {
  stack_arena* arena;
  ebb::stack_region allocate(const ebb::stack_request& request) {
    if (request.max_size > stack_arena::slot) arena_exhausted();
    for (int i = 0; i < stack_arena::slots; ++i) {
      if (!arena->used[i]) {
        arena->used[i] = true;
        ebb::stack_region r;
        r.base = r.limit = arena->memory[i];
        r.reserved = stack_arena::slot;
        r.top = arena->memory[i] + stack_arena::slot;
        return r;
      }
    }
    arena_exhausted();
  }
  void deallocate(const ebb::stack_region& r) noexcept {
    for (int i = 0; i < stack_arena::slots; ++i)
      if (r.base == arena->memory[i]) arena->used[i] = false;
  }
};

// Frame mapper: frames stay in place (in_place does the memory work; derive from it and hide the hooks
// you change). Each fiber has its own mapper object, in its control block: this one counts the
// fiber's switches and reports the count when the fiber is destroyed.
struct counting_mapper : ebb::in_place {
  unsigned long switches_in = 0;
  void on_resume(const ebb::fiber_view& f) noexcept {
    ++switches_in;
    in_place::on_resume(f);
  }
  void on_destroy(const ebb::fiber_view& f) noexcept {
    std::printf("fiber '%.*s' was switched in %lu times\n", static_cast<int>(f.name().size()), f.name().data(),
                switches_in);
    in_place::on_destroy(f);
  }
};

using job_fiber = ebb::basic_fiber<one_and_a_half_growth, peak_plus_headroom, arena_allocator, counting_mapper>;

// Recursion that yields at its deepest point. Without page-residency information (this allocator
// has no lowest_committed), ebb sees a fiber's depth at its switches, so that is where it grows.
__attribute__((noinline)) int work(int n) {
  char scratch[512];
  __asm__ volatile("" : : "r"(scratch) : "memory");
  if (n == 0) {
    ebb::this_fiber::yield();
    return 0;
  }
  int below = work(n - 1);
  __asm__ volatile("" : : "r"(scratch) : "memory");
  return 1 + below;
}

int main() {
  static stack_arena arena;  // 1 MiB: not on main's stack
  int total = 0;
  job_fiber job(std::allocator_arg, arena_allocator{&arena}, ebb::fiber_options().name("job"), [&] {
    total += work(200);  // ~100 KiB deep, parks at the bottom
    total += work(10);
  });
  job.resume();
  ebb::stack_stats s = job.stack_stats();
  std::printf("at the bottom of the deep call: size %zu (grew %" PRIu64 " times by 1.5x), reserved %zu from the arena\n",
              s.size, s.grows, s.reserved);
  job.resume();  // back up, then parks at the bottom of the shallow call
  job.shrink_stack();  // the peak since the last point was deep: keeps it
  std::printf("first shrink point:  size %zu\n", job.stack_stats().size);
  job.shrink_stack();  // since then only the shallow use: shrinks to it plus headroom
  std::printf("second shrink point: size %zu\n", job.stack_stats().size);
  job.resume();
  std::printf("done: %s, total %d\n", job.done() ? "yes" : "no", total);
  return total == 210 ? 0 : 1;
}
