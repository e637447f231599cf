// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_ms_code_block.hpp — runs the Windows x64 switch and fiber_start from their machine
// code (arch/x86_64_ms_machine_code.hpp): for MSVC, which cannot assemble x86_64_ms.hpp's routines.
//
// Where the bytes run. Not from the image: MSVC could place them in a `.text$…` section
// (`#pragma section(…, read, execute)` with `__declspec(allocate)`), but Windows would then never
// find their unwind data. RtlLookupFunctionEntry looks a pc up in the .pdata of the image that
// contains it, and consults the dynamic function tables (RtlAddFunctionTable) only for a pc outside
// every loaded image; and an image's .pdata needs image-relative addresses, which no C++ constant can
// express. Without unwind data a throw on a fiber could not reach fiber_start, stack walks would
// stop or go wrong at the switch, and the fiber_start handler that sends uncaught exceptions to the
// process's top-level filter would never run. So the bytes are copied into memory of their own,
// made PAGE_EXECUTE_READ, and their RUNTIME_FUNCTIONs registered there, once per module.
//
// Position independence. The switch's code refers to nothing outside itself; fiber_start has two
// image-relative fields (the generator refuses any other relocation): its EBB_ASM_KEEP word after the
// ud2, never executed, left 0; and the exception handler in its UNWIND_INFO, which must be an offset
// from the block's base, non-negative and under 4 GiB, which the handler's own address (in the image,
// anywhere) need not be. So the block holds a thunk, `jmp [rip+0]` followed by the handler's absolute
// address, and the UNWIND_INFO names the thunk.
//
// Control Flow Guard. Executable memory from VirtualAlloc is a valid call target everywhere by
// default (PAGE_TARGETS_INVALID would say otherwise), so CFG checks of calls into the block pass, and
// the calls inside it (the switch's `jmp *%r11`, fiber_start's `call *%r12`, the thunk's jmp) are
// the block's own, never instrumented. x86_64_ms.hpp still calls the switch from a function compiled
// with `__declspec(guard(nocf))`, so the switch does not depend on that default.
//
// Block layout (one page, offsets below): the switch at 0; fiber_start, the thunk, the UNWIND_INFOs
// and the RUNTIME_FUNCTIONs after it, each aligned. The frames the routines build are x86_64_ms.hpp's
// (its drawings of the switch frame and of fiber_start's outermost frame hold byte for byte).
#pragma once

#include "ebb/config.hpp"

// Empty except for Windows x64 (every header compiles on its own anywhere).
#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)

#include "ebb/arch/x86_64_ms_machine_code.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "ebb/os/windows/windows_h.hpp"

EBB_RUNTIME_BEGIN
namespace arch {
namespace machine_code {

constexpr std::size_t align_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

// The handler thunk: FF /4 with ModRM 0x25 is `jmp qword ptr [rip + disp32]`; disp32 = 0 reads the
// eight bytes right after the instruction, where the loader writes the handler's address.
inline constexpr unsigned char handler_thunk[6] = {0xff, 0x25, 0x00, 0x00, 0x00, 0x00};
inline constexpr std::size_t handler_thunk_bytes = sizeof handler_thunk + 8;

inline constexpr std::size_t switch_offset = 0;
inline constexpr std::size_t fiber_start_offset = align_up(switch_offset + sizeof switch_code, 16);
inline constexpr std::size_t thunk_offset = align_up(fiber_start_offset + sizeof fiber_start_code, 16);
inline constexpr std::size_t switch_unwind_offset = align_up(thunk_offset + handler_thunk_bytes, 16);
inline constexpr std::size_t fiber_start_unwind_offset = align_up(switch_unwind_offset + sizeof switch_unwind, 4);
inline constexpr std::size_t table_offset = align_up(fiber_start_unwind_offset + sizeof fiber_start_unwind, 4);
inline constexpr std::size_t region_count =
    sizeof switch_regions / sizeof switch_regions[0] + sizeof fiber_start_regions / sizeof fiber_start_regions[0];
inline constexpr std::size_t runtime_function_bytes = 12;  // RUNTIME_FUNCTION: three DWORDs
inline constexpr std::size_t block_bytes = table_offset + region_count * runtime_function_bytes;
static_assert(block_bytes <= 4096, "the routines and their unwind data fit one page");
static_assert(fiber_start_handler_rva_offset + 4 <= sizeof fiber_start_unwind &&
                  fiber_start_layout_rva_offset + 4 <= sizeof fiber_start_code,
              "the fields the loader fills lie inside what it copies");

using switch_routine = void (*)(void** save_sp, void* target_sp);

// An installed copy. `base` is null when installing failed.
struct code_block {
  unsigned char* base = nullptr;
  switch_routine switch_context = nullptr;
  const unsigned char* fiber_start = nullptr;
  RUNTIME_FUNCTION* table = nullptr;  // what RtlAddFunctionTable was given (for RtlDeleteFunctionTable)
};

inline void put_u32(unsigned char* at, std::uint32_t v) noexcept { std::memcpy(at, &v, sizeof v); }

inline void put_regions(unsigned char*& entry, const unwind_region* regions, std::size_t count, std::size_t code,
                        std::size_t unwind) noexcept {
  for (std::size_t i = 0; i < count; ++i, entry += runtime_function_bytes) {
    put_u32(entry, static_cast<std::uint32_t>(code + regions[i].begin));
    put_u32(entry + 4, static_cast<std::uint32_t>(code + regions[i].end));
    put_u32(entry + 8, static_cast<std::uint32_t>(unwind + regions[i].unwind));
  }
}

// Copy the routines into a new executable page, with `handler` (fiber_start's exception handler,
// x86_64_ms_start_handler.hpp's ebb_fiber_start_handler) behind the thunk, and register their unwind
// data. Fails (returns an empty block) where the process may not make memory executable: under Arbitrary Code
// Guard (PROCESS_MITIGATION_DYNAMIC_CODE_POLICY) VirtualProtect refuses.
inline code_block install_code_block(const void* handler) noexcept {
  auto* base = static_cast<unsigned char*>(VirtualAlloc(nullptr, block_bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
  if (!base) return {};
  std::memcpy(base + switch_offset, switch_code, sizeof switch_code);
  std::memcpy(base + fiber_start_offset, fiber_start_code, sizeof fiber_start_code);
  std::memcpy(base + thunk_offset, handler_thunk, sizeof handler_thunk);
  const auto handler_address = reinterpret_cast<std::uint64_t>(handler);
  std::memcpy(base + thunk_offset + sizeof handler_thunk, &handler_address, sizeof handler_address);
  std::memcpy(base + switch_unwind_offset, switch_unwind, sizeof switch_unwind);
  std::memcpy(base + fiber_start_unwind_offset, fiber_start_unwind, sizeof fiber_start_unwind);
  put_u32(base + fiber_start_unwind_offset + fiber_start_handler_rva_offset, static_cast<std::uint32_t>(thunk_offset));
  unsigned char* entry = base + table_offset;
  put_regions(entry, switch_regions, sizeof switch_regions / sizeof switch_regions[0], switch_offset,
              switch_unwind_offset);
  put_regions(entry, fiber_start_regions, sizeof fiber_start_regions / sizeof fiber_start_regions[0],
              fiber_start_offset, fiber_start_unwind_offset);
  DWORD previous = 0;
  // The unwinder reads the table in place (RtlAddFunctionTable keeps the pointer), so it stays in the
  // block, read-only like the code.
  if (!VirtualProtect(base, block_bytes, PAGE_EXECUTE_READ, &previous)) {
    VirtualFree(base, 0, MEM_RELEASE);
    return {};
  }
  FlushInstructionCache(GetCurrentProcess(), base, block_bytes);  // documented as needed for new code
  auto* table = reinterpret_cast<RUNTIME_FUNCTION*>(base + table_offset);
  if (!RtlAddFunctionTable(table, static_cast<DWORD>(region_count), reinterpret_cast<DWORD64>(base))) {
    VirtualFree(base, 0, MEM_RELEASE);
    return {};
  }
  code_block block;
  block.base = base;
  block.switch_context = reinterpret_cast<switch_routine>(base + switch_offset);
  block.fiber_start = base + fiber_start_offset;
  block.table = table;
  return block;
}

// For tests: unregister and free a block no fiber uses any more.
inline void remove_code_block(code_block& block) noexcept {
  if (!block.base) return;
  RtlDeleteFunctionTable(block.table);
  VirtualFree(block.base, 0, MEM_RELEASE);
  block = code_block{};
}

}  // namespace machine_code

// The port's routines when x86_64_ms.hpp selects this form (EBB_X86_64_MS_MACHINE_CODE: MSVC).
#if defined(EBB_X86_64_MS_MACHINE_CODE) && EBB_X86_64_MS_MACHINE_CODE
// fiber_start's exception handler, defined by x86_64_ms_start_handler.hpp (x86_64_ms.hpp includes
// this file first, that one last).
extern "C" inline int ebb_fiber_start_handler(void* record, void* establisher, void* context,
                                              void* dispatcher) noexcept;

namespace machine_code {
// This module's copy, installed at its first use: a function-local static is thread-safe, and ready
// even for another unit's static initializer that switches. Nothing can run without it, so failing
// to install ends the process.
inline const code_block& installed() noexcept {
  static const code_block block = install_code_block(reinterpret_cast<const void*>(&ebb_fiber_start_handler));
  if (!block.base) std::abort();
  return block;
}
}  // namespace machine_code

// `guard(nocf)`: MSVC's (and clang's, in MS mode) "no Control Flow Guard check on this function's
// indirect calls", and noinline so that inlining into a checked caller cannot bring the check back.
#if defined(_MSC_VER)
#define EBB_X86_64_MS_CALLS_MACHINE_CODE __declspec(guard(nocf)) __declspec(noinline)
#else
#define EBB_X86_64_MS_CALLS_MACHINE_CODE __attribute__((noinline))
#endif
// What the rest of ebb calls, under the contract's name and type: a call into the copy. Its frame is
// an ordinary compiled one with its own unwind data, so walks pass through it; the cost over the
// assembled form is this call and the static's guard check, per switch.
EBB_X86_64_MS_CALLS_MACHINE_CODE inline void ebb_switch_context(void** save_sp, void* target_sp) {
  machine_code::installed().switch_context(save_sp, target_sp);
}
inline const void* fiber_start_address() noexcept { return machine_code::installed().fiber_start; }
#endif

}  // namespace arch
EBB_RUNTIME_END

#endif  // defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS)
