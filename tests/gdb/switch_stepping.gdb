# SPDX-License-Identifier: BSL-1.0
# Stop in the context switch (the first time it runs: into a new fiber, then the yields and resumes
# after it) and take a backtrace after every instruction of it, from its first instruction and across
# the stack-pointer swap, until it has returned. ebb-test-break-switch and ebb-test-start come from
# session.py (the switch routine is the port's: ebb_v1_x86_64_sysv_switch, ebb_v1_aarch64_aapcs_switch,
# ...; the program runs natively or under qemu-user).
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off
ebb-test-break-switch
ebb-test-start
# Four switches: into the new fiber (its first entry, through the trampoline), back out at its yield,
# into it again, out again. EBB_GDB_SWITCH_HITS=2 (the qemu tests: stepping there is slow) keeps the
# first two, one of each direction.
python import os; gdb.set_convenience_variable("ebb_switch_hits", int(os.environ.get("EBB_GDB_SWITCH_HITS", "4")))
set $hit = 0
while $hit < $ebb_switch_hits
  set $step = 0
  while $step < $ebb_switch_steps
    echo ===BACKTRACE===\n
    x/i $pc
    bt
    echo ===END===\n
    stepi
    set $step = $step + 1
  end
  set $hit = $hit + 1
  continue
end
