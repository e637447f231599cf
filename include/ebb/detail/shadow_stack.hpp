// SPDX-License-Identifier: BSL-1.0
// ebb/detail/shadow_stack.hpp — refusing to run fibers where CET shadow stacks are active.
//
// A shadow stack holds a second copy of every return address, and `ret` faults when the two differ.
// ebb's switch moves the ordinary stack only, so with shadow stacks active the first return after a
// switch would crash with no word of why. Whether they are active is decided at run time (the CPU,
// the kernel and the C library must all agree, and the program must be marked for them, as
// -fcf-protection=full does), so the check is made at run time too: once per fiber creation, where it
// costs a no-op instruction and a predicted branch, never on the switch itself.
#pragma once

#include "ebb/config.hpp"
#include "ebb/error.hpp"

#include <cstdint>
#include <cstdio>
#include <string>

EBB_NAMESPACE_BEGIN
namespace detail {

[[noreturn]] EBB_NOINLINE inline void report_active_shadow_stack(std::uintptr_t ssp, const char* fiber_name) {
  char where[32];
  std::snprintf(where, sizeof where, "%#llx", static_cast<unsigned long long>(ssp));
  misuse(fiber_errc::shadow_stack_active,
         std::string("cannot create fiber '") + display_name(fiber_name) +
             "': CET shadow stacks are active in this process (shadow-stack pointer " + where +
             ") and ebb's switch does not switch them yet; the first return after a switch would "
             "fault. Build with -fcf-protection=branch or =none, or turn them off at run time "
             "(glibc: GLIBC_TUNABLES=glibc.cpu.x86_shstk=off)");
}

// `ssp` is the thread's shadow-stack pointer as arch::shadow_stack_pointer() reads it: 0 when shadow
// stacks are inactive. Tests pass other values to see the report.
inline void refuse_active_shadow_stack(std::uintptr_t ssp, const char* fiber_name) {
  if (EBB_UNLIKELY(ssp != 0)) report_active_shadow_stack(ssp, fiber_name);
}

}  // namespace detail
EBB_NAMESPACE_END
