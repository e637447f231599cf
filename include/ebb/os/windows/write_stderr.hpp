// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/write_stderr.hpp — writing a report to stderr from anywhere, a vectored exception
// handler on an overflowed fiber included: WriteFile on the standard error handle, no CRT stdio (whose
// lock the interrupted code may hold).
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include "ebb/os/windows/windows_h.hpp"

#include <cstddef>

EBB_RUNTIME_BEGIN
namespace os {

inline void write_stderr(const char* text, std::size_t length) noexcept {
  HANDLE err = ::GetStdHandle(STD_ERROR_HANDLE);
  if (err == nullptr || err == INVALID_HANDLE_VALUE) return;
  std::size_t done = 0;
  while (done < length) {
    DWORD written = 0;
    const std::size_t left = length - done;
    const DWORD chunk = left > 65536 ? 65536 : static_cast<DWORD>(left);
    if (!::WriteFile(err, text + done, chunk, &written, nullptr) || written == 0) break;
    done += written;
  }
}

}  // namespace os
EBB_RUNTIME_END

#endif  // defined(_WIN32)
