// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fiber_reports.hpp — what basic_fiber says when it is misused, in words that name the fiber.
//
// Out of the fiber template on purpose: these need only the shared context, and one copy serves every
// configuration of basic_fiber.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/thread_serial.hpp"
#include "ebb/error.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

EBB_NAMESPACE_BEGIN
namespace detail {

[[noreturn]] inline void report_running(runtime_v1::fiber_context& c, const char* what) {
  misuse(fiber_errc::not_suspended,
         std::string(what) + " of fiber '" + display_name(c.name) +
             (runtime_v1::this_thread()->current == &c
                  ? "' from inside itself; a running fiber uses this_fiber::" + std::string(what)
                  : "' while it runs"));
}

// what: "resume()", "resume_with()", "this_fiber::switch_to()".
[[noreturn]] inline void report_resume_misuse(runtime_v1::fiber_context& c, const char* what = "resume()") {
  const runtime_v1::fiber_state now = c.state.load(std::memory_order_acquire);
  if (now == runtime_v1::fiber_state::finished)
    misuse(fiber_errc::already_finished,
           std::string(what) + " of fiber '" + display_name(c.name) + "', which has finished");
  if (runtime_v1::this_thread()->current == &c)
    misuse(std::string(what) == "this_fiber::switch_to()" ? fiber_errc::switch_to_self : fiber_errc::already_running,
           std::string(what) + " of fiber '" + display_name(c.name) + "' from inside itself");
  misuse(fiber_errc::already_running,
         std::string(what) + " of fiber '" + display_name(c.name) + "', which is already running");
}

// fiber_options().pin_to_thread(true): the first thread that runs the fiber keeps it. Threads are told
// apart by serial numbers that are never reused, so once that thread has exited no thread may resume
// the fiber (it can still be destroyed anywhere).
// A compact fiber (a copying FrameMapper: ops->admit) is pinned the same way, and its mapper then
// refuses what it cannot do. leaving: the fiber a switch_to replaces.
EBB_NOINLINE inline void enforce_pin(runtime_v1::fiber_context& c, const char* what,
                                     runtime_v1::fiber_context* leaving = nullptr) {
  const std::uint64_t here = runtime_v1::this_thread_serial();
  if (c.pinned_to != 0 && c.pinned_to != here) {
    if (c.ops->admit != nullptr)
      misuse(fiber_errc::wrong_thread, std::string(what) + " of compact fiber '" + display_name(c.name) +
                                           "' on a thread other than the one that first resumed it (its frames "
                                           "live on that thread's execution stack)");
    misuse(fiber_errc::wrong_thread, std::string(what) + " of fiber '" + display_name(c.name) +
                                         "' on a thread other than the one it is pinned to "
                                         "(fiber_options().pin_to_thread: the thread that first ran it)");
  }
  if (c.ops->admit != nullptr) c.ops->admit(c, what, leaving);
  c.pinned_to = here;
}

// A suspended compact fiber is unwound on its own execution stack, which only its thread may use, and
// only while no other fiber runs there. The destructor cannot throw: what resume() would refuse stops
// the program here, with the same words.
EBB_NOINLINE inline void check_compact_destruction(runtime_v1::fiber_context& c) noexcept {
#if EBB_HAS_EXCEPTIONS
  try {
    enforce_pin(c, "destruction");
  } catch (const fiber_error& e) {
    fatal("%s", e.what());
  }
#else
  enforce_pin(c, "destruction");  // reports and aborts by itself
#endif
}

// The fiber caught its forced unwind and returned: what followed the catch ran inside the
// destructor. Its frames are gone either way, so say so and let the destruction finish.
EBB_NOINLINE inline void report_swallowed_unwind(runtime_v1::fiber_context& c) noexcept {
  std::fprintf(stderr,
               "ebb: fiber '%s' was destroyed while suspended and caught its forced unwind "
               "(catch (...) without rethrow), then returned: the code after that catch ran inside "
               "the destructor; rethrow in catch (...) blocks\n",
               display_name(c.name));
}

}  // namespace detail
EBB_NAMESPACE_END
