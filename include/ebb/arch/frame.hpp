// SPDX-License-Identifier: BSL-1.0
// ebb/arch/frame.hpp — the vocabulary a port describes its switch frame in, once, for three readers.
//
// The frame a context switch leaves on a suspended stack is read by the switch itself (assembly), by
// make_initial_frame (C++, which forges one for a new fiber) and by debuggers (tools/gdb/ebb.py, which
// unwinds a suspended fiber from it, live or in a core file). Written three times, the copies drift
// apart the first time a port changes; so a port lists its slots once, as an X-macro of
// (name, offset, bytes, kind), and expands it into a C++ table (checked by arch/contract.hpp) and into
// a small read-only data object, ebb_v1_switch_frame_layout, that the gdb helper reads from the
// inferior. The object is plain data with a symbol, so it is there in a core file too (it is in the
// executable's read-only segment) and needs no debug information.
//
// Layout object, version 1 (fields in the target's byte order):
//     u8 version (1), u8 slot count, u16 frame bytes,
//     NUL-terminated name of the stack-pointer register (its value after the switch is the saved
//     stack pointer + frame bytes), padded to 4 bytes,
//     then per slot: u16 offset from the saved stack pointer, u8 bytes, u8 kind, NUL-terminated
//     register name as gdb spells it, padded to 4 bytes.
// Names are inline strings rather than pointers so the object needs no relocation and reads the same
// from a file as from memory.
#pragma once

#include "ebb/config.hpp"

#include <cstddef>

// Slot kinds: the address the switch resumes at; a callee-saved register a debugger must restore to
// unwind the suspended code; other state the switch restores that unwinding does not need (FP control).
#define EBB_FRAME_SLOT_RETURN 0
#define EBB_FRAME_SLOT_REGISTER 1
#define EBB_FRAME_SLOT_CONTROL 2

#define EBB_FRAME_LAYOUT_SYMBOL "ebb_" EBB_ASM_VERSION "_switch_frame_layout"
#define EBB_FRAME_LAYOUT_VERSION 1

// Expanders for a port's slot list SLOTS(X), X(name, offset, bytes, kind):
#define EBB_FRAME_SLOT_COUNT_ASM(name, offset, bytes, kind) "+1"
#define EBB_FRAME_SLOT_ASM(name, offset, bytes, kind)                                  \
  ".short " EBB_STRINGIFY(offset) "\n"                                                 \
  ".byte " EBB_STRINGIFY(bytes) "\n"                                                   \
  ".byte " EBB_STRINGIFY(kind) "\n"                                                    \
  ".asciz \"" #name "\"\n"                                                             \
  ".balign 4\n"
#define EBB_FRAME_SLOT_CXX(name, offset, bytes, kind) \
  ::ebb::runtime_v1::arch::frame_slot{#name, offset, bytes, kind},

// The layout object's body, for a port to wrap in EBB_ASM_RODATA_BEGIN/END.
#define EBB_FRAME_LAYOUT_ASM(SLOTS, frame_bytes, sp_name)                    \
  ".byte " EBB_STRINGIFY(EBB_FRAME_LAYOUT_VERSION) "\n"                      \
  ".byte 0" SLOTS(EBB_FRAME_SLOT_COUNT_ASM) "\n"                             \
  ".short " EBB_STRINGIFY(frame_bytes) "\n"                                  \
  ".asciz \"" sp_name "\"\n"                                                 \
  ".balign 4\n"                                                              \
  SLOTS(EBB_FRAME_SLOT_ASM)

EBB_RUNTIME_BEGIN
namespace arch {

// One saved word (or part of one) of the switch frame.
struct frame_slot {
  const char* name;     // the register, as gdb names it
  std::size_t offset;   // from the suspended context's stack pointer
  std::size_t bytes;
  int kind;             // EBB_FRAME_SLOT_*
};

}  // namespace arch
EBB_RUNTIME_END
