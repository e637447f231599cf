#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: catch_cases_apart.sh EMULATOR PROGRAM [ARGS...]
# An exe_wrapper for meson cross files (tests/cross/meson/i686-linux-gnu.ini): runs PROGRAM under
# EMULATOR; a Catch2 test program run without arguments runs one test case per process, as ctest runs
# them (catch_discover_tests), and fails if any case fails. Any other program, or a Catch2 program
# given arguments (a re-executed child, a filter), runs once, unchanged.
#
# Why: under qemu-i386 7.2 a signal taken by a thread after another thread was created leaves that
# thread with the other thread's thread pointer (docs/reliability.md, "Under emulation"), so in one
# process every test case after the first that starts a thread could fail for qemu's reasons.
set -u
emulator=$1
shift
program=$1
if [ $# -gt 1 ] || ! grep -q "A Catch2 test executable" "$program" 2>/dev/null; then
  exec "$emulator" "$@"
fi
# (Catch2 v2 exits with the number of tests listed: the output decides, not the status.)
names=$("$emulator" "$program" --list-test-names-only)
[ -n "$names" ] || { echo "catch_cases_apart: cannot list $program's tests" >&2; exit 1; }
total=0 failed=()
while IFS= read -r name; do
  [ -n "$name" ] || continue
  total=$((total + 1))
  # A test spec treats , [ ] * ~ \ and " specially: escape them so the name matches only itself.
  spec=$(printf '%s' "$name" | sed 's/[][,*~\\"]/\\&/g')
  output=$("$emulator" "$program" "$spec" 2>&1) && continue
  printf '%s\n' "$output" | tail -n 40
  failed+=("$name")
done <<<"$names"
echo "catch_cases_apart: $((total - ${#failed[@]})) of $total test cases passed, each in its own process"
for name in "${failed[@]}"; do echo "FAILED: $name"; done
[ ${#failed[@]} -eq 0 ]
