// SPDX-License-Identifier: BSL-1.0
// ebb/detail/unwind_report.hpp — saying why a destroyed fiber's forced unwind ended the process.
//
// Destroying a suspended fiber throws forced_unwind from its suspension point. The C++ runtime calls
// std::terminate if that exception meets a frame it may not leave: a noexcept function, a C frame
// without unwind information, a destructor that throws. Its own message names only the exception's
// type, which says nothing about which fiber or why. So the first destruction that unwinds installs a
// terminate handler that, when the terminating thread is unwinding a destroyed fiber, first says so
// with the fiber's name, then hands over to the handler that was installed before.
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/install_once.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

EBB_RUNTIME_BEGIN

struct unwind_report_state {
  // Held by fork()'s prepare handler too (detail/fork_safety.hpp): a child forked while another
  // thread installed the handler would otherwise spin at its first destruction of a suspended fiber.
  install_once install;
  std::terminate_handler previous = nullptr;
};
// One per process (default visibility merges every library's copy), so the handler is installed once
// and never chains to another library's copy of itself.
EBB_PROCESS_WIDE(unwind_report_state, process_unwind_report, {});

[[noreturn]] inline void terminate_with_unwind_report() noexcept {
  fiber_context* fiber = this_thread()->current;
  if (fiber != nullptr && fiber->unwind_requested) {
    std::fprintf(stderr,
                 "ebb: fiber '%s' was destroyed while suspended, and the forced unwind that runs its "
                 "destructors met a frame it cannot pass (a noexcept function, a frame without unwind "
                 "information, or a destructor that threw), so std::terminate follows; let the fiber "
                 "finish before destroying it, or create it with "
                 "fiber_options().on_destroy(ebb::destroy_action::abandon_and_report)\n",
                 fiber->name && fiber->name[0] ? fiber->name : "(unnamed)");
    std::fflush(stderr);
  }
  if (std::terminate_handler previous = process_unwind_report.previous) previous();
  std::abort();
}

// Called by every destruction that unwinds a fiber, with no lock of the runtime held (fork()'s prepare
// handler takes this install's lock first); after the first, one atomic load.
inline void prepare_unwind_report() noexcept {
  process_unwind_report.install.run([]() noexcept {
    process_unwind_report.previous = std::get_terminate();
    std::set_terminate(&terminate_with_unwind_report);
  });
}

EBB_RUNTIME_END
