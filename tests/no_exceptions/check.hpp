// SPDX-License-Identifier: BSL-1.0
// What every -fno-exceptions test program shares: the guard that it really is built without
// exceptions, and a CHECK that counts failures instead of throwing.
#pragma once

#include <cstdio>

#if defined(__cpp_exceptions) || EBB_HAS_EXCEPTIONS
#error "this test must be compiled with -fno-exceptions"
#endif

static int failures = 0;
#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                                   \
    }                                                                               \
  } while (0)
