// SPDX-License-Identifier: BSL-1.0
// ebb::generator<T>: a lazy input range fed by a producer running on its own fiber.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <algorithm>
#include <iterator>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "tool_support.hpp"

namespace {

ebb::generator<int> count_to(int n) {
  return ebb::generator<int>([n](ebb::yield_sink<int>& yield) {
    for (int i = 1; i <= n; ++i) yield(i);
  });
}

// Counts its live instances: whether the producer's frames were unwound.
struct tracked {
  explicit tracked(int& live) : live_(live) { ++live_; }
  tracked(const tracked&) = delete;
  tracked& operator=(const tracked&) = delete;
  ~tracked() { --live_; }
  int& live_;
};

// The iterator is a standard input iterator.
using int_iterator = ebb::generator<int>::iterator;
static_assert(std::is_same<std::iterator_traits<int_iterator>::iterator_category, std::input_iterator_tag>::value, "");
static_assert(std::is_same<std::iterator_traits<int_iterator>::value_type, int>::value, "");
static_assert(std::is_same<std::iterator_traits<int_iterator>::reference, int&&>::value, "");
static_assert(std::is_same<std::iterator_traits<int_iterator>::pointer, int*>::value, "");
static_assert(std::is_same<std::iterator_traits<int_iterator>::difference_type, std::ptrdiff_t>::value, "");
static_assert(std::is_same<ebb::generator<const std::string&>::reference, const std::string&>::value, "");
static_assert(std::is_same<ebb::generator<const std::string&>::value_type, std::string>::value, "");
static_assert(!std::is_copy_constructible<ebb::generator<int>>::value, "");
static_assert(std::is_nothrow_move_constructible<ebb::generator<int>>::value, "");

}  // namespace

TEST_CASE("generator: the values come out in the order they were yielded", "[generator]") {
  ebb::generator<int> g([](ebb::yield_sink<int>& yield) {
    yield(1);
    yield(2);
    const int three = 3;
    yield(three);  // an lvalue: copied
    int four = 4;
    yield(std::move(four));
  });
  std::vector<int> seen;
  for (int v : g) seen.push_back(v);
  CHECK(seen == std::vector<int>{1, 2, 3, 4});
  CHECK(g.begin() == g.end());
  CHECK(g.producer_fiber().done());
}

TEST_CASE("generator: lazy — the producer runs only as far as the consumer asks", "[generator]") {
  std::vector<std::string> log;
  ebb::generator<int> g([&](ebb::yield_sink<int>& yield) {
    log.push_back("start");
    for (int i = 0; i < 3; ++i) {
      log.push_back("yield " + std::to_string(i));
      yield(i);
    }
    log.push_back("end");
  });
  CHECK(log.empty());  // constructing runs nothing
  auto it = g.begin();
  CHECK(log == std::vector<std::string>{"start", "yield 0"});
  CHECK(*it == 0);
  ++it;
  CHECK(log.back() == "yield 1");
  CHECK(*it == 1);
  ++it;
  ++it;
  CHECK(log.back() == "end");
  CHECK(it == g.end());
}

TEST_CASE("generator: a producer that yields nothing is an empty range", "[generator]") {
  bool ran = false;
  ebb::generator<int> g([&](ebb::yield_sink<int>&) { ran = true; });
  CHECK(g.begin() == g.end());
  CHECK(ran);
  int n = 0;
  for (int v : g) n += v + 1;
  CHECK(n == 0);

  ebb::generator<int> empty;  // default-constructed: no fiber at all
  CHECK(empty.begin() == empty.end());
  CHECK_FALSE(static_cast<bool>(empty.producer_fiber()));
}

TEST_CASE("generator: begin() twice returns the current position, a second loop continues the first",
          "[generator]") {
  auto g = count_to(5);
  std::vector<int> first, second;
  for (int v : g) {
    first.push_back(v);
    if (v == 2) break;
  }
  CHECK(*g.begin() == 2);  // the value the loop broke on is still current
  for (int v : g) second.push_back(v);
  CHECK(first == std::vector<int>{1, 2});
  CHECK(second == std::vector<int>{2, 3, 4, 5});
  CHECK(g.begin() == g.end());
}

TEST_CASE("generator: destroying it early unwinds the producer", "[generator]") {
  int live = 0;
  bool finished = false;
  {
    ebb::generator<int> g([&](ebb::yield_sink<int>& yield) {
      tracked outer(live);
      for (int i = 0;; ++i) {
        tracked inner(live);
        yield(i);
      }
      finished = true;
    });
    auto it = g.begin();
    ++it;
    CHECK(*it == 1);
    CHECK(live == 2);
  }
#if EBB_HAS_EXCEPTIONS
  CHECK(live == 0);  // both destructors ran
#endif
  CHECK_FALSE(finished);

  // Never started: the producer never runs, nothing to unwind.
  bool started = false;
  { ebb::generator<int> g([&](ebb::yield_sink<int>&) { started = true; }); }
  CHECK_FALSE(started);
}

TEST_CASE("generator: move assignment unwinds the producer it replaces", "[generator]") {
  int live = 0;
  ebb::generator<int> g([&](ebb::yield_sink<int>& yield) {
    tracked t(live);
    yield(1);
    yield(2);
  });
  CHECK(*g.begin() == 1);
  CHECK(live == 1);
  g = count_to(3);
  CHECK(live == 0);
  std::vector<int> seen(g.begin(), g.end());
  CHECK(seen == std::vector<int>{1, 2, 3});
}

TEST_CASE("generator: moving a suspended generator keeps its position", "[generator]") {
  auto a = count_to(4);
  auto it = a.begin();
  ++it;
  ebb::generator<int> b(std::move(a));
  CHECK(a.begin() == a.end());  // moved from: empty
  std::vector<int> rest(b.begin(), b.end());
  CHECK(rest == std::vector<int>{2, 3, 4});

  // Moved before it started: still lazy, still complete.
  std::vector<ebb::generator<int>> many;
  for (int n = 1; n <= 3; ++n) many.push_back(count_to(n));  // the vector reallocates: moves
  int total = 0;
  for (auto& g : many)
    for (int v : g) total += v;
  CHECK(total == 1 + 3 + 6);
}

TEST_CASE("generator: an exception from the producer reaches the consumer at begin() or ++", "[generator]") {
  SECTION("before the first yield: from begin()") {
    ebb::generator<int> g([](ebb::yield_sink<int>&) { throw std::runtime_error("no first value"); });
    CHECK_THROWS_WITH(g.begin(), "no first value");
    CHECK(g.begin() == g.end());  // exhausted afterwards
  }
  SECTION("after some values: from the ++ that resumed it") {
    int live = 0;
    ebb::generator<int> g([&](ebb::yield_sink<int>& yield) {
      tracked t(live);
      yield(1);
      yield(2);
      throw std::runtime_error("third value unavailable");
    });
    auto it = g.begin();
    CHECK(*it == 1);
    ++it;
    CHECK(*it == 2);
    CHECK_THROWS_WITH(++it, "third value unavailable");
    CHECK(live == 0);
    CHECK(it == g.end());
  }
  SECTION("in a range-for, out of the loop") {
    std::vector<int> seen;
    ebb::generator<int> g([](ebb::yield_sink<int>& yield) {
      yield(7);
      throw std::logic_error("stop");
    });
    auto loop = [&] {
      for (int v : g) seen.push_back(v);
    };
    CHECK_THROWS_AS(loop(), std::logic_error);
    CHECK(seen == std::vector<int>{7});
  }
}

TEST_CASE("generator: the producer may catch its own errors and go on", "[generator]") {
  ebb::generator<int> g([](ebb::yield_sink<int>& yield) {
    for (int i = 0; i < 3; ++i) {
      try {
        if (i == 1) throw std::runtime_error("skip");
        yield(i);
      } catch (const std::runtime_error&) {
        yield(-1);  // yielding from a handler is fine
      }
    }
  });
  std::vector<int> seen(g.begin(), g.end());
  CHECK(seen == std::vector<int>{0, -1, 2});
}

#if EBB_CHECKS
TEST_CASE("generator: using an iterator at the end is a fiber_error", "[generator]") {
  auto g = count_to(1);
  auto it = g.begin();
  ++it;
  CHECK(it == g.end());
  CHECK_THROWS_WITH(++it, has_text("at the end"));
  CHECK_THROWS_AS(*it, ebb::fiber_error);
  ebb::generator<int>::iterator end;
  CHECK_THROWS_WITH(*end, has_text("operator*"));
}
#endif

TEST_CASE("generator: move-only values are moved to the consumer, never copied", "[generator]") {
  ebb::generator<std::unique_ptr<int>> g([](ebb::yield_sink<std::unique_ptr<int>>& yield) {
    for (int i = 0; i < 3; ++i) yield(std::make_unique<int>(i * 10));
    auto kept = std::make_unique<int>(99);
    yield(std::move(kept));
  });
  std::vector<std::unique_ptr<int>> taken;
  for (auto p : g) taken.push_back(std::move(p));  // reference is T&&: `auto p` moves
  REQUIRE(taken.size() == 4);
  CHECK(*taken[0] == 0);
  CHECK(*taken[2] == 20);
  CHECK(*taken[3] == 99);

  ebb::generator<std::unique_ptr<int>> h([](ebb::yield_sink<std::unique_ptr<int>>& yield) {
    yield(std::make_unique<int>(5));
  });
  auto it = h.begin();
  CHECK(**it == 5);  // observe in place through the iterator
  CHECK(*it->get() == 5);
  auto postfix = it++;  // *it++ hands over the value that was current
  CHECK(**postfix == 5);
  CHECK(it == h.end());
}

TEST_CASE("generator: yielding references hands out the producer's own objects", "[generator]") {
  std::vector<const std::string*> addresses;
  ebb::generator<const std::string&> g([&](ebb::yield_sink<const std::string&>& yield) {
    std::string word;
    for (const char* w : {"alpha", "beta", "gamma"}) {
      word = w;
      addresses.push_back(&word);
      yield(word);
    }
    yield(std::string("temporary"));  // lives until yield returns
  });
  std::vector<std::string> seen;
  for (auto it = g.begin(); it != g.end(); ++it) {
    if (seen.size() < 3) CHECK(&*it == addresses.back());  // no copy
    CHECK(it->size() == std::string(*it).size());
    seen.push_back(*it);
  }
  CHECK(seen == std::vector<std::string>{"alpha", "beta", "gamma", "temporary"});

  // A mutable reference: the consumer may change the producer's object.
  int total = 0;
  ebb::generator<int&> h([&](ebb::yield_sink<int&>& yield) {
    int slot = 1;
    yield(slot);
    total = slot;  // what the consumer left there
  });
  for (int& v : h) v = 42;
  CHECK(total == 42);
}

TEST_CASE("generator: a producer yields 100000 values", "[generator]") {
  static const long long n = test_support::scaled(100000LL);
  ebb::generator<long long> g([](ebb::yield_sink<long long>& yield) {
    for (long long i = 0; i < n; ++i) yield(i);
  });
  long long count = 0, sum = 0;
  for (long long v : g) {
    sum += v;
    ++count;
  }
  CHECK(count == n);
  CHECK(sum == n * (n - 1) / 2);
}

TEST_CASE("generator: standard algorithms take its iterators", "[generator]") {
  auto a = count_to(100);
  CHECK(std::accumulate(a.begin(), a.end(), 0) == 5050);
  auto b = count_to(10);
  std::vector<int> even;
  std::copy_if(b.begin(), b.end(), std::back_inserter(even), [](int v) { return v % 2 == 0; });
  CHECK(even == std::vector<int>{2, 4, 6, 8, 10});
  auto c = count_to(7);
  CHECK(std::distance(c.begin(), c.end()) == 7);
}

TEST_CASE("generator: a custom fiber configuration and fiber_options", "[generator]") {
  using small_fiber = ebb::basic_fiber<ebb::doubling_growth<4096, 64 * 1024>>;
  ebb::generator<int, small_fiber> g(ebb::fiber_options().name("digits").initial_size(4096),
                                     [](ebb::yield_sink<int>& yield) {
                                       for (int d = 0; d < 10; ++d) yield(d);
                                     });
  CHECK(g.producer_fiber().name() == "digits");
  CHECK(std::accumulate(g.begin(), g.end(), 0) == 45);
  CHECK(g.producer_fiber().done());

  // A fixed-size stack from a fixed_stack_allocator.
  using fixed_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>,
                                       ebb::fixed_stack_allocator<256 * 1024>>;
  ebb::generator<std::string, fixed_fiber> words([](ebb::yield_sink<std::string>& yield) {
    yield("one");
    yield("two");
  });
  std::string joined;
  for (auto&& w : words) joined += w;  // reference is std::string&&: `auto&` would not bind
  CHECK(joined == "onetwo");

  // The stack grows for a producer that yields from deep recursion, and the name is in its fiber.
  struct walker {
    static void down(ebb::yield_sink<int>& yield, int depth) {
      volatile char frame[512] = {};
      frame[0] = static_cast<char>(depth);
      if (depth == 0) {
        yield(frame[0]);
        return;
      }
      down(yield, depth - 1);
      yield(depth);
    }
  };
  ebb::generator<int, small_fiber> deep([](ebb::yield_sink<int>& yield) { walker::down(yield, 60); });
  CHECK(std::accumulate(deep.begin(), deep.end(), 0) == 60 * 61 / 2);
}

TEST_CASE("generator: nested — a producer iterates another generator", "[generator]") {
  auto squares = [](int n) {
    return ebb::generator<int>([n](ebb::yield_sink<int>& yield) {
      for (int v : count_to(n)) yield(v * v);
    });
  };
  ebb::generator<int> sums([&](ebb::yield_sink<int>& yield) {
    for (int n = 1; n <= 4; ++n) {
      int sum = 0;
      for (int sq : squares(n)) sum += sq;
      yield(sum);
    }
  });
  std::vector<int> seen(sums.begin(), sums.end());
  CHECK(seen == std::vector<int>{1, 5, 14, 30});

  // Destroying the outer one while the inner one is suspended unwinds both.
  int live = 0;
  {
    ebb::generator<int> outer([&](ebb::yield_sink<int>& yield) {
      tracked t(live);
      ebb::generator<int> inner([&](ebb::yield_sink<int>& inner_yield) {
        tracked u(live);
        for (int i = 0;; ++i) inner_yield(i);
      });
      for (int v : inner) yield(v);
    });
    auto it = outer.begin();
    ++it;
    CHECK(*it == 1);
    CHECK(live == 2);
  }
#if EBB_HAS_EXCEPTIONS
  CHECK(live == 0);
#endif
}

TEST_CASE("generator: created on one thread, consumed on others", "[generator][threads]") {
  auto g = count_to(1000);
  long long sum = 0;
  int first = 0;
  // Started on another thread, finished on a third: the producer migrates with each resume.
  std::thread([&] { first = *g.begin(); }).join();
  std::thread([&] {
    auto it = g.begin();
    for (int i = 0; i < 500; ++i, ++it) sum += *it;
  }).join();
  std::thread([&] {
    for (int v : g) sum += v;
  }).join();
  CHECK(first == 1);
  CHECK(sum == 1000LL * 1001 / 2);

  // Destroyed on yet another thread while suspended.
  int live = 0;
  ebb::generator<int> h([&](ebb::yield_sink<int>& yield) {
    tracked t(live);
    for (int i = 0;; ++i) yield(i);
  });
  std::thread([&] { (void)h.begin(); }).join();
  CHECK(live == 1);
  std::thread([&] { ebb::generator<int> dead(std::move(h)); }).join();
#if EBB_HAS_EXCEPTIONS
  CHECK(live == 0);
#endif
}

TEST_CASE("generator: a bare this_fiber::yield() in the producer does not end or skip a value",
          "[generator]") {
  ebb::generator<int> g([](ebb::yield_sink<int>& yield) {
    ebb::this_fiber::yield();
    yield(1);
    ebb::this_fiber::yield();
    ebb::this_fiber::yield();
    yield(2);
    ebb::this_fiber::yield();
  });
  std::vector<int> seen(g.begin(), g.end());
  CHECK(seen == std::vector<int>{1, 2});
}
