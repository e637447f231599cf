# SPDX-License-Identifier: BSL-1.0
# AArch64, fibers_program.cpp built with -mbranch-protection=standard and run with pointer
# authentication on (qemu-aarch64 -cpu max): the return address in every suspended fiber's switch
# frame is signed. tools/gdb/ebb.py must strip the code before handing the address to gdb as the pc,
# so a suspended fiber's innermost frame is the function it yielded in and a created fiber's is the
# entry trampoline. Frames further out depend on gdb stripping the signed return addresses of
# ordinary code, which it can only do when the target reports the PAC mask (qemu 7.2's gdbstub does
# not): this script takes one frame only, and check_pac_ret.py checks no more.
set pagination off
set confirm off
set width 0
set height 0
set print thread-events off
python
import os
gdb.execute("source " + os.environ["EBB_GDB_HELPER"])
end

break ebb_gdb_fibers_breakpoint
ebb-test-start

echo ===REGS-BEFORE===\n
info registers pc sp x19 x20 x29 x30
echo ===END===\n
echo ===SLOTS===\n
python
layout = ebb_frame_layout()
for fiber in ebb_registry_fibers()[0]:
    if fiber.name in ("deep", "shallow", "idle"):
        raw = layout.read_word(fiber.sp + layout.return_offset)
        gdb.write("%s raw 0x%x code 0x%x\n" % (fiber.name, raw, ebb_code_address(raw)))
end
echo ===END===\n
echo ===BT-DEEP===\n
ebb-fiber-bt deep 1
echo ===END===\n
echo ===BT-IDLE===\n
ebb-fiber-bt idle 1
echo ===END===\n
echo ===REGS-AFTER===\n
info registers pc sp x19 x20 x29 x30
echo ===END===\n

# The switch authenticates every signed address it returns to: the program must still finish.
delete
continue
