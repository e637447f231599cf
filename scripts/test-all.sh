#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# scripts/test-all.sh — build and run every test of ebb. CI (.ci/run) runs exactly this.
#
# Installs missing prerequisites with apt-get (catch2 meson ninja-build gdb cmake g++), then:
#   cmake/gcc-debug      g++ -O0 -g (the checked unit binary file by file): unit, lean, examples,
#                        compile-fail, strict consumer, shared libs, gdb, -fno-exceptions; EBB_VALGRIND=1
#   cmake/gcc-lto        g++ -O2 -flto=auto -fcf-protection=full: the same suite with link-time
#                        optimisation (GCC pastes every unit's top-level assembly into one file) and
#                        CET's branch tracking and shadow stacks compiled in (Ubuntu's default); also
#                        builds bench/ (not run). Its compile-fail and consumer tests are gcc-debug's.
#                        Built against the generated single header single_include/ebb/ebb.hpp and
#                        Catch2 v3 (from the distribution's backports, fetched into the build
#                        directory with apt-get download, when the system has v2)
#   install              cmake --install, then consumers (tests/package/): find_package(ebb), pkg-config,
#                        add_subdirectory, FetchContent, meson dependency('ebb') and subproject
#   cmake/{gcc,clang}-asan-ubsan, cmake/gcc-tsan   the checked and hooks unit tests and the
#                        examples under AddressSanitizer with UndefinedBehaviorSanitizer, and under
#                        ThreadSanitizer (-O1)
#   valgrind             memcheck over the unit tests of cmake/gcc-debug
#   meson                clang++ -O2 -flto (b_lto; no -g: it changes no code), meson test: the whole
#                        suite, the compile-fail and strict-consumer tests with clang++ (until
#                        2026-12-06 a CMake stage cmake/clang-lto built it, and meson used g++ -O2)
# Every emulated target runs each of its test binaries once, split between two stages so that none is
# built twice: the CMake stage builds and runs the checked, hooks, compact-checked and target-specific
# unit binaries, the shared-library, -fno-exceptions and gdb programs; the meson stage the lean unit
# binary and the examples. Counts scaled by EBB_TEST_SCALE=16.
#   cross/aarch64        aarch64-linux-gnu-g++ -O2 (cmake/toolchains/aarch64-linux-gnu.cmake), ctest
#                        under qemu-aarch64 (4 KiB pages), with the compile-fail and consumer tests; the
#                        gdb tests with gdb-multiarch on qemu's gdbstub (tests/gdb/qemu.cmake)
#   meson/cross-aarch64  meson --cross-file tests/cross/meson/aarch64-linux-gnu.ini, -O2, meson test under
#                        the cross file's exe_wrapper (qemu-user)
#   cross/aarch64-64k    both stages' binaries again with QEMU_PAGESIZE=65536 (64 KiB guest pages)
#   cross/riscv64        riscv64-linux-gnu-g++ -O2 under qemu-riscv64, and meson/cross-riscv64
#   cross/armhf          arm-linux-gnueabihf-g++ -O2 under qemu-arm (Thumb-2; the contract, basics and
#                        exceptions also in ARM state), and meson/cross-armhf
#   cross/i386           i686-linux-gnu-g++ -O2 -static under qemu-i386, and meson/cross-i386; the strict
#                        consumer (tests/consumer/) runs in cross/armhf and cross/i386 too, with the
#                        32-bit target's compiler
#   windows/switch       the Windows x64 context switch on its own (tests/windows/run.sh): MinGW-w64
#                        g++ -O2 and -O0, run under wine, assembled and as machine code; clang
#                        compiles for x86_64-pc-windows-msvc
#   windows/unit         the CMake half of the suite for Windows x64 (cmake/toolchains/x86_64-w64-mingw32.cmake)
#                        with the compile-fail and consumer tests and bench/ (built): MinGW-w64 g++ -O2,
#                        run under wine (EBB_TEST_SCALE=8: the toolchain file says why); a failed test
#                        runs once more (wine loses a process now and then: see run_cmake_stage), and
#                        the summary names every test that needed it
#   meson/cross-windows  the meson half for Windows x64 (exe_wrapper wine64)
# all with -Wall -Wextra -Wpedantic -Werror. A failing stage does not stop the others; the last line
# is the summary, and the exit status is non-zero if anything failed.
#
# Options:  --quick          only cmake/gcc-debug
#           --clean          delete the build directories first
#           --only NAME      only the named stage (repeatable)
# Environment: EBB_BUILD_DIR (default build/test-all), EBB_JOBS (default: number of CPUs),
#              EBB_NO_INSTALL=1 (do not run apt-get), EBB_TEST_BENCH=0 (do not build bench/),
#              EBB_TEST_UNITY_BATCH (unit-test files per translation unit, default 16; 0: one by one),
#              EBB_LANES=1 (run the emulated stages after the native ones instead of beside them),
#              EBB_EMULATED (the emulated stages to run: stage names, "all" (the default) or
#              "none").
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build_root=${EBB_BUILD_DIR:-$root/build/test-all}
jobs=${EBB_JOBS:-$(nproc 2>/dev/null || echo 2)}
# The unit tests are compiled this many files per translation unit (tests/CMakeLists.txt says why).
unity_batch=${EBB_TEST_UNITY_BATCH:-16}

quick=0 clean=0 only=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --clean) clean=1 ;;
    --only) only+=("$2"); shift ;;
    -h | --help) sed -n '2,/^set -uo pipefail/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "${EBB_NO_INSTALL:-0}" != 1 ]; then
  bash "$root/scripts/install-prereqs.sh" test || { echo "test-all: FAILED: could not install prerequisites"; exit 1; }
fi

generator=() keep_going=(-k)
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
  keep_going=(-k 0)
fi

# Every stage appends "stage|PASS/FAIL|seconds|tests|detail" to this file: stages of the emulated lane
# run in a background process (see the end), so the record cannot live in a shell variable.
mkdir -p "$build_root"
results_file=$build_root/results.txt
: >"$results_file"
stage_tests=0  # set by a stage before it calls record: how many tests it ran

# The emulated stages a run includes unless --only names stages: EBB_EMULATED, a list of stage names,
# or "all", or "none". The default is all of them: every CPU target through CTest and through meson.
emulated_default=all
emulated_selected() {  # emulated_selected STAGE
  local selection=${EBB_EMULATED:-$emulated_default} s
  [ "$selection" = all ] && return 0
  for s in $selection; do [ "$s" = "$1" ] && return 0; done
  return 1
}

wanted() {  # wanted STAGE: is this stage selected?
  local s
  if [ ${#only[@]} -gt 0 ]; then
    for s in "${only[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
  fi
  [ $quick -eq 0 ] || [ "$1" = cmake/gcc-debug ] || return 1
  case $1 in
    cross/* | meson/cross-* | windows/*) emulated_selected "$1" ;;
    *) return 0 ;;
  esac
}

banner() { printf '\n==== %s ====\n' "$*"; }

record() {  # record STAGE STATUS(0/1) START DETAIL   (the test count is taken from stage_tests)
  local stage=$1 status=$2 start=$3 detail=$4 verdict=PASS
  [ "$status" -eq 0 ] || verdict=FAIL
  echo "$stage|$verdict|$(( $(date +%s) - start ))|${stage_tests:-0}|$detail" >>"$results_file"
  stage_tests=0
  echo "---- $stage: $verdict ($detail)"
}

# Count the tests ctest / meson test reported and pick a one-line result.
ctest_detail() {  # from ctest output on stdin
  awk '/tests passed, .* tests failed out of/ { line = $0 } END { print line }'
}

failed_ctest_names() {  # the tests ctest listed as failed (stdin: its output), joined by " | "
  awk '/^The following tests FAILED:/ { on = 1; next }
       on && /^[[:space:]]+[0-9]+ - / { sub(/^[[:space:]]+[0-9]+ - /, ""); names = names (names ? " | " : "") $0; next }
       on { on = 0 }
       END { print names }'
}

retried_ctest_names() {  # tests with a failed attempt that were not among the final failures
  awk '/^The following tests FAILED:/ { final = 1; next }
       final && /^[[:space:]]+[0-9]+ - / { sub(/^[[:space:]]+[0-9]+ - /, ""); sub(/ \([A-Za-z]+\)$/, ""); lost[$0] = 1; next }
       /Test +#[0-9]+: .*\*\*\*/ { name = $0; sub(/^.*Test +#[0-9]+: /, "", name); sub(/ \.+ *\*\*\*.*$/, "", name); tried[name] = 1 }
       END { for (n in tried) if (!(n in lost)) names = names (names ? " | " : "") n; print names }'
}

run_cmake_stage() {  # run_cmake_stage NAME CXX BUILD_TYPE [EXTRA CMAKE ARGS...]
  local name=$1 cxx=$2 type=$3
  shift 3
  wanted "$name" || return 0
  local dir=$build_root/${name#cmake/} start
  start=$(date +%s)
  banner "$name: $cxx, $type"
  [ $clean -eq 1 ] && rm -rf "$dir"
  local log=$dir.ctest.log
  mkdir -p "$build_root"
  if ! cmake -S "$root" -B "$dir" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_BUILD_TYPE="$type" -DEBB_BUILD_TESTS=ON -DEBB_BUILD_EXAMPLES=ON -DEBB_WERROR=ON \
        -DEBB_TEST_UNITY_BATCH="${stage_unity:-$unity_batch}" "$@"; then
    record "$name" 1 "$start" "configure failed"
    return
  fi
  # Keep going past a failed target, and run the tests that did build: one broken file should not
  # hide the state of everything else. The stage fails either way.
  local built=0 targets=() selection=()
  [ -n "${stage_targets:-}" ] && read -r -a targets <<<"--target $stage_targets"
  [ -n "${stage_labels:-}" ] && selection=(-L "$stage_labels")
  [ -n "${stage_skip_labels:-}" ] && selection+=(-LE "$stage_skip_labels")
  local build_start=$SECONDS
  cmake --build "$dir" --parallel "$jobs" "${targets[@]}" -- "${keep_going[@]}" || built=1
  local build_secs=$((SECONDS - build_start))
  # stage_retry=1 (windows/unit only): a test that fails is run once more, and passes if that run
  # does. Under wine, about one full run in ten loses a test process that ends at once with no output
  # (0.01 s, nothing written; seen for different tests, and for a child a test started), which no
  # run of the same test alone reproduced in 600 tries. The retried tests are named in the summary.
  local repeat=()
  [ -n "${stage_retry:-}" ] && repeat=(--repeat until-pass:2)
  (cd "$dir" && ctest --output-on-failure --parallel "$jobs" --timeout 900 "${repeat[@]}" "${selection[@]}") 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]} detail failed retried
  detail=$(ctest_detail <"$log")
  # Name what failed in the summary line itself: CI keeps only the tail of this script's output.
  failed=$(failed_ctest_names <"$log")
  [ -n "$failed" ] && detail="$detail; FAILED: $failed"
  if [ ${#repeat[@]} -ne 0 ]; then
    retried=$(retried_ctest_names <"$log")
    [ -n "$retried" ] && detail="$detail; passed on a second run: $retried"
  fi
  if [ $built -ne 0 ]; then
    status=1
    detail="BUILD FAILED; $detail"
  fi
  local n
  n=$(printf '%s\n' "$detail" | sed -n 's/.* out of \([0-9][0-9]*\).*/\1/p')
  stage_tests=${n:-0}
  record "$name" "$status" "$start" "${detail:-no tests ran}; build ${build_secs}s"
}

# Valgrind memcheck over the unit tests of the gcc-debug stage (ebb registers every stack with it).
run_valgrind_stage() {
  wanted valgrind || return 0
  local start binary=$build_root/gcc-debug/tests/ebb_tests log=$build_root/valgrind.log status=0
  start=$(date +%s)
  banner "valgrind: memcheck over the unit tests"
  if ! command -v valgrind >/dev/null 2>&1; then
    record valgrind 1 "$start" "valgrind not installed"
    return
  fi
  if [ ! -x "$binary" ]; then
    record valgrind 1 "$start" "no unit-test binary (the cmake/gcc-debug stage must run first)"
    return
  fi
  # --fair-sched: threads that spin-wait for one another must take turns under its big lock.
  valgrind --error-exitcode=99 --quiet --fair-sched=yes "$binary" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  local errors
  errors=$(grep -c '^==[0-9]*== [A-Z]' "$log" || true)
  record valgrind "$status" "$start" "$(tail -n 3 "$log" | grep -E 'passed|failed' | tail -n 1 | sed 's/^ *//'); memcheck error lines: $errors"
}

run_install_stage() {
  wanted install || return 0
  local start dir=$build_root/install status=0 log
  start=$(date +%s)
  banner "install: cmake --install, then consumers through find_package, pkg-config, add_subdirectory, FetchContent and meson"
  log=$dir.log
  mkdir -p "$(dirname "$log")"
  bash "$root/tests/package/run_package_consumers.sh" "$root" "$dir" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  record install "$status" "$start" "$(grep '^package consumers:' "$log" | tail -n 1 | sed 's/^package consumers: //')"
}

# Catch2 v3 beside the system's v2: Debian 12 ships v3 only in bookworm-backports. Its package is
# fetched with the machine's own apt configuration (same mirror, private package lists, nothing
# installed or changed on the system) and unpacked into the build directory.
fetch_catch2_v3() {  # fetch_catch2_v3 PREFIX
  local prefix=$1 work codename uri
  work=$(dirname "$prefix")/apt
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  [ -n "$uri" ] || uri=$(sed -n 's/^deb  *\(\[[^]]*\] *\)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
  if [ -z "$codename" ] || [ -z "$uri" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "cannot tell the distribution's backports suite (codename '$codename', mirror '$uri')" >&2
    return 1
  fi
  rm -rf "$work" && mkdir -p "$work/lists/partial" "$work/archives/partial"
  echo "deb $uri $codename-backports main" >"$work/sources.list"
  local apt=(apt-get -q -o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=-
             -o Dir::State::Lists="$work/lists" -o Dir::Cache::Archives="$work/archives"
             -o Debug::NoLocking=1)
  "${apt[@]}" update </dev/null >"$work/update.log" 2>&1 || { cat "$work/update.log"; return 1; }
  (cd "$work" && "${apt[@]}" download "libcatch2-dev/$codename-backports" </dev/null) || return 1
  dpkg-deb -x "$work"/libcatch2-dev_*.deb "$prefix"
}

# The Catch2 v3 package for the cmake/gcc-lto stage, which builds the whole suite against it: sets
# catch2_v3_args to the CMake arguments that select it (none when the system's Catch2 is v3 already:
# then every stage uses it). A fetch that fails is recorded, and the stage goes on with v2.
catch2_v3_args=()
prepare_catch2_v3() {
  local start prefix=$build_root/catch2-v3-package/prefix
  start=$(date +%s)
  catch2_v3_args=()
  [ -f /usr/include/catch2/catch_test_macros.hpp ] && return 0
  if [ ! -f "$prefix/usr/lib/cmake/Catch2/Catch2Config.cmake" ] && ! fetch_catch2_v3 "$prefix"; then
    record "cmake/gcc-lto (Catch2 v3)" 1 "$start" "could not fetch Catch2 v3 (libcatch2-dev from backports); the stage used v2"
    return 1
  fi
  catch2_v3_args=(-DCMAKE_PREFIX_PATH="$prefix/usr")
}

# The stage proves something only if its binaries really run on v3.
check_catch2_v3() {
  local start version
  start=$(date +%s)
  version=$("$build_root/gcc-lto/tests/ebb_tests" --libidentify 2>/dev/null | sed -n 's/^version: *//p')
  if [ "${version%%.*}" != 3 ]; then
    record "cmake/gcc-lto (Catch2 v3)" 1 "$start" "the unit tests linked Catch2 '${version:-unknown}', not v3"
  else
    echo "cmake/gcc-lto: the unit tests ran on Catch2 $version"
  fi
}

# Records a meson stage from its `meson test` log: STATUS is meson test's, BUILT non-zero if ninja failed.
record_meson_test() {  # record_meson_test NAME STATUS START BUILT LOG [DETAIL SUFFIX]
  local name=$1 status=$2 start=$3 built=$4 log=$5 suffix=${6:-} ok fail skip
  [ "$built" -eq 0 ] || status=1
  ok=$(awk '/^Ok:/ { print $2 }' "$log")
  fail=$(awk '/^Fail:/ { print $2 }' "$log")
  skip=$(awk '/^Skipped:/ { print $2 }' "$log")
  stage_tests=$(( ${ok:-0} + ${fail:-0} + ${skip:-0} ))
  record "$name" "$status" "$start" \
    "$( [ "$built" -eq 0 ] || printf 'BUILD FAILED; ')ok ${ok:-0}, failed ${fail:-0}, skipped ${skip:-0}$suffix"
}

run_meson_stage() {
  wanted meson || return 0
  local start dir=$build_root/meson log cxx=clang++ lto=true
  start=$(date +%s)
  if ! command -v clang++ >/dev/null 2>&1; then
    cxx=g++ lto=false
    echo "---- meson: clang++ not installed; g++ -O2 without link-time optimisation instead"
  fi
  banner "meson: $cxx -O2, b_lto=$lto"
  if ! command -v meson >/dev/null 2>&1; then
    record meson 1 "$start" "meson not installed"
    return
  fi
  [ $clean -eq 1 ] && rm -rf "$dir"
  log=$dir.test.log
  local setup=(setup)
  [ -f "$dir/build.ninja" ] && setup=(setup --reconfigure)
  if ! CXX=$cxx meson "${setup[@]}" "$dir" "$root" -Doptimization=2 -Ddebug=false -Db_lto="$lto" -Dwerror=true \
        -Dtests=enabled -Dexamples=enabled -Dtest_unity_batch="$unity_batch"; then
    record meson 1 "$start" "configure failed"
    return
  fi
  local built=0
  ninja -C "$dir" -j "$jobs" -k 0 || built=1
  (cd "$dir" && meson test --no-rebuild --print-errorlogs --num-processes "$jobs") 2>&1 | tee "$log"
  record_meson_test meson "${PIPESTATUS[0]}" "$start" "$built" "$log" "; $cxx, b_lto=$lto"
}

bench=(-DEBB_BUILD_BENCH=ON)
[ "${EBB_TEST_BENCH:-1}" = 0 ] && bench=(-DEBB_BUILD_BENCH=OFF)

# The 64 KiB-page stage reruns the AArch64 stages' binaries, both halves (the page size is read at run
# time, so nothing is rebuilt): qemu takes QEMU_PAGESIZE from the environment, and the emulator command
# of the toolchain file and the exe_wrapper of the cross file pass the environment on (also to
# re-executed children).
run_cross_64k_stage() {
  wanted cross/aarch64-64k || return 0
  local start dir=$build_root/cross/aarch64 meson_dir=$build_root/meson/cross-aarch64
  local log=$build_root/cross/aarch64-64k.ctest.log meson_log=$build_root/cross/aarch64-64k.meson.log
  start=$(date +%s)
  banner "cross/aarch64-64k: the cross/aarch64 and meson/cross-aarch64 binaries under qemu-aarch64 with 64 KiB pages"
  if [ ! -f "$dir/CTestTestfile.cmake" ] || [ ! -f "$meson_dir/build.ninja" ]; then
    record cross/aarch64-64k 1 "$start" "no cross/aarch64 or meson/cross-aarch64 build (those stages must run first)"
    return
  fi
  # compile_fail and consumer compile on the build machine: the guest page size changes nothing there.
  # QEMU_CPU: qemu 7.2 with -p 65536 faults SVE loads from memory ld.so hands out past its segment's
  # end (the main thread's TLS): glibc's SVE memcpy dies there (docs/reliability.md). No SVE, then.
  (cd "$dir" && QEMU_PAGESIZE=65536 QEMU_CPU=max,sve=off ctest --output-on-failure --parallel "$jobs" --timeout 900 \
     -LE "compile_fail|consumer") 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]} detail n meson_status ok fail failed
  (cd "$meson_dir" && QEMU_PAGESIZE=65536 QEMU_CPU=max,sve=off meson test --no-rebuild --print-errorlogs \
     --num-processes "$jobs" --timeout-multiplier 4 "${emulated_meson_suites[@]}") 2>&1 | tee "$meson_log"
  meson_status=${PIPESTATUS[0]}
  ok=$(awk '/^Ok:/ { print $2 }' "$meson_log")
  fail=$(awk '/^Fail:/ { print $2 }' "$meson_log")
  [ "$meson_status" -eq 0 ] || status=1
  detail=$(ctest_detail <"$log")
  failed=$(failed_ctest_names <"$log")
  [ -n "$failed" ] && detail="$detail; FAILED: $failed"
  n=$(printf '%s\n' "$detail" | sed -n 's/.* out of \([0-9][0-9]*\).*/\1/p')
  stage_tests=$(( ${n:-0} + ${ok:-0} + ${fail:-0} ))
  record cross/aarch64-64k "$status" "$start" "ctest: ${detail:-no tests ran}; meson test: ok ${ok:-0}, failed ${fail:-0}"
}

# The example executables' target names, for stages that build a selection of targets.
example_targets=$(for f in "$root"/examples/*.cpp; do printf 'example_%s ' "$(basename "$f" .cpp)"; done)

# Each emulated target's binaries are split between its two stages, so that none is built twice for
# one target while both build systems build and run tests on every target: the CMake stage (below)
# builds the checked, hooks, compact-checked and target-specific unit binaries, the shared-library,
# -fno-exceptions and gdb programs; its meson stage (run_meson_cross_stage) builds the lean unit binary
# and the examples (emulated_meson_targets). Building is most of an emulated stage's time.
emulated_cmake_args=(-DEBB_TEST_LEAN=OFF -DEBB_BUILD_EXAMPLES=OFF)

# The other cross targets under qemu-user (toolchain files in cmake/toolchains/): the CMake half of the
# target's binaries, above (the target's extra code generation: ARM state on ARM32). The compile-fail
# and strict-consumer tests compile on the build machine and are left to the native and cross/aarch64
# stages.
cross_stage() {  # cross_stage NAME TOOLCHAIN [EXTRA LABELS] (cmake/toolchains/TOOLCHAIN.cmake)
  local name=$1 toolchain=$2 extra=${3:+|$3}
  stage_targets="ebb_emulated_tests ebb_gdb_programs" \
  stage_labels="unit|hooks|shared_libs|no_exceptions|gdb$extra" \
    run_cmake_stage "$name" "$toolchain-g++" Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$toolchain.cmake" -DEBB_BUILD_BENCH=OFF "${emulated_cmake_args[@]}"
}

# meson with a cross file (tests/cross/meson/TRIPLE.ini: compilers, exe_wrapper, test_scale), one
# function for every target: setup, build the meson half of the target's binaries (the lean unit
# binary and the examples: see emulated_cmake_args), meson test of their suites.
emulated_meson_targets="ebb_tests_lean $example_targets"
emulated_meson_suites=(--suite lean --suite example)
run_meson_cross_stage() {  # run_meson_cross_stage NAME TRIPLE
  local name=$1 triple=$2
  wanted "$name" || return 0
  local start dir=$build_root/${name} cross=$root/tests/cross/meson/$triple.ini log
  start=$(date +%s)
  banner "$name: meson, --cross-file $(basename "$cross"), -O2"
  if ! command -v meson >/dev/null 2>&1 || ! command -v "$triple-g++" >/dev/null 2>&1; then
    record "$name" 1 "$start" "meson or $triple-g++ not installed"
    return
  fi
  [ $clean -eq 1 ] && rm -rf "$dir"
  log=$dir.test.log
  local setup=(setup --cross-file "$cross")
  [ -f "$dir/build.ninja" ] && setup=(setup --reconfigure)
  if ! meson "${setup[@]}" "$dir" "$root" -Doptimization=2 -Ddebug=false -Db_ndebug=true -Dwerror=true \
        -Dtests=enabled -Dexamples=enabled -Dtest_unity_batch="$unity_batch"; then
    record "$name" 1 "$start" "configure failed"
    return
  fi
  local built=0 build_start build_secs
  build_start=$(date +%s)
  # shellcheck disable=SC2086
  meson compile -C "$dir" -j "$jobs" --ninja-args=-k0 $emulated_meson_targets || built=1
  build_secs=$(( $(date +%s) - build_start ))
  # Each unit-test binary is one meson test: under emulation it may take several times its native limit.
  (cd "$dir" && meson test --no-rebuild --print-errorlogs --num-processes "$jobs" --timeout-multiplier 4 \
     "${emulated_meson_suites[@]}") 2>&1 | tee "$log"
  record_meson_test "$name" "${PIPESTATUS[0]}" "$start" "$built" "$log" "; build ${build_secs}s"
}

# Windows x64 (issue 12, first part): the context switch on its own (assembled, and as the machine code
# MSVC gets), built with MinGW-w64 at -O2 and -O0 and run under wine, plus compiles for
# x86_64-pc-windows-msvc with clang (tests/windows/run.sh; the rest of ebb does not build for Windows yet).
run_windows_switch_stage() {
  wanted windows/switch || return 0
  local start log=$build_root/windows-switch.log status checks
  start=$(date +%s)
  banner "windows/switch: the Windows x64 switch under wine (MinGW-w64, -O2 and -O0)"
  bash "$root/tests/windows/run.sh" "$build_root/windows-switch" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  # run.sh exits 77 when MinGW-w64 or wine is missing: a failure here, where they were to be installed.
  checks=$(awk '/^[0-9]+ checks, 0 failed$/ { n += $1 } END { print n + 0 }' "$log")
  stage_tests=${checks:-0}
  # Ten summary lines when all is well: four programs at -O2 and -O0, the DLL test, run.sh's own checks.
  record windows/switch "$status" "$start" \
    "$(grep -c '^[0-9]* checks, 0 failed$' "$log") of 10 summaries passed, ${checks:-0} checks (exit $status)"
}

# Windows x64: the CMake half of the suite built with MinGW-w64 (cmake/toolchains/x86_64-w64-mingw32.cmake)
# and run under wine through CTest's emulator: unit, hooks, compact-checked, no-exceptions,
# compile-fail (with the MinGW compiler) and the strict consumer; each unit binary as one test
# (EBB_TEST_WHOLE_BINARIES: a process start costs wine 1.3-1.5 s, and the per-case tests spent more
# time starting than testing). The wine prefix lives in the build directory and is
# warmed before ctest (../shared/xarch/RECIPE.md: a cold one can hang ctest), then stopped.
run_windows_unit_stage() {
  wanted windows/unit || return 0
  local dir=$build_root/windows/unit wine64=""
  for candidate in wine64 /usr/lib/wine/wine64; do
    if command -v "$candidate" >/dev/null 2>&1; then wine64=$candidate; break; fi
  done
  mkdir -p "$dir"
  if [ -n "$wine64" ]; then
    WINEPREFIX=$dir/wineprefix WINEDEBUG=-all wineserver -p </dev/null >/dev/null 2>&1
    WINEPREFIX=$dir/wineprefix WINEDEBUG=-all "$wine64" wineboot </dev/null >/dev/null 2>&1
  fi
  stage_retry=1 run_cmake_stage windows/unit x86_64-w64-mingw32-g++-posix Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/x86_64-w64-mingw32.cmake" -DEBB_BUILD_BENCH=ON "${emulated_cmake_args[@]}" \
    -DEBB_TEST_WHOLE_BINARIES=ON
  [ -n "$wine64" ] && WINEPREFIX=$dir/wineprefix wineserver -k >/dev/null 2>&1
  return 0
}

# The same through meson's cross file (tests/cross/meson/x86_64-w64-mingw32.ini, exe_wrapper wine64), with
# its own warmed wine prefix.
run_meson_windows_stage() {
  wanted meson/cross-windows || return 0
  local prefix=$build_root/meson/cross-windows.wineprefix
  mkdir -p "$build_root/meson"
  WINEPREFIX=$prefix WINEDEBUG=-all wineserver -p </dev/null >/dev/null 2>&1
  WINEPREFIX=$prefix WINEDEBUG=-all /usr/lib/wine/wine64 wineboot </dev/null >/dev/null 2>&1
  export WINEPREFIX=$prefix
  run_meson_cross_stage meson/cross-windows x86_64-w64-mingw32
  wineserver -k >/dev/null 2>&1
  unset WINEPREFIX
  return 0
}

# Stage kinds that several lanes use.
# Release builds with link-time optimisation: release builds of engines and servers use it, and the
# assembly routines must come out once however the units are merged (GCC pastes every unit's
# top-level assembly into one file). The whole suite; clang's LTO build is the meson stage's, and
# plain -O2 without LTO is what every cross stage builds.
lto_stage() {  # lto_stage NAME CXX FLAGS [EXTRA CMAKE ARGS...]
  local name=$1 cxx=$2 flags=$3
  shift 3
  run_cmake_stage "$name" "$cxx" Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG $flags" "$@"
}
# Sanitizers: ebb tells ASan and TSan about every switch (detail/tool_hooks.hpp); the whole suite
# must run clean under each (ASan+UBSan with both compilers, TSan with g++). -O1 keeps them fast
# enough. AddressSanitizer and UndefinedBehaviorSanitizer go into one build (they combine; TSan does
# not combine with ASan).
# -g1: line tables, all a report prints (functions, files, lines). Full -g made g++'s ASan+UBSan
# compile of a test file 1.5 times as long (41 s against 27 s for test_stress.cpp here).
# Each builds the checked unit tests, those with switch hooks, and the examples (the parts that run
# ebb's code paths; the build-level tests gain nothing from a sanitizer and would double the time).
san_stage() {  # san_stage NAME CXX FLAGS
  local name=$1 cxx=$2 flags=$3
  stage_targets="ebb_tests ebb_tests_hooks $example_targets" \
  stage_labels="unit|hooks|example" \
    run_cmake_stage "$name" "$cxx" Debug "-DCMAKE_CXX_FLAGS=-O1 -fno-omit-frame-pointer $flags" \
      -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DEBB_BUILD_BENCH=OFF
}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# ---- the first lane: native stages -----------------------------------------------------------------
native_lane() {
  # EBB_VALGRIND=1 here: the valgrind stage runs this stage's unit tests (the hooks are opt-in).
  # The checked unit binary file by file here (the other stages, and the other binaries here,
  # compile the unit tests in unity batches): a test file that misses an #include it needs is caught.
  run_cmake_stage cmake/gcc-debug g++ Debug -DEBB_VALGRIND=ON -DEBB_TEST_CHECKED_FILE_BY_FILE=ON
  # With CET's branch tracking and shadow stacks compiled in (Ubuntu's default). The compile-fail and
  # consumer tests compile with the compiler alone, whatever the build type: gcc-debug ran exactly
  # these commands.
  # Also against Catch2 v3 (Debian 12 has v2; v3 comes from its backports, fetch_catch2_v3) and the
  # generated single header single_include/ebb/ebb.hpp: every other stage builds against v2 and
  # include/, and a build of its own for these (a stage until 2026-12) cost CI almost four minutes.
  if wanted cmake/gcc-lto; then
    prepare_catch2_v3
    stage_skip_labels="compile_fail|consumer" lto_stage cmake/gcc-lto g++ "-flto=auto -fcf-protection=full" \
      "${bench[@]}" -DEBB_TEST_SINGLE_HEADER=ON "${catch2_v3_args[@]}"
    [ ${#catch2_v3_args[@]} -eq 0 ] || check_catch2_v3
  fi
  san_stage cmake/gcc-asan-ubsan g++ "-fsanitize=address,undefined -fno-sanitize-recover=undefined"
  # ThreadSanitizer with g++ only: clang's TSan (a stage until 2026-12-06) shares its runtime and
  # its model of the atomics (instrumented at the source level), and CI's hour had no room for both.
  san_stage cmake/gcc-tsan g++ "-fsanitize=thread"
  run_install_stage
  run_valgrind_stage
  run_meson_stage
  # Windows under wine: x86-64 code that runs natively, so in this lane (docs/reliability.md has both
  # lanes' sums).
  run_windows_unit_stage
  run_meson_windows_stage
}

# ---- the second lane: other CPUs under qemu-user, then the rest of the native stages ------------
emulated_stages=(cross/aarch64 meson/cross-aarch64 cross/aarch64-64k cross/riscv64 meson/cross-riscv64
                 cross/armhf meson/cross-armhf cross/i386 meson/cross-i386 windows/switch)
second_lane_stages=("${emulated_stages[@]}" cmake/clang-asan-ubsan)
# Selected with the emulated ones (EBB_EMULATED), run in the native lane.
emulated_stages+=(windows/unit meson/cross-windows)
second_lane() {
  # AArch64 under qemu-user: both halves with 4 KiB pages, then both again with 64 KiB pages.
  run_cmake_stage cross/aarch64 aarch64-linux-gnu-g++ Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" -DEBB_BUILD_BENCH=OFF "${emulated_cmake_args[@]}"
  run_meson_cross_stage meson/cross-aarch64 aarch64-linux-gnu
  run_cross_64k_stage
  cross_stage cross/riscv64 riscv64-linux-gnu
  run_meson_cross_stage meson/cross-riscv64 riscv64-linux-gnu
  # The 32-bit targets also build the strict consumer with their compiler: std::size_t is 32 bits
  # there, and a cast that converts on 64-bit targets is useless (-Wuseless-cast) on them.
  cross_stage cross/armhf arm-linux-gnueabihf consumer
  run_meson_cross_stage meson/cross-armhf arm-linux-gnueabihf
  cross_stage cross/i386 i686-linux-gnu consumer
  run_meson_cross_stage meson/cross-i386 i686-linux-gnu
  run_windows_switch_stage
  if command -v clang++ >/dev/null 2>&1; then
    san_stage cmake/clang-asan-ubsan clang++ "-fsanitize=address,undefined -fno-sanitize-recover=undefined"
  fi
}

# The two lanes run side by side, each with EBB_JOBS jobs. Alone, the native stages leave a core idle
# in their long single-threaded steps (linking, valgrind, tests that wait for one another), and the
# emulated ones in qemu's single-threaded guests: together they fill the machine's two cores where one
# after the other they left gaps. The second lane holds the emulated stages and then clang's
# ASan+UBSan stage, so the lanes end about together (docs/reliability.md has the times).
# The second lane's output goes to a file, printed whole after the first lane's, so the two never
# interleave. EBB_LANES=1 runs everything in one lane.
started=$(date +%s)
any_second=0
for stage in "${second_lane_stages[@]}"; do wanted "$stage" && any_second=1; done
if [ "${EBB_LANES:-2}" -ge 2 ] && [ $any_second -eq 1 ]; then
  second_log=$build_root/second-lane.log
  echo "test-all: the emulated stages and cmake/clang-asan-ubsan run in a second lane; its log: $second_log"
  second_lane >"$second_log" 2>&1 </dev/null &
  second_pid=$!
  native_lane
  wait "$second_pid"
  banner "the second lane (ran beside the stages above)"
  cat "$second_log"
else
  native_lane
  second_lane
fi

printf '\n==== summary ====\n'
stages=0 failures=0 total_tests=0
while IFS='|' read -r stage verdict secs tests detail; do
  printf '%-20s %-4s %5ss  %s\n' "$stage" "$verdict" "$secs" "$detail"
  stages=$((stages + 1))
  total_tests=$((total_tests + tests))
  [ "$verdict" = PASS ] || failures=$((failures + 1))
done <"$results_file"
elapsed=$(( $(date +%s) - started ))
if [ $stages -eq 0 ]; then
  echo "test-all: FAILED: no stage ran"
  exit 1
fi
if [ $failures -eq 0 ]; then
  echo "test-all: PASSED ($stages stages, $total_tests tests, ${elapsed}s)"
  exit 0
fi
echo "test-all: FAILED ($failures of $stages stages failed, ${elapsed}s)"
exit 1
