# SPDX-License-Identifier: BSL-1.0
# The gdb helper on a core file of fibers_program.cpp: registers cannot be written there, so
# ebb-fiber-bt falls back to its Python unwinder. The core is written by gcore, which reads memory
# through ptrace and gives up on a mapping at the first unreadable chunk, so ebb's stack slabs (one
# mapping holding MADV_GUARD_INSTALL guards) would be lost: EBB_GUARD_METHOD=mprotect gives each guard
# its own mapping, which gcore skips. Output blocks are bracketed by ===NAME=== / ===END===.
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off
set environment EBB_GUARD_METHOD mprotect
python
import os
gdb.execute("source " + os.environ["EBB_GDB_HELPER"])
core = os.environ["EBB_GDB_CORE_FILE"]
end
break ebb_gdb_fibers_breakpoint
run
python gdb.execute("gcore " + core)
kill
python gdb.execute("core-file " + core)

echo ===INFO===\n
info ebb-fibers
echo ===END===\n
echo ===LAYOUT===\n
info ebb-frame-layout
echo ===END===\n
echo ===BT-DEEP===\n
ebb-fiber-bt deep
echo ===END===\n
echo ===RESUMER-OUTER===\n
ebb-resumer-bt outer
echo ===END===\n
echo ===THREAD-BT===\n
bt
echo ===END===\n
