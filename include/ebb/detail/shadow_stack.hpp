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
#include "ebb/detail/create_report.hpp"
#include "ebb/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>

EBB_NAMESPACE_BEGIN
namespace detail {

// The refusal's message, snprintf-style (detail/create_report.hpp).
inline int format_active_shadow_stack(char* out, std::size_t size, std::uintptr_t ssp,
                                      const char* fiber_name) noexcept {
  // Converted without a cast: uintptr_t is unsigned long long on Windows (-Wuseless-cast).
  const unsigned long long pointer_text = ssp;
  return std::snprintf(out, size,
                       "cannot create fiber '%s': CET shadow stacks are active in this process (shadow-stack "
                       "pointer %#llx) and ebb's switch does not switch them yet; the first return after a "
                       "switch would fault. Build with -fcf-protection=branch or =none, or turn them off at "
                       "run time (glibc: GLIBC_TUNABLES=glibc.cpu.x86_shstk=off)",
                       display_name(fiber_name), pointer_text);
}

// `ssp` is the thread's shadow-stack pointer as arch::shadow_stack_pointer() reads it: 0 when shadow
// stacks are inactive. Tests pass other values to see the report. False once `report` was told.
template <class Report>
bool check_shadow_stack(std::uintptr_t ssp, const char* fiber_name, const Report& report) {
  if (EBB_LIKELY(ssp == 0)) return true;
  report(fiber_errc::shadow_stack_active, [ssp, fiber_name](char* out, std::size_t size) noexcept {
    return format_active_shadow_stack(out, size, ssp, fiber_name);
  });
  return false;
}

// Throws fiber_error (fiber_errc::shadow_stack_active) when they are active; aborts without exceptions.
inline void refuse_active_shadow_stack(std::uintptr_t ssp, const char* fiber_name) {
  (void)check_shadow_stack(ssp, fiber_name, raise_failure{});
}

}  // namespace detail
EBB_NAMESPACE_END
