// SPDX-License-Identifier: BSL-1.0
// ebb in a program built with -fno-exceptions. Usage: ebb_no_exceptions MODE
//   run        fibers and generators yield and finish; a suspended one is destroyed under the default destroy
//              action (abandon_and_report: stack released, one line on stderr); exit 0
//   abandon    a suspended fiber destroyed with destroy_action::abandon: silent; exit 0
//   terminate  a suspended fiber destroyed with destroy_action::terminate: must abort
//   misuse     resume() of a finished fiber: reported and aborted (no exception to throw)
#include <ebb/ebb.hpp>

#include <cstdio>
#include <cstring>
#include <vector>

#include "check.hpp"

static int run() {
  static_assert(ebb::default_destroy_action == ebb::destroy_action::abandon_and_report,
                "without exceptions a suspended fiber cannot be unwound");
  std::vector<int> trace;
  {
    ebb::fiber a([&] {
      for (int i = 0; i < 3; ++i) {
        trace.push_back(i);
        ebb::this_fiber::yield();
      }
    });
    ebb::fiber b([&] {
      trace.push_back(10);
      ebb::this_fiber::yield();
      trace.push_back(11);
    });
    int resumes = 0;
    while (!a.done() || !b.done()) {
      if (!a.done()) a.resume(), ++resumes;
      if (!b.done()) b.resume(), ++resumes;
    }
    CHECK(resumes == 4 + 2);
    CHECK((trace == std::vector<int>{0, 10, 1, 11, 2}));
  }

  // Nested: a fiber resumes another.
  {
    int inner_steps = 0;
    ebb::fiber outer([&] {
      ebb::fiber inner([&] {
        ++inner_steps;
        ebb::this_fiber::yield();
        ++inner_steps;
      });
      while (inner.resume()) ebb::this_fiber::yield();
    });
    while (outer.resume()) {
    }
    CHECK(inner_steps == 2);
  }

  // Destroyed while suspended: released without unwinding, and reported.
  {
    bool destructor_ran = false;
    struct flag_on_exit {
      bool* flag;
      ~flag_on_exit() { *flag = true; }
    };
    ebb::fiber f(ebb::fiber_options().name("suspended-forever"), [&] {
      flag_on_exit g{&destructor_ran};
      ebb::this_fiber::yield();
    });
    CHECK(f.resume());
    f = ebb::fiber();  // destroys it
    CHECK(!destructor_ran);
  }

  // Generators: values in order; one left suspended is abandoned by its destroy action.
  {
    ebb::generator<int> g([](ebb::yield_sink<int>& yield) {
      for (int i = 1; i <= 4; ++i) yield(i);
    });
    int sum = 0;
    for (int v : g) sum += v;
    CHECK(sum == 10);
    CHECK(g.producer_fiber().done());

    bool finished = false;
    {
      ebb::generator<int> endless(ebb::fiber_options().on_destroy(ebb::destroy_action::abandon),
                                  [&](ebb::yield_sink<int>& yield) {
                                    for (int i = 0; i < 1000; ++i) yield(i);
                                    finished = true;
                                  });
      auto it = endless.begin();
      ++it;
      CHECK(*it == 1);
    }
    CHECK(!finished);
  }

  // The pool still works after an abandoned stack went back to it.
  {
    int n = 0;
    ebb::fiber f([&] { ++n; });
    CHECK(!f.resume());
    CHECK(n == 1);
  }
  return failures ? 1 : 0;
}

static int abandon() {
  ebb::fiber f(ebb::fiber_options().name("abandoned").on_destroy(ebb::destroy_action::abandon),
               [] { ebb::this_fiber::yield(); });
  f.resume();
  return 0;  // f is destroyed here, silently
}

static int terminate_on_destroy() {
  {
    ebb::fiber f(ebb::fiber_options().name("must-not-die-suspended").on_destroy(ebb::destroy_action::terminate),
                 [] { ebb::this_fiber::yield(); });
    f.resume();
  }  // aborts here
  std::puts("still running after destroying a destroy_action::terminate fiber");
  return 0;
}

static int misuse() {
  ebb::fiber f(ebb::fiber_options().name("finished-one"), [] {});
  f.resume();
  f.resume();  // aborts: no exception to throw
  std::puts("still running after resuming a finished fiber");
  return 0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "run";
  if (std::strcmp(mode, "run") == 0) return run();
  if (std::strcmp(mode, "abandon") == 0) return abandon();
  if (std::strcmp(mode, "terminate") == 0) return terminate_on_destroy();
  if (std::strcmp(mode, "misuse") == 0) return misuse();
  std::fprintf(stderr, "unknown mode %s\n", mode);
  return 2;
}
