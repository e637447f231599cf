// SPDX-License-Identifier: BSL-1.0
// ebb/error.hpp — how ebb reports misuse and fatal conditions.
//
// Misuse that the caller can recover from (resuming a finished fiber, shrinking a running one) throws
// ebb::fiber_error. Conditions that leave no safe way to continue (a stack overflow, a fiber that
// swallowed its own forced unwind, misuse in a build without exceptions) print one line on stderr
// and abort: continuing would mean running on corrupted memory.
#pragma once

#include "ebb/config.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

EBB_NAMESPACE_BEGIN

// What went wrong, so callers can branch on it without parsing the message.
enum class fiber_errc {
  empty_fiber,        // the basic_fiber holds no fiber (default-constructed or moved from)
  already_running,    // resume() of a fiber that is running (on this or another thread)
  already_finished,   // resume() of a fiber whose function returned or threw
  not_suspended,      // shrink_stack() or stack_stats() from outside a fiber that is running
  outside_fiber,      // this_fiber::yield() or similar called from code not running on a fiber
  out_of_memory,      // the allocator could not reserve a stack
  stack_too_small,    // the allocator's stack cannot hold the control block, the callable and min_size
  shadow_stack_active,  // CET shadow stacks are on, and the switch would fault (detail/shadow_stack.hpp)
  wrong_thread,       // a fiber pinned to one thread (fiber_options().pin_to_thread) resumed on another
  switch_to_self,     // this_fiber::switch_to() naming the running fiber itself
  execution_stack_busy,  // a compact fiber resumed while a running fiber uses its execution stack
  unsupported_here,   // the fiber's mode cannot run in this process: tripwire mode under Valgrind
};

class fiber_error : public std::logic_error {
 public:
  fiber_error(fiber_errc code, const std::string& what) : std::logic_error(what), code_(code) {}
  fiber_errc code() const noexcept { return code_; }

 private:
  fiber_errc code_;
};

// Why basic_fiber::try_create refused: the code and the message the constructor's fiber_error would
// have carried. The message lives in place, not in a std::string, so reporting a refusal allocates
// nothing (it may be the heap that failed, and without exceptions a failed allocation terminates);
// one longer than the buffer is cut short. Meaningful only after a try_create that returned nullopt.
struct create_error {
  fiber_errc code = fiber_errc::out_of_memory;
  char message[512] = {};

  const char* what() const noexcept { return message; }
};

namespace detail {

// One line on stderr, then abort. Uses only snprintf on a local buffer and write-sized fputs so it
// stays usable when the heap is the thing that failed.
[[noreturn]] inline void fatal(const char* format, ...) noexcept {
  char line[512];
  std::va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  std::fputs("ebb: ", stderr);
  std::fputs(line, stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  std::abort();
}

inline const char* display_name(const char* name) noexcept {
  return (name == nullptr || name[0] == '\0') ? "(unnamed)" : name;
}
inline const char* display_name(const std::string& name) noexcept { return display_name(name.c_str()); }

// Misuse: throw where exceptions exist, otherwise report and abort.
[[noreturn]] inline void misuse(fiber_errc code, const std::string& message) {
#if EBB_HAS_EXCEPTIONS
  throw fiber_error(code, "ebb: " + message);
#else
  (void)code;
  fatal("%s", message.c_str());
#endif
}

}  // namespace detail
EBB_NAMESPACE_END
