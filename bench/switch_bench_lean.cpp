// SPDX-License-Identifier: BSL-1.0
// bench/switch_bench_lean.cpp — the lean contender of switch_bench.cpp. Compiled with -DEBB_LEAN=1
// (no exception-state swap, no misuse checks) and linked into the same program as the default one.
#include "ebb_workloads.hpp"
#include "lean.hpp"

#if !EBB_LEAN
#error "bench/switch_bench_lean.cpp must be compiled with -DEBB_LEAN=1"
#endif

namespace ebb_bench {

double lean_switch_ns(std::size_t round_trips) { return ebb_switch_ns<ebb::fiber>(round_trips); }

bool lean_switch_tu_is_lean() { return EBB_LEAN && !EBB_CHECKS && !EBB_SWAP_EXCEPTION_STATE; }

}  // namespace ebb_bench
