// SPDX-License-Identifier: BSL-1.0
// ebb/os/runtime_copies.hpp — noticing a process that holds more than one copy of ebb's runtime.
//
// The process-wide state (the thread state, the pool, the registry, the fault handler) is one per
// process because every library exports it with default visibility and the dynamic linker binds all
// references to the first definition in the global scope. A library loaded with dlopen(RTLD_LOCAL)
// while no loaded object has already put ebb's runtime in the global scope cannot bind to another
// library's copy: it gets its own. Two such libraries each run their own runtime, and a fiber that one
// created cannot be yielded, destroyed or shrunk by the other. That cannot be repaired after loading,
// so it is detected where it shows and reported with the remedy:
//   - this_fiber::... called where this copy sees no running fiber, while another copy does;
//   - a fiber destroyed by a copy other than the one that created it (its registry is elsewhere).
// The search (dl_iterate_phdr, dlopen(RTLD_NOLOAD), dlsym) runs only on those error paths.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"

#include <cstddef>

#include <dlfcn.h>
#include <link.h>

EBB_RUNTIME_BEGIN

// Its address names the copy of the runtime: one per process when every copy was merged, one per
// copy otherwise. Each fiber records the copy that created it.
EBB_VISIBLE inline char runtime_identity = 0;

inline constexpr const char* runtime_split_remedy =
    "this process holds two copies of ebb's runtime (a library that includes ebb was loaded with "
    "dlopen(RTLD_LOCAL) before any copy was in the global scope); load such libraries with "
    "dlopen(path, RTLD_NOW | RTLD_GLOBAL) (the first one suffices), or link one into the program";

namespace os {

struct loaded_objects {
  static constexpr std::size_t capacity = 512;
  const char* names[capacity];
  std::size_t count = 0;
};

inline int collect_loaded_object(dl_phdr_info* info, std::size_t, void* data) noexcept {
  auto& objects = *static_cast<loaded_objects*>(data);
  if (objects.count < loaded_objects::capacity) objects.names[objects.count++] = info->dlpi_name;
  return 0;
}

// Does a copy of the runtime other than this one have a fiber running on this thread?
inline bool other_runtime_runs_a_fiber() noexcept {
  loaded_objects objects;
  ::dl_iterate_phdr(&collect_loaded_object, &objects);  // names first: no dlopen under its lock
  void* own = this_thread();
  for (std::size_t i = 0; i < objects.count; ++i) {
    const char* name = objects.names[i];
    void* handle = ::dlopen(name != nullptr && name[0] != '\0' ? name : nullptr, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) continue;
    // For a thread-local symbol dlsym answers the calling thread's instance.
    auto* state = static_cast<thread_state*>(::dlsym(handle, EBB_THREAD_STATE_SYMBOL));
    ::dlclose(handle);
    if (state != nullptr && state != own && state->current != nullptr) return true;
  }
  return false;
}

}  // namespace os
EBB_RUNTIME_END
