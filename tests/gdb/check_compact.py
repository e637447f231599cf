# SPDX-License-Identifier: BSL-1.0
# Checks the output of compact.gdb (the gdb helper tools/gdb/ebb.py on compact_program.cpp).
# Usage: python3 check_compact.py OUTPUT-FILE   (run_gdb_helper_test.sh runs it with gdb's own Python)
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_fibers import check, check_backtrace, failures, frames, report, sections  # noqa: E402


def listing(lines):
    """{name: (state, frames column)} from `info ebb-fibers` with its Frames column."""
    rows = {}
    header = next((l for l in lines if re.match(r"^\s+Fiber\s+State\s+Thread\s+.*\sFrames\s+Name$", l)), None)
    if not check(header is not None, "info ebb-fibers: no table header with a Frames column"):
        return rows
    row_re = re.compile(r"^\s+0x[0-9a-f]+\s+(created|suspended|running|finished)\s+.*?\s+(\d+|-)\s+(\d+)\s+"
                        r"(in place|on exec stack|saved \(\d+ B\)|none yet|-|\?|compact, \?)\s+'(.*)'$")
    for line in lines:
        match = row_re.match(line)
        if match:
            rows[match.group(5)] = (match.group(1), match.group(4))
    return rows


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EBB_GDB_CHECK_OUTPUT", "")
    with open(path, errors="replace") as f:
        text = f.read()
    s = sections(text)
    wanted = ("INFO", "BT-ONSTACK", "BT-PLAIN", "ERROR-SAVED", "ERROR-IDLE", "ERROR-RUNNING",
              "ERROR-SAVED-UNWINDER", "THREAD-BT")
    missing = [n for n in wanted if n not in s]
    if missing:
        failures.append("output sections missing (gdb stopped early?): " + ", ".join(missing))
        return

    rows = listing(s["INFO"])
    expect = {"c-idle": ("created", "none yet"), "c-onstack": ("suspended", "on exec stack"),
              "c-finished": ("finished", "-"), "c-runner": ("running", "on exec stack"),
              "plain": ("suspended", "in place")}
    for name, (state, where) in expect.items():
        check(rows.get(name) == (state, where), "info ebb-fibers: %s is %s, expected %s" % (name, rows.get(name), (state, where)))
    saved = rows.get("c-saved")
    check(saved is not None and saved[0] == "suspended" and saved[1].startswith("saved ("),
          "info ebb-fibers: c-saved is %s, expected suspended with its frames saved" % (saved,))

    # A compact fiber whose frames are on its execution stack: a backtrace like any fiber's.
    check_backtrace("ebb-fiber-bt c-onstack", s["BT-ONSTACK"], ["gdb_compact_here2", "gdb_compact_here1"])
    check_backtrace("ebb-fiber-bt plain", s["BT-PLAIN"], ["gdb_compact_here2", "gdb_compact_here1"])
    check(not any("gdb_compact_deep" in f for f in frames(s["BT-ONSTACK"])),
          "ebb-fiber-bt c-onstack: shows c-saved's frames")

    # Saved: refused, saying why, with no backtrace printed (it would be c-onstack's frames).
    for section in ("ERROR-SAVED", "ERROR-SAVED-UNWINDER"):
        body = "\n".join(s[section])
        check(re.search(r"ERROR: ebb: fiber 0x[0-9a-f]+ 'c-saved' is a compact fiber whose frames are saved: "
                        r"\d+ bytes were copied off its execution stack", body),
              "%s: ebb-fiber-bt c-saved was not refused as saved (%s)" % (section, body.strip()[:300]))
        check(not frames(s[section]), "%s: a backtrace was printed for a saved compact fiber" % section)
    body = "\n".join(s["ERROR-IDLE"])
    check(re.search(r"ERROR: ebb: fiber 0x[0-9a-f]+ 'c-idle' is a compact fiber that never ran: it has no "
                    r"frames yet", body), "ebb-fiber-bt c-idle: not refused as never run (%s)" % body.strip()[:300])
    check("ERROR: ebb:" in "\n".join(s["ERROR-RUNNING"]) and "is running" in "\n".join(s["ERROR-RUNNING"]),
          "ebb-fiber-bt c-runner: not refused as running")

    # The thread's own backtrace, inside the running compact fiber, is untouched by the helper.
    check_backtrace("bt in c-runner", s["THREAD-BT"], ["ebb_gdb_compact_breakpoint", "gdb_compact_run2",
                                                      "gdb_compact_run1"])
    check(re.search(r"gdb compact program: done", text), "the program did not finish its fibers")
    check(re.search(r"\[Inferior 1 \(process \d+\) exited normally\]", text), "the program did not exit normally")


if __name__ == "__main__":
    main()
    report("compact fibers under the gdb helper: listed with where their frames are; saved and unstarted "
           "ones refused with the reason, on-stack ones backtraced")
