// SPDX-License-Identifier: BSL-1.0
// The program itself does not include ebb: lib A (and, through it, lib B) arrive with dlopen, so
// ebb's thread state and pool are defined only by libraries loaded at run time (static TLS from
// glibc's reserve). Usage: ebb_shared_dlopen path/to/libA.so [--abandons]
// (--abandons: lib A was built without exceptions, so a destroyed suspended fiber is abandoned)
#include "api.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>

template <class F>
static F load(void* lib, const char* name) {
  void* p = dlsym(lib, name);
  if (p == nullptr) {
    std::fprintf(stderr, "dlsym(%s): %s\n", name, dlerror());
    return nullptr;
  }
  return reinterpret_cast<F>(p);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LIB_A\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::fprintf(stderr, "dlopen(%s): %s\n", argv[1], dlerror());
    return 1;
  }
  auto create = load<void* (*)(int, int*, int*, int)>(lib, "ebb_test_a_create");
  auto resume = load<int (*)(void*)>(lib, "ebb_test_a_resume");
  auto destroy = load<void (*)(void*)>(lib, "ebb_test_a_destroy");
  auto a_state = load<void* (*)()>(lib, "ebb_test_a_thread_state");
  auto b_state = load<void* (*)()>(lib, "ebb_test_b_thread_state");
  if (!create || !resume || !destroy || !a_state || !b_state) return 1;

  int failures = 0;
  if (a_state() != b_state()) {
    std::fprintf(stderr, "libraries loaded together see different thread states\n");
    ++failures;
  }
  const int steps = 5;
  int progress = 0, destroyed = 0;
  void* f = create(steps, &progress, &destroyed, 0);
  for (int i = 1; i <= steps; ++i) {
    if (resume(f) != 1 || progress != i - 1) {
      std::fprintf(stderr, "step %d: fiber did not suspend in B (progress %d)\n", i, progress);
      ++failures;
    }
  }
  if (resume(f) != 0 || progress != steps || destroyed != 1) {
    std::fprintf(stderr, "fiber did not finish (progress %d)\n", progress);
    ++failures;
  }
  destroy(f);

  // Destroying one suspended inside B unwinds it (or abandons it), and never runs more of its body.
  const bool abandons = argc > 2 && std::strcmp(argv[2], "--abandons") == 0;
  progress = destroyed = 0;
  f = create(steps, &progress, &destroyed, 0);
  resume(f);
  resume(f);
  const int progress_before = progress;
  destroy(f);
  if (progress != progress_before) {
    std::fprintf(stderr, "destroying a suspended fiber ran more of its body\n");
    ++failures;
  }
  if (destroyed != (abandons ? 0 : 1)) {
    std::fprintf(stderr, abandons ? "an abandoned fiber ran its destructors\n"
                                  : "destroying a suspended fiber did not run its destructors\n");
    ++failures;
  }
  // Stacks stay pooled inside the library; unloading it is not part of ebb's contract yet.
  if (failures) return 1;
  std::printf("dlopen test: all checks passed\n");
  return 0;
}
