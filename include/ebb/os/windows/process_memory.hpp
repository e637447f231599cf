// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/process_memory.hpp — the process's working set, as Windows counts it: what the tests and
// benchmarks read where Linux has /proc/self/status (VmRSS, VmHWM). Not used by ebb itself.
//
// GetProcessMemoryInfo through kernel32's K32 export (Windows 7 and later, and wine), so that no
// psapi import library is needed. Under wine the figures are Linux's RSS of the wine process.
#pragma once

#if defined(_WIN32)
#include "ebb/os/windows/windows_h.hpp"

#include <cstddef>

namespace ebb {
namespace windows_process_memory {  // outside ebb's versioned namespace: it needs no ebb configuration

struct working_set {
  std::size_t current = 0;  // bytes
  std::size_t peak = 0;
  bool known = false;
};

inline working_set process_working_set() noexcept {
  struct counters_t {  // PROCESS_MEMORY_COUNTERS, without <psapi.h>
    DWORD cb;
    DWORD page_fault_count;
    SIZE_T peak_working_set, working_set, quota_peak_paged, quota_paged, quota_peak_nonpaged, quota_nonpaged,
        pagefile, peak_pagefile;
  } counters{};
  counters.cb = sizeof counters;
  using query_fn = BOOL(WINAPI*)(HANDLE, counters_t*, DWORD);
  static const auto query = reinterpret_cast<query_fn>(reinterpret_cast<void*>(
      ::GetProcAddress(::GetModuleHandleW(L"kernel32.dll"), "K32GetProcessMemoryInfo")));
  working_set result;
  if (query != nullptr && query(::GetCurrentProcess(), &counters, sizeof counters)) {
    result.current = counters.working_set;
    result.peak = counters.peak_working_set;
    result.known = true;
  }
  return result;
}

}  // namespace windows_process_memory
}  // namespace ebb
#endif  // defined(_WIN32)
