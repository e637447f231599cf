#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""Regenerate include/ebb/arch/x86_64_ms_machine_code.hpp from the MinGW-assembled switch.

MSVC has no x64 inline assembly, so for it the Windows routines ship as bytes. Those bytes must be
the assembler's, never typed in: this script compiles a translation unit holding
include/ebb/arch/x86_64_ms.hpp with MinGW-w64, reads the COFF object itself (no objdump output to
parse, whose format drifts between binutils releases) and writes, per routine, its code from the
label to the end of its last unwind region, its unwind regions (the .pdata entries) and its
UNWIND_INFO bytes (.xdata).

The routines must stay position-independent for the copy to work. So every relocation in their
code and unwind data is checked against the two this port is known to have, and anything else stops
the script: a new one needs the loader (arch/x86_64_ms_code_block.hpp) to learn how to fill it.

    scripts/gen-windows-machine-code.py            rewrite the header
    scripts/gen-windows-machine-code.py --check    exit 1 if the header differs from what the
                                                   assembler produces now (tests/windows/run.sh)
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, "include", "ebb", "arch", "x86_64_ms_machine_code.hpp")
ASM_VERSION = "v1"  # config.hpp's EBB_ASM_VERSION: the routines' names carry it
SWITCH = "ebb_%s_x86_64_ms_switch" % ASM_VERSION
START = "ebb_%s_x86_64_ms_fiber_start" % ASM_VERSION
HANDLER = "ebb_%s_x86_64_ms_fiber_start_handler" % ASM_VERSION
LAYOUT = "ebb_%s_switch_frame_layout" % ASM_VERSION
IMAGE_REL_AMD64_ADDR32NB = 3

# The relocations the loader knows how to fill: (routine, "code" or "unwind", symbol).
EXPECTED_FIXUPS = {
    (START, "code", LAYOUT),      # EBB_ASM_KEEP's .rva after fiber_start's ud2, never executed
    (START, "unwind", HANDLER),   # .seh_handler: the language-specific handler's RVA
}


class Coff:
    def __init__(self, data):
        self.data = data
        (machine, nsections, _, symtab, nsymbols, opt_size, _) = struct.unpack_from("<HHIIIHH", data, 0)
        if machine != 0x8664:
            sys.exit("not an x86-64 COFF object (machine %#x)" % machine)
        strtab = symtab + 18 * nsymbols
        self.strings = data[strtab:]
        self.sections = []
        for i in range(nsections):
            off = 20 + opt_size + 40 * i
            raw_name = data[off:off + 8]
            size, raw_ptr, reloc_ptr, nrelocs = self._section_fields(off)
            name = raw_name.rstrip(b"\0").decode()
            if name.startswith("/"):
                name = self._string(int(name[1:]))
            self.sections.append({"name": name, "size": size, "raw": raw_ptr, "relocs": (reloc_ptr, nrelocs)})
        self.symbols = []
        i = 0
        while i < nsymbols:
            off = symtab + 18 * i
            raw_name = data[off:off + 8]
            value, section, _, _, naux = struct.unpack_from("<IhHBB", data, off + 8)
            if raw_name[:4] == b"\0\0\0\0":
                name = self._string(struct.unpack_from("<I", raw_name, 4)[0])
            else:
                name = raw_name.rstrip(b"\0").decode()
            self.symbols.append({"name": name, "value": value, "section": section})
            self.symbols.extend([None] * naux)
            i += 1 + naux

    def _section_fields(self, off):
        size, = struct.unpack_from("<I", self.data, off + 16)
        raw_ptr, reloc_ptr = struct.unpack_from("<II", self.data, off + 20)
        nrelocs, = struct.unpack_from("<H", self.data, off + 32)
        return size, raw_ptr, reloc_ptr, nrelocs

    def _string(self, offset):
        end = self.strings.index(b"\0", offset)
        return self.strings[offset:end].decode()

    def section(self, name):
        found = [s for s in self.sections if s["name"] == name]
        if len(found) != 1:
            sys.exit("expected one section %s, found %d" % (name, len(found)))
        return found[0]

    def contents(self, section):
        return self.data[section["raw"]:section["raw"] + section["size"]]

    def relocations(self, section):
        ptr, count = section["relocs"]
        out = []
        for i in range(count):
            offset, symbol, kind = struct.unpack_from("<IIH", self.data, ptr + 10 * i)
            out.append((offset, self.symbols[symbol]["name"], kind))
        return out


def assemble(cxx, workdir):
    source = os.path.join(workdir, "routines.cpp")
    obj = os.path.join(workdir, "routines.o")
    with open(source, "w") as f:
        f.write('#include "ebb/arch/switch.hpp"\n')
    subprocess.run([cxx, "-std=c++17", "-O2", "-c", "-I", os.path.join(ROOT, "include"), source, "-o", obj],
                   check=True)
    with open(obj, "rb") as f:
        return Coff(f.read())


def routine(coff, name):
    text = coff.section(".text$" + name)
    xdata = coff.section(".xdata$" + name)
    pdata = coff.section(".pdata$" + name)
    code_all = coff.contents(text)
    unwind = coff.contents(xdata)
    entries = coff.contents(pdata)
    relocs = {off: (sym, kind) for off, sym, kind in coff.relocations(pdata)}
    regions = []
    for i in range(0, len(entries), 12):
        begin, end, info = struct.unpack_from("<III", entries, i)
        want = [(".text$" + name, IMAGE_REL_AMD64_ADDR32NB)] * 2 + [(".xdata$" + name, IMAGE_REL_AMD64_ADDR32NB)]
        if [relocs.get(i), relocs.get(i + 4), relocs.get(i + 8)] != want:
            sys.exit("%s: .pdata entry %d is not (code, code, unwind) of its own sections" % (name, i // 12))
        regions.append((begin, end, info))
    if regions[0][0] != 0 or any(a[1] != b[0] for a, b in zip(regions, regions[1:])):
        sys.exit("%s: the unwind regions do not tile the routine from its label" % name)
    symbols = [s for s in coff.symbols if s and s["name"] == name]
    if len(symbols) != 1 or symbols[0]["value"] != 0:
        sys.exit("%s: the routine's label is not at the start of its section" % name)
    code = code_all[:regions[-1][1]]
    fixups = []
    for where, section, limit in (("code", text, len(code)), ("unwind", xdata, len(unwind))):
        for off, sym, kind in coff.relocations(section):
            if (name, where, sym) not in EXPECTED_FIXUPS or kind != IMAGE_REL_AMD64_ADDR32NB or off + 4 > limit:
                sys.exit("%s: unexpected relocation in its %s at %#x against %s (type %d): the machine-code "
                         "copy would not be position-independent" % (name, where, off, sym, kind))
            data = code if where == "code" else unwind
            if data[off:off + 4] != b"\0\0\0\0":
                sys.exit("%s: relocation at %#x carries an addend" % (name, off))
            fixups.append((where, off, sym))
    return {"code": code, "regions": regions, "unwind": unwind, "fixups": fixups}


def byte_rows(data, indent="    "):
    rows = []
    for i in range(0, len(data), 16):
        rows.append(indent + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",")
    return "\n".join(rows)


def render(routines):
    start_fix = {(w, s): off for w, off, s in routines[START]["fixups"]}
    found = {(START, w, s) for (w, s) in start_fix} | {(SWITCH, w, s) for w, _, s in routines[SWITCH]["fixups"]}
    if found != EXPECTED_FIXUPS:
        sys.exit("relocations differ from the expected ones: %s" % sorted(found ^ EXPECTED_FIXUPS))
    out = []
    out.append("""// SPDX-License-Identifier: BSL-1.0
// ebb/arch/x86_64_ms_machine_code.hpp — the Windows x64 switch and fiber_start as machine code.
//
// GENERATED by scripts/gen-windows-machine-code.py from arch/x86_64_ms.hpp as MinGW-w64 assembles it;
// do not edit: change the assembly and run the script (tests/windows/run.sh fails while the two
// differ, and tests/windows/machine_code_test.cpp compares these bytes with the linked routines).
// For MSVC, which has no x64 inline assembly: arch/x86_64_ms_code_block.hpp copies the bytes into
// executable memory and registers their unwind data. Plain constants, so every compiler reads them.
//
// Frame layouts: x86_64_ms.hpp's drawings (the switch frame, fiber_start's outermost frame) hold
// for these bytes unchanged. Per routine: `code`, from its label to the end of its last unwind
// region; `regions`, its RUNTIME_FUNCTIONs as offsets (begin and end in `code`, UNWIND_INFO in
// `unwind`); `unwind`, its UNWIND_INFO bytes. Two 4-byte fields are image-relative addresses the
// linker fills in the assembled form and are 0 here; the loader fills or ignores them (*_offset).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ebb {
namespace runtime_v1 {
namespace arch {
namespace machine_code {

struct unwind_region {
  std::uint32_t begin;   // RUNTIME_FUNCTION::BeginAddress, from the routine's first byte
  std::uint32_t end;     // RUNTIME_FUNCTION::EndAddress, likewise (exclusive)
  std::uint32_t unwind;  // RUNTIME_FUNCTION::UnwindData, from the routine's first UNWIND_INFO byte
};
""")
    for name, prefix, title in ((SWITCH, "switch", "the switch: ebb_switch_context(save_sp, target_sp)"),
                                (START, "fiber_start", "fiber_start: entered one byte in by a new fiber's first switch")):
        r = routines[name]
        out.append("// %s (%s)" % (title, name))
        out.append("inline constexpr unsigned char %s_code[] = {\n%s\n};" % (prefix, byte_rows(r["code"])))
        regions = ", ".join("{0x%x, 0x%x, 0x%x}" % reg for reg in r["regions"])
        out.append("inline constexpr unwind_region %s_regions[] = {%s};" % (prefix, regions))
        out.append("inline constexpr unsigned char %s_unwind[] = {\n%s\n};\n" % (prefix, byte_rows(r["unwind"])))
    out.append("""// In fiber_start_code: EBB_ASM_KEEP's image-relative address of the frame-layout object, after
// the ud2, never executed (the layout object is for gdb; a copy outside any image leaves it 0).
inline constexpr std::size_t fiber_start_layout_rva_offset = 0x%x;
// In fiber_start_unwind: the exception handler's address, relative to the base the unwind data is
// registered with (.seh_handler %s); the loader writes it.
inline constexpr std::size_t fiber_start_handler_rva_offset = 0x%x;
""" % (start_fix[("code", LAYOUT)], HANDLER, start_fix[("unwind", HANDLER)]))
    out.append("""}  // namespace machine_code
}  // namespace arch
}  // namespace runtime_v1
}  // namespace ebb
""")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed header, write nothing")
    parser.add_argument("--cxx", default=os.environ.get("EBB_MINGW_CXX", "x86_64-w64-mingw32-g++-posix"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        coff = assemble(args.cxx, workdir)
        text = render({SWITCH: routine(coff, SWITCH), START: routine(coff, START)})
    if args.check:
        with open(HEADER) as f:
            if f.read() != text:
                print("%s differs from the assembled routines: run scripts/gen-windows-machine-code.py" % HEADER)
                return 1
        print("%s matches the assembled routines" % os.path.relpath(HEADER, ROOT))
        return 0
    with open(HEADER, "w") as f:
        f.write(text)
    print("wrote " + os.path.relpath(HEADER, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
