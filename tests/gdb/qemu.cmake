# SPDX-License-Identifier: BSL-1.0
# The debugger tests of a cross build under qemu-user (included by tests/gdb/CMakeLists.txt when
# CMAKE_CROSSCOMPILING and CMAKE_CROSSCOMPILING_EMULATOR runs qemu-<arch>). Tested: AArch64, ARM32
# hard-float (Thumb-2, and fibers in ARM state seen from Thumb code), RISC-V 64 and i386, with
# qemu-user 7.2 and Debian 12's gdb-multiarch 13.1.
#
# Each test starts the program under the build's own emulator command with QEMU_GDB set to a Unix
# socket (qemu then waits for a debugger at the first instruction), and gdb-multiarch connects to it
# (tests/gdb/gdb_session.sh). The scripts and checkers are the native ones:
#   gdb:qemu_backtrace_O0/O2        bt at a breakpoint inside a fiber: complete, ends at the port's
#                                   entry trampoline, no "Backtrace stopped"/corrupt-stack messages
#   gdb:qemu_switch_stepping_O2     bt after every instruction of the switch (two switches, one each way)
#   gdb:qemu_helper_O0/O2           tools/gdb/ebb.py: info ebb-fibers, info ebb-frame-layout (compared
#                                   with the port's C++ slot table), ebb-fiber-bt, ebb-resumer-bt,
#                                   registers restored, never borrowing a still-running thread's
#   gdb:qemu_helper_compact_O0/O2   the same on compact fibers (compact.gdb, check_compact.py)
#   gdb:qemu_helper_arm_in_thumb_O0 (ARM32) fibers in ARM state, the thread stopped in Thumb code
#   gdb:qemu_helper_pac_ret_O0      (AArch64) -mbranch-protection=standard, run with QEMU_CPU=max,pauth=off
#   gdb:qemu_pac_ret_signed_O0      (AArch64) the same with pointer authentication on: the helper strips
#                                   the signed return address (see docs/debugging.md for what gdb
#                                   cannot do there under qemu 7.2)
#   gdb:qemu_pac_ret_checker_zero_code  (AArch64) that test's checker on a recorded session in which
#                                   one signature's code was all zeros
# Not run under qemu: the core-file test (gcore does not work through qemu's gdbstub: it has no memory
# map; docs/debugging.md) and the tripwire signal test.
#
# The programs are linked -static: qemu-i386 7.2 hangs dynamically linked programs in pthread_create,
# and gdb needs no sysroot then. A session takes 1-5 s on this (loaded, two-core) machine, the
# stepping one 7-21 s (RISC-V's switch has about 60 instructions). Skipped (77) without gdb-multiarch.
#
# How a cross stage runs them: configure with the target's toolchain file (its emulator must be
# qemu-<arch>), build the targets of label gdb (`cmake --build DIR --target ebb_gdb_programs`), and
# `ctest -L gdb` (they are ordinary members of the suite: `ctest` alone runs them too).
find_program(EBB_GDB_MULTIARCH gdb-multiarch)
if(NOT EBB_GDB_MULTIARCH)
  set(EBB_GDB_MULTIARCH gdb-multiarch)  # the scripts report the skip
endif()

add_custom_target(ebb_gdb_programs)
function(ebb_gdb_qemu_program name)  # ebb_gdb_qemu_program(NAME SOURCES... [FLAGS flags...])
  cmake_parse_arguments(arg "" "" "FLAGS" ${ARGN})
  add_executable(${name} ${arg_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ebb_project_options Threads::Threads)
  target_compile_options(${name} PRIVATE -g ${arg_FLAGS})
  target_link_options(${name} PRIVATE -static)
  add_dependencies(ebb_gdb_programs ${name})
endfunction()

set(ebb_gdb_dir ${CMAKE_CURRENT_SOURCE_DIR})
set(ebb_gdb_helper ${PROJECT_SOURCE_DIR}/tools/gdb/ebb.py)
function(ebb_gdb_qemu_helper_test name program)  # ebb_gdb_qemu_helper_test(NAME PROGRAM [ENVIRONMENT...])
  add_test(NAME gdb:${name}
    COMMAND bash ${ebb_gdb_dir}/run_gdb_helper_test.sh ${EBB_GDB_MULTIARCH} $<TARGET_FILE:${program}>
            ${ebb_gdb_dir}/fibers.gdb ${ebb_gdb_dir}/check_fibers.py ${ebb_gdb_helper}
            -- ${CMAKE_CROSSCOMPILING_EMULATOR})
  set_tests_properties(gdb:${name} PROPERTIES LABELS gdb SKIP_RETURN_CODE 77 TIMEOUT 300)
  if(ARGN)
    set_tests_properties(gdb:${name} PROPERTIES ENVIRONMENT "${ARGN}")
  endif()
endfunction()

foreach(opt O0 O2)
  ebb_gdb_qemu_program(ebb_gdb_${opt} program.cpp FLAGS -${opt})
  ebb_gdb_qemu_program(ebb_gdb_fibers_${opt} fibers_program.cpp FLAGS -${opt})
  add_test(NAME gdb:qemu_backtrace_${opt}
    COMMAND bash ${ebb_gdb_dir}/run_gdb_test.sh ${EBB_GDB_MULTIARCH} $<TARGET_FILE:ebb_gdb_${opt}>
            ${ebb_gdb_dir}/backtrace.gdb backtrace -- ${CMAKE_CROSSCOMPILING_EMULATOR})
  set_tests_properties(gdb:qemu_backtrace_${opt} PROPERTIES LABELS gdb SKIP_RETURN_CODE 77 TIMEOUT 300)
  ebb_gdb_qemu_helper_test(qemu_helper_${opt} ebb_gdb_fibers_${opt})
  ebb_gdb_qemu_program(ebb_gdb_compact_${opt} compact_program.cpp FLAGS -${opt})
  add_test(NAME gdb:qemu_helper_compact_${opt}
    COMMAND bash ${ebb_gdb_dir}/run_gdb_helper_test.sh ${EBB_GDB_MULTIARCH} $<TARGET_FILE:ebb_gdb_compact_${opt}>
            ${ebb_gdb_dir}/compact.gdb ${ebb_gdb_dir}/check_compact.py ${ebb_gdb_helper}
            -- ${CMAKE_CROSSCOMPILING_EMULATOR})
  set_tests_properties(gdb:qemu_helper_compact_${opt} PROPERTIES LABELS gdb SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
# Stepping through the switch: -O2 only (the routine is the same assembly at every level) and two
# switches (one each way; a bt per instruction over the gdbstub takes 50-100 ms here).
add_test(NAME gdb:qemu_switch_stepping_O2
  COMMAND bash ${ebb_gdb_dir}/run_gdb_test.sh ${EBB_GDB_MULTIARCH} $<TARGET_FILE:ebb_gdb_O2>
          ${ebb_gdb_dir}/switch_stepping.gdb stepping -- ${CMAKE_CROSSCOMPILING_EMULATOR})
set_tests_properties(gdb:qemu_switch_stepping_O2 PROPERTIES LABELS gdb SKIP_RETURN_CODE 77 TIMEOUT 300
                     ENVIRONMENT EBB_GDB_SWITCH_HITS=2)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  # The fibers' code in ARM state, the breakpoint function (where the thread stops) in Thumb: every
  # resume address the helper hands gdb is ARM code while the thread's CPSR says Thumb.
  add_library(ebb_gdb_fibers_arm_state OBJECT fibers_program.cpp)
  target_link_libraries(ebb_gdb_fibers_arm_state PRIVATE ebb_project_options)
  target_compile_options(ebb_gdb_fibers_arm_state PRIVATE -O0 -g -marm)
  target_compile_definitions(ebb_gdb_fibers_arm_state PRIVATE EBB_GDB_BREAKPOINT_ELSEWHERE)
  ebb_gdb_qemu_program(ebb_gdb_fibers_arm_in_thumb_O0 $<TARGET_OBJECTS:ebb_gdb_fibers_arm_state>
                       fibers_breakpoint.cpp FLAGS -O0 -mthumb)
  ebb_gdb_qemu_helper_test(qemu_helper_arm_in_thumb_O0 ebb_gdb_fibers_arm_in_thumb_O0)
endif()

if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  # pac-ret and BTI compiled in. With qemu's pointer authentication off (QEMU_CPU=max,pauth=off) the
  # PAC instructions are no-ops and every saved return address is plain: everything must work as
  # without the flag. With it on, the saved addresses are signed: see pac_ret.gdb.
  ebb_gdb_qemu_program(ebb_gdb_fibers_pac_ret_O0 fibers_program.cpp FLAGS -O0 -mbranch-protection=standard)
  ebb_gdb_qemu_helper_test(qemu_helper_pac_ret_O0 ebb_gdb_fibers_pac_ret_O0 QEMU_CPU=max,pauth=off)
  add_test(NAME gdb:qemu_pac_ret_signed_O0
    COMMAND bash ${ebb_gdb_dir}/run_gdb_helper_test.sh ${EBB_GDB_MULTIARCH} $<TARGET_FILE:ebb_gdb_fibers_pac_ret_O0>
            ${ebb_gdb_dir}/pac_ret.gdb ${ebb_gdb_dir}/check_pac_ret.py ${ebb_gdb_helper}
            -- ${CMAKE_CROSSCOMPILING_EMULATOR})
  set_tests_properties(gdb:qemu_pac_ret_signed_O0 PROPERTIES LABELS gdb SKIP_RETURN_CODE 77 TIMEOUT 300
                       ENVIRONMENT QEMU_CPU=max,pauth=on)
  # The checker on a recorded session whose idle slot was signed with a code of all zeros (a CI run
  # failed on it once: check_pac_ret.py says how that happens), the other two slots signed.
  add_test(NAME gdb:qemu_pac_ret_checker_zero_code
    COMMAND bash -c "command -v \"$0\" >/dev/null && \"$0\" -batch -nx -ex 'python print(1)' </dev/null >/dev/null 2>&1 || exit 77; exec \"$0\" -batch -nx -x \"$1\" </dev/null"
            ${EBB_GDB_MULTIARCH} ${ebb_gdb_dir}/check_pac_ret.py)
  set_tests_properties(gdb:qemu_pac_ret_checker_zero_code PROPERTIES LABELS gdb SKIP_RETURN_CODE 77 TIMEOUT 120
                       ENVIRONMENT "EBB_GDB_CHECK_OUTPUT=${ebb_gdb_dir}/fixtures/pac_ret_zero_code.out;EBB_GDB_UNDER_QEMU=1")
endif()
