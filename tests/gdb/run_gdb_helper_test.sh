#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: run_gdb_helper_test.sh GDB PROGRAM SCRIPT CHECKER HELPER
#   Runs PROGRAM under GDB with the batch SCRIPT (which sources HELPER, tools/gdb/ebb.py, from the
#   EBB_GDB_HELPER environment variable; a script that writes a core file writes it to
#   EBB_GDB_CORE_FILE, in a temporary directory removed afterwards) and checks the output with
#   CHECKER, a Python script run by gdb's own Python interpreter (so no separate python3 is needed).
# Exit 0 = pass, 1 = fail, 77 = skipped (no gdb, gdb without Python, or ptrace not permitted).
set -u
gdb=$1 program=$2 script=$3 checker=$4 helper=$5

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
EBB_GDB_HELPER=$helper EBB_GDB_CORE_FILE=$work_dir/core timeout 300 "$gdb" -batch -nx -x "$script" --args "$program" </dev/null >"$output_file" 2>&1
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
EBB_GDB_CHECK_OUTPUT=$output_file "$gdb" -batch -nx -x "$checker" </dev/null
