# SPDX-License-Identifier: BSL-1.0
# Sourced by run_gdb_test.sh and run_gdb_helper_test.sh: runs one batch gdb session, natively or
# against qemu-user's gdbstub.
#
#   ebb_gdb_session GDB PROGRAM SCRIPT OUTPUT WORK-DIR [EMULATOR...]
#
# Without EMULATOR: GDB runs PROGRAM itself (`run`). With it (the cross build's
# CMAKE_CROSSCOMPILING_EMULATOR, e.g. `env QEMU_LD_PREFIX=/usr/aarch64-linux-gnu qemu-aarch64`), the
# program starts under the emulator with QEMU_GDB naming a Unix socket in WORK-DIR (qemu-user then
# holds it at its first instruction until a debugger connects: no TCP port to collide with a parallel
# test), and GDB connects with `target remote` (EBB_GDB_REMOTE; session.py's ebb-test-start does
# it). The program's own output, which goes to qemu's stdout rather than gdb's, is appended to
# OUTPUT. Either way session.py is sourced before SCRIPT. Returns gdb's status (124: timed out).
ebb_gdb_session() {
  local gdb=$1 program=$2 script=$3 output=$4 work=$5
  shift 5
  local session_py
  session_py=$(dirname "${BASH_SOURCE[0]}")/session.py
  if [ $# -eq 0 ]; then
    timeout 300 "$gdb" -batch -nx -x "$session_py" -x "$script" --args "$program" </dev/null >"$output" 2>&1
    return $?
  fi
  local socket=$work/gdbstub.socket program_output=$work/program.output sysroot=() argument
  for argument in "$@"; do  # a dynamically linked program's libraries: where qemu loads them from
    case $argument in QEMU_LD_PREFIX=*) sysroot=(-iex "set sysroot ${argument#QEMU_LD_PREFIX=}") ;; esac
  done
  rm -f "$socket"
  QEMU_GDB=$socket "$@" "$program" </dev/null >"$program_output" 2>&1 &
  local emulator_pid=$! waited=0
  while [ ! -S "$socket" ] && [ $waited -lt 100 ] && kill -0 $emulator_pid 2>/dev/null; do
    sleep 0.1
    waited=$((waited + 1))
  done
  if [ ! -S "$socket" ]; then
    kill $emulator_pid 2>/dev/null
    wait $emulator_pid 2>/dev/null
    { echo "ebb_gdb_session: the emulator did not open its gdbstub at $socket: $*"; cat "$program_output"; } >"$output"
    return 1
  fi
  EBB_GDB_REMOTE=$socket timeout 120 "$gdb" -batch -nx "${sysroot[@]}" -x "$session_py" -x "$script" "$program" \
    </dev/null >"$output" 2>&1
  local status=$?
  # qemu ends with the program, or when gdb kills it at the end of the batch; never leave it behind.
  waited=0
  while kill -0 $emulator_pid 2>/dev/null && [ $waited -lt 50 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  kill $emulator_pid 2>/dev/null
  wait $emulator_pid 2>/dev/null
  cat "$program_output" >>"$output"
  return $status
}
