// SPDX-License-Identifier: BSL-1.0
// ebb/os/per_thread.hpp — how ebb declares an object of which every thread has its own.
//
// EBB_PER_THREAD(type, variable, accessor) declares one value-initialised, trivially destructible
// `type` per thread, reached with accessor() (a reference valid on the calling thread only; never
// carried across a switch, since a fiber may resume elsewhere):
//   ELF: a C++ thread_local named `variable`, default visibility, so every library of the process
//        shares it (os/process_wide.hpp) and tools find it by name (tests/shared_libs/check_symbols.sh);
//   Windows: an object in the thread's block (os/windows/thread_block.hpp says why not thread_local:
//        modules do not share them, and MinGW's emulated ones are freed before thread_local destructors).
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/process_wide.hpp"

#if defined(_WIN32)
#include "ebb/os/windows/thread_block.hpp"

#include <atomic>
#include <cstdint>
#include <new>

#define EBB_PER_THREAD(type, variable, accessor)                                                     \
  EBB_PROCESS_WIDE(std::atomic<std::uint32_t>, variable##_placement, {0});                          \
  inline type& accessor() noexcept {                                                                 \
    return *static_cast<type*>(::ebb::runtime_v1::os::per_thread_object(                            \
        variable##_placement, sizeof(type), alignof(type), [](void* at) noexcept { ::new (at) type{}; })); \
  }
#else
#define EBB_PER_THREAD(type, variable, accessor) \
  EBB_VISIBLE inline thread_local type variable{}; \
  inline type& accessor() noexcept { return variable; }
#endif
