// SPDX-License-Identifier: BSL-1.0
// ebb/arch/format/elf.hpp — how ebb's assembly is emitted into ELF objects, and the thread-state
// variable's definition there.
//
// A port's routines are ISA and calling convention; where they land in the object file is the binary
// format's business, the same for every ELF port (x86-64, AArch64, RISC-V, ...). So the directives live
// here, as string macros a port pastes around its instructions, and a port never spells a section
// name. PE/COFF (format/pe.hpp: `.text$<name>` sections with `.linkonce discard` COMDAT selection,
// .def/.scl/.type, no .size, SEH unwind directives) is a sibling offering the same macros; Mach-O
// (format/macho.hpp: __TEXT,__text with .weak_definition and .private_extern, `_`-prefixed names)
// would be another.
//
// Why each directive:
//   - Every routine is emitted, in a COMDAT group of its own, by every translation unit that includes
//     ebb; the linker keeps one per executable or shared library. Weak, so a linker that ignores the
//     group still accepts duplicates.
//   - .hidden: two shared libraries built with different ebb versions must not bind to each other's
//     copy (the version is in the name too, EBB_ASM_VERSION, but hidden also keeps the routines out of
//     the dynamic symbol table: tests/shared_libs/check_symbols.sh).
//   - .type/.size give debuggers and profilers the function's extent; .cfi_* (written by the port)
//     its unwind rules.
//   - Section and symbol types are spelled with `%` (%progbits, %function, ...), not `@`: in ARM's GNU
//     as `@` starts a comment, so `@progbits` would silently end the directive there; every ELF
//     target of GNU as and LLVM's integrated assembler accepts `%`.
//   - `.ifndef`: GCC's link-time optimisation pastes the top-level assembly of every unit into one
//     assembly file, where COMDAT cannot dedupe labels any more and a second definition would be an
//     error; the assembler (GNU as, LLVM's) skips it instead. A symbol that is only referenced or
//     declared .hidden before that point counts as undefined there, so the first copy is always kept.
#pragma once

#include "ebb/config.hpp"

#if !defined(EBB_FORMAT_ELF)
#error "ebb: arch/format/elf.hpp included for a target that is not ELF"
#endif

// Open and close a function `name` (a string literal). Between the two the port writes .cfi_startproc,
// its instructions and .cfi_endproc. `align` is the log2 alignment as a string.
// `before_label` is a directive the ISA needs right before the label (ARM's .thumb_func), or "".
#define EBB_ASM_FUNCTION_BEGIN_ISA(name, log2_align, before_label)                \
  ".ifndef " name "\n"                                                            \
  ".pushsection .text." name ",\"axG\",%progbits," name ",comdat\n"               \
  ".weak " name "\n"                                                              \
  ".hidden " name "\n"                                                            \
  ".type " name ",%function\n"                                                    \
  ".p2align " log2_align "\n"                                                     \
  before_label                                                                    \
  name ":\n"
#define EBB_ASM_FUNCTION_BEGIN(name, log2_align) EBB_ASM_FUNCTION_BEGIN_ISA(name, log2_align, "")
#define EBB_ASM_FUNCTION_END(name) \
  ".size " name ", .-" name "\n"   \
  ".popsection\n"                  \
  ".endif\n"

// Open and close a read-only data object `name`, the same way (COMDAT, weak, hidden): one copy per
// executable or shared library. Used for the switch-frame layout debuggers read (arch/contract.hpp).
#define EBB_ASM_RODATA_BEGIN(name, log2_align)                                    \
  ".ifndef " name "\n"                                                            \
  ".pushsection .rodata." name ",\"aG\",%progbits," name ",comdat\n"              \
  ".weak " name "\n"                                                              \
  ".hidden " name "\n"                                                            \
  ".type " name ",%object\n"                                                      \
  ".p2align " log2_align "\n"                                                     \
  name ":\n"
#define EBB_ASM_RODATA_END(name) EBB_ASM_FUNCTION_END(name)

// Keep `name` in the link whenever the section this appears in is kept: a relocation that writes
// nothing. The frame-layout object is referenced by no code, and --gc-sections would drop it.
#define EBB_ASM_KEEP(name) ".reloc ., BFD_RELOC_NONE, " name "\n"

// ebb's per-thread state (runtime_v1::thread_state, zero-initialised), defined here rather than as a
// C++ inline variable because only assembly refers to it (arch::thread_state_address), and a C++
// variable that no C++ code uses is never emitted. Weak, in a COMDAT group, default visibility: one per
// process, whichever library touches it (detail/context.hpp says why). Reaching it is the port's job:
// the access sequence depends on the ISA and the TLS model together.
__asm__(
    ".ifndef " EBB_THREAD_STATE_SYMBOL "\n"
    ".pushsection .tbss." EBB_THREAD_STATE_SYMBOL ",\"awTG\",%nobits," EBB_THREAD_STATE_SYMBOL ",comdat\n"
    ".weak " EBB_THREAD_STATE_SYMBOL "\n"
    ".type " EBB_THREAD_STATE_SYMBOL ",%tls_object\n"
    ".size " EBB_THREAD_STATE_SYMBOL ", " EBB_STRINGIFY(EBB_THREAD_STATE_BYTES) "\n"
    ".p2align 3\n"
    EBB_THREAD_STATE_SYMBOL ":\n"
    ".zero " EBB_STRINGIFY(EBB_THREAD_STATE_BYTES) "\n"
    ".popsection\n"
    ".endif\n");
