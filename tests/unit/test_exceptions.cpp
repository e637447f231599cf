// SPDX-License-Identifier: BSL-1.0
// Exceptions: propagation out of resume(), unwinding on destruction, per-fiber exception state.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

TEST_CASE("an exception escaping the fiber is rethrown from resume()", "[exceptions]") {
  ebb::fiber f([] {
    ebb::this_fiber::yield();
    throw std::runtime_error("parse error at line 3");
  });
  CHECK(f.resume());
  CHECK_THROWS_WITH(f.resume(), "parse error at line 3");
  CHECK(f.done());
}

TEST_CASE("exceptions thrown and caught inside a fiber stay inside", "[exceptions]") {
  int caught = 0;
  ebb::fiber f([&] {
    for (int i = 0; i < 3; ++i) {
      try {
        throw i;
      } catch (int v) {
        caught += v + 1;
      }
      ebb::this_fiber::yield();
    }
  });
  while (f.resume()) {
  }
  CHECK(caught == 6);
}

namespace {
struct recorder {
  std::vector<std::string>* log;
  std::string label;
  ~recorder() { log->push_back(label); }
};
void nested(std::vector<std::string>& log, int depth) {
  recorder r{&log, "frame " + std::to_string(depth)};
  if (depth == 0) {
    ebb::this_fiber::yield();
    log.push_back("resumed normally");  // must not happen
    return;
  }
  nested(log, depth - 1);
}
}  // namespace

TEST_CASE("destroying a suspended fiber unwinds it and runs its destructors", "[exceptions][unwind]") {
  std::vector<std::string> log;
  {
    ebb::fiber f([&] { nested(log, 3); });
    f.resume();
    CHECK(log.empty());
  }
  CHECK(log == std::vector<std::string>{"frame 0", "frame 1", "frame 2", "frame 3"});
}

TEST_CASE("a fiber that catches everything still unwinds when the catch rethrows", "[exceptions][unwind]") {
  std::vector<std::string> log;
  {
    ebb::fiber f([&] {
      recorder outer{&log, "outer"};
      try {
        nested(log, 1);
      } catch (...) {
        log.push_back("catch-all saw the unwind");
        throw;
      }
    });
    f.resume();
  }
  CHECK(log == std::vector<std::string>{"frame 0", "frame 1", "catch-all saw the unwind", "outer"});
}

#if EBB_SWAP_EXCEPTION_STATE
TEST_CASE("a catch block that yields keeps its exception per fiber", "[exceptions][state]") {
  std::string seen_a, seen_b;
  int uncaught_in_a = -1;
  auto body = [](const char* what, std::string& seen) {
    return [what, &seen] {
      try {
        throw std::runtime_error(what);
      } catch (const std::exception&) {
        ebb::this_fiber::yield();  // another fiber throws and catches meanwhile
        try {
          throw;  // rethrows *this* fiber's current exception
        } catch (const std::exception& e) {
          seen = e.what();
        }
      }
    };
  };
  ebb::fiber a(body("from a", seen_a));
  ebb::fiber b(body("from b", seen_b));
  a.resume();
  b.resume();
  CHECK(std::current_exception() == nullptr);  // the resumer handles no exception
  b.resume();
  a.resume();
  CHECK(seen_a == "from a");
  CHECK(seen_b == "from b");

  // std::uncaught_exceptions counts per fiber: a destructor running during unwinding yields.
  struct yields_in_destructor {
    int* out;
    ~yields_in_destructor() {
      ebb::this_fiber::yield();
      *out = std::uncaught_exceptions();
    }
  };
  ebb::fiber c([&] {
    try {
      yields_in_destructor y{&uncaught_in_a};
      throw 1;
    } catch (int) {
    }
  });
  c.resume();  // suspended inside the destructor, with one exception in flight on c
  CHECK(std::uncaught_exceptions() == 0);
  c.resume();
  CHECK(uncaught_in_a == 1);
}
#endif  // EBB_SWAP_EXCEPTION_STATE
