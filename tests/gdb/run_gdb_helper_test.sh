#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: run_gdb_helper_test.sh GDB PROGRAM SCRIPT CHECKER HELPER [-- EMULATOR...]
#   Runs PROGRAM under GDB with the batch SCRIPT (which sources HELPER, tools/gdb/ebb.py, from the
#   EBB_GDB_HELPER environment variable; a script that writes a core file writes it to
#   EBB_GDB_CORE_FILE, in a temporary directory removed afterwards) and checks the output with
#   CHECKER, a Python script run by gdb's own Python interpreter (so no separate python3 is needed).
#   With EMULATOR (a qemu-user command) the program runs under it and GDB (gdb-multiarch) attaches
#   to qemu's gdbstub (gdb_session.sh); the checker then sees EBB_GDB_UNDER_QEMU=1.
# Exit 0 = pass, 1 = fail, 77 = skipped (no gdb, gdb without Python, or ptrace not permitted).
set -u
gdb=$1 program=$2 script=$3 checker=$4 helper=$5
shift 5
[ "${1:-}" = "--" ] && shift
. "$(dirname "${BASH_SOURCE[0]}")/gdb_session.sh"
under_qemu=0
[ $# -gt 0 ] && under_qemu=1

if ! command -v "$gdb" >/dev/null 2>&1; then
  echo "SKIP: gdb not found ($gdb)"
  exit 77
fi
if ! "$gdb" -batch -nx -ex 'python print("python-ok")' </dev/null 2>/dev/null | grep -q python-ok; then
  echo "SKIP: $gdb has no Python support"
  exit 77
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/ebb-gdb-helper.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT
output_file=$work_dir/output
EBB_GDB_HELPER=$helper EBB_GDB_CORE_FILE=$work_dir/core \
  ebb_gdb_session "$gdb" "$program" "$script" "$output_file" "$work_dir" "$@"
gdb_status=$?

if grep -Eq 'ptrace: Operation not permitted|Could not trace the inferior|Couldn.t get registers' "$output_file"; then
  head -n 20 "$output_file"
  echo "SKIP: gdb cannot trace processes here (ptrace not permitted)"
  exit 77
fi

cat "$output_file"
echo "---- check"
if [ $gdb_status -eq 124 ]; then
  echo "FAIL: gdb timed out"
  exit 1
fi
EBB_GDB_CHECK_OUTPUT=$output_file EBB_GDB_UNDER_QEMU=$under_qemu "$gdb" -batch -nx -x "$checker" </dev/null
