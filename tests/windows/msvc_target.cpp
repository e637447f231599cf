// SPDX-License-Identifier: BSL-1.0
// Compiled, never run, by tests/windows/run.sh with clang++ --target=x86_64-pc-windows-msvc (no MSVC
// here): the Windows port as an MSVC-ABI compiler sees it. Built three ways, each checked in the
// object: as is (clang takes the assembly: the switch's COMDAT section must be there); with
// EBB_X86_64_MS_MACHINE_CODE=1 and Control Flow Guard on (-cfguard: no assembly, and the call into the
// machine code must carry no CFG check, thanks to guard(nocf)); and with EBB_TEST_CHECKED_CALL too,
// which adds an ordinary indirect call that must carry one (so the previous check can fail).
#include <ebb/arch/switch.hpp>

void* start_fiber(void** save_sp, void* top, void (*entry)(void*), void* arg) {
  void* sp = ebb::runtime_v1::arch::make_initial_frame(top, entry, arg);
  ebb::runtime_v1::arch::ebb_switch_context(save_sp, sp);
  return sp;
}

#if defined(EBB_TEST_CHECKED_CALL)
void checked_call(void (*f)()) { f(); }
#endif
