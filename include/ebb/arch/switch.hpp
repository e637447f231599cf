// SPDX-License-Identifier: BSL-1.0
// ebb/arch/switch.hpp — picks the context-switch routine for the target.
//
// Every arch header provides, in ebb::runtime_v1::arch:
//   void ebb_switch_context(void** save_sp, void* target_sp);   save here, resume there
//   void* make_initial_frame(void* top, void (*entry)(void*), void* arg);
//   void* stack_pointer();
//   std::uintptr_t shadow_stack_pointer();   0 unless hardware shadow stacks are active
//   initial_frame_bytes
#pragma once

#include "ebb/config.hpp"

#include <cstddef>
#include <cstdint>

#if defined(EBB_ARCH_X86_64_SYSV_ELF)
#include "ebb/arch/x86_64_sysv_elf.hpp"
#endif
