// SPDX-License-Identifier: BSL-1.0
// bench/deep_frames.hpp — a recursion whose frames average 88 bytes, the frame of a small
// recursive-descent parser (and the frame bench/go/worker_pool.go's goroutines use).
//
// On x86-64 the stack pointer is 16-byte aligned at every call, so a function that calls another has
// a frame of a multiple of 16 bytes: 88 bytes is impossible for one function. Two functions that call
// each other, one with a 48-byte local array and one with a 64-byte one, have frames of 80 and 96
// bytes with g++ 12 and clang++ 14 at -O2 (return address, one saved register, the array, padding):
// 88 bytes a level on average. The benchmarks print the figure they measure (bytes in use at the
// deepest point / levels), so a compiler that lays the frames out otherwise shows up in the output.
//
// Each array is filled and kept alive across the call by an empty asm statement with a memory
// clobber: the compiler can neither drop the array nor turn the call into a jump.
#pragma once

#include <cstddef>
#include <cstring>

namespace ebb_bench {

// `levels` frames, alternating 80- and 96-byte ones, below the caller's. (Members of a struct so that
// the two can call each other without a forward declaration, which GCC warns about for an inline
// noinline function.)
struct deep_frames {
  // Called at the deepest level, if set: growth_bench.cpp yields there, so the switch sees the depth.
  static inline void (*at_bottom)() = nullptr;

  __attribute__((noinline)) static int a(int levels) {
    char local[48];
    std::memset(local, levels, sizeof local);
    __asm__ volatile("" : : "r"(local) : "memory");
    const int below = levels > 1 ? b(levels - 1) : bottom();
    __asm__ volatile("" : : "r"(local) : "memory");
    return below + local[static_cast<unsigned>(levels) % sizeof local];
  }
  __attribute__((noinline)) static int b(int levels) {
    char local[64];
    std::memset(local, levels, sizeof local);
    __asm__ volatile("" : : "r"(local) : "memory");
    const int below = levels > 1 ? a(levels - 1) : bottom();
    __asm__ volatile("" : : "r"(local) : "memory");
    return below + local[static_cast<unsigned>(levels) % sizeof local];
  }
  __attribute__((noinline)) static int bottom() {
    if (at_bottom) at_bottom();
    return 0;
  }
};

// Recurse `levels` frames deep and come back; returns a value that depends on every frame.
inline int recurse_frames(int levels) { return levels > 0 ? deep_frames::a(levels) : 0; }

inline constexpr double nominal_frame_bytes = 88.0;

}  // namespace ebb_bench
