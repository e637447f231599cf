# SPDX-License-Identifier: BSL-1.0
# Checks the output of fibers.gdb (the gdb helper tools/gdb/ebb.py on fibers_program.cpp).
# Usage: python3 check_fibers.py OUTPUT-FILE   (run_gdb_helper_test.sh runs it with gdb's own Python)
# Exit 0 = pass, 1 = fail (each failed check is printed).
import os
import re
import sys

failures = []
# The fiber entry trampoline of any port: ebb_v1_x86_64_sysv_fiber_start, ebb_v1_aarch64_aapcs_fiber_start, ...
ENTRY = r"\bebb_v\d+_[a-z0-9_]+_fiber_start\b"
# Under qemu-user (run_gdb_helper_test.sh with an emulator), where other threads run on while one is stopped.
UNDER_QEMU = os.environ.get("EBB_GDB_UNDER_QEMU") == "1"


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def report(summary):
    """Print the failures (exit 1) or the one-line summary (exit 0)."""
    if failures:
        for failure in failures:
            print("FAIL: " + failure)
        sys.exit(1)
    print("PASS: " + summary)
    sys.exit(0)


def sections(text):
    """{NAME: [lines]} for every ===NAME=== ... ===END=== block."""
    found, name = {}, None
    for line in text.splitlines():
        match = re.match(r"^===([A-Z0-9-]+)===$", line)
        if match and match.group(1) != "END":
            name = match.group(1)
            found[name] = []
        elif line == "===END===":
            name = None
        elif name is not None:
            found[name].append(line)
    return found


def frames(lines):
    return [line for line in lines if re.match(r"^#\d+\s", line)]


def frame_function(frame):
    """The function name of a `bt` line: '#1  0x... in NAME (args) at ...' or '#1  NAME (args) ...'."""
    match = re.match(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(.+?) \(", frame)
    return match.group(1) if match else frame


def check_backtrace(name, lines, want, entry=True):
    """Frames named in `want` appear in this order; the last frame is the fiber entry; no errors."""
    fs = frames(lines)
    if not check(fs, "%s: no backtrace frames" % name):
        return
    text = "\n".join(lines)
    check(not re.search(r"Backtrace stopped|corrupt stack|previous frame identical|Cannot access memory",
                        text), "%s: the backtrace reports an unwinding error" % name)
    check(not any(" in ?? " in f for f in fs), "%s: a frame is unknown (??)" % name)
    position = -1
    for function in want:
        hits = [i for i, f in enumerate(fs) if re.search(r"\b%s\b" % re.escape(function), frame_function(f))]
        if check(hits, "%s: frame %s missing" % (name, function)):
            later = [i for i in hits if i > position]
            if check(later, "%s: frame %s out of order" % (name, function)):
                position = later[0]
    if entry:
        check(re.search(ENTRY, fs[-1]),
              "%s: does not end at the fiber entry ebb_v1_<port>_fiber_start (last: %s)" % (name, fs[-1]))


def parse_listing(lines):
    """{name: {state, thread, size, peak, used, max, address}} from `info ebb-fibers`."""
    rows = {}
    header = next((l for l in lines if re.match(r"^\s+Fiber\s+State\s+Thread", l)), None)
    if not check(header is not None, "info ebb-fibers: no table header"):
        return rows
    row_re = re.compile(r"^\s+(0x[0-9a-f]+)\s+(created|suspended|running|finished)\s+(.*?)\s+(\d+)\s+(\d+)\s+(\d+|-)\s+(\d+)\s+('.*'|\(unnamed\))$")
    for line in lines:
        match = row_re.match(line)
        if match:
            address, state, thread, size, peak, used, max_size, name = match.groups()
            rows[name.strip("'")] = dict(address=address, state=state, thread=thread, size=int(size),
                                          peak=int(peak), used=None if used == "-" else int(used),
                                          max=int(max_size))
    return rows


def parse_layout(lines):
    """(frame bytes, [(offset, bytes, kind, name)]) from `info ebb-frame-layout`."""
    kinds = {"return": 0, "register": 1, "control": 2}
    header = next((re.search(r": (\d+)-byte frame, (\d+) slots", l) for l in lines if "-byte frame" in l), None)
    slots = []
    for line in lines:
        match = re.match(r"^\s+(\d+)\s+(\d+)\s+(return|register|control)\s+(\S+)$", line)
        if match:
            slots.append((int(match.group(1)), int(match.group(2)), kinds[match.group(3)], match.group(4)))
    if not check(header is not None, "info ebb-frame-layout: no header line"):
        return None, slots
    check(int(header.group(2)) == len(slots), "info ebb-frame-layout: %s slots announced, %d listed"
          % (header.group(2), len(slots)))
    return int(header.group(1)), slots


def parse_cxx_layout(lines):
    """(frame bytes, [(offset, bytes, kind, name)]) from the program's own frame_slots table."""
    frame = next((int(l.split()[2]) for l in lines if l.startswith("frame bytes ")), None)
    slots = [(int(a), int(b), int(c), d) for _, a, b, c, d in (l.split() for l in lines if l.startswith("slot "))]
    return frame, slots


def check_layout(s):
    """The helper reads the layout object as the port's C++ table describes the frame."""
    frame, slots = parse_layout(s["LAYOUT"])
    cxx_frame, cxx_slots = parse_cxx_layout(s["LAYOUT-CXX"])
    check(cxx_frame and cxx_slots, "the program's frame_slots table could not be read: %r" % s["LAYOUT-CXX"][:3])
    check(frame == cxx_frame, "frame size: the helper reads %s bytes, the port's table says %s" % (frame, cxx_frame))
    check(slots == cxx_slots, "frame slots differ between the layout object (as read) and the port's table:\n"
          "  read:  %r\n  table: %r" % (slots, cxx_slots))
    returns = [slot for slot in slots if slot[2] == 0]
    check(len(returns) == 1 and returns[0][0] + returns[0][1] == frame,
          "the return slot should be the frame's last word: %r" % returns)
    return frame, (returns[0][1] if returns else None)


def check_listing(name, lines, frame_bytes=None):
    check(any(re.match(r"^8 ebb fibers: 3 running, 3 suspended, 1 created, 1 finished$", l) for l in lines),
          "%s: summary line is not '8 ebb fibers: 3 running, 3 suspended, 1 created, 1 finished'" % name)
    rows = parse_listing(lines)
    expected = {
        "idle": "created", "shallow": "suspended", "deep": "suspended", "(unnamed)": "suspended",
        "finished": "finished", "worker": "running", "outer": "running", "inner": "running",
    }
    for fiber, state in expected.items():
        if check(fiber in rows, "%s: fiber %s not listed" % (name, fiber)):
            check(rows[fiber]["state"] == state,
                  "%s: fiber %s is %s, expected %s" % (name, fiber, rows[fiber]["state"], state))
    check(len(rows) == len(expected), "%s: %d fibers listed, expected %d" % (name, len(rows), len(expected)))
    if not all(f in rows for f in expected):
        return rows
    # Threads: inner runs on thread 1; outer waits in resume() for it on thread 1; worker on thread 2.
    check(re.match(r"^1\b", rows["inner"]["thread"]) and "resumed" not in rows["inner"]["thread"],
          "%s: inner should run on thread 1 (got %r)" % (name, rows["inner"]["thread"]))
    check(re.match(r"^1\b.*resumed 'inner'", rows["outer"]["thread"]),
          "%s: outer should be on thread 1, resumed 'inner' (got %r)" % (name, rows["outer"]["thread"]))
    check(re.match(r"^2\b", rows["worker"]["thread"]),
          "%s: worker should run on thread 2 (got %r)" % (name, rows["worker"]["thread"]))
    for fiber in ("idle", "shallow", "deep", "(unnamed)", "finished"):
        check(rows[fiber]["thread"] == "-", "%s: %s is not running but has a thread" % (name, fiber))
    # Sizes: every fiber starts at 2 KiB with the same maximum (ebb::fiber's: 1 MiB on 64-bit
    # targets, 256 KiB on 32-bit ones); deep grew past 6000 bytes of buffer.
    maxima = set(row["max"] for row in rows.values())
    check(len(maxima) == 1 and min(maxima) >= 262144, "%s: maxima %r, expected one of at least 256 KiB"
          % (name, sorted(maxima)))
    for fiber, row in rows.items():
        check(row["size"] >= 2048, "%s: %s size %d below 2048" % (name, fiber, row["size"]))
    deep = rows["deep"]
    check(deep["used"] is not None and deep["used"] > 6000,
          "%s: deep uses %s bytes, expected more than its 6000-byte buffer" % (name, deep["used"]))
    check(deep["size"] >= 8192 and deep["size"] >= deep["used"],
          "%s: deep's size %d did not grow to cover %s bytes" % (name, deep["size"], deep["used"]))
    check(deep["peak"] >= deep["used"], "%s: deep's peak %d below its use %s" % (name, deep["peak"], deep["used"]))
    for fiber in ("shallow", "(unnamed)"):
        row = rows[fiber]
        check(row["used"] is not None and 64 <= row["used"] < 2048,
              "%s: %s uses %s bytes, expected a shallow frame" % (name, fiber, row["used"]))
        check(row["used"] < deep["used"], "%s: %s deeper than deep" % (name, fiber))
    check(frame_bytes is not None and rows["idle"]["used"] == frame_bytes,
          "%s: idle (created) should use exactly its initial frame (%s bytes), got %s"
          % (name, frame_bytes, rows["idle"]["used"]))
    check(rows["finished"]["used"] is None, "%s: finished fiber shows a use" % name)
    for fiber in ("inner", "outer", "worker"):
        used = rows[fiber]["used"]
        check(used is not None and 0 < used < 16384,
              "%s: running fiber %s: use %s not derived from its stack pointer" % (name, fiber, used))
    return rows


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EBB_GDB_CHECK_OUTPUT", "")
    with open(path, errors="replace") as f:
        text = f.read()
    s = sections(text)
    required = ["THREAD-BT-BEFORE", "REGS-BEFORE", "FRAME-BEFORE", "INFO", "BT-DEEP", "BT-SHALLOW",
                "BT-IDLE", "ERROR-RUNNING", "ERROR-NESTED", "ERROR-OTHER-THREAD", "ERROR-FINISHED",
                "ERROR-UNKNOWN", "ERROR-IN-BT", "BT-DEEP-UNWINDER", "RESUMER-INNER", "RESUMER-OUTER", "FRAME-AFTER",
                "REGS-AFTER", "THREAD-BT-AFTER", "INFO-THREAD2", "LAYOUT", "LAYOUT-CXX", "BT-DEEP-THREAD2",
                "BT-DEEP-THREAD2-UNWINDER"]
    missing = [name for name in required if name not in s]
    if missing:
        failures.append("output sections missing (gdb stopped early?): " + ", ".join(missing))
        return
    check("Python Exception" not in text and "Error occurred in Python" not in text,
          "a Python exception escaped the helper")

    # The switch frame's layout, as read by the helper and as the port defines it.
    frame_bytes, _ = check_layout(s)

    # The listing, from thread 1 (a C++ frame inside a fiber) and from thread 2 (libc, a C frame).
    rows = check_listing("info ebb-fibers", s["INFO"], frame_bytes)
    rows2 = check_listing("info ebb-fibers (thread 2 selected)", s["INFO-THREAD2"], frame_bytes)
    qemu_warning = [l for l in s["INFO"] if "under qemu-user only the thread that reported the stop" in l]
    if UNDER_QEMU:
        check(qemu_warning and "(thread 1)" in qemu_warning[0],
              "info ebb-fibers under qemu-user: no warning naming thread 1 as the only stopped thread")
    else:
        check(not qemu_warning, "info ebb-fibers warns about qemu-user on a native target")
    check({k: (v["address"], v["state"]) for k, v in rows.items()} ==
          {k: (v["address"], v["state"]) for k, v in rows2.items()},
          "the listings from thread 1 and thread 2 differ")

    # The thread's own backtrace inside 'inner'.
    check_backtrace("bt inside inner", s["THREAD-BT-BEFORE"],
                    ["ebb_gdb_fibers_breakpoint", "gdb_fibers_inner2", "gdb_fibers_inner1"])

    # Suspended fibers.
    check_backtrace("ebb-fiber-bt deep", s["BT-DEEP"], ["gdb_fibers_deep3", "gdb_fibers_deep2", "gdb_fibers_deep1"])
    check(any("'deep' suspended" in l for l in s["BT-DEEP"]), "ebb-fiber-bt deep: no header line")
    check(not any("gdb_fibers_inner" in l or "ebb_gdb_fibers_breakpoint" in l for l in frames(s["BT-DEEP"])),
          "ebb-fiber-bt deep shows the running thread's frames")
    check_backtrace("ebb-fiber-bt <address of shallow>", s["BT-SHALLOW"], ["fiber_main"])
    check(any("'shallow' suspended" in l for l in s["BT-SHALLOW"]), "ebb-fiber-bt by address: wrong fiber")
    check(not any("gdb_fibers_deep" in l for l in s["BT-SHALLOW"]), "ebb-fiber-bt shallow shows deep's frames")
    idle = frames(s["BT-IDLE"])
    check(len(idle) == 1 and re.search(ENTRY, idle[0]),
          "ebb-fiber-bt idle: a created fiber should show only its entry frame, got %r" % idle)

    # The same fiber through the Python unwinder (no register writes): same frames, from #1, and the
    # real innermost frame (the breakpoint function) hidden.
    check_backtrace("ebb-fiber-bt deep (unwinder)", s["BT-DEEP-UNWINDER"],
                    ["gdb_fibers_deep3", "gdb_fibers_deep2", "gdb_fibers_deep1"])
    unwound = frames(s["BT-DEEP-UNWINDER"])
    check(unwound and unwound[0].startswith("#1 "), "ebb-fiber-bt deep (unwinder): frames should start at #1")
    check(not any("ebb_gdb_fibers_breakpoint" in f or "gdb_fibers_inner" in f for f in unwound),
          "ebb-fiber-bt deep (unwinder) shows the running thread's frames")
    check(len(unwound) == len(frames(s["BT-DEEP"])),
          "ebb-fiber-bt deep: %d frames with the unwinder, %d with borrowed registers"
          % (len(unwound), len(frames(s["BT-DEEP"]))))

    # Refusals.
    def error_of(section):
        return next((l for l in s[section] if l.startswith(("ERROR:", "NO ERROR"))), "")
    check(re.search(r"ERROR: .*'inner' is running on thread 1", error_of("ERROR-RUNNING")),
          "ebb-fiber-bt of the running fiber was not refused: %r" % error_of("ERROR-RUNNING"))
    check(re.search(r"ERROR: .*'outer' is running on thread 1 .*resumed 'inner'", error_of("ERROR-NESTED")),
          "ebb-fiber-bt of a fiber waiting in resume() was not refused: %r" % error_of("ERROR-NESTED"))
    check(re.search(r"ERROR: .*'worker' is running on thread 2", error_of("ERROR-OTHER-THREAD")),
          "ebb-fiber-bt of a fiber running on thread 2 was not refused: %r" % error_of("ERROR-OTHER-THREAD"))
    check(re.search(r"ERROR: .*'finished' has finished", error_of("ERROR-FINISHED")),
          "ebb-fiber-bt of a finished fiber was not refused: %r" % error_of("ERROR-FINISHED"))
    check(re.search(r"ERROR: .*not a live fiber", error_of("ERROR-UNKNOWN")),
          "ebb-fiber-bt of an address outside the registry was not refused: %r" % error_of("ERROR-UNKNOWN"))
    check(re.search(r"ERROR: ebb: bt failed", error_of("ERROR-IN-BT")),
          "an error inside bt was not reported: %r" % error_of("ERROR-IN-BT"))
    check(not any("not restored" in l for l in text.splitlines()), "the helper reports registers not restored")

    # deep from the worker thread: the same frames. Under qemu-user that thread is still running, so
    # its registers must not be borrowed: the unwinder method (frames from #1) and a note saying so.
    check_backtrace("ebb-fiber-bt deep (thread 2 selected)", s["BT-DEEP-THREAD2"],
                    ["gdb_fibers_deep3", "gdb_fibers_deep2", "gdb_fibers_deep1"])
    thread2 = frames(s["BT-DEEP-THREAD2"])
    check(len(thread2) == len(frames(s["BT-DEEP"])), "ebb-fiber-bt deep from thread 2: %d frames, from thread 1 %d"
          % (len(thread2), len(frames(s["BT-DEEP"]))))
    check_backtrace("ebb-fiber-bt deep (thread 2 selected, unwinder)", s["BT-DEEP-THREAD2-UNWINDER"],
                    ["gdb_fibers_deep3", "gdb_fibers_deep2", "gdb_fibers_deep1"])
    check(len(frames(s["BT-DEEP-THREAD2-UNWINDER"])) == len(frames(s["BT-DEEP-UNWINDER"])),
          "ebb-fiber-bt deep with the unwinder: %d frames from thread 2, %d from thread 1"
          % (len(frames(s["BT-DEEP-THREAD2-UNWINDER"])), len(frames(s["BT-DEEP-UNWINDER"]))))
    borrowed_note = any("its registers are not borrowed" in l for l in s["BT-DEEP-THREAD2"])
    if UNDER_QEMU:
        check(borrowed_note and thread2 and thread2[0].startswith("#1 "),
              "ebb-fiber-bt from the running worker thread under qemu-user must not borrow its registers")
    else:
        check(not borrowed_note and thread2 and thread2[0].startswith("#0 "),
              "ebb-fiber-bt from the stopped worker thread should borrow its registers (frames from #0)")

    # The code waiting in resume(): outer (a fiber) for inner, main (the thread's stack) for outer.
    check_backtrace("ebb-resumer-bt (inner)", s["RESUMER-INNER"], ["resume", "fiber_main"])
    check(any("'inner': fiber 0x" in l and "'outer'" in l for l in s["RESUMER-INNER"]),
          "ebb-resumer-bt: inner's resumer is not named as outer")
    resumer_outer = frames(s["RESUMER-OUTER"])
    check(resumer_outer and re.search(r"\bmain \(", resumer_outer[-1]),
          "ebb-resumer-bt outer: should end at main (the thread's own stack), got %r" % resumer_outer[-1:])

    # Everything borrowed is back: registers, the selected frame, the thread's backtrace.
    check(s["REGS-BEFORE"] == s["REGS-AFTER"] and len(s["REGS-BEFORE"]) > 10,
          "the thread's registers differ after the helper ran:\n" +
          "\n".join("  before: %s\n  after:  %s" % (a, b) for a, b in zip(s["REGS-BEFORE"], s["REGS-AFTER"]) if a != b))
    check(s["FRAME-BEFORE"] == s["FRAME-AFTER"] and s["FRAME-BEFORE"] and s["FRAME-BEFORE"][0].startswith("#2 "),
          "the selected frame (#2) was not restored: %r -> %r" % (s["FRAME-BEFORE"][:1], s["FRAME-AFTER"][:1]))
    check(s["THREAD-BT-BEFORE"] == s["THREAD-BT-AFTER"], "the thread's backtrace changed after the helper ran")

    # The program resumed with the borrowed registers back and finished normally.
    check("gdb fibers program: done" in text, "the program did not finish its work after the session")
    check(re.search(r"\[Inferior 1 \(process \d+\) exited normally\]", text),
          "the program did not exit normally after the session")


if __name__ == "__main__":
    main()
    report("info ebb-fibers, ebb-fiber-bt and ebb-resumer-bt; registers, frame and bt restored")
