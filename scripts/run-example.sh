#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# scripts/run-example.sh — configure and build ebb's examples (Release) and run examples/quickstart.cpp.
# Extra arguments are passed to the example. Build directory: $EBB_BUILD_DIR (default build/example).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/install-prereqs.sh example

build=${EBB_BUILD_DIR:-$root/build/example}
generator=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$build/Makefile" ]; then generator=(-G Ninja); fi

cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DEBB_BUILD_TESTS=OFF -DEBB_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" --target example_quickstart --parallel "$(nproc 2>/dev/null || echo 2)"
echo "---- examples/quickstart.cpp"
exec "$build/example_quickstart" "$@"
