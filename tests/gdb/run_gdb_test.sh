#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: run_gdb_test.sh GDB PROGRAM SCRIPT MODE [-- EMULATOR...]
#   MODE backtrace: SCRIPT stops at ebb_gdb_breakpoint on a fiber; the backtrace must show
#                   ebb_gdb_breakpoint <- gdb_test_level3 <- level2 <- level1, and end at the fiber's
#                   entry frame ebb_v1_<port>_fiber_start (ebb_v1_x86_64_sysv_fiber_start, ...).
#   MODE stepping:  SCRIPT single-steps through the context switch; every backtrace must end either at
#                   main or at the fiber entry, with no unknown ("??") frame.
# In both modes no backtrace may report an error ("Backtrace stopped", "corrupt stack", ...).
# SCRIPT brackets each backtrace with ===BACKTRACE=== / ===END=== lines.
# With EMULATOR (a qemu-user command, e.g. the cross build's CMAKE_CROSSCOMPILING_EMULATOR) the
# program runs under it and GDB (gdb-multiarch) attaches to qemu's gdbstub: see gdb_session.sh.
# Exit 0 = pass, 1 = fail, 77 = skipped (no gdb, or this environment forbids ptrace).
set -u
gdb=$1 program=$2 script=$3 mode=$4
shift 4
[ "${1:-}" = "--" ] && shift
. "$(dirname "${BASH_SOURCE[0]}")/gdb_session.sh"

if ! command -v "$gdb" >/dev/null 2>&1; then
  echo "SKIP: gdb not found ($gdb)"
  exit 77
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/ebb-gdb.XXXXXX")
trap 'rm -rf "$work_dir"' EXIT
ebb_gdb_session "$gdb" "$program" "$script" "$work_dir/output" "$work_dir" "$@"
gdb_status=$?
output=$(cat "$work_dir/output")

if printf '%s\n' "$output" | grep -Eq 'ptrace: Operation not permitted|Could not trace the inferior|Couldn.t get registers'; then
  printf '%s\n' "$output" | head -n 20
  echo "SKIP: gdb cannot trace processes here (ptrace not permitted)"
  exit 77
fi

fail() {
  printf '%s\n' "$output"
  echo "FAIL: $*" >&2
  exit 1
}

[ $gdb_status -eq 124 ] && fail "gdb timed out"

# Backtraces, one per line: frames joined with " | ".
traces=$(printf '%s\n' "$output" | awk '
  /^===BACKTRACE===$/ { inside = 1; trace = ""; next }
  /^===END===$/       { if (inside) print trace; inside = 0; next }
  inside && /^#[0-9]/ { trace = trace (trace == "" ? "" : " | ") $0; next }
  inside && /Backtrace stopped|corrupt stack|previous frame identical|frame did not save|Cannot access memory/ {
    trace = trace " | ERROR: " $0 }')
count=$(printf '%s\n' "$traces" | grep -c .)
[ "$count" -gt 0 ] || fail "no backtrace was taken (the breakpoint was never reached?)"

# Errors gdb prints outside a bracket still count.
if printf '%s\n' "$output" | grep -Eq 'Backtrace stopped|corrupt stack|previous frame identical to this frame'; then
  fail "gdb reported an unwinding error"
fi
if printf '%s\n' "$traces" | grep -q 'ERROR: '; then
  fail "a backtrace reported an error"
fi

last_frame() { awk -F' [|] ' '{ print $NF }'; }

case $mode in
  backtrace)
    trace=$(printf '%s\n' "$traces" | head -n 1)
    frames=$(printf '%s\n' "$trace" | awk -F' [|] ' '{ for (i = 1; i <= NF; ++i) print $i }')
    want="ebb_gdb_breakpoint gdb_test_level3 gdb_test_level2 gdb_test_level1"
    position=0
    for fn in $want; do
      line=$(printf '%s\n' "$frames" | grep -n -m 1 "[ :]$fn (" | cut -d: -f1)
      [ -n "$line" ] || fail "frame $fn missing from the backtrace"
      [ "$line" -gt "$position" ] || fail "frame $fn out of order in the backtrace"
      position=$line
    done
    printf '%s\n' "$frames" | head -n 1 | grep -q 'ebb_gdb_breakpoint' || fail "frame #0 is not ebb_gdb_breakpoint"
    printf '%s\n' "$trace" | last_frame | grep -Eq 'ebb_v[0-9]+_[A-Za-z0-9_]*fiber_start' ||
      fail "the backtrace does not end at the fiber entry ebb_v1_<port>_fiber_start"
    printf '%s\n' "$frames"
    echo "PASS: backtrace from the fiber is complete and ends at its entry frame"
    ;;
  stepping)
    bad=$(printf '%s\n' "$traces" | while IFS= read -r trace; do
      end=$(printf '%s\n' "$trace" | last_frame)
      if printf '%s\n' "$trace" | grep -q ' in ?? ('; then
        echo "unknown frame: $trace"
      elif ! printf '%s\n' "$end" | grep -Eq ' main \(|ebb_v[0-9]+_[A-Za-z0-9_]*fiber_start \('; then
        echo "ends neither at main nor at the fiber entry: $trace"
      fi
    done)
    if [ -n "$bad" ]; then
      printf '%s\n' "$output"
      echo "---- bad backtraces:" >&2
      printf '%s\n' "$bad" | head -n 10 >&2
      echo "FAIL: $(printf '%s\n' "$bad" | grep -c .) of $count backtraces taken inside the switch are incomplete" >&2
      exit 1
    fi
    echo "PASS: $count backtraces taken instruction by instruction through the switch all unwind cleanly"
    ;;
  *)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
exit 0
