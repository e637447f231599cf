// SPDX-License-Identifier: BSL-1.0
// A fact about MinGW-w64 (GCC's emulated TLS with winpthreads), without ebb: a thread_local object's
// storage is freed (winpthreads runs emutls' key destructor when the thread function returns) before
// the object's destructor runs (from the C runtime's TLS callback at DLL_THREAD_DETACH), so the
// destructor reads freed memory. tests/windows/run.sh prints what it sees (information, not a check).
// This is why ebb keeps its per-thread state out of C++ thread_locals on Windows
// (include/ebb/os/windows/thread_block.hpp), and why tests/unit/test_pool.cpp's thread_local owner test
// is skipped with MinGW.
#include <cstdio>
#include <thread>
#include <vector>

namespace {
struct owner {
  std::vector<int> values;
  int magic = 0;
  ~owner() {
    std::printf("info emutls: a thread_local's destructor sees magic %d (1234 written) and %zu values (100 written)%s\n",
                magic, values.size(), magic == 1234 ? "" : ": its storage was freed first");
  }
};
owner& the_owner() {
  thread_local owner o;
  return o;
}
}  // namespace

int main() {
  std::thread t([] {
    owner& o = the_owner();
    o.magic = 1234;
    o.values.assign(100, 7);
  });
  t.join();
  return 0;
}
