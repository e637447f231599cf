#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# scripts/install-prereqs.sh [test|example] — install what ebb's scripts need, only if missing.
#   example: a C++ compiler and cmake
#   test:    those, plus catch2, meson, ninja-build, gdb, binutils (readelf), valgrind, and clang++
#            with its sanitizer runtimes (the suite runs under both compilers and every sanitizer)
# Uses apt-get (Debian/Ubuntu); runs it through sudo when not root. Does nothing when all is present.
set -euo pipefail
what=${1:-test}

missing=()
need_cmd() {  # need_cmd COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
need_cmd c++ g++
need_cmd g++ g++
need_cmd cmake cmake
if [ "$what" = test ]; then
  [ -f /usr/include/catch2/catch.hpp ] || missing+=(catch2)
  need_cmd meson meson
  need_cmd ninja ninja-build
  need_cmd gdb gdb
  need_cmd readelf binutils
  need_cmd valgrind valgrind
  need_cmd clang++ clang
  if command -v clang++ >/dev/null 2>&1 || [[ " ${missing[*]} " == *" clang "* ]]; then
    # clang's ASan/TSan/UBSan runtimes (Debian: libclang-rt-NN-dev, NN = clang's major version)
    major=$( (clang++ --version 2>/dev/null || echo "version 14") | sed -n 's/.*version \([0-9][0-9]*\).*/\1/p' | head -n 1)
    ls /usr/lib/llvm-"$major"/lib/clang/*/lib/linux/libclang_rt.asan-x86_64.a >/dev/null 2>&1 ||
      missing+=("libclang-rt-$major-dev")
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0

# De-duplicate (g++ may be listed twice).
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "ebb: installing missing prerequisites: ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ebb: apt-get not found; please install: ${missing[*]}" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "ebb: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update </dev/null
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null
