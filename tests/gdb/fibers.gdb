# SPDX-License-Identifier: BSL-1.0
# The gdb helper (tools/gdb/ebb.py) on fibers_program.cpp: stop inside the fiber 'inner', list the
# fibers, take backtraces of suspended fibers and of the code waiting in resume(), and record the
# thread's registers, selected frame and backtrace before and after, to show they are restored.
# Each block of output is bracketed by ===NAME=== / ===END=== lines for check_fibers.py.
# run_gdb_helper_test.sh sets EBB_GDB_HELPER to the path of tools/gdb/ebb.py.
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off
python
import os
gdb.execute("source " + os.environ["EBB_GDB_HELPER"])

class ExpectError(gdb.Command):
    """expect-error COMMAND: run COMMAND and print its error (or that there was none) instead of
    ending the batch script."""
    def __init__(self):
        super(ExpectError, self).__init__("expect-error", gdb.COMMAND_USER)
    def invoke(self, argument, from_tty):
        try:
            gdb.execute(argument, from_tty)
        except gdb.error as error:
            gdb.write("ERROR: %s\n" % error)
        else:
            gdb.write("NO ERROR\n")
ExpectError()

class FiberAddress(gdb.Command):
    """fiber-address NAME: set $fiber to the address `info ebb-fibers` lists for the fiber NAME."""
    def __init__(self):
        super(FiberAddress, self).__init__("fiber-address", gdb.COMMAND_USER)
    def invoke(self, argument, from_tty):
        for line in gdb.execute("info ebb-fibers", to_string=True).splitlines():
            if line.rstrip().endswith("'%s'" % argument):
                gdb.execute("set $fiber = %s" % line.split()[0])
                return
        raise gdb.GdbError("no fiber named %s listed" % argument)
FiberAddress()
end

break ebb_gdb_fibers_breakpoint
ebb-test-start

echo ===THREAD-BT-BEFORE===\n
bt
echo ===END===\n
echo ===REGS-BEFORE===\n
info registers
echo ===END===\n
up 2
echo ===FRAME-BEFORE===\n
frame
echo ===END===\n

echo ===INFO===\n
info ebb-fibers
echo ===END===\n

# The switch frame as the helper reads it from ebb_v1_switch_frame_layout, and as the port's C++ table
# (kept in the program by fibers_program.cpp) has it: check_fibers.py compares the two.
echo ===LAYOUT===\n
info ebb-frame-layout
echo ===END===\n
echo ===LAYOUT-CXX===\n
python
slots = gdb.parse_and_eval("gdb_fibers_frame_slots")
gdb.write("frame bytes %d\n" % int(gdb.parse_and_eval("gdb_fibers_frame_bytes")))
for i in range(int(gdb.parse_and_eval("gdb_fibers_frame_slot_count"))):
    slot = slots[i]
    gdb.write("slot %d %d %d %s\n" % (int(slot["offset"]), int(slot["bytes"]), int(slot["kind"]),
                                      slot["name"].string()))
end
echo ===END===\n

echo ===BT-DEEP===\n
ebb-fiber-bt deep
echo ===END===\n

fiber-address shallow
echo ===BT-SHALLOW===\n
ebb-fiber-bt $fiber
echo ===END===\n

echo ===BT-IDLE===\n
ebb-fiber-bt idle
echo ===END===\n

echo ===ERROR-RUNNING===\n
expect-error ebb-fiber-bt inner
echo ===END===\n
echo ===ERROR-NESTED===\n
expect-error ebb-fiber-bt outer
echo ===END===\n
echo ===ERROR-OTHER-THREAD===\n
expect-error ebb-fiber-bt worker
echo ===END===\n
echo ===ERROR-FINISHED===\n
expect-error ebb-fiber-bt finished
echo ===END===\n
echo ===ERROR-UNKNOWN===\n
expect-error ebb-fiber-bt 0x1000
echo ===END===\n
# An error inside `bt` itself, while the registers are borrowed: they must still be restored.
echo ===ERROR-IN-BT===\n
expect-error ebb-fiber-bt deep -no-such-option
echo ===END===\n

# Without writing registers (what a core file needs): the unwinder method.
set ebb-bt-method unwinder
echo ===BT-DEEP-UNWINDER===\n
ebb-fiber-bt deep
echo ===END===\n
set ebb-bt-method auto

echo ===RESUMER-INNER===\n
ebb-resumer-bt
echo ===END===\n
echo ===RESUMER-OUTER===\n
ebb-resumer-bt outer
echo ===END===\n

echo ===FRAME-AFTER===\n
frame
echo ===END===\n
frame 0
echo ===REGS-AFTER===\n
info registers
echo ===END===\n
echo ===THREAD-BT-AFTER===\n
bt
echo ===END===\n

# From the worker thread, stopped in libc (a C frame): the listing must not depend on the language.
thread 2
echo ===INFO-THREAD2===\n
info ebb-fibers
echo ===END===\n
# A suspended fiber's backtrace from the worker thread. Natively that thread is stopped and its
# registers are borrowed like thread 1's; under qemu-user it did not report the stop and is still
# running, so the helper must not write its registers (it unwinds without, frames from #1).
echo ===BT-DEEP-THREAD2===\n
ebb-fiber-bt deep
echo ===END===\n
# The unwinder method from a thread whose own stack lies above deep's (the worker fiber's stack was
# mapped after deep's): gdb must not take deep's frames for callers inner to the thread's frame.
set ebb-bt-method unwinder
echo ===BT-DEEP-THREAD2-UNWINDER===\n
ebb-fiber-bt deep
echo ===END===\n
set ebb-bt-method auto
thread 1

# The program must run on to a normal exit with everything it borrowed put back.
continue
