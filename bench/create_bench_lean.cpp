// SPDX-License-Identifier: BSL-1.0
// bench/create_bench_lean.cpp — the lean contender of create_bench.cpp. Compiled with -DEBB_LEAN=1
// and linked into the same program as the default one.
#include "ebb_workloads.hpp"
#include "lean.hpp"

#if !EBB_LEAN
#error "bench/create_bench_lean.cpp must be compiled with -DEBB_LEAN=1"
#endif

namespace ebb_bench {

double lean_create_ns(std::size_t count) { return ebb_create_ns<ebb::fiber>(count); }

bool lean_create_tu_is_lean() { return EBB_LEAN && !EBB_CHECKS && !EBB_SWAP_EXCEPTION_STATE; }

}  // namespace ebb_bench
