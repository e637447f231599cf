# SPDX-License-Identifier: BSL-1.0
# Checks the output of core.gdb (the gdb helper on a core file of fibers_program.cpp).
# Usage: python3 check_core.py OUTPUT-FILE   (run_gdb_helper_test.sh runs it with gdb's own Python)
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_fibers import check, check_backtrace, check_listing, failures, frames, parse_layout, report, sections  # noqa: E402


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EBB_GDB_CHECK_OUTPUT", "")
    with open(path, errors="replace") as f:
        text = f.read()
    s = sections(text)
    missing = [n for n in ("INFO", "LAYOUT", "BT-DEEP", "RESUMER-OUTER", "THREAD-BT") if n not in s]
    if missing:
        failures.append("output sections missing (gdb stopped early?): " + ", ".join(missing))
        return
    check("Saved corefile" in text, "gcore did not write the core file")
    check("Memory read failed" not in text or "0xffffffffff600000" in text and
          text.count("Memory read failed") == 1, "gcore could not read part of the fibers' memory")
    check("Python Exception" not in text, "a Python exception escaped the helper")
    # The layout object is read from the core file (the executable's read-only data) as from memory.
    frame_bytes, _ = parse_layout(s["LAYOUT"])
    check_listing("info ebb-fibers (core file)", s["INFO"], frame_bytes)
    check_backtrace("ebb-fiber-bt deep (core file)", s["BT-DEEP"],
                    ["gdb_fibers_deep3", "gdb_fibers_deep2", "gdb_fibers_deep1"])
    check(any("without writing registers" in l for l in s["BT-DEEP"]),
          "ebb-fiber-bt on a core file did not use the unwinder")
    unwound = frames(s["BT-DEEP"])
    check(not any("ebb_gdb_fibers_breakpoint" in f or "gdb_fibers_inner" in f for f in unwound),
          "ebb-fiber-bt deep (core file) shows the crashed thread's frames")
    resumer = frames(s["RESUMER-OUTER"])
    check(resumer and re.search(r"\bmain\b", resumer[-1]),
          "ebb-resumer-bt outer (core file) should end at main, got %r" % resumer[-1:])
    check_backtrace("bt (core file)", s["THREAD-BT"],
                    ["ebb_gdb_fibers_breakpoint", "gdb_fibers_inner2", "gdb_fibers_inner1"])


if __name__ == "__main__":
    main()
    report("info ebb-fibers, ebb-fiber-bt (unwinder) and ebb-resumer-bt on a core file")
