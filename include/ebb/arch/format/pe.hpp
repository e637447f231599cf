// SPDX-License-Identifier: BSL-1.0
// ebb/arch/format/pe.hpp — how ebb's assembly is emitted into PE/COFF objects (Windows), for compilers
// that take GNU assembly (MinGW-w64 GCC, clang targeting *-windows-gnu or *-windows-msvc).
//
// The sibling of format/elf.hpp, offering the same macros, so a port never spells a section name.
// MSVC has no inline assembly on x64: there the port runs the same routines as machine code
// (arch/x86_64_ms_code_block.hpp) and nothing here is used; the macros are plain strings, which MSVC
// reads without complaint. clang targeting x86_64-pc-windows-msvc takes this path (seen here: clang 14
// assembled the port for that target into the same COMDAT sections, borrowing MinGW's libstdc++
// headers for lack of MSVC's; tests/windows/run.sh repeats that compile).
//
// Why each directive:
//   - COMDAT: a routine lives in a section of its own, `.text$<name>`, marked `.linkonce discard`
//     (COMDAT selection "any"): every translation unit emits it and the linker keeps one copy per
//     executable or DLL. The `$` suffix makes the linker merge it into .text (sorted by suffix).
//   - Storage class 2 (external), not 3 (static): COMDAT deduplication keeps one object's section and
//     drops the others; references from every object must resolve to the kept copy by name, which
//     only an external symbol does. Measured with GNU ld 2.40: two objects each defining a static
//     (.scl 3) routine in the same `.linkonce discard` section linked without a word, and the second
//     object's call jumped into its discarded copy (a jmp to the next instruction, garbage).
//     `.type 32` says "function" to debuggers and profilers; COFF has no .size.
//   - No visibility: PE has no symbol interposition (a DLL's imports name the DLL), so "hidden" has
//     nothing to hide at run time. The one leak is MinGW's automatic export (GNU ld, and lld in MinGW
//     mode), which exports every global symbol of a DLL that marks none dllexport; an
//     `-exclude-symbols:` linker directive in .drectve keeps each routine out of the export table
//     (checked here with GNU ld 2.40: a DLL linked from an object carrying the directive for a
//     routine and not for a data symbol exported the data symbol only). MSVC-style links export
//     only what is asked for, so the directive is emitted for MinGW targets only.
//   - Unwind information is SEH's, not DWARF's: the port writes `.seh_proc`, `.seh_pushreg`,
//     `.seh_stackalloc`, `.seh_savexmm`, `.seh_setframe`, `.seh_handler`, `.seh_endprologue` and
//     `.seh_endproc` between BEGIN and END (one routine may hold several .seh_proc regions), and the
//     assembler emits the UNWIND_INFO (.xdata$<name>) and RUNTIME_FUNCTION (.pdata$<name>) into
//     COMDAT sections that follow the routine's (checked: two units linked keep one of each). The
//     operating system's unwinder (RtlVirtualUnwind, used by SEH, by the C++ exceptions of MinGW and
//     of MSVC, by debuggers and ETW stack walks) reads them: a port's prologue must be describable by
//     those codes and its epilogue one the unwinder recognises (`add rsp, n`, pops, `ret`), or a
//     region of its own that the codes describe (arch/x86_64_ms.hpp returns that way); nothing like
//     .cfi_register exists.
//   - `.ifndef`: as on ELF, GCC's link-time optimisation pastes every unit's top-level assembly into
//     one file, where the second definition of a label would be an error.
//   - Back to `.text` at the end. COFF assemblers have no .pushsection/.popsection (GNU as 2.40 rejects
//     both, and .previous), so the section the compiler was in cannot be restored; GCC emits all
//     top-level assembly first, while in .text (its default, -ftoplevel-reorder), and that is what
//     END returns to. Under -fno-toplevel-reorder GCC assumes it is still in whatever section it was
//     in before the asm: seen here, a variable defined after such an asm landed in .text. So with GCC
//     that flag is not supported on Windows.
#pragma once

#include "ebb/config.hpp"

// Empty for other object formats (like the ports, so every header compiles on its own anywhere);
// arch/switch.hpp includes a port, and through it this file, only for PE targets.
#if defined(EBB_FORMAT_PE)

// Open and close a function `name` (a string literal). Between the two the port writes .seh_proc, its
// prologue with .seh_* directives, .seh_endprologue, its instructions and .seh_endproc. `log2_align`
// is the log2 alignment as a string. `before_label` is unused on PE (ELF's ARM needs it), kept so a
// port can be written once against either format.
#define EBB_ASM_FUNCTION_BEGIN_ISA(name, log2_align, before_label)                \
  ".ifndef " name "\n"                                                            \
  ".section .text$" name ",\"xr\"\n"                                              \
  ".linkonce discard\n"                                                           \
  ".globl " name "\n"                                                             \
  ".def " name "; .scl 2; .type 32; .endef\n"                                     \
  ".p2align " log2_align "\n"                                                     \
  before_label                                                                    \
  name ":\n"
#define EBB_ASM_FUNCTION_BEGIN(name, log2_align) EBB_ASM_FUNCTION_BEGIN_ISA(name, log2_align, "")
// Keep `name` out of a MinGW DLL's automatic exports (leaves the assembler in .drectve: END follows).
#if defined(__MINGW32__)
#define EBB_ASM_NOT_EXPORTED(name)          \
  ".section .drectve\n"                     \
  ".ascii \" -exclude-symbols:" name "\"\n"
#else
#define EBB_ASM_NOT_EXPORTED(name) ""
#endif
#define EBB_ASM_FUNCTION_END(name) \
  EBB_ASM_NOT_EXPORTED(name)       \
  ".text\n"                        \
  ".endif\n"

// Open and close a read-only data object `name` the same way (COMDAT, one copy per executable or
// DLL, not exported). Used for the switch-frame layout debuggers read (arch/frame.hpp).
#define EBB_ASM_RODATA_BEGIN(name, log2_align)                                    \
  ".ifndef " name "\n"                                                            \
  ".section .rdata$" name ",\"dr\"\n"                                             \
  ".linkonce discard\n"                                                           \
  ".globl " name "\n"                                                             \
  ".p2align " log2_align "\n"                                                     \
  name ":\n"
#define EBB_ASM_RODATA_END(name) EBB_ASM_FUNCTION_END(name)

// Keep `name` in the link whenever the section this appears in is kept. ELF uses a relocation that
// writes nothing; COFF has none (GNU as 2.40: "unrecognized reloc type" for BFD_RELOC_NONE), so this
// writes a real 4-byte image-relative address (no base relocation needed in a DLL). The port places it
// where it is never executed (after the trampoline's ud2). Measured here: with `ld --gc-sections` the
// layout object was dropped without it and kept with it.
#define EBB_ASM_KEEP(name) ".rva " name "\n"

// ebb's per-thread state. Unlike ELF, nothing is defined here: the switch itself needs no thread-local
// storage, and the Windows OS layer reaches the state (os/windows/thread_block.hpp). Why that way:
//   - MinGW-w64 GCC 12 compiles `thread_local` to emulated TLS (a call to __emutls_get_address per
//     access, one variable per module), so a C++ thread_local is neither fast nor one per process.
//   - Native PE TLS (gs:[0x58] -> ThreadLocalStoragePointer[_tls_index] + .secrel32 offset, what MSVC
//     and clang emit) is fast but gives every DLL its own copy; ebb needs one per process.
//   - So a TlsAlloc slot whose index lives in the process-wide named object (one runtime per process
//     without symbol merging): the state's address is read from the TEB directly,
//     gs:[0x1480 + 8 * index] (TlsSlots, index < 64; larger indexes call TlsGetValue), the same in
//     every module, with no call (arch/x86_64_ms.hpp, thread_state_address).

#endif  // defined(EBB_FORMAT_PE)
