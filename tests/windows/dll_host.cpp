// SPDX-License-Identifier: BSL-1.0
// One runtime per process across modules that never share symbols: this program and dll_plugin.dll
// each include ebb and are each linked -static, so on PE nothing merges their copies of ebb's inline
// variables. ebb's process-wide objects live in a per-process named mapping and its thread state
// behind one TLS slot published there (include/ebb/os/windows/process_objects.hpp, thread_block.hpp),
// so both modules must see the same registry and the same thread state, and a fiber made by either
// must be resumed, yielded and destroyed by the other. With a runtime per module, the plugin's
// yield would find no running fiber (fiber_error: outside any fiber) and the registries would differ.
#include <ebb/ebb.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "check_report.hpp"

using check_report::check;

#define PLUGIN_API extern "C" __declspec(dllimport)
PLUGIN_API void* plugin_registry_address();
PLUGIN_API void* plugin_thread_state();
PLUGIN_API std::size_t plugin_registry_size();
PLUGIN_API std::uint64_t plugin_fiber_id();
PLUGIN_API void plugin_yield();
PLUGIN_API void* plugin_make_fiber(int* counter);
PLUGIN_API bool plugin_resume(void* fiber);
PLUGIN_API void plugin_destroy(void* fiber);

namespace {
struct sentinel {
  bool* destroyed;
  ~sentinel() { *destroyed = true; }
};
}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IONBF, 0);
  check(plugin_registry_address() == &ebb::runtime_v1::process_registry_storage, "objects",
        "the plugin's registry is the program's (one object in the process's mapping)");
  check(plugin_thread_state() == ebb::runtime_v1::this_thread(), "objects",
        "the plugin's thread state is the program's (one TLS slot)");

  int steps = 0;
  std::uint64_t id_in_plugin = 0;
  ebb::fiber own([&] {
    id_in_plugin = plugin_fiber_id();
    for (int i = 0; i < 3; ++i) {
      ++steps;
      plugin_yield();
    }
  });
  bool yielded_through_plugin = true;
  try {
    while (own.resume()) {
    }
  } catch (const std::exception& e) {
    yielded_through_plugin = false;
    check_report::info(std::string("resume threw: ") + e.what());
  }
  check(yielded_through_plugin && steps == 3, "fibers",
        "a fiber of the program yields from inside the plugin (" + std::to_string(steps) + " of 3 steps)");
  check(id_in_plugin == own.id(), "fibers", "the plugin's this_fiber::id() is the running fiber's");

  const std::size_t before = ebb::stack_registry::size();
  int counter = 0;
  void* made = plugin_make_fiber(&counter);
  auto* theirs = static_cast<ebb::fiber*>(made);
  const bool first = theirs->resume();
  const bool second = theirs->resume();
  check(first && second && counter == 2, "fibers",
        "the program resumes a fiber the plugin made (" + std::to_string(counter) + " of 2 steps)");
  check(ebb::stack_registry::size() == before + 1 && plugin_registry_size() == before + 1, "registry",
        "both modules count the plugin's fiber in the one registry");
  delete theirs;  // suspended: unwound by the program
  check(ebb::stack_registry::size() == before && plugin_registry_size() == before, "registry",
        "the program destroys the plugin's suspended fiber; both registries show it gone");

  bool destroyed = false;
  auto* mine = new ebb::fiber([&] {
    sentinel s{&destroyed};
    ebb::this_fiber::yield();
  });
  mine->resume();
  plugin_destroy(mine);  // suspended: unwound by the plugin
  check(destroyed, "fibers", "the plugin destroys the program's suspended fiber, unwinding its frames");
  void* again = plugin_make_fiber(&counter);
  check(plugin_resume(again) && counter == 3, "fibers",
        "the plugin resumes its own fiber while the program's runtime is the same one");
  plugin_destroy(again);
  return check_report::summary();
}
