# SPDX-License-Identifier: BSL-1.0
# Stop in the context switch (the first time it runs: into a new fiber, then the yields and resumes
# after it) and take a backtrace after every instruction of it, across the stack-pointer swap.
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off
break ebb_v1_x86_64_sysv_switch
run
set $hit = 0
while $hit < 4
  set $step = 0
  while $step < 30
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
