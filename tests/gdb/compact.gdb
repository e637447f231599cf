# SPDX-License-Identifier: BSL-1.0
# The gdb helper (tools/gdb/ebb.py) on compact fibers (compact_program.cpp): stop in the running compact
# fiber 'c-runner', list the fibers (the Frames column), take the backtrace of a compact fiber whose
# frames are on its execution stack, and check that one whose frames were copied into storage, and one
# that never ran, are refused with a clear message instead of a backtrace of another fiber's frames.
# Each block of output is bracketed by ===NAME=== / ===END=== lines for check_compact.py.
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off
python
import os
gdb.execute("source " + os.environ["EBB_GDB_HELPER"])

class ExpectError(gdb.Command):
    """expect-error COMMAND: run COMMAND and print its error (or that there was none)."""
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
end

break ebb_gdb_compact_breakpoint
ebb-test-start

echo ===INFO===\n
info ebb-fibers
echo ===END===\n

echo ===BT-ONSTACK===\n
ebb-fiber-bt c-onstack
echo ===END===\n
echo ===BT-PLAIN===\n
ebb-fiber-bt plain
echo ===END===\n
echo ===ERROR-SAVED===\n
expect-error ebb-fiber-bt c-saved
echo ===END===\n
echo ===ERROR-IDLE===\n
expect-error ebb-fiber-bt c-idle
echo ===END===\n
echo ===ERROR-RUNNING===\n
expect-error ebb-fiber-bt c-runner
echo ===END===\n
set ebb-bt-method unwinder
echo ===ERROR-SAVED-UNWINDER===\n
expect-error ebb-fiber-bt c-saved
echo ===END===\n
set ebb-bt-method auto
echo ===THREAD-BT===\n
bt
echo ===END===\n

# The program must run on to a normal exit (every compact fiber resumed, its frames copied back).
continue
