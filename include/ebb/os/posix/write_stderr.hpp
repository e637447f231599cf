// SPDX-License-Identifier: BSL-1.0
// ebb/os/posix/write_stderr.hpp — writing a report to stderr from anywhere, a signal handler included.
//
// write(2) is async-signal-safe where stdio is not; a short write is continued, an error gives up (the
// report is lost, the abort that follows it is not).
#pragma once

#include "ebb/config.hpp"

#include <cstddef>

#include <unistd.h>

EBB_RUNTIME_BEGIN
namespace os {

inline void write_stderr(const char* text, std::size_t length) noexcept {
  std::size_t done = 0;
  while (done < length) {
    ssize_t n = ::write(2, text + done, length - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace os
EBB_RUNTIME_END
