# SPDX-License-Identifier: BSL-1.0
# Sourced by run_gdb_test.sh and run_gdb_helper_test.sh before a test script. Defines the two
# commands the scripts use instead of target-specific ones, so one script serves every target:
#
#   ebb-test-start          natively: `run`. Under qemu-user (the runner sets EBB_GDB_REMOTE to the
#                           socket of qemu's gdbstub, where qemu holds the program at its first
#                           instruction): `target remote` to it, then `continue`.
#   ebb-test-break-switch   a breakpoint on the first instruction of the port's context switch,
#                           ebb_v1_<port>_switch (found in the symbol table: ebb_v1_x86_64_sysv_switch,
#                           ebb_v1_aarch64_aapcs_switch, ...), and $ebb_switch_steps set to the number
#                           of stepi that certainly leave it (its instruction count + 4).
import os
import re

import gdb


class _EbbTestStart(gdb.Command):
    """ebb-test-start: run the program (natively) or connect to qemu's gdbstub and continue."""

    def __init__(self):
        super(_EbbTestStart, self).__init__("ebb-test-start", gdb.COMMAND_RUNNING)

    def invoke(self, argument, from_tty):
        remote = os.environ.get("EBB_GDB_REMOTE")
        if remote:
            gdb.execute("target remote " + remote, from_tty)
            gdb.execute("continue", from_tty)
        else:
            gdb.execute("run " + argument, from_tty)


class _EbbTestBreakSwitch(gdb.Command):
    """ebb-test-break-switch: break at the context switch routine of the program's port."""

    def __init__(self):
        super(_EbbTestBreakSwitch, self).__init__("ebb-test-break-switch", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, argument, from_tty):
        listing = gdb.execute("info functions ^ebb_v[0-9]*_.*_switch$", to_string=True)
        names = sorted(set(re.findall(r"\b(ebb_v\d+_[a-z0-9_]+_switch)\b", listing)))
        if len(names) != 1:
            raise gdb.GdbError("ebb-test-break-switch: expected one switch routine, found %r" % names)
        gdb.execute("break *" + names[0], from_tty)  # its first instruction: no prologue skipping
        # $ebb_switch_steps: enough stepi to leave the routine from its entry (it has no loops).
        body = gdb.execute("disassemble " + names[0], to_string=True)
        count = len([line for line in body.splitlines() if re.match(r"^(=>)?\s+0x[0-9a-f]+", line)])
        gdb.set_convenience_variable("ebb_switch_steps", count + 4)


_EbbTestStart()
_EbbTestBreakSwitch()
