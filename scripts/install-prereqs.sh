#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# scripts/install-prereqs.sh [test|example] — install what ebb's scripts need, only if missing.
#   example: a C++ compiler and cmake
#   test:    those, plus Catch2 (v2 or v3, whichever the distribution ships: the tests take both),
#            meson, ninja-build, pkg-config (meson finds Catch2 through it), gdb, binutils (readelf),
#            valgrind, clang++ with its sanitizer runtimes, and llvm (llvm-symbolizer: sanitizer
#            reports name functions only when it is on the PATH), and for the cross stages
#            g++-aarch64-linux-gnu, g++-riscv64-linux-gnu, g++-arm-linux-gnueabihf, g++-i686-linux-gnu
#            and qemu-user (qemu-aarch64, qemu-riscv64, qemu-arm and qemu-i386 run the cross targets'
#            tests; no binfmt registration, no dpkg --add-architecture) and gdb-multiarch (the cross
#            stages' gdb tests attach it to qemu's gdbstub), g++-mingw-w64-x86-64-posix, wine64 and wine
#            (the Windows x64 switch test under wine) — everything any stage of
#            scripts/test-all.sh uses, checked on a fresh Debian 12 with only g++, cmake and git.
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
  # Catch2: v2 is one header, v3 a library with one header per part; either will do.
  [ -f /usr/include/catch2/catch.hpp ] || [ -f /usr/include/catch2/catch_test_macros.hpp ] ||
    missing+=(catch2)
  need_cmd meson meson
  need_cmd ninja ninja-build
  need_cmd pkg-config pkg-config
  need_cmd llvm-symbolizer llvm
  need_cmd gdb gdb
  need_cmd readelf binutils
  need_cmd valgrind valgrind
  need_cmd clang++ clang
  need_cmd aarch64-linux-gnu-g++ g++-aarch64-linux-gnu
  need_cmd riscv64-linux-gnu-g++ g++-riscv64-linux-gnu
  need_cmd arm-linux-gnueabihf-g++ g++-arm-linux-gnueabihf
  need_cmd i686-linux-gnu-g++ g++-i686-linux-gnu
  need_cmd qemu-aarch64 qemu-user
  need_cmd qemu-riscv64 qemu-user
  need_cmd qemu-arm qemu-user
  need_cmd qemu-i386 qemu-user
  need_cmd gdb-multiarch gdb-multiarch
  # Windows x64: MinGW-w64 (the POSIX-threads flavour) builds tests/windows/, wine runs it.
  need_cmd x86_64-w64-mingw32-g++-posix g++-mingw-w64-x86-64-posix
  [ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || missing+=(wine64)
  need_cmd wineserver wine
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
# The tests take Catch2 v2 or v3; refuse a distribution whose catch2 is neither rather than install a
# version the build would then reject.
if [[ " ${missing[*]} " == *" catch2 "* ]]; then
  catch2_version=$(apt-cache policy catch2 2>/dev/null | sed -n 's/^ *Candidate: *\([0-9]*\).*/\1/p' | head -n 1)
  case ${catch2_version:-none} in
    2 | 3) ;;
    *) echo "ebb: this distribution offers catch2 version '${catch2_version:-none}'; the tests need v2 or v3" >&2
       exit 1 ;;
  esac
fi
"${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null
