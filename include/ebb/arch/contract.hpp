// SPDX-License-Identifier: BSL-1.0
// ebb/arch/contract.hpp — what every architecture port provides, checked at compile time.
//
// Included by arch/switch.hpp after the selected port, so a port that forgets a function, changes a
// signature or lays out an impossible frame fails here, at the first translation unit that includes
// ebb, with a message saying which rule it broke, instead of somewhere in fiber.hpp or at run time.
// What cannot be checked by the compiler (that the switch really preserves the callee-saved
// registers, that a new fiber starts with an aligned stack, that backtraces stop at its entry) is
// checked at run time by tests/unit/test_arch_contract.cpp, which every port must pass.
//
// In namespace ebb::runtime_v1::arch (runtime_v1, not the configuration-tagged namespace: the routines
// and their frame do not depend on the build configuration), every port provides:
//
//   void ebb_switch_context(void** save_sp, void* target_sp);
//       Save the callee-saved state of the calling context on its stack, store the resulting stack
//       pointer to *save_sp, load target_sp and restore the context saved there (or a frame made by
//       make_initial_frame), returning into it. An extern "C" routine with a versioned, hidden asm
//       name (ebb_v1_<arch>_switch), emitted through arch/format/.
//   void* make_initial_frame(void* top, void (*entry)(void*), void* arg) noexcept;
//       Forge, below the stack_alignment-aligned `top`, a frame the switch resumes as a call of
//       entry(arg) from a trampoline whose unwind information ends backtraces; returns its sp.
//   initial_frame_bytes        the size of that frame and of every switch frame; a multiple of 16.
//   stack_alignment            the ABI's stack alignment at a call.
//   frame_slots[], frame_return_offset
//                              the frame layout (arch/frame.hpp), also emitted as the layout object
//                              debuggers read (EBB_FRAME_LAYOUT_SYMBOL).
//   void* stack_pointer() noexcept;                   roughly the caller's stack pointer
//   std::uintptr_t shadow_stack_pointer() noexcept;   0 unless hardware shadow stacks are active
//   void* thread_state_address() noexcept;            &ebb's thread state, recomputed at every call
//   void* interrupted_stack_pointer(const void* ucontext) noexcept;   from a signal handler's context
//   void cpu_relax() noexcept;                        the spin-wait hint (pause, yield, ...)
#pragma once

// The selected port, when this header is included on its own (switch.hpp includes it last; either
// order ends with the port declared before the checks below).
#include "ebb/arch/switch.hpp"

#include "ebb/arch/frame.hpp"
#include "ebb/config.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

EBB_RUNTIME_BEGIN
namespace arch {
namespace contract {

// Signatures: exact function types, noexcept included where the contract promises it (the switch
// itself is not noexcept: it is an assembly routine the compiler must not assume anything about).
static_assert(std::is_same<decltype(&ebb_switch_context), void (*)(void**, void*)>::value,
              "ebb port: ebb_switch_context must be void(void** save_sp, void* target_sp)");
static_assert(std::is_same<decltype(&make_initial_frame), void* (*)(void*, void (*)(void*), void*) noexcept>::value,
              "ebb port: make_initial_frame must be void*(void* top, void (*entry)(void*), void* arg) noexcept");
static_assert(std::is_same<decltype(&stack_pointer), void* (*)() noexcept>::value,
              "ebb port: stack_pointer must be void*() noexcept");
static_assert(std::is_same<decltype(&shadow_stack_pointer), std::uintptr_t (*)() noexcept>::value,
              "ebb port: shadow_stack_pointer must be std::uintptr_t() noexcept");
static_assert(std::is_same<decltype(&thread_state_address), void* (*)() noexcept>::value,
              "ebb port: thread_state_address must be void*() noexcept");
static_assert(std::is_same<decltype(&interrupted_stack_pointer), void* (*)(const void*) noexcept>::value,
              "ebb port: interrupted_stack_pointer must be void*(const void* ucontext) noexcept");
static_assert(std::is_same<decltype(&cpu_relax), void (*)() noexcept>::value,
              "ebb port: cpu_relax must be void() noexcept");

// Constants.
static_assert(std::is_same<std::remove_cv_t<decltype(initial_frame_bytes)>, std::size_t>::value,
              "ebb port: initial_frame_bytes must be a std::size_t constant");
static_assert(initial_frame_bytes % 16 == 0,
              "ebb port: initial_frame_bytes must be a multiple of 16 (a new fiber's stack stays aligned)");
static_assert(stack_alignment >= 2 * sizeof(void*) && (stack_alignment & (stack_alignment - 1)) == 0,
              "ebb port: stack_alignment must be a power of two of at least two words");
static_assert(initial_frame_bytes % stack_alignment == 0,
              "ebb port: the switch frame must keep the stack aligned");

// The frame layout: the resume address in the last word (make_initial_frame and debuggers rely on
// it: the stack pointer after the switch is the saved one plus the frame), every slot inside the
// frame, no two slots overlapping, and no slot kind unknown to the debugger helper.
inline constexpr std::size_t slot_count = sizeof(frame_slots) / sizeof(frame_slots[0]);

constexpr bool return_slot_is_last_word() {
  std::size_t returns = 0;
  for (std::size_t i = 0; i < slot_count; ++i) {
    if (frame_slots[i].kind != EBB_FRAME_SLOT_RETURN) continue;
    ++returns;
    if (frame_slots[i].offset != frame_return_offset || frame_slots[i].bytes != sizeof(void*)) return false;
  }
  return returns == 1 && frame_return_offset + sizeof(void*) == initial_frame_bytes;
}
constexpr bool slots_inside_frame() {
  for (std::size_t i = 0; i < slot_count; ++i)
    if (frame_slots[i].bytes == 0 || frame_slots[i].offset + frame_slots[i].bytes > initial_frame_bytes) return false;
  return true;
}
constexpr bool slots_disjoint() {
  for (std::size_t i = 0; i < slot_count; ++i)
    for (std::size_t j = i + 1; j < slot_count; ++j) {
      const frame_slot& a = frame_slots[i];
      const frame_slot& b = frame_slots[j];
      if (a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes) return false;
    }
  return true;
}
constexpr bool slot_kinds_known() {
  for (std::size_t i = 0; i < slot_count; ++i)
    if (frame_slots[i].kind < EBB_FRAME_SLOT_RETURN || frame_slots[i].kind > EBB_FRAME_SLOT_CONTROL) return false;
  return true;
}
constexpr bool register_slots_are_words() {
  for (std::size_t i = 0; i < slot_count; ++i)
    if (frame_slots[i].kind == EBB_FRAME_SLOT_REGISTER &&
        (frame_slots[i].bytes != sizeof(void*) || frame_slots[i].offset % sizeof(void*) != 0))
      return false;
  return true;
}
static_assert(slot_count < 256, "ebb port: the layout object counts slots in one byte");
static_assert(initial_frame_bytes < 65536, "ebb port: the layout object holds offsets in 16 bits");
static_assert(return_slot_is_last_word(),
              "ebb port: exactly one return-address slot, the frame's last word, at frame_return_offset");
static_assert(slots_inside_frame(), "ebb port: every frame slot must lie inside initial_frame_bytes");
static_assert(slots_disjoint(), "ebb port: frame slots overlap");
static_assert(slot_kinds_known(), "ebb port: a frame slot has a kind arch/frame.hpp does not define");
static_assert(register_slots_are_words(), "ebb port: saved general registers take aligned whole words");

}  // namespace contract
}  // namespace arch
EBB_RUNTIME_END
