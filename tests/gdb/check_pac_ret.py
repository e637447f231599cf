# SPDX-License-Identifier: BSL-1.0
# Checks the output of pac_ret.gdb (AArch64 pac-ret, pointer authentication on under qemu).
# Exit 0 = pass, 1 = fail (each failed check is printed).
import os
import re
import sys

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def sections(text):
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


def main():
    with open(os.environ["EBB_GDB_CHECK_OUTPUT"], errors="replace") as f:
        text = f.read()
    s = sections(text)
    missing = [n for n in ("REGS-BEFORE", "SLOTS", "BT-DEEP", "BT-IDLE", "REGS-AFTER") if n not in s]
    if not check(not missing, "output sections missing (gdb stopped early?): %s" % ", ".join(missing)):
        return
    check("Python Exception" not in text, "a Python exception escaped the helper")
    slots = {}
    for line in s["SLOTS"]:
        match = re.match(r"^(\w+) raw 0x([0-9a-f]+) code 0x([0-9a-f]+)$", line)
        if match:
            slots[match.group(1)] = (int(match.group(2), 16), int(match.group(3), 16))
    if not check(set(slots) == {"deep", "shallow", "idle"}, "saved return slots not all read: %r" % s["SLOTS"]):
        return
    # Signed: the code sits in the bits above the address. A code can be all zeros: with the top
    # byte ignored (Linux user space) the code has only the few bits between bit 48 and the top byte,
    # so about one signature in a few hundred looks unsigned (seen in a CI run: the idle slot's, with
    # the other two signed). All three unsigned would take about one run in tens of millions with
    # signing on, and every run with it off.
    check(any(raw != code for raw, code in slots.values()),
          "no saved return address is signed (is pointer authentication on?): %r" % slots)
    for name, (raw, code) in slots.items():
        # Stripped: a user-space address, the low 48 bits of the signed one.
        check(code < (1 << 48) and raw & ((1 << 48) - 1) == code,
              "%s: 0x%x stripped to 0x%x, expected its low 48 bits" % (name, raw, code))

    def frame0(section):
        return next((l for l in s[section] if re.match(r"^#0\s", l)), "")
    deep = frame0("BT-DEEP")
    check(re.search(r"\bsuspend \(", deep) and "0x%016x" % slots["deep"][1] in deep,
          "ebb-fiber-bt deep: frame #0 should be this_fiber::detail::suspend at 0x%x, got %r"
          % (slots["deep"][1], deep))
    idle = frame0("BT-IDLE")
    check(re.search(r"\bebb_v\d+_aarch64_aapcs_fiber_start \(", idle),
          "ebb-fiber-bt idle: frame #0 should be the entry trampoline, got %r" % idle)
    check(s["REGS-BEFORE"] == s["REGS-AFTER"] and s["REGS-BEFORE"], "registers not restored")
    check("gdb fibers program: done" in text and re.search(r"\[Inferior 1 \(process \d+\) exited normally\]", text),
          "the program did not finish normally after the session (authentication failed?)")


main()
if failures:
    for failure in failures:
        print("FAIL: " + failure)
    sys.exit(1)
print("PASS: signed return addresses stripped for the pc; registers restored; the program finished")
