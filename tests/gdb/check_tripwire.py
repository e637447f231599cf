# SPDX-License-Identifier: BSL-1.0
# Checks the output of tripwire_signals.gdb (tripwire_program.cpp under the gdb settings that
# docs/debugging.md recommends for tripwire mode).
# Usage: python3 check_tripwire.py OUTPUT-FILE   (run_gdb_helper_test.sh runs it with gdb's own Python)
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_fibers import check, failures, report, sections  # noqa: E402


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EBB_GDB_CHECK_OUTPUT", "")
    with open(path, errors="replace") as f:
        text = f.read()
    s = sections(text)
    missing = [n for n in ("DEFAULT", "NOSTOP", "CRASH", "CRASH-CONTINUE", "OVERFLOW") if n not in s]
    if missing:
        failures.append("output sections missing (gdb stopped early?): " + ", ".join(missing))
        return
    default, nostop, crash, died, overflow = (
        "\n".join(s[n]) for n in ("DEFAULT", "NOSTOP", "CRASH", "CRASH-CONTINUE", "OVERFLOW"))

    # 1. Without the setting gdb stops in the fiber at a growth fault.
    check("Program received signal SIGSEGV" in default,
          "default settings: gdb did not stop at the tripwire fault")
    check(re.search(r"gdb_tripwire_recurse", default), "default settings: the stop is not in the fiber's recursion")

    # 2. With it the program runs to a normal exit and really grew.
    check("SIGSEGV" not in nostop, "handle SIGSEGV nostop noprint pass: gdb still reported SIGSEGV")
    check(re.search(r"tripwire program: [2-9]\d* grows|tripwire program: \d\d+ grows", nostop),
          "handle SIGSEGV nostop noprint pass: the fiber did not grow at least twice")
    check(re.search(r"\[Inferior 1 \(process \d+\) exited normally\]", nostop),
          "handle SIGSEGV nostop noprint pass: the program did not exit normally")

    # 3. A real crash reaches forward_fault, with the crashing frames below the signal frame.
    frames = [l for l in s["CRASH"] if re.match(r"^#\d+\s", l)]
    check(frames and "forward_fault" in frames[0], "crash: did not stop in ebb's forward_fault")
    check(any("<signal handler called>" in l for l in frames), "crash: no signal frame in the backtrace")
    check(any("gdb_tripwire_crash" in l for l in frames), "crash: the crashing function is not in the backtrace")
    check(frames and re.search(r"ebb_v\d+_x86_64_sysv_fiber_start", frames[-1]),
          "crash: the backtrace does not end at the fiber entry")
    check("Program terminated with signal SIGSEGV" in died,
          "crash: after continuing, the process did not die of its SIGSEGV")

    # 4. Overflow: ebb's report, then SIGABRT with the fiber's frames below the signal frame.
    check(re.search(r"ebb: stack overflow in fiber 'tripwire'", overflow), "overflow: ebb's report is missing")
    check("Program received signal SIGABRT" in overflow, "overflow: gdb did not stop at the abort")
    frames = [l for l in s["OVERFLOW"] if re.match(r"^#\d+\s", l)]
    check(any("<signal handler called>" in l for l in frames), "overflow: no signal frame in the backtrace")
    check(any("gdb_tripwire_recurse" in l for l in frames), "overflow: the recursion is not in the backtrace")
    check(frames and re.search(r"ebb_v\d+_x86_64_sysv_fiber_start", frames[-1]),
          "overflow: the backtrace does not end at the fiber entry")
    check(not re.search(r"Backtrace stopped|corrupt stack|previous frame identical", text),
          "a backtrace reported an unwinding error")


if __name__ == "__main__":
    main()
    report("tripwire growth under gdb with handle SIGSEGV nostop noprint pass; crashes and overflows caught")
