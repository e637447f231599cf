# SPDX-License-Identifier: BSL-1.0
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off
break ebb_gdb_breakpoint
ebb-test-start
echo ===BACKTRACE===\n
bt
echo ===END===\n
continue
