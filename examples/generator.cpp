// SPDX-License-Identifier: BSL-1.0
// generator: lazy ranges written as ordinary loops — Fibonacci numbers, and a tokenizer that yields
// from inside a recursive descent (what a stackless coroutine cannot do without a generator per level).
//
//   build and run:  cmake --build build --target example_generator && build/example_generator
#include <ebb/ebb.hpp>

#include <cctype>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

namespace {

// Infinite: the consumer decides when to stop, and destroying the generator ends the producer.
ebb::generator<std::uint64_t> fibonacci() {
  return ebb::generator<std::uint64_t>([](ebb::yield_sink<std::uint64_t>& yield) {
    std::uint64_t a = 0, b = 1;
    for (;;) {
      yield(a);
      const std::uint64_t next = a + b;
      a = b;
      b = next;
    }
  });
}

// Yields the words of a nested list "(a (b c) d)" with their depth, straight from the recursion:
// each level's state stays in its own frame on the producer's stack while the consumer works.
void words(const char*& text, int depth, ebb::yield_sink<const std::string&>& yield) {
  std::string word;
  while (*text != '\0') {
    const char c = *text++;
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += c;
      continue;
    }
    if (!word.empty()) {
      yield(std::to_string(depth) + ":" + word);  // the temporary lives until the consumer advances
      word.clear();
    }
    if (c == '(') words(text, depth + 1, yield);
    if (c == ')') return;
  }
}

}  // namespace

int main() {
  std::printf("fibonacci below 1000:");
  for (std::uint64_t v : fibonacci()) {
    if (v >= 1000) break;  // the generator is destroyed here, its producer unwound
    std::printf(" %" PRIu64, v);
  }
  std::printf("\n");

  const char* source = "(let (x 1) (y (add x 2)) body)";
  ebb::generator<const std::string&> tokens(ebb::fiber_options().name("tokenizer"),
                                            [&](ebb::yield_sink<const std::string&>& yield) {
                                              const char* text = source;
                                              words(text, 0, yield);
                                            });
  std::printf("words of %s, with their depth:", source);
  int count = 0;
  for (const std::string& token : tokens) {
    std::printf(" %s", token.c_str());
    ++count;
  }
  std::printf("\n%d words\n", count);
  return count == 8 ? 0 : 1;
}
