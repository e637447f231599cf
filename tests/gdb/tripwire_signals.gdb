# SPDX-License-Identifier: BSL-1.0
# gdb settings for tripwire mode (docs/debugging.md) on tripwire_program.cpp. Each block of output is
# bracketed by ===NAME=== / ===END=== lines for check_tripwire.py.
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off

# 1. Default settings: gdb stops at the first tripwire fault, which is ebb growing the stack.
echo ===DEFAULT===\n
run grow
bt 3
echo ===END===\n
kill

# 2. Let ebb's handler take its faults: the program grows its stack and exits normally.
handle SIGSEGV nostop noprint pass
echo ===NOSTOP===\n
run grow
echo ===END===\n

# 3. A real crash with those settings: ebb hands the fault on (forward_fault); a breakpoint there
#    stops with the crashing fiber's frames under the signal frame. Continuing lets it die.
break ebb::runtime_v1::os::forward_fault
echo ===CRASH===\n
run crash
bt
echo ===END===\n
delete
echo ===CRASH-CONTINUE===\n
continue
echo ===END===\n

# 4. An overflow past the fiber's maximum: ebb reports it and aborts; gdb stops at SIGABRT with the
#    fiber's frames under the signal frame.
echo ===OVERFLOW===\n
run overflow
bt
echo ===END===\n
kill
