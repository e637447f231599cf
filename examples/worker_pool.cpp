// SPDX-License-Identifier: BSL-1.0
// worker_pool: the memory problem ebb exists for.
//
// A server keeps 1000 worker fibers. One burst of requests carries documents nested 10,000 levels deep
// (a malformed JSON payload, say), so every worker's stack grows to about 860 KiB. With fixed stacks,
// or with stacks that only grow, the pool would hold that peak forever. Here the server's maintenance
// tick calls ebb::stack_registry::shrink_all(); each pass halves every stack that is less than a
// quarter used, and the memory goes back to the OS at once.
#include <ebb/ebb.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <string>
#include <vector>

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      long kib;
      status >> kib;
      return kib;
    }
    status.ignore(1 << 20, '\n');
  }
  return -1;
}

// A recursive-descent parser's frame: about 88 bytes of locals per nesting level.
__attribute__((noinline)) int parse_nested(const char* text, int depth) {
  char token[56];
  std::memset(token, text[depth], sizeof token);
  __asm__ volatile("" : : "r"(token) : "memory");
  int below = text[depth + 1] == '[' ? parse_nested(text, depth + 1) : depth + 1;
  __asm__ volatile("" : : "r"(token) : "memory");
  return below;
}

// The workers' stacks may grow to 4 MiB (the default maximum is 1 MiB): headroom over the ~860 KiB the
// deep documents need, so the same code also runs in sanitizer builds, whose frames are larger.
// Growth is in place, so a larger maximum costs address space, not memory.
using worker_fiber = ebb::basic_fiber<ebb::doubling_growth<2 * 1024, 4 * 1024 * 1024>>;

struct job {
  const char* document;
  int depth = 0;
};

}  // namespace

int main() {
  constexpr int workers = 1000, nesting = 10000;
  std::string deep(nesting, '[');
  deep += std::string(nesting, ']');

  std::deque<job*> queue;
  std::vector<job> jobs(workers, job{deep.c_str()});
  std::vector<worker_fiber> pool;
  for (int i = 0; i < workers; ++i) {
    pool.emplace_back(ebb::fiber_options().name("worker-" + std::to_string(i)), [&queue] {
      for (;;) {
        while (queue.empty()) ebb::this_fiber::yield();  // park until there is work
        job* j = queue.front();
        queue.pop_front();
        j->depth = parse_nested(j->document, 0);
        ebb::this_fiber::yield();  // one request per turn: let the other workers take theirs
      }
    });
  }
  for (auto& f : pool) f.resume();  // every worker parked, waiting
  const long baseline = rss_kib();
  std::printf("%d parked workers: RSS %ld KiB\n", workers, baseline);

  for (auto& j : jobs) queue.push_back(&j);
  for (auto& f : pool) f.resume();  // each takes one deep document, parses it, parks again
  long committed = 0;
  for (auto& f : pool) committed += static_cast<long>(f.stack_stats().committed);
  std::printf("after the deep burst:  RSS %ld KiB, stacks committed %ld KiB, depth parsed %d\n", rss_kib(),
              committed / 1024, jobs[0].depth);

  for (int pass = 1;; ++pass) {
    auto start = std::chrono::steady_clock::now();
    ebb::shrink_report report = ebb::stack_registry::shrink_all();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const long rss = rss_kib();
    std::printf("shrink pass %2d: %4zu fibers shrunk, %8zu KiB released in %6.2f ms; RSS %ld KiB\n", pass,
                report.shrunk, report.released_bytes / 1024, ms, rss);
    if (report.released_bytes == 0 || pass == 20) {
      // (Under a sanitizer the process also holds the tool's shadow memory, which ebb cannot return.)
      const double percent = 100.0 * static_cast<double>(rss) / static_cast<double>(baseline);
      std::printf("back to %.1f%% of the parked baseline\n", percent);
      return jobs[0].depth == nesting ? 0 : 1;
    }
  }
}
