// SPDX-License-Identifier: BSL-1.0
// ebb/mappers/in_place.hpp — FrameMapper: where a fiber's frames live while it runs.
//
// A FrameMapper provides (checked at compile time, see policies/requirements.hpp):
//
//     static constexpr bool moves_frames;        // may a frame's address change while suspended?
//     static void on_resume(ebb::runtime_v1::fiber_context&) noexcept;   // before switching in
//     static void on_suspend(ebb::runtime_v1::fiber_context&) noexcept;  // after it switched out
//
// in_place, the default, runs frames in the fiber's own reserved range and never moves them. C++
// keeps pointers into the stack where no scan can find them (a local std::map's nodes point back at
// its header; intrusive wait-queue nodes live on the waiter's stack), so moving frames without the
// compiler's pointer maps that Go has would corrupt memory silently. Growth and shrinking therefore
// happen in place: the kernel commits pages as they are touched, ebb decommits them at shrink points.
// Contract: none. Any C++ code and any system call is safe, and a fiber may resume on another thread.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"

EBB_NAMESPACE_BEGIN

struct in_place {
  static constexpr bool moves_frames = false;
  static void on_resume(runtime_v1::fiber_context&) noexcept {}
  static void on_suspend(runtime_v1::fiber_context&) noexcept {}
};

EBB_NAMESPACE_END
