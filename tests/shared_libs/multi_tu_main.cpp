// SPDX-License-Identifier: BSL-1.0
// Several translation units in one program, each including ebb: this one creates fibers, the other
// one's functions yield them (and create fibers this one's code yields).
#include <ebb/ebb.hpp>

#include <cstdio>
#include <vector>

int multi_tu_lean();
bool multi_tu_yield(int times, int* count);
int multi_tu_run_here(void (*body)(void*), void* arg);

static int failures = 0;
#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)

int main() {
  std::printf("main TU lean=%d, other TU lean=%d\n", EBB_LEAN, multi_tu_lean());

  // Fibers made here, yielding in the other TU, interleaved.
  std::vector<int> counts(3, 0);
  std::vector<ebb::fiber> fibers;
  for (int k = 0; k < 3; ++k)
    fibers.emplace_back([&counts, k] { CHECK(multi_tu_yield(k + 2, &counts[static_cast<std::size_t>(k)])); });
  int resumes = 0;
  for (bool any = true; any;) {
    any = false;
    for (auto& f : fibers)
      if (!f.done()) {
        f.resume();
        ++resumes;
        any = true;
      }
  }
  CHECK(counts[0] == 2 && counts[1] == 3 && counts[2] == 4);
  CHECK(resumes == 3 + 4 + 5);

  // A fiber made in the other TU, yielding here.
  int yields = 0;
  auto body = [](void* arg) {
    int* n = static_cast<int*>(arg);
    for (int i = 0; i < 7; ++i) {
      CHECK(ebb::this_fiber::in_fiber());
      ebb::this_fiber::yield();
      ++*n;
    }
  };
  CHECK(multi_tu_run_here(body, &yields) == 7);
  CHECK(yields == 7);

  // Destroying a fiber suspended in the other TU's frame unwinds through it.
  {
    struct flag_on_exit {
      bool* flag;
      ~flag_on_exit() { *flag = true; }
    };
    bool unwound = false;
    int count = 0;
    {
      ebb::fiber f([&] {
        flag_on_exit g{&unwound};
        multi_tu_yield(5, &count);
      });
      f.resume();
      f.resume();
    }
#if EBB_HAS_EXCEPTIONS
    CHECK(unwound);
#endif
    CHECK(count == 1);
  }

  CHECK(!ebb::this_fiber::in_fiber());
  if (failures) {
    std::fprintf(stderr, "multi-TU test: %d checks failed\n", failures);
    return 1;
  }
  std::printf("multi-TU test: all checks passed\n");
  return 0;
}
