// SPDX-License-Identifier: BSL-1.0
// The DLL half of dll_test (dll_host.cpp says what is checked): a module that includes ebb on its own,
// linked -static so it carries its own copy of everything (its own C++ runtime included), as a game's
// plugin or a server's extension would.
#include <ebb/ebb.hpp>

#include <cstddef>

#define PLUGIN_API extern "C" __declspec(dllexport)

PLUGIN_API void* plugin_registry_address() { return &ebb::runtime_v1::process_registry_storage; }
PLUGIN_API void* plugin_thread_state() { return ebb::runtime_v1::this_thread(); }
PLUGIN_API std::size_t plugin_registry_size() { return ebb::stack_registry::size(); }
PLUGIN_API std::uint64_t plugin_fiber_id() { return ebb::this_fiber::id(); }

// Called from inside a fiber the host created.
PLUGIN_API void plugin_yield() { ebb::this_fiber::yield(); }

PLUGIN_API void* plugin_make_fiber(int* counter) {
  return new ebb::fiber(ebb::fiber_options().name("made-in-plugin"), [counter] {
    for (;;) {
      ++*counter;
      ebb::this_fiber::yield();
    }
  });
}
PLUGIN_API bool plugin_resume(void* fiber) { return static_cast<ebb::fiber*>(fiber)->resume(); }
// Destroys a fiber, whichever module created it (a suspended one is unwound here).
PLUGIN_API void plugin_destroy(void* fiber) { delete static_cast<ebb::fiber*>(fiber); }
