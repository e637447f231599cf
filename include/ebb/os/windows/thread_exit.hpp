// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/thread_exit.hpp — run_at_thread_exit on Windows (os/thread_exit.hpp says why the
// clean-up must come after every thread_local destructor).
//
// The calls are kept in the thread's block and run by ebb's TLS callback, after the C runtime's
// (os/windows/thread_block.hpp says why neither FLS callbacks nor thread_locals serve, and what order
// was seen). Whatever runs after that finds the state closed and must not reopen it, as on POSIX.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include "ebb/os/windows/thread_block.hpp"

#include <atomic>

EBB_RUNTIME_BEGIN
namespace os {

// Nothing to create per process: the calls live in each thread's block. Kept as a type so that each
// kind of clean-up is registered once per thread, as with a POSIX key.
struct thread_exit_key {
  std::atomic<int> unused{0};
};

// Arrange for at_exit(value) to run when the calling thread exits (once per thread and at_exit; a
// second call replaces the value). False if the thread's list is full.
inline bool run_at_thread_exit(thread_exit_key&, void (*at_exit)(void*), void* value) noexcept {
  thread_block& block = this_thread_block();
  for (std::uint32_t i = 0; i < block.exit_count; ++i)
    if (block.exits[i].at_exit == at_exit) {
      block.exits[i].value = value;
      return true;
    }
  if (block.exit_count == thread_block::max_exit_calls) return false;
  block.exits[block.exit_count++] = thread_exit_call{at_exit, value};
  return true;
}

}  // namespace os
EBB_RUNTIME_END

#endif  // defined(_WIN32)
