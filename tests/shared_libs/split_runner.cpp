// SPDX-License-Identifier: BSL-1.0
// Runs `body` on a fiber of this library's copy of ebb (split_main.cpp loads it with dlopen).
#include "api.hpp"

#include <ebb/ebb.hpp>

#include <cstring>

// 0: the body yielded once and finished; 1: ebb refused (its message copied to `message`).
EBB_TEST_EXPORT int ebb_test_split_run(void (*body)(), char* message, std::size_t size) {
  try {
    ebb::fiber f(ebb::fiber_options().name("runner"), [body] { body(); });
    while (f.resume()) {
    }
    return 0;
  } catch (const ebb::fiber_error& e) {
    std::strncpy(message, e.what(), size - 1);
    message[size - 1] = '\0';
    return 1;
  }
}
