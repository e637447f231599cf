// SPDX-License-Identifier: BSL-1.0
// The report format of the standalone Windows tests (switch_test.cpp, memory_test.cpp): one line per
// check ("ok  " or "FAIL", a group, what was checked), "info" lines for measurements and facts, and
// "N checks, M failed" last, which scripts/test-all.sh's windows/switch stage counts.
#pragma once

#include <cstdio>
#include <string>

namespace check_report {
inline int checks = 0;
inline int failures = 0;
inline void check(bool ok, const char* group, const std::string& what) {
  ++checks;
  if (!ok) ++failures;
  std::printf("%s %-11s %s\n", ok ? "ok  " : "FAIL", group, what.c_str());
  std::fflush(stdout);  // a check that crashes the process next still shows the ones before it
}
inline void info(const std::string& what) {
  std::printf("info %s\n", what.c_str());
  std::fflush(stdout);
}
// The last line, and the exit status: 0 when every check passed.
inline int summary() {
  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
}  // namespace check_report
