// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/process_objects.hpp — the one table of ebb's process-wide objects in a Windows process,
// shared by every module (EXE, DLLs) that includes ebb: the PE half of os/process_wide.hpp.
//
// A DLL never merges its symbols with another module's, so each module compiles its own registry,
// pool and the rest, and nothing at link or load time makes them one. So the objects do not live in
// any module: the first module that asks for one creates a page-file-backed file mapping named
// "Local\ebb-runtime-v1-<pid>" (named per process: no other process can open it by accident, and a
// mapping with that name dies with its process), maps one view of it, publishes the view's address
// inside the mapping, and constructs objects in it. Every later module opens the mapping by name,
// reads the published address and uses that one view, so every object has one address in the process
// (objects hold pointers into themselves; runtime_identity compares addresses). The view is never
// unmapped, so an object outlives any module that used it, a DLL unloaded first included.
//
// Objects are found by name ("process_registry_storage") and checked by size: two ebb versions whose
// layout differs under the same runtime_v1 name would otherwise share memory they disagree about; that
// stops with a report instead. They are constructed under the table's spin lock by whoever asks first,
// with constant initialisers only (os/process_wide.hpp), so no other module's code runs under it.
//
// Cost: a module binds each name to its object once, while it loads (a C++ reference initialised
// dynamically, in declaration order before anything declared after it); every later access is one
// more load than a plain global. ebb's hot paths (resume, yield) touch none of these objects except
// the switch hooks.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <initializer_list>
#include <new>

#include "ebb/os/windows/windows_h.hpp"

EBB_RUNTIME_BEGIN
namespace os {

struct process_object_entry {
  char name[56];
  std::uint32_t offset;  // from the view's base
  std::uint32_t size;
};

struct process_object_table {
  static constexpr std::size_t mapping_bytes = std::size_t{1} << 20;  // page-file backed: pages on touch
  static constexpr std::size_t capacity = 128;
  static constexpr std::size_t object_alignment = 64;

  std::atomic<std::uintptr_t> view;  // the one view every module uses (0 until published)
  std::atomic<std::uint32_t> lock;
  std::uint32_t used;                // bytes handed out, header included
  std::uint32_t count;
  process_object_entry entries[capacity];
};

[[noreturn]] inline void process_object_failure(const char* what, const char* name) noexcept {
  char line[256];
  std::size_t n = 0;
  for (const char* s : {"ebb: process-wide object ", name, ": ", what, "\n"})
    while (*s && n < sizeof line - 1) line[n++] = *s++;
  DWORD written = 0;
  ::WriteFile(::GetStdHandle(STD_ERROR_HANDLE), line, static_cast<DWORD>(n), &written, nullptr);
  std::abort();
}

// The process's table, mapping it on the first call in this module.
inline process_object_table& process_objects() noexcept {
  // Module-local cache of the published view: each module asks the system once.
  static std::atomic<process_object_table*> cached{nullptr};
  if (process_object_table* table = cached.load(std::memory_order_acquire)) return *table;

  wchar_t name[64] = L"Local\\ebb-runtime-v1-";
  std::size_t at = std::wcslen(name);
  wchar_t digits[16];
  int n = 0;
  for (DWORD pid = ::GetCurrentProcessId(); pid != 0 || n == 0; pid /= 10) digits[n++] = static_cast<wchar_t>(L'0' + pid % 10);
  while (n > 0) name[at++] = digits[--n];
  name[at] = 0;

  // Creates the mapping, or opens the one another module created (same name, same size): zero-filled
  // when new, so `view` reads 0 until someone publishes.
  HANDLE mapping = ::CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, 0,
                                        static_cast<DWORD>(process_object_table::mapping_bytes), name);
  if (mapping == nullptr) process_object_failure("cannot create the process's named mapping", "table");
  void* mine = ::MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, 0);
  if (mine == nullptr) process_object_failure("cannot map the process's named mapping", "table");
  auto* through_mine = static_cast<process_object_table*>(mine);
  std::uintptr_t expected = 0;
  std::uintptr_t published = reinterpret_cast<std::uintptr_t>(mine);
  if (!through_mine->view.compare_exchange_strong(expected, published, std::memory_order_acq_rel)) {
    published = expected;  // another module's view is the one: drop ours (the mapping lives on in it)
    ::UnmapViewOfFile(mine);
    ::CloseHandle(mapping);
  }
  // The handle of the winning module stays open with its view: the mapping lasts as long as the process.
  auto* table = reinterpret_cast<process_object_table*>(published);
  cached.store(table, std::memory_order_release);
  return *table;
}

// The process's object called `name`, of `size` bytes, constructed by `construct` on first use.
inline void* process_object(const char* name, std::size_t size, void (*construct)(void*)) noexcept {
  process_object_table& table = process_objects();
  auto* base = reinterpret_cast<char*>(&table);
  while (table.lock.exchange(1, std::memory_order_acquire) != 0) ::SwitchToThread();
  void* object = nullptr;
  for (std::uint32_t i = 0; i < table.count; ++i) {
    process_object_entry& entry = table.entries[i];
    if (std::strncmp(entry.name, name, sizeof entry.name) != 0) continue;
    if (entry.size != size) {
      table.lock.store(0, std::memory_order_release);
      process_object_failure("exists with another size (two ebb versions with one runtime_v1 layout name?)", name);
    }
    object = base + entry.offset;
    break;
  }
  if (object == nullptr) {
    if (table.used == 0) table.used = sizeof(process_object_table);
    const std::size_t offset = (table.used + process_object_table::object_alignment - 1) &
                               ~(process_object_table::object_alignment - 1);
    if (table.count == process_object_table::capacity || offset + size > process_object_table::mapping_bytes ||
        std::strlen(name) >= sizeof table.entries[0].name) {
      table.lock.store(0, std::memory_order_release);
      process_object_failure("does not fit the process's table", name);
    }
    process_object_entry& entry = table.entries[table.count];
    std::strncpy(entry.name, name, sizeof entry.name - 1);
    entry.offset = static_cast<std::uint32_t>(offset);
    entry.size = static_cast<std::uint32_t>(size);
    object = base + offset;
    construct(object);
    table.used = static_cast<std::uint32_t>(offset + size);
    ++table.count;
  }
  table.lock.store(0, std::memory_order_release);
  return object;
}

}  // namespace os
EBB_RUNTIME_END

#endif  // defined(_WIN32)
