// SPDX-License-Identifier: BSL-1.0
// bench/lean.hpp — the functions the lean translation units (compiled with -DEBB_LEAN=1) export to
// the default-configured main programs. Plain functions taking and returning plain numbers: nothing of
// ebb's crosses the boundary, so the two configurations never see each other's types.
#pragma once

#include <cstddef>

namespace ebb_bench {

// switch_bench_lean.cpp: ns per switch of a lean ebb::fiber resume + yield round trip.
double lean_switch_ns(std::size_t round_trips);

// create_bench_lean.cpp: ns per lean ebb::fiber created, run to completion and destroyed.
double lean_create_ns(std::size_t count);

// True if this translation unit really was compiled lean: guards against a build that forgot the
// definition, which would silently measure the default configuration twice.
bool lean_switch_tu_is_lean();
bool lean_create_tu_is_lean();

}  // namespace ebb_bench
