#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# bench/run.sh — build ebb's benchmarks (CMake, Release, -O2) and run them.
#
#   bench/run.sh                  build, run every benchmark, print the results
#   bench/run.sh --update-docs    ... and rewrite the "Latest run" section of docs/benchmarks.md with
#                                 these figures (the hand-written text above it is kept). With --only
#                                 it rewrites just those benchmarks' subsections of it (between their
#                                 "latest-run NAME" markers), each stamped with this run's date; then
#                                 bench/plot.py redraws README's pictures, docs/img/*.svg, from them
#   bench/run.sh --quick          a smaller, faster run of every benchmark (fewer repetitions)
#   bench/run.sh --emulated       only the switch benchmark, cross-compiled for each emulated target
#                                 whose compiler is installed and run under qemu-user (not performance
#                                 figures; see "Emulated targets" in docs/benchmarks.md). With
#                                 --update-docs it rewrites that section's figures, and nothing else
#   bench/run.sh --windows        the switch and create benchmarks built for Windows x64 with MinGW-w64
#                                 and run under wine (EMULATED system calls: not Windows figures; see
#                                 "Windows x64 under wine" in docs/benchmarks.md). With --update-docs it
#                                 rewrites that section's figures, and nothing else
#
# Benchmarks, in the order they run: ebb_switch_bench, ebb_create_bench (speed), ebb_growth_bench,
# ebb_worker_pool_bench (with the Go comparison when `go` is installed), ebb_idle_memory_bench (with
# goroutines when `go` is installed), ebb_compact_switch_bench, ebb_entity_scripts_bench,
# ebb_many_switch_bench, ebb_resume_latency_bench, ebb_job_system_bench (with Boost.Context when it is
# found, as switch, create, entity and many_switch).
#
# Options:
#   --build-dir DIR   where to build (default: $TMPDIR/ebb-bench-build, outside the work tree)
#   --reps N          repetitions of switch, create, growth and compact_switch (default 15, growth 31);
#                     medians over them
#   --quick           fewer repetitions everywhere, shorter switch loops, 20,000 idle fibers
#   --only LIST       run only these, comma-separated:
#                     switch,create,growth,worker_pool,idle,compact_switch,entity,many_switch,
#                     resume_latency,job_system
#   --million         the idle-memory benchmark also measures 1,000,000 fibers (about 6 GB), compact
#                     fibers and goroutines (about 2.7 GB each)
#   --cxx COMPILER    C++ compiler for a fresh build dir (default: CMake's choice, usually c++)
#   --no-boost        do not compare with Boost.Context even if it is installed
#   --no-go           do not run the Go comparison even if `go` is installed
#   --targets LIST    with --emulated: which of aarch64,armhf,riscv64,i386 (default: all four)
#   --runs N          with --emulated: processes per target (default 5); the figure is the median of
#                     their medians (each over --reps repetitions, default 9, of --iterations round
#                     trips, default 500000)
#
# The benchmarks are configured from bench/ on their own (bench/CMakeLists.txt defines ebb::ebb from
# include/ then), so they build without the tests and examples. The Go programs (bench/go/worker_pool.go,
# bench/go/idle_goroutines.go, standard library only) are built with GO111MODULE=off, their GOCACHE and
# GOPATH inside the build dir.
# The machine should be as idle as it can be; pinning helps on a busy one: `taskset -c 1 bench/run.sh`.
# The worker-pool benchmark needs about 1.3 GB of memory at its peak, the Go program about 1 GB; the
# entity-scripts benchmark about 0.5 GB (one child process at a time), the resume-latency benchmark
# about 1.4 GB (20,000 stacks 64 KiB deep); the create benchmark's cold part (100,000 fibers from new
# slabs) about 0.6 GB, a third of it page tables.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${TMPDIR:-/tmp}/ebb-bench-build
reps=""
cxx=""
boost=ON
go=1
quick=0
million=0
only=""
update_docs=0
emulated=0
windows=0
targets=aarch64,armhf,riscv64,i386
runs=5
iterations=""

while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --cxx) cxx=$2; shift 2 ;;
    --no-boost) boost=OFF; shift ;;
    --no-go) go=0; shift ;;
    --quick) quick=1; shift ;;
    --million) million=1; shift ;;
    --only) only=$2; shift 2 ;;
    --update-docs) update_docs=1; shift ;;
    --emulated) emulated=1; shift ;;
    --targets) targets=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --windows) windows=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $emulated == 0 && ( $targets != aarch64,armhf,riscv64,i386 || $runs != 5 || -n $iterations ) ]]; then
  echo "bench/run.sh: --targets, --runs and --iterations go with --emulated" >&2
  exit 2
fi
all_benchmarks=switch,create,growth,worker_pool,idle,compact_switch,entity,many_switch,resume_latency,job_system
if [[ -n $only ]]; then
  IFS=, read -r -a only_names <<<"$only"
  for name in "${only_names[@]}"; do
    if [[ ",$all_benchmarks," != *",$name,"* ]]; then
      echo "bench/run.sh: unknown benchmark '$name' in --only (known: $all_benchmarks)" >&2
      exit 2
    fi
  done
fi
wanted() { [[ -z $only || ",$only," == *",$1,"* ]]; }

# One run at a time on the machine: a second run waits here. Two at once would disturb each other's
# timings and, sharing a build dir, overwrite each other's build and results.
lock_file=/tmp/ebb-bench-run.lock
exec 9>>"$lock_file"
if ! flock -n 9; then
  echo "bench/run.sh: another bench/run.sh is running (lock $lock_file); waiting for it to finish" >&2
  flock 9
fi

# ---- --emulated: the switch benchmark for other CPUs, under qemu-user --------------------------------
# Cross-compiled with Debian's cross compilers, linked -static (qemu-i386 7.2 hangs a dynamically
# linked program in pthread_create, and static programs need no QEMU_LD_PREFIX), without Boost (no
# cross build of it is installed). Each target's build goes to $build_dir-emulated/TARGET.
# replace_between_markers DOC BEGIN END SECTION: the lines between the two marker lines of DOC become
# SECTION's; the markers and everything else stay.
replace_between_markers() {
  local doc=$1
  awk -v begin="$2" -v end="$3" -v section="$4" '
    $0 == begin { print; while ((getline line < section) > 0) print line; skipping = 1; next }
    $0 == end { skipping = 0 }
    !skipping { print }' "$doc" >"$doc.tmp"
  mv "$doc.tmp" "$doc"
}

# ---- --windows: the switch and create benchmarks as Windows programs, under wine --------------------
if [[ $windows == 1 ]]; then
  windows_dir=$build_dir-windows
  wine64=$(command -v wine64 || echo /usr/lib/wine/wine64)
  if ! command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1 || [[ ! -x $wine64 ]]; then
    echo "bench/run.sh --windows: needs g++-mingw-w64-x86-64-posix and wine64" >&2
    exit 2
  fi
  mkdir -p "$windows_dir/results"
  export WINEPREFIX=$windows_dir/wineprefix WINEDEBUG=-all
  wineserver -p </dev/null >/dev/null 2>&1 || true
  "$wine64" wineboot </dev/null >/dev/null 2>&1 || true
  cmake -S "$root/bench" -B "$windows_dir" -DCMAKE_BUILD_TYPE=Release -DEBB_BENCH_WITH_BOOST=OFF \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/x86_64-w64-mingw32.cmake" -DCMAKE_EXE_LINKER_FLAGS=-static >/dev/null
  cmake --build "$windows_dir" --target ebb_switch_bench ebb_create_bench -j "${EBB_JOBS:-$(nproc)}" >/dev/null
  windows_reps=()
  [[ -n $reps ]] && windows_reps=(--reps "$reps")
  for name in switch create; do
    echo "== $name, under wine"
    "$wine64" "$windows_dir/ebb_${name}_bench.exe" "${windows_reps[@]}" --markdown "Z:$windows_dir/results/$name.md" |
      tr -d '\r' | tee "$windows_dir/results/$name.txt"
    tr -d '\r' <"$windows_dir/results/$name.md" >"$windows_dir/results/$name.md.lf"
    mv "$windows_dir/results/$name.md.lf" "$windows_dir/results/$name.md"
  done
  wineserver -k >/dev/null 2>&1 || true
  [[ $update_docs == 1 ]] || exit 0
  doc=$root/docs/benchmarks.md
  begin='<!-- windows-run: begin; bench/run.sh --windows --update-docs replaces the lines up to the end marker -->'
  end='<!-- windows-run: end -->'
  if ! grep -qxF "$begin" "$doc" || ! grep -qxF "$end" "$doc"; then
    echo "bench/run.sh: $doc lacks the windows-run markers; not touching it" >&2
    exit 1
  fi
  {
    echo "- $(x86_64-w64-mingw32-g++-posix --version | head -n 1), \`-O2\`, \`-static\`; $("$wine64" --version 2>/dev/null)"
    echo "- $(grep -m 1 '^machine:' "$windows_dir/results/switch.txt")"
    echo
    cat "$windows_dir/results/switch.md"
    echo
    cat "$windows_dir/results/create.md"
  } >"$windows_dir/results/section.md"
  replace_between_markers "$doc" "$begin" "$end" "$windows_dir/results/section.md"
  echo "updated the Windows figures in $doc"
  exit 0
fi

if [[ $emulated == 1 ]]; then
  emulated_dir=$build_dir-emulated
  emulated_load_at_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
  mkdir -p "$emulated_dir/results"
  summary=$emulated_dir/results/summary.md
  reps=${reps:-9}
  iterations=${iterations:-500000}
  qemu_version=$(qemu-aarch64 --version 2>/dev/null | head -n 1 || true)
  {
    echo "| target | compiler | emulator | ebb::fiber (default) | ebb::fiber (lean) | per-run medians, default / lean |"
    echo "| --- | --- | --- | ---: | ---: | --- |"
  } >"$summary"
  median_of() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  IFS=, read -r -a wanted_targets <<<"$targets"
  for target in "${wanted_targets[@]}"; do
    extra=()
    case $target in
      aarch64) triple=aarch64-linux-gnu qemu=qemu-aarch64 processor=aarch64 ;;
      armhf) triple=arm-linux-gnueabihf qemu=qemu-arm processor=arm extra=(-DCMAKE_CXX_FLAGS=-Wno-psabi) ;;
      # GCC 12 makes one-byte atomics library calls on RISC-V: libatomic.
      riscv64) triple=riscv64-linux-gnu qemu=qemu-riscv64 processor=riscv64 extra=(-DCMAKE_CXX_STANDARD_LIBRARIES=-latomic) ;;
      i386) triple=i686-linux-gnu qemu=qemu-i386 processor=i686 ;;
      *) echo "bench/run.sh: unknown emulated target '$target' (aarch64, armhf, riscv64, i386)" >&2; exit 2 ;;
    esac
    if ! command -v "$triple-g++" >/dev/null 2>&1 || ! command -v "$qemu" >/dev/null 2>&1; then
      echo "== $target: skipped ($triple-g++ or $qemu not installed)"
      continue
    fi
    dir=$emulated_dir/$target
    cmake -S "$root/bench" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DEBB_BENCH_WITH_BOOST=OFF \
      -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=$processor -DCMAKE_CXX_COMPILER="$triple-g++" \
      -DCMAKE_EXE_LINKER_FLAGS=-static "${extra[@]}" >/dev/null
    cmake --build "$dir" --target ebb_switch_bench -j "${EBB_JOBS:-$(nproc)}" >/dev/null
    defaults=() leans=()
    for run in $(seq "$runs"); do
      echo "== $target, run $run of $runs: $qemu ebb_switch_bench --reps $reps --iterations $iterations"
      "$qemu" "$dir/ebb_switch_bench" --reps "$reps" --iterations "$iterations" \
        --markdown "$emulated_dir/results/$target-$run.md" | tee "$emulated_dir/results/$target-$run.txt"
      defaults+=("$(awk -F' *[|] *' '$2 == "ebb::fiber (default)" { sub(/ ns/, "", $3); print $3 }' "$emulated_dir/results/$target-$run.md")")
      leans+=("$(awk -F' *[|] *' '$2 == "ebb::fiber (lean)" { sub(/ ns/, "", $3); print $3 }' "$emulated_dir/results/$target-$run.md")")
    done
    default=$(printf '%s\n' "${defaults[@]}" | median_of)
    lean=$(printf '%s\n' "${leans[@]}" | median_of)
    per_run=""
    for i in "${!defaults[@]}"; do per_run+="${per_run:+, }${defaults[$i]} / ${leans[$i]}"; done
    compiler=$("$triple-g++" --version | head -n 1)
    echo "| $target | $compiler | $("$qemu" --version | head -n 1 | sed 's/ (Debian.*//') | $default ns | $lean ns | $per_run |" >>"$summary"
    echo
  done
  echo "== emulated switch benchmark (ns per switch, median of $runs runs x $reps repetitions x $iterations round trips)"
  cat "$summary"
  [[ $update_docs == 1 ]] || exit 0
  doc=$root/docs/benchmarks.md
  begin='<!-- emulated-run: begin; bench/run.sh --emulated --update-docs replaces the lines up to the end marker -->'
  end='<!-- emulated-run: end -->'
  if ! grep -qxF "$begin" "$doc" || ! grep -qxF "$end" "$doc"; then
    echo "bench/run.sh: $doc lacks the emulated-run markers; not touching it" >&2
    exit 1
  fi
  {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: nproc $(nproc), CPU \`$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)\`, $qemu_version"
    echo "- load average (1, 5, 15 min) when the run started: $emulated_load_at_start; when it ended: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown) (the times are wall-clock: on a loaded machine they include waiting for a CPU)"
    echo "- each figure: ns per switch, the median of $runs processes' medians, each over $reps repetitions x $iterations round trips; \`-O2\`, \`-static\`"
    echo
    cat "$summary"
  } >"$emulated_dir/results/section.md"
  replace_between_markers "$doc" "$begin" "$end" "$emulated_dir/results/section.md"
  echo "updated the emulated-targets figures in $doc"
  exit 0
fi

configure=(cmake -S "$root/bench" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DEBB_BENCH_WITH_BOOST=$boost)
[[ -n $cxx ]] && configure+=(-DCMAKE_CXX_COMPILER="$cxx")
"${configure[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" >/dev/null

# ---- the Go comparisons: built into the build dir, so they work as root in CI and leave no cache behind
# go_program NAME: builds bench/go/NAME.go into $build_dir/go/NAME and sets go_built to its path, or to
# "" when `go` is missing (or --no-go) or the build fails.
go_version=""
go_program() {
  go_built=""
  [[ $go == 1 ]] && command -v go >/dev/null 2>&1 || return 0
  mkdir -p "$build_dir/go"
  if GO111MODULE=off GOFLAGS= GOCACHE="$build_dir/go/cache" GOPATH="$build_dir/go/path" \
       go build -o "$build_dir/go/$1" "$root/bench/go/$1.go"; then
    go_built=$build_dir/go/$1
    go_version=$(go version)
  else
    echo "bench/run.sh: building bench/go/$1.go failed; running without the Go comparison" >&2
  fi
}
go_args=(--no-go); idle_go_args=(--no-go)
if wanted worker_pool; then
  go_program worker_pool
  [[ -n $go_built ]] && go_args=(--go-binary "$go_built")
fi
if wanted idle; then
  go_program idle_goroutines
  [[ -n $go_built ]] && idle_go_args=(--go-binary "$go_built")
fi

switch_args=(); create_args=(); growth_args=(); pool_args=(); idle_args=(); compact_switch_args=(); entity_args=()
many_switch_args=(); resume_latency_args=(); job_system_args=()
if [[ $quick == 1 ]]; then
  switch_args=(--reps 5 --iterations 500000); create_args=(--reps 5)
  growth_args=(--quick); pool_args=(--quick); idle_args=(--quick)
  compact_switch_args=(--reps 5 --iterations 200000); entity_args=(--quick)
  many_switch_args=(--quick); resume_latency_args=(--quick); job_system_args=(--quick)
fi
if [[ -n $reps ]]; then
  switch_args+=(--reps "$reps"); create_args+=(--reps "$reps"); growth_args+=(--reps "$reps")
  compact_switch_args+=(--reps "$reps")
fi
[[ $million == 1 ]] && idle_args+=(--million)
reps_note=${reps:-default}
[[ $quick == 1 && -z $reps ]] && reps_note="--quick"

out_dir=$build_dir/results
mkdir -p "$out_dir"
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
run_started=$(date -u '+%Y-%m-%d %H:%M UTC')

run() {  # run NAME PROGRAM ARGS...: console output to results/NAME.txt, Markdown to results/NAME.md
  local name=$1 program=$2
  shift 2
  echo "== $program"
  "$build_dir/$program" "$@" --markdown "$out_dir/$name.md" | tee "$out_dir/$name.txt"
  echo
}
wanted switch && run switch ebb_switch_bench "${switch_args[@]}"
wanted create && run create ebb_create_bench "${create_args[@]}"
wanted growth && run growth ebb_growth_bench "${growth_args[@]}"
wanted worker_pool && run worker_pool ebb_worker_pool_bench "${pool_args[@]}" "${go_args[@]}"
wanted idle && run idle ebb_idle_memory_bench "${idle_args[@]}" "${idle_go_args[@]}"
wanted compact_switch && run compact_switch ebb_compact_switch_bench "${compact_switch_args[@]}"
wanted entity && run entity ebb_entity_scripts_bench "${entity_args[@]}"
wanted many_switch && run many_switch ebb_many_switch_bench "${many_switch_args[@]}"
wanted resume_latency && run resume_latency ebb_resume_latency_bench "${resume_latency_args[@]}"
wanted job_system && run job_system ebb_job_system_bench "${job_system_args[@]}"

[[ $update_docs == 1 ]] || exit 0

# ---- docs/benchmarks.md --------------------------------------------------------------------------
# Without --only: everything from the latest-run marker line on is replaced. With --only: only the
# subsections of the wanted benchmarks, each between its own pair of markers
#   <!-- latest-run NAME: begin -->  ...  <!-- latest-run NAME: end -->
# (a full --update-docs writes them), are replaced; the rest of the page stays as it was.
doc=$root/docs/benchmarks.md
marker='<!-- latest-run: generated by bench/run.sh --update-docs; everything below this line is replaced -->'
if ! grep -qxF "$marker" "$doc"; then
  echo "bench/run.sh: $doc has no line '$marker'; not touching it" >&2
  exit 1
fi

compiler_path=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
compiler=$("$compiler_path" --version | head -n 1)
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
boost_version=$(sed -n 's/^boost: //p' "$out_dir/switch.txt" 2>/dev/null || true)
case $boost_version in
  "Boost "[0-9]*) boost_version="$boost_version (the system's shared library; jump_fcontext is called through the PLT)" ;;
esac
load_at_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
run_date=$(date -u '+%Y-%m-%d %H:%M UTC')

title_of() {
  case $1 in
    switch) echo "Context switch" ;;
    create) echo "Create + run + destroy" ;;
    growth) echo "Growth: 2 KiB to 1 MiB in one recursion" ;;
    worker_pool) echo "Worker pool: shrink passes, and Go's GCs beside them" ;;
    idle) echo "Idle memory per suspended fiber" ;;
    compact_switch) echo "Compact fibers: a switch that copies live frames" ;;
    entity) echo "Compact fibers: 50,000 entity scripts" ;;
    many_switch) echo "Many-fiber switch: 50,000 fibers round-robin" ;;
    resume_latency) echo "Resume latency during a shrink pass" ;;
    job_system) echo "Job system: ebb fibers beside Boost fibers on fixed-size stacks" ;;
  esac
}

# section NAME [STAMP]: one benchmark's subsection, without its markers; STAMP (a partial update) says
# which run it comes from.
section() {
  local name=$1 stamp=${2:-}
  echo "### $(title_of "$name")"
  echo
  if [[ -n $stamp ]]; then
    echo "$stamp"
    echo
  fi
  cat "$out_dir/$name.md"
  echo
  echo "<details><summary>Console output</summary>"
  echo
  echo '```text'
  cat "$out_dir/$name.txt"
  echo '```'
  echo
  echo "</details>"
}

# README's pictures (docs/img/*.svg) are drawn from the figures just written (bench/plot.py).
redraw_plots() {
  if command -v python3 >/dev/null 2>&1; then
    python3 "$root/bench/plot.py" "$doc" "$root/docs/img"
  else
    echo "bench/run.sh: no python3: docs/img/*.svg not redrawn (run bench/plot.py)" >&2
  fi
}

if [[ -n $only ]]; then
  for name in "${only_names[@]}"; do
    if ! grep -qxF "<!-- latest-run $name: begin -->" "$doc" || ! grep -qxF "<!-- latest-run $name: end -->" "$doc"; then
      echo "bench/run.sh: $doc has no latest-run markers for '$name'; run a full --update-docs first. Not touching it" >&2
      exit 1
    fi
  done
  stamp_command="bench/run.sh --update-docs --only $only"
  [[ $quick == 1 ]] && stamp_command+=" --quick"
  [[ $million == 1 ]] && stamp_command+=" --million"
  [[ -n $reps ]] && stamp_command+=" --reps $reps"
  stamp="_This subsection alone: \`$stamp_command\`, started $run_started, written $run_date; not the run described"
  stamp+=" at the top of \"Latest run\"; load average (1, 5, 15 min) $load_at_start at its start, $load_at_end at its end;"
  stamp+=" repetitions: $reps_note; $compiler, \`-O2\`"
  boost_version=""  # only from this run's programs, not from results an earlier run left in $out_dir
  for name in "${only_names[@]}"; do
    [[ -z $boost_version ]] && boost_version=$(sed -n '1,5s/^boost: //p' "$out_dir/$name.txt")
  done
  [[ -n $boost_version ]] && stamp+="; $boost_version"
  [[ -n $go_version ]] && stamp+="; ${go_version#go version }"
  stamp+="._"
  for name in "${only_names[@]}"; do
    section "$name" "$stamp" >"$out_dir/$name.section.md"
    replace_between_markers "$doc" "<!-- latest-run $name: begin -->" "<!-- latest-run $name: end -->" \
      "$out_dir/$name.section.md"
  done
  echo
  echo "updated the subsections $only of $doc"
  redraw_plots
  exit 0
fi

{
  awk -v marker="$marker" '{ print } $0 == marker { exit }' "$doc"
  echo
  echo "## Latest run"
  echo
  echo "Written by \`bench/run.sh --update-docs\` from one run of every benchmark; each figure is a"
  echo "**median** over the repetitions named with it (repetitions: $reps_note), the contenders"
  echo "interleaved in rotated order within each repetition, every ratio taken within this run."
  echo "A subsection rewritten later on its own (\`--update-docs --only NAME\`) says so in its first line."
  echo
  echo "- date: $run_date"
  echo "- machine: nproc $(nproc), CPU \`${cpu:-unknown}\`, kernel $(uname -sr), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) of memory"
  echo "- load average (1, 5, 15 min) when the run started: $load_at_start; when it ended: $load_at_end"
  echo "- compiler: $compiler, \`-O2\` (CMake Release, bench/CMakeLists.txt pins -O2)"
  echo "- ${boost_version:-Boost not built in}"
  echo "- Go: ${go_version:-not run}"
  for name in switch create growth worker_pool idle compact_switch entity many_switch resume_latency job_system; do
    echo
    echo "<!-- latest-run $name: begin -->"
    section "$name"
    echo "<!-- latest-run $name: end -->"
  done
} >"$doc.tmp"
mv "$doc.tmp" "$doc"
echo
echo "updated $doc"
redraw_plots
