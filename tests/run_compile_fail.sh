#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: run_compile_fail.sh COMPILER INCLUDE_DIR FILE [EXTRA_FLAGS...]
#
# FILE's first line says what must happen:
#   // expect: REGEX      compilation must FAIL, and the compiler's output must match REGEX (grep -E)
#   // expect-success     compilation must succeed without warnings (a positive control: proves that
#                         the failures above come from the policy mistake, not from a broken setup)
#   // expect-run         it must compile and link without warnings, and the program must exit 0
# A rejected file may produce at most 3 "error:" diagnostics (ebb promises one readable message, not
# a cascade from inside its headers); a line "// max-errors: N" among the first five raises that,
# and a line "// flags: ..." there adds compiler flags.
# Compiles with -std=c++17 -fsyntax-only (expect-run: -O2, linked and run). Exit 0 = the test passed.
set -u

if [ $# -lt 3 ]; then
  echo "usage: $0 COMPILER INCLUDE_DIR FILE [EXTRA_FLAGS...]" >&2
  exit 2
fi
compiler=$1 include_dir=$2 file=$3
shift 3

first_line=$(head -n 1 -- "$file")
case $first_line in
  "// expect-success"*) mode=success ;;
  "// expect-run"*)     mode=run ;;
  "// expect: "*)       mode=fail; regex=${first_line#// expect: } ;;
  *) echo "FAIL: $file: first line must be '// expect: REGEX', '// expect-success' or '// expect-run'" >&2; exit 2 ;;
esac

file_flags=$(head -n 5 -- "$file" | sed -n 's|^// flags: *||p' | head -n 1)

if [ "$mode" = run ]; then
  dir=$(mktemp -d) || exit 2
  trap 'rm -rf "$dir"' EXIT
  # shellcheck disable=SC2086 # the flags are words
  if ! "$compiler" -std=c++17 $file_flags -O2 -Wall -Wextra -Wpedantic -Werror -pthread \
         -I "$include_dir" "$@" "$file" -o "$dir/program.exe"; then
    echo "FAIL: $file should compile and link" >&2
    exit 1
  fi
  # EBB_TEST_RUNNER: the emulator a cross build's programs run under (qemu-user, wine), as words.
  # shellcheck disable=SC2086
  if ${EBB_TEST_RUNNER:-} "$dir/program.exe"; then
    echo "PASS: $file compiled and ran"
    exit 0
  fi
  echo "FAIL: $file compiled, but the program failed (exit status $?)" >&2
  exit 1
fi
# shellcheck disable=SC2086 # the flags are words
# The file's flags come after -std=c++17, so a file may ask for another standard.
output=$("$compiler" -std=c++17 $file_flags -fsyntax-only -Wall -Wextra -Wpedantic -Werror \
           -I "$include_dir" "$@" "$file" 2>&1)
status=$?
errors=$(printf '%s\n' "$output" | grep -c ': error:')
max_errors=$(head -n 5 -- "$file" | sed -n 's|^// max-errors: *\([0-9][0-9]*\).*|\1|p' | head -n 1)
max_errors=${max_errors:-3}

if [ "$mode" = success ]; then
  if [ $status -eq 0 ]; then
    echo "PASS: $file compiles (positive control)"
    exit 0
  fi
  printf '%s\n' "$output"
  echo "FAIL: $file should compile but the compiler exited with $status" >&2
  exit 1
fi

if [ $status -eq 0 ]; then
  printf '%s\n' "$output"
  echo "FAIL: $file compiled, but it must be rejected with: $regex" >&2
  exit 1
fi
if printf '%s\n' "$output" | grep -Eq -- "$regex"; then
  if [ "$errors" -gt "$max_errors" ]; then
    printf '%s\n' "$output"
    echo "FAIL: $file was rejected with the expected message, but in a cascade of $errors errors" \
         "(at most $max_errors allowed)" >&2
    exit 1
  fi
  echo "PASS: $file rejected with the expected message ($errors error lines):"
  printf '%s\n' "$output" | grep -E -- "$regex" | head -n 1
  exit 0
fi
printf '%s\n' "$output"
echo "FAIL: $file was rejected, but no error matched: $regex" >&2
exit 1
