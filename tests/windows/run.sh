#!/bin/sh
# SPDX-License-Identifier: BSL-1.0
# Builds tests/windows/switch_test.cpp, memory_test.cpp and machine_code_test.cpp (twice: as is, and as
# machine_code_msvc_path with MSVC's selection, EBB_X86_64_MS_MACHINE_CODE=1) with MinGW-w64 at -O2 and
# at -O0 and runs all eight under wine. Then its own checks: the machine-code header is what the
# generator makes of the assembly now, and clang++ --target=x86_64-pc-windows-msvc compiles the port
# both ways (skipped, not failed, without clang++). Exit 0: all passed; 1: a build or a check failed;
# 77: MinGW-w64 or wine64 is missing (skipped).
# Afterwards it runs the stack-growth probes (information only, not part of the exit status).
#
#   tests/windows/run.sh [build-dir]        (default: build-windows-switch under the current directory)
#
# The wine prefix lives in the build directory (a new one costs about 700 MB and several seconds the
# first time) and is warmed before the runs, as ../shared/xarch/RECIPE.md says.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build-windows-switch}

cxx=${EBB_MINGW_CXX:-x86_64-w64-mingw32-g++-posix}
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "skip: $cxx not found (apt-get install g++-mingw-w64-x86-64-posix)"
  exit 77
fi
wine=""
for candidate in wine64 /usr/lib/wine/wine64 /usr/lib64/wine/wine64; do
  if command -v "$candidate" >/dev/null 2>&1; then wine=$candidate; break; fi
done
if [ -z "$wine" ]; then
  echo "skip: wine64 not found (apt-get install wine64)"
  exit 77
fi

mkdir -p "$build" || exit 1
build=$(cd "$build" && pwd)
WINEPREFIX="$build/wineprefix"
WINEDEBUG=-all
export WINEPREFIX WINEDEBUG
wineserver -p </dev/null >/dev/null 2>&1
"$wine" wineboot </dev/null >/dev/null 2>&1

status=0
# The context switch (switch_test), the virtual-memory seam (memory_test, include/ebb/os/windows/
# memory.hpp) and the switch's machine-code form (machine_code_test, and machine_code_msvc_path: the
# same source as MSVC's selection compiles it), each at -O2 and -O0; every program's checks count.
for entry in switch_test:switch_test: memory_test:memory_test: machine_code_test:machine_code_test: \
  machine_code_msvc_path:machine_code_test:-DEBB_X86_64_MS_MACHINE_CODE=1; do
  program=${entry%%:*}
  rest=${entry#*:}
  source=${rest%%:*}
  define=${rest#*:}
  for opt in -O2 -O0; do
    exe="$build/$program$opt.exe"
    echo "== $cxx -std=c++17 $opt -static $define ($program)"
    # shellcheck disable=SC2086 # $define is one flag or none
    if ! "$cxx" -std=c++17 "$opt" -Wall -Wextra -static $define -I"$root/include" "$here/$source.cpp" -o "$exe"; then
      status=1
      continue
    fi
    "$wine" "$exe" </dev/null >"$build/$program$opt.out" 2>&1
    rc=$?
    # Every program prints its banner before anything else. A failure with no output at all is wine
    # not starting it: seen once in CI (2026-12-05) for the first program after wineboot, under load,
    # and never again in the runs before or after. Such a start, and only that, is tried once more.
    if [ "$rc" -ne 0 ] && [ ! -s "$build/$program$opt.out" ]; then
      echo "== wine ran nothing (exit status $rc, no output): starting it once more"
      "$wine" "$exe" </dev/null >"$build/$program$opt.out" 2>&1
      rc=$?
    fi
    tr -d '\r' <"$build/$program$opt.out"  # wine writes CRLF line ends
    echo "== exit status $rc"
    [ "$rc" -eq 0 ] || status=1
  done
done

# One runtime across modules that share no symbols (dll_host.cpp): a DLL and a program, each linked
# -static with its own copy of ebb and of the C++ runtime.
echo "== $cxx -std=c++17 -O2 -static: dll_plugin.dll and dll_host.exe (dll_test)"
if "$cxx" -std=c++17 -O2 -Wall -Wextra -shared -static -I"$root/include" "$here/dll_plugin.cpp" \
     -o "$build/dll_plugin.dll" -Wl,--out-implib,"$build/libdll_plugin.a" &&
   "$cxx" -std=c++17 -O2 -Wall -Wextra -static -I"$root/include" "$here/dll_host.cpp" -L"$build" -ldll_plugin \
     -o "$build/dll_host.exe"; then
  (cd "$build" && "$wine" dll_host.exe </dev/null >"$build/dll_host.out" 2>&1)
  rc=$?
  tr -d '\r' <"$build/dll_host.out"
  echo "== exit status $rc"
  [ "$rc" -eq 0 ] || status=1
else
  status=1
fi

# run.sh's own checks, one line each and a summary line like the programs'.
own_checks=0
own_failed=0
own_check() {  # own_check OK|FAIL group text
  own_checks=$((own_checks + 1))
  if [ "$1" = ok ]; then printf 'ok   %-11s %s\n' "$2" "$3"; else own_failed=$((own_failed + 1)); printf 'FAIL %-11s %s\n' "$2" "$3"; fi
}
echo "== run.sh's checks: the generated header, clang targeting x86_64-pc-windows-msvc"
if command -v python3 >/dev/null 2>&1; then
  if out=$(EBB_MINGW_CXX=$cxx python3 "$root/scripts/gen-windows-machine-code.py" --check 2>&1); then
    own_check ok generated "x86_64_ms_machine_code.hpp is what scripts/gen-windows-machine-code.py makes of the assembly"
  else
    own_check FAIL generated "x86_64_ms_machine_code.hpp differs from the assembly: $out"
  fi
else
  echo "info python3 not found: the generated header was not compared with the assembly"
fi
# No MSVC here: clang in MSVC mode stands in for it, borrowing MinGW's C++ and Windows headers (MSVC's
# are not installed). MinGW's headers need __GNUC__ (-fgnuc-version): without it _mingw.h defines
# __attribute__ away and clang's own intrinsic headers, which winnt.h includes, no longer compile.
clang=${EBB_CLANGXX:-clang++}
objdump=${EBB_MINGW_OBJDUMP:-x86_64-w64-mingw32-objdump}
libstdcxx=$("$cxx" -print-file-name=include/c++ 2>/dev/null)
if command -v "$clang" >/dev/null 2>&1 && command -v "$objdump" >/dev/null 2>&1 && [ -d "$libstdcxx" ]; then
  msvc() {  # msvc OBJECT FLAGS...: compile msvc_target.cpp for x86_64-pc-windows-msvc
    out=$1
    shift
    "$clang" --target=x86_64-pc-windows-msvc -std=c++17 -O2 -fms-extensions -fgnuc-version=4.2.1 -Wno-#warnings \
      -nostdinc++ -isystem "$libstdcxx" -isystem "$libstdcxx/x86_64-w64-mingw32" \
      -isystem /usr/share/mingw-w64/include -I"$root/include" "$@" -c "$here/msvc_target.cpp" -o "$build/$out"
  }
  if msvc msvc-asm.obj && "$objdump" -h "$build/msvc-asm.obj" | grep -q 'text\$ebb_v1_x86_64_ms_switch'; then
    own_check ok clang-msvc "x86_64-pc-windows-msvc, assembly path: compiles, the switch in its COMDAT section"
  else
    own_check FAIL clang-msvc "x86_64-pc-windows-msvc, assembly path: no object or no switch section"
  fi
  guards='__guard_(dispatch|check)_icall'
  if msvc msvc-code.obj -DEBB_X86_64_MS_MACHINE_CODE=1 -Xclang -cfguard; then
    if "$objdump" -h "$build/msvc-code.obj" | grep -q 'text\$ebb_v1'; then
      own_check FAIL clang-msvc "x86_64-pc-windows-msvc, machine-code path: assembly was emitted"
    elif "$objdump" -dr "$build/msvc-code.obj" | grep -Eq "$guards"; then
      own_check FAIL clang-msvc "x86_64-pc-windows-msvc, machine-code path, -cfguard: a CFG check on the call into the copy"
    else
      own_check ok clang-msvc "x86_64-pc-windows-msvc, machine-code path, -cfguard: compiles, no assembly, no CFG check (guard(nocf))"
    fi
  else
    own_check FAIL clang-msvc "x86_64-pc-windows-msvc, machine-code path: does not compile"
  fi
  if msvc msvc-checked.obj -DEBB_X86_64_MS_MACHINE_CODE=1 -DEBB_TEST_CHECKED_CALL -Xclang -cfguard &&
    "$objdump" -dr "$build/msvc-checked.obj" | grep -Eq "$guards"; then
    own_check ok clang-msvc "-cfguard is in effect: an ordinary indirect call in the same object is checked"
  else
    own_check FAIL clang-msvc "-cfguard is in effect: no CFG check on an ordinary indirect call"
  fi
  # The whole library for clang's MinGW target (x86_64-w64-windows-gnu: clang's own code generation for
  # the PE layer, TLS callback and process-wide references), warnings as errors.
  echo '#include <ebb/ebb.hpp>
int main() { ebb::fiber f([] { ebb::this_fiber::yield(); }); f.resume(); return f.resume() ? 0 : 1; }' >"$build/clang-gnu.cpp"
  if "$clang" --target=x86_64-w64-windows-gnu -std=c++17 -O2 -Wall -Wextra -Wpedantic -Werror \
       -isystem "$libstdcxx" -isystem "$libstdcxx/x86_64-w64-mingw32" -isystem /usr/x86_64-w64-mingw32/include \
       -I"$root/include" -c "$build/clang-gnu.cpp" -o "$build/clang-gnu.obj"; then
    own_check ok clang-gnu "x86_64-w64-windows-gnu: ebb.hpp compiles without a warning (-Wall -Wextra -Wpedantic)"
  else
    own_check FAIL clang-gnu "x86_64-w64-windows-gnu: ebb.hpp does not compile cleanly"
  fi
else
  echo "info clang++ or $objdump or MinGW's libstdc++ headers not found: the x86_64-pc-windows-msvc compiles were skipped"
fi
echo "$own_checks checks, $own_failed failed"
[ "$own_failed" -eq 0 ] || status=1
# Facts for the later parts of issue 12 (the OS's stack growth and overflow), not checks of the switch:
# each probe may end the process (under wine 8.0 --growth-probe ends with SIGSEGV, status 139), so
# each runs on its own and only its exit status is reported (switch_test.cpp says what each shows).
if [ -f "$build/switch_test-O2.exe" ]; then
  for probe in --growth-probe --growth-probe-committed --overflow-probe; do
    "$wine" "$build/switch_test-O2.exe" "$probe" </dev/null >"$build/probe$probe.out" 2>&1
    rc=$?
    tr -d '\r' <"$build/probe$probe.out"
    echo "== probe $probe: exit status $rc (information only)"
  done
fi
# MinGW-w64's emulated TLS frees a thread_local's storage before its destructor (emutls_probe.cpp).
if "$cxx" -std=c++17 -O2 -static "$here/emutls_probe.cpp" -o "$build/emutls_probe.exe"; then
  "$wine" "$build/emutls_probe.exe" </dev/null 2>&1 | tr -d '\r'
  echo "== probe emutls: exit status $? (information only)"
fi
wineserver -k >/dev/null 2>&1
exit $status
