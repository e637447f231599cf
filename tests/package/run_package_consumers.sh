#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Usage: run_package_consumers.sh SOURCE_DIR WORK_DIR
#
# Every way a project takes ebb in, each tried by building and running the same small consumer
# (consumer/main.cpp) against a copy of the source tree as a user would have it:
#   cmake --install, then find_package(ebb)           (and the installed files packagers look for)
#   pkg-config ebb, with a plain g++ command line
#   add_subdirectory(ebb)                             (a vendored copy)
#   FetchContent from a local tarball                 (what FetchContent_Declare(URL ...) does)
#   meson dependency('ebb') through pkg-config        (the installed ebb.pc)
#   meson subproject('ebb')                           (a vendored copy in subprojects/)
#   single_include/ebb/ebb.hpp                        (current with include/, and enough on its own)
# A meson or pkg-config consumer is skipped, and said so, when that tool is missing. Exit 0 = all
# the consumers tried built and ran.
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_DIR WORK_DIR" >&2
  exit 2
fi
root=$(cd "$1" && pwd) work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work" && work=$(cd "$work" && pwd)
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
failures=() passed=() skipped=()
step() {  # step NAME COMMAND...: run it quietly, keep its output if it fails
  local name=$1 log="$work/$1.log"
  shift
  if "$@" >"$log" 2>&1; then
    passed+=("$name")
  else
    failures+=("$name")
    echo "---- $name failed; its output:"
    tail -n 40 "$log"
  fi
}

# The tree as a user gets it: the tracked files (with their working-tree contents), no build output.
(cd "$root" && git ls-files -z 2>/dev/null | tar --null -T - -czf "$work/ebb.tar.gz" --transform 's,^,ebb/,') ||
  (cd "$(dirname "$root")" && tar -czf "$work/ebb.tar.gz" --exclude=build --exclude=.git \
     --transform "s,^$(basename "$root"),ebb," "$(basename "$root")")
mkdir -p "$work/src" && tar -xzf "$work/ebb.tar.gz" -C "$work/src"
src=$work/src/ebb

consumer() {  # consumer DIR: a project directory with main.cpp
  mkdir -p "$1" && cp "$here/consumer/main.cpp" "$1/main.cpp"
}

# ---- cmake --install, find_package, and the installed files ----------------------------------------
prefix=$work/prefix
install_tree() {
  cmake -S "$src" -B "$work/install-build" "${generator[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" &&
    cmake --install "$work/install-build" || return 1
  local file status=0
  for file in share/cmake/ebb/ebbConfig.cmake share/cmake/ebb/ebbConfigVersion.cmake share/pkgconfig/ebb.pc \
              share/licenses/ebb/LICENSE share/ebb/gdb/ebb.py include/ebb/version.hpp include/ebb/ebb.hpp; do
    [ -f "$prefix/$file" ] || { echo "installed: $file is missing"; status=1; }
  done
  return $status
}
step install install_tree

find_package_consumer() {
  local dir=$work/find_package
  consumer "$dir"
  cp "$here/consumer/find_package.cmake" "$dir/CMakeLists.txt"
  cmake -S "$dir" -B "$dir/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$dir/build" && "$dir/build/consumer"
}
step find_package find_package_consumer

pkg_config_consumer() {
  local flags
  flags=$(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --cflags --libs ebb) || return 1
  echo "pkg-config ebb: $flags"
  # shellcheck disable=SC2086 # the flags are words
  g++ -std=c++17 $flags "$here/consumer/main.cpp" -o "$work/pkg-config-consumer" && "$work/pkg-config-consumer"
}
if command -v pkg-config >/dev/null 2>&1; then step pkg-config pkg_config_consumer; else skipped+=(pkg-config); fi

# ---- vendored: add_subdirectory ---------------------------------------------------------------------
add_subdirectory_consumer() {
  local dir=$work/add_subdirectory
  consumer "$dir"
  cp -r "$src" "$dir/ebb"
  cp "$here/consumer/add_subdirectory.cmake" "$dir/CMakeLists.txt"
  cmake -S "$dir" -B "$dir/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$dir/build" && "$dir/build/consumer" &&
    # ebb's own tests and examples stay out of a consumer's build
    ! grep -q "example_quickstart\|ebb_tests" "$dir/build/build.ninja" "$dir/build/Makefile" 2>/dev/null
}
step add_subdirectory add_subdirectory_consumer

# ---- FetchContent from a tarball --------------------------------------------------------------------
fetchcontent_consumer() {
  local dir=$work/fetchcontent
  consumer "$dir"
  cp "$here/consumer/fetchcontent.cmake" "$dir/CMakeLists.txt"
  cmake -S "$dir" -B "$dir/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DEBB_TARBALL="$work/ebb.tar.gz" &&
    cmake --build "$dir/build" && "$dir/build/consumer"
}
step fetchcontent fetchcontent_consumer

# ---- the single header --------------------------------------------------------------------------
# single_include/ebb/ebb.hpp must be what scripts/make-single-header.py makes of include/ now, and a
# consumer with only single_include/ on its path must build and run (the unit suite runs against it in
# scripts/test-all.sh's cmake/gcc-lto stage).
single_header_current() { python3 "$src/scripts/make-single-header.py" --check; }
single_header_consumer() {
  g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -I "$src/single_include" "$here/consumer/main.cpp" -pthread \
      -o "$work/single-header-consumer" && "$work/single-header-consumer"
}
if command -v python3 >/dev/null 2>&1; then step single-header-current single_header_current; else skipped+=(single-header-current); fi
step single-header single_header_consumer

# ---- meson ------------------------------------------------------------------------------------------
meson_pkg_config_consumer() {
  local dir=$work/meson-pkg-config
  consumer "$dir"
  cp "$here/consumer/meson_dependency.build" "$dir/meson.build"
  PKG_CONFIG_PATH="$prefix/share/pkgconfig" meson setup "$dir/build" "$dir" &&
    ninja -C "$dir/build" && "$dir/build/consumer"
}
meson_subproject_consumer() {
  local dir=$work/meson-subproject
  consumer "$dir"
  mkdir -p "$dir/subprojects"
  cp -r "$src" "$dir/subprojects/ebb"
  cp "$here/consumer/meson_subproject.build" "$dir/meson.build"
  # No pkg-config path: dependency('ebb') must find the subproject through its fallback.
  PKG_CONFIG_PATH= meson setup "$dir/build" "$dir" && ninja -C "$dir/build" && "$dir/build/consumer" &&
    ! ls "$dir/build/subprojects/ebb" 2>/dev/null | grep -q "^example_"  # ebb's examples stay out
}
if command -v meson >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1; then
  if command -v pkg-config >/dev/null 2>&1; then step meson-pkg-config meson_pkg_config_consumer; else skipped+=(meson-pkg-config); fi
  step meson-subproject meson_subproject_consumer
else
  skipped+=(meson-pkg-config meson-subproject)
fi

echo "package consumers: passed ${#passed[@]} (${passed[*]:-}), failed ${#failures[@]} (${failures[*]:-})," \
     "skipped ${#skipped[@]} (${skipped[*]:-})"
[ ${#failures[@]} -eq 0 ]
