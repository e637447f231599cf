// SPDX-License-Identifier: BSL-1.0
// ebb/switch_hooks.hpp — ebb::set_switch_hooks: profiler and tracer hooks on every switch.
//
// Only with EBB_SWITCH_HOOKS=1 (CMake -DEBB_SWITCH_HOOKS=ON, meson -Dswitch_hooks=true), in every
// translation unit that resumes or switches fibers: a unit built without them reports nothing, and
// a tracer would see unpaired events. Without it set_switch_hooks is not declared, so a tracer
// connected to a build that would never call it does not compile. Semantics: detail/switch_hooks.hpp
// and docs/api.md.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/switch_hooks.hpp"

#include <atomic>

EBB_NAMESPACE_BEGIN

#if EBB_SWITCH_HOOKS
using switch_hook = runtime_v1::switch_hook;

// on_enter(id, name) when a fiber starts running on the calling thread, on_leave(id, name) when it
// stops; every on_enter is followed by exactly one on_leave of the same fiber on the same thread,
// and no thread has two fibers entered at once. Process-wide; (nullptr, nullptr) turns them off, and
// a null one of the two is a no-op. Set them while no fiber runs (before the first resume, after
// the last): a fiber running at the change has an enter without a leave, or a leave without an enter.
inline void set_switch_hooks(switch_hook on_enter, switch_hook on_leave) noexcept {
  if (on_enter == nullptr && on_leave == nullptr) {
    runtime_v1::switch_hook_enter.store(nullptr, std::memory_order_release);
    runtime_v1::switch_hook_leave.store(nullptr, std::memory_order_release);
    return;
  }
  // The switch path tests on_enter: store leave first, so a switch that sees on_enter sees both.
  using runtime_v1::no_switch_hook;
  runtime_v1::switch_hook_leave.store(on_leave ? on_leave : &no_switch_hook, std::memory_order_release);
  runtime_v1::switch_hook_enter.store(on_enter ? on_enter : &no_switch_hook, std::memory_order_release);
}
#endif

EBB_NAMESPACE_END
