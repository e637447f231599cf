// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/loaded_objects.hpp — does another copy of ebb's runtime in this process run a fiber on
// this thread (os/runtime_copies.hpp says when that is asked and why)?
//
// Every loaded object is asked, by name, for the thread-state symbol: dl_iterate_phdr lists them,
// dlopen(RTLD_NOLOAD) + dlsym look the symbol up in each, and for a thread-local symbol glibc's dlsym
// answers the calling thread's instance. (The BSDs have the same calls; whether their dlsym resolves
// TLS the same way is for that port to check.)
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"

#include <cstddef>

#include <dlfcn.h>
#include <link.h>

EBB_RUNTIME_BEGIN
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
