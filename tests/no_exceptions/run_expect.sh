#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: run_expect.sh STATUS MUST_MATCH MUST_NOT_MATCH PROGRAM [ARGS...]
#   STATUS          zero: the program must exit 0;  abort: it must die of SIGABRT (not exit normally)
#   MUST_MATCH      extended regex its combined stdout+stderr must match ("" = no requirement)
#   MUST_NOT_MATCH  extended regex it must not match ("" = no requirement)
set -u
want=$1 match=$2 nomatch=$3
shift 3
ulimit -c 0 2>/dev/null  # an expected abort leaves no core file

# A meson cross build runs the program through the cross file's exe_wrapper, which meson test hands to
# a script in MESON_EXE_WRAPPER (ctest passes the emulator in the command itself).
wrapper=()
[ -n "${MESON_EXE_WRAPPER:-}" ] && read -r -a wrapper <<<"$MESON_EXE_WRAPPER"
output=$("${wrapper[@]}" "$@" 2>&1)
status=$?
printf '%s\n' "$output"
echo "(exit status $status)"

case $want in
  zero)  [ $status -eq 0 ] || { echo "FAIL: expected exit status 0" >&2; exit 1; } ;;
  # A Windows program (run under wine) has no signals: the C runtime's abort() exits with status 3.
  abort) [ $status -eq 134 ] || [ $status -eq 3 ] ||
           { echo "FAIL: expected an abort (SIGABRT, status 134; on Windows status 3)" >&2; exit 1; } ;;
  *) echo "unknown STATUS $want" >&2; exit 2 ;;
esac
if [ -n "$match" ] && ! printf '%s\n' "$output" | grep -Eq -- "$match"; then
  echo "FAIL: output does not match: $match" >&2
  exit 1
fi
if [ -n "$nomatch" ] && printf '%s\n' "$output" | grep -Eq -- "$nomatch"; then
  echo "FAIL: output matches what it must not: $nomatch" >&2
  exit 1
fi
echo PASS
