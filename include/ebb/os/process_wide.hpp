// SPDX-License-Identifier: BSL-1.0
// ebb/os/process_wide.hpp — how an object comes to exist once per process, however many modules
// (executable, shared libraries, plugins) include ebb.
//
// ebb is header-only: every module that includes it compiles its own definition of the registry, the
// pool, the fault handler's state and the rest. "One runtime per process" therefore needs the loader's
// help, and every such object is declared through EBB_PROCESS_WIDE so that the help is asked for in one
// place, per binary format:
//
//   ELF (Linux, the BSDs): an inline variable with default visibility. Every module exports it and the
//   dynamic linker binds all references to the first definition in the global scope, so every module
//   uses one object. The symbol keeps its plain C++ name (tools/gdb/ebb.py and docs/debugging.md find
//   `ebb::runtime_v1::process_registry_storage` and the others by it). Access costs what any global
//   costs; the macro expands to exactly the declaration ebb had before it existed.
//   What defeats it is a module loaded with dlopen(RTLD_LOCAL) before any copy was global:
//   os/runtime_copies.hpp notices that and names the remedy.
//
//   PE (Windows): a DLL never merges its symbols with another module's, so each would get a copy.
//   There `name` is a reference, bound while the module loads to the process's one object, which
//   lives in a per-process named file mapping (os/windows/process_objects.hpp): the first module to
//   ask constructs it there, later modules find it by name. One more load per access than a global.
//   The initialiser is the macro's third argument so that whoever asks first can construct the object
//   in place; objects are trivially constructible or constant-initialised (atomics, never_destroyed<>)
//   so that doing so runs no other module's code.
//   A Mach-O port would first check whether dyld's coalescing of weak
//   definitions gives the ELF behaviour under two-level namespaces.
//
// thread_local objects do not go through this macro: thread_state (detail/context.hpp), the fiber-id
// and thread-serial blocks, fiber locals, the stack cache and the signal stack owner are read on the
// resume, yield and creation paths, where today's single TLS access must stay one instruction. On ELF
// default visibility merges them too. A PE port has to choose, per object, between a TLS slot
// published process-wide (TlsAlloc, one extra indirection on those paths) and accepting one instance
// per module; that is its decision to measure, not this header's.
#pragma once

#include "ebb/config.hpp"

// EBB_PROCESS_WIDE(type, name, {initialiser}) declares the process's one `name` of type `type`,
// constant-initialised by the braced initialiser: EBB_PROCESS_WIDE(std::atomic<int>, counter, {0});
#if defined(__ELF__)
#define EBB_PROCESS_WIDE(type, name, ...) EBB_VISIBLE inline type name __VA_ARGS__
#elif defined(_WIN32)
#include "ebb/os/windows/process_objects.hpp"
#define EBB_PROCESS_WIDE(type, name, ...)                                                           \
  inline type& name = *static_cast<type*>(::ebb::runtime_v1::os::process_object(                  \
      #name, sizeof(type), [](void* at) noexcept {                                                   \
        static_assert(alignof(type) <= ::ebb::runtime_v1::os::process_object_table::object_alignment, \
                      "ebb: a process-wide object needs more alignment than the table gives");       \
        ::new (at) type __VA_ARGS__;                                                                 \
      }))
#else
#error "ebb: no process-wide object scheme for this binary format (see ebb/os/process_wide.hpp)"
#endif
