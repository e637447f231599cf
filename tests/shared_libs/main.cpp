// SPDX-License-Identifier: BSL-1.0
// A fiber created in lib A yields inside lib B; the program (a third copy of ebb) drives it directly,
// from a fiber of its own, and from another thread. Exit code 0 on success; every failure says why.
//
// Variants built with -fno-exceptions in one library set (see CMakeLists.txt):
//   EBB_TEST_B_THROWS=0         lib B cannot throw: skip the exception-propagation case
//   EBB_TEST_DESTROY_UNWINDS=0  lib A has no exceptions, so its fibers are abandoned (and reported)
//                               when destroyed suspended, not unwound
// Whatever the configuration, destroying a suspended fiber must never run more of its body.
#include "api.hpp"

#include <ebb/ebb.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#ifndef EBB_TEST_B_THROWS
#define EBB_TEST_B_THROWS 1
#endif
#ifndef EBB_TEST_DESTROY_UNWINDS
#define EBB_TEST_DESTROY_UNWINDS 1
#endif

static int failures = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

int main() {
  std::printf("lib A lean=%d, lib B lean=%d, main lean=%d\n", ebb_test_a_lean(), ebb_test_b_lean(), EBB_LEAN);

  // One thread state and one reservation pool, whichever module asks.
  CHECK(ebb_test_a_thread_state() == static_cast<void*>(ebb::runtime_v1::this_thread()));
  CHECK(ebb_test_b_thread_state() == static_cast<void*>(ebb::runtime_v1::this_thread()));
  CHECK(ebb_test_a_pool() == static_cast<void*>(&ebb::runtime_v1::process_pool()));
  CHECK(ebb_test_b_pool() == static_cast<void*>(&ebb::runtime_v1::process_pool()));
  std::thread([] {
    CHECK(ebb_test_a_thread_state() == static_cast<void*>(ebb::runtime_v1::this_thread()));
    CHECK(ebb_test_b_thread_state() == static_cast<void*>(ebb::runtime_v1::this_thread()));
  }).join();

  // 1. Resumed from the main stack: suspends in B on every step, then finishes.
  {
    const int steps = 5;
    int progress = 0, destroyed = 0;
    void* f = ebb_test_a_create(steps, &progress, &destroyed, 0);
    for (int i = 1; i <= steps; ++i) {
      CHECK(ebb_test_a_resume(f) == 1);
      CHECK(progress == i - 1);  // B has not returned yet: it is suspended inside its yield
      CHECK(!ebb::this_fiber::in_fiber());
    }
    CHECK(ebb_test_a_resume(f) == 0);
    CHECK(progress == steps);
    CHECK(destroyed == 1);
    ebb_test_a_destroy(f);
  }

  // 2. Resumed from a fiber of the main program, which yields between steps: the fiber chain crosses
  //    three modules and each one's view of "current" is restored.
  {
    const int steps = 4;
    int progress = 0, destroyed = 0;
    void* f = ebb_test_a_create(steps, &progress, &destroyed, 0);
    int finished_at = -1;
    ebb::fiber outer(ebb::fiber_options().name("outer"), [&] {
      for (int i = 0;; ++i) {
        const int r = ebb_test_a_resume(f);
        CHECK(ebb::this_fiber::in_fiber());
        CHECK(std::string(ebb::this_fiber::name()) == "outer");
        if (r == 0) {
          finished_at = i;
          return;
        }
        ebb::this_fiber::yield();
      }
    });
    int outer_yields = 0;
    while (outer.resume()) ++outer_yields;
    CHECK(!ebb::this_fiber::in_fiber());
    CHECK(outer_yields == steps);
    CHECK(finished_at == steps);
    CHECK(progress == steps);
    ebb_test_a_destroy(f);
  }

  // 3. Migrates: every other step is resumed on a new thread.
  {
    const int steps = 6;
    int progress = 0, destroyed = 0;
    void* f = ebb_test_a_create(steps, &progress, &destroyed, 0);
    for (int i = 1; i <= steps; ++i) {
      int r = -99;
      if (i % 2) {
        std::thread([&] { r = ebb_test_a_resume(f); }).join();
      } else {
        r = ebb_test_a_resume(f);
      }
      CHECK(r == 1);
      CHECK(progress == i - 1);
    }
    CHECK(ebb_test_a_resume(f) == 0);
    CHECK(progress == steps);
    ebb_test_a_destroy(f);
  }

  // 4. An exception thrown in B on A's fiber comes out of A's resume().
  if (EBB_TEST_B_THROWS) {
    int progress = 0, destroyed = 0;
    void* f = ebb_test_a_create(1, &progress, &destroyed, 1);
    CHECK(ebb_test_a_resume(f) == 1);
    CHECK(ebb_test_a_resume(f) == -1);
    CHECK(destroyed == 1);
    ebb_test_a_destroy(f);
  }

  // 5. Destroying the fiber while it is suspended inside B unwinds it: B's yield throws ebb's forced
  //    unwind, A's fiber entry catches it, A's guard runs. (Without exceptions in A: abandoned.)
  //    Either way the body must not run on: B's yield must not simply return.
  {
    int progress = 0, destroyed = 0;
    void* f = ebb_test_a_create(3, &progress, &destroyed, 0);
    CHECK(ebb_test_a_resume(f) == 1);
    CHECK(ebb_test_a_resume(f) == 1);
    CHECK(destroyed == 0);
    const int progress_before = progress;
    ebb_test_a_destroy(f);
    CHECK(progress == progress_before);
    CHECK(destroyed == EBB_TEST_DESTROY_UNWINDS);
  }

  if (failures) {
    std::fprintf(stderr, "shared-library test: %d checks failed\n", failures);
    return 1;
  }
  std::printf("shared-library test: all checks passed\n");
  return 0;
}
