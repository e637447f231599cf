#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: run_strict_consumer.sh COMPILER INCLUDE_DIR WORK_DIR SOURCE [MORE_SOURCES...]
#
# Compiles each source the way a demanding consumer builds (ebb's headers reached through a plain -I,
# as with add_subdirectory or FetchContent, so nothing marks them as system headers) with the strictest
# common warning set and -Werror, in each configuration a consumer may choose; the first source is
# also linked and run. Then each public header is compiled on its own, and the preprocessor's record
# of definitions is searched for a macro that ebb's headers leave defined without the EBB_ prefix.
# Exit 0 = ebb's headers produced no warning anywhere, each stands alone, and none leaks a macro.
set -u
if [ $# -lt 4 ]; then
  echo "usage: $0 COMPILER INCLUDE_DIR WORK_DIR SOURCE [MORE_SOURCES...]" >&2
  exit 2
fi
compiler=$1 include_dir=$2 work_dir=$3
shift 3
mkdir -p "$work_dir"

warnings=(-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast -Wundef
          -Werror)
if "$compiler" --version 2>/dev/null | grep -qi clang; then
  warnings+=(-Wglobal-constructors)
else
  warnings+=(-Wuseless-cast)
fi

configurations=(
  "-std=c++17"
  "-std=c++17 -DEBB_LEAN=1"
  "-std=c++17 -fno-exceptions"
  "-std=c++17 -DEBB_VALGRIND=1"
  "-std=c++17 -DEBB_SWITCH_HOOKS=1"
  "-std=c++17 -DEBB_SWITCH_HOOKS=1 -fno-exceptions"
  "-std=c++20"
)

status=0
for configuration in "${configurations[@]}"; do
  if [[ $configuration == *EBB_VALGRIND=1* ]] &&
     ! echo '#include <valgrind/valgrind.h>' | "$compiler" -x c++ -fsyntax-only - 2>/dev/null; then
    echo "note: <valgrind/valgrind.h> not installed; the EBB_VALGRIND=1 configuration is not compiled"
    continue
  fi
  read -r -a flags <<<"$configuration"
  # Every configuration for the consumer written for this test; the examples (ordinary programs that
  # may use exceptions) in the default one.
  sources=("$@")
  [ "$configuration" = "-std=c++17" ] || sources=("$1")
  for source in "${sources[@]}"; do
    if ! "$compiler" "${flags[@]}" "${warnings[@]}" -I"$include_dir" -fsyntax-only "$source"; then
      echo "FAIL: $(basename "$source") with $configuration produced warnings (above)" >&2
      status=1
    fi
  done
done
# The first source is a complete program: it must also link and run.
# EBB_TEST_LINK_FLAGS: how a cross build links its programs (Windows: -static, no DLLs under wine).
# shellcheck disable=SC2086
if ! "$compiler" -std=c++17 -O2 "${warnings[@]}" -I"$include_dir" -pthread "$1" ${EBB_TEST_LINK_FLAGS:-} -o "$work_dir/strict_consumer.exe" ||
   ! ${EBB_TEST_RUNNER:-} "$work_dir/strict_consumer.exe"; then  # cross builds: the emulator (tests/CMakeLists.txt)
  echo "FAIL: $(basename "$1") did not build or run" >&2
  status=1
fi

# Every public header (the top level, policies/, allocators/, mappers/: what a user includes) compiles
# on its own, with nothing included before it, under the same flags.
public_headers=()
for header in "$include_dir"/ebb/*.hpp "$include_dir"/ebb/policies/*.hpp "$include_dir"/ebb/allocators/*.hpp \
              "$include_dir"/ebb/mappers/*.hpp; do
  public_headers+=("${header#"$include_dir"/}")
done
for header in "${public_headers[@]}"; do
  if ! printf '#include <%s>\n' "$header" |
       "$compiler" -std=c++17 "${warnings[@]}" -I"$include_dir" -x c++ -fsyntax-only -; then
    echo "FAIL: <$header> does not compile on its own (above)" >&2
    status=1
  fi
done

# No macro leaks: every macro a header of ebb defines and leaves defined is named EBB_... The
# preprocessor's -dD output keeps each #define and #undef where it happened, after a line marker
# naming the file, so each is charged to the header that wrote it.
leaks=$(printf '#include <%s>\n' "${public_headers[@]}" |
        "$compiler" -std=c++17 -I"$include_dir" -x c++ -E -dD - 2>/dev/null |
        awk -v root="$include_dir/ebb/" '
          /^# [0-9]+ "/ { file = $3; gsub(/"/, "", file); ours = index(file, root) == 1; next }
          /^#define / { name = $2; sub(/\(.*/, "", name); if (ours && name !~ /^EBB_/) left[name] = file; next }
          /^#undef / { delete left[$2]; next }
          END { for (name in left) print name " (" left[name] ")" }')
if [ -n "$leaks" ]; then
  echo "FAIL: macros without the EBB_ prefix left defined by ebb's headers:" >&2
  echo "$leaks" >&2
  status=1
fi

[ $status -eq 0 ] && echo "PASS: no warnings from ebb's headers under ${warnings[*]}; ${#public_headers[@]} public headers compile on their own; no macro without the EBB_ prefix is left defined"
exit $status
