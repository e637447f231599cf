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
//   PE (Windows; not written yet): a DLL never merges its symbols with another module's, so each would
//   get a copy. There the macro will declare `name` as a reference bound when the module loads to the
//   one object of the process: the first module to ask creates it and publishes its address under a
//   per-process name (a named file mapping "Local\ebb-runtime-v1-<pid>" holding a table of addresses
//   keyed by the object's name, or an export of the executable found with
//   GetProcAddress(GetModuleHandle(nullptr), ...)); later modules look the address up instead of
//   creating their own. Objects are trivially constructible or constant-initialised (atomics,
//   never_destroyed<>) precisely so that the first asker can create one without running another
//   module's constructors. A Mach-O port would first check whether dyld's coalescing of weak
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

// EBB_PROCESS_WIDE(type, name) declares the process's one `name` of type `type`; an initialiser may
// follow: EBB_PROCESS_WIDE(std::atomic<int>, counter){0};
#if defined(__ELF__)
#define EBB_PROCESS_WIDE(type, name) EBB_VISIBLE inline type name
#else
#error "ebb: no process-wide object scheme for this binary format (see ebb/os/process_wide.hpp)"
#endif
