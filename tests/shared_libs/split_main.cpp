// SPDX-License-Identifier: BSL-1.0
// Two libraries that include ebb, neither linked to the other or to this program, loaded with dlopen.
// Usage: ebb_shared_split RUNNER.so YIELDER.so --global|--local
//   --global: RTLD_GLOBAL, so the second binds to the first's runtime: a fiber of one yields in the other.
//   --local:  RTLD_LOCAL, so each has its own runtime: the yield cannot work, and ebb must say why and
//             what to do (not "called outside a fiber").
#include <dlfcn.h>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s RUNNER.so YIELDER.so --global|--local\n", argv[0]);
    return 2;
  }
  const bool global = std::strcmp(argv[3], "--global") == 0;
  const int mode = RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL);
  void* runner = dlopen(argv[1], mode);
  void* yielder = dlopen(argv[2], mode);
  if (runner == nullptr || yielder == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  auto run = reinterpret_cast<int (*)(void (*)(), char*, std::size_t)>(dlsym(runner, "ebb_test_split_run"));
  auto yield = reinterpret_cast<void (*)()>(dlsym(yielder, "ebb_test_split_yield"));
  if (run == nullptr || yield == nullptr) {
    std::fprintf(stderr, "dlsym: %s\n", dlerror());
    return 1;
  }
  char message[1024] = "";
  const int refused = run(yield, message, sizeof message);
  if (global) {
    if (refused) {
      std::fprintf(stderr, "check failed: loaded globally, the yield was refused: %s\n", message);
      return 1;
    }
  } else {
    if (!refused || std::strstr(message, "copies of ebb's runtime") == nullptr ||
        std::strstr(message, "RTLD_GLOBAL") == nullptr) {
      std::fprintf(stderr, "check failed: loaded locally, the split was not reported clearly: '%s'\n", message);
      return 1;
    }
    std::printf("reported as expected: %s\n", message);
  }
  std::printf("split test (%s): all checks passed\n", argv[3]);
  return 0;
}
