// SPDX-License-Identifier: BSL-1.0
// quickstart: a fiber that parses something deeply nested, parks, and gives its stack back.
//
//   build and run:  scripts/run-example.sh
#include <ebb/ebb.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace {

// A recursive-descent "parser" for nested brackets: each level keeps a small buffer on the stack,
// the way real parsers keep tokens and state in their frames.
__attribute__((noinline)) int parse(const char*& text) {
  char token[96];
  std::memset(token, 0, sizeof token);
  int depth = 0;
  while (*text == '[') {
    ++text;
    int inner = parse(text);
    if (*text == ']') ++text;
    depth = inner + 1 > depth ? inner + 1 : depth;
    token[static_cast<std::size_t>(depth) % sizeof token] = 1;
  }
  __asm__ volatile("" : : "r"(token) : "memory");
  return depth;
}

void print(const char* when, const ebb::stack_stats& s) {
  std::printf("%-26s size %8zu  committed %8zu  used %6zu  peak %8zu  grows %" PRIu64 "  shrinks %" PRIu64 "\n",
              when, s.size, s.committed, s.used, s.peak, s.grows, s.shrinks);
}

}  // namespace

// 3000 levels of [[[...]]] take about 270 KiB of stack (i386): within the default 1 MiB maximum of
// 64-bit targets; 32-bit targets default to 256 KiB (a 4 GiB address space), so a quarter of it there.
constexpr int levels = ebb::default_max_stack >= 1024 * 1024 ? 3000 : 750;

int main() {
  static char document[2 * levels + 1];
  std::memset(document, '[', levels);
  std::memset(document + levels, ']', levels);

  int depth = 0;
  ebb::fiber worker(ebb::fiber_options().name("parser"), [&] {
    for (;;) {
      const char* text = document;
      depth = parse(text);       // the stack doubles from 2 KiB as the recursion goes down
      ebb::this_fiber::yield();  // park until the next document
    }
  });

  print("new fiber", worker.stack_stats());
  worker.resume();
  std::printf("parsed %d levels\n", depth);
  print("after the deep document", worker.stack_stats());

  // Shrink points: Go halves a stack at each garbage collection when under a quarter is in use; ebb
  // does it where you ask, and the pages go straight back to the operating system.
  for (int pass = 1; worker.stack_stats().size > ebb::default_min_stack; ++pass) {
    std::size_t released = worker.shrink_stack();
    char label[40];
    std::snprintf(label, sizeof label, "shrink pass %d (-%zu B)", pass, released);
    print(label, worker.stack_stats());
  }
  return depth == levels ? 0 : 1;
}
