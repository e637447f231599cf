// SPDX-License-Identifier: BSL-1.0
// ebb/os/memory_units.hpp — the portable vocabulary os/memory.hpp's contract is stated in, shared by
// every implementation (which cannot include the selector: it includes them).
#pragma once

#include "ebb/config.hpp"

#include <cstddef>

EBB_RUNTIME_BEGIN
namespace os {

// A power of two (every page size) is rounded with a mask: the page size is a run-time value, and a
// 64-bit division on every use cost about 1 ns of a fiber's create + run + destroy (five of them).
constexpr std::size_t round_up(std::size_t n, std::size_t align) noexcept {
  return (align & (align - 1)) == 0 ? (n + align - 1) & ~(align - 1) : (n + align - 1) / align * align;
}
constexpr std::size_t round_down(std::size_t n, std::size_t align) noexcept {
  return (align & (align - 1)) == 0 ? n & ~(align - 1) : n / align * align;
}

// What a range holds: resident bytes, swapped-out bytes, and whether swap may hold some unseen (a
// system that cannot see swap per page says so; then any range may hold swap when the system has swap
// at all).
struct held_memory {
  std::size_t resident = 0;
  std::size_t swapped = 0;
  bool swap_unknown = false;
  bool worth_releasing() const noexcept { return resident != 0 || swapped != 0 || swap_unknown; }
  std::size_t bytes() const noexcept { return resident + swapped; }
};

}  // namespace os
EBB_RUNTIME_END
