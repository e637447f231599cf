// SPDX-License-Identifier: BSL-1.0
// ebb/os/linux/loaded_objects.hpp — does another copy of ebb's runtime in this process run a fiber on
// this thread (os/runtime_copies.hpp says when that is asked and why)?
//
// Every loaded object is asked, by name, for the function every copy of the runtime exports,
// copy_thread_state: dl_iterate_phdr lists the objects, dlopen(RTLD_NOLOAD) + dlsym find the function
// in each, and calling it answers the calling thread's state as that copy sees it.
//
// Why a function and not dlsym of the thread-local variable itself (glibc's dlsym answers a TLS
// symbol with the calling thread's instance): on i386 (glibc 2.36 under qemu-i386 7.2) that dlsym
// returned the symbol's TLS module id (2, 3), not an address, and the search dereferenced it
// (shared_libs:dlopen_local_split crashed; a 10-line C program with one __thread variable shows it
// without ebb). A plain function is found the same way by every dynamic linker (the BSDs' included),
// and reads the variable through the port's own TLS access, exactly as the copy itself does.
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

// The calling thread's state as this copy of the runtime sees it. Exported under a versioned C name,
// and emitted in every object that includes this header ("used"), though nothing in it calls it.
EBB_VISIBLE __attribute__((used)) inline void* copy_thread_state() noexcept __asm__(EBB_COPY_THREAD_STATE_SYMBOL);
inline void* copy_thread_state() noexcept { return this_thread(); }

// Does a copy of the runtime other than this one have a fiber running on this thread?
inline bool other_runtime_runs_a_fiber() noexcept {
  loaded_objects objects;
  ::dl_iterate_phdr(&collect_loaded_object, &objects);  // names first: no dlopen under its lock
  void* own = this_thread();
  for (std::size_t i = 0; i < objects.count; ++i) {
    const char* name = objects.names[i];
    void* handle = ::dlopen(name != nullptr && name[0] != '\0' ? name : nullptr, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) continue;
    auto* ask = reinterpret_cast<void* (*)() noexcept>(::dlsym(handle, EBB_COPY_THREAD_STATE_SYMBOL));
    ::dlclose(handle);  // the object stays loaded: RTLD_NOLOAD found it loaded, and took one reference
    if (ask == nullptr) continue;
    auto* state = static_cast<thread_state*>(ask());
    if (state != own && state->current != nullptr) return true;
  }
  return false;
}

}  // namespace os
EBB_RUNTIME_END
