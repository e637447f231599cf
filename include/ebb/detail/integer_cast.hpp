// SPDX-License-Identifier: BSL-1.0
// ebb/detail/integer_cast.hpp — a conversion between integer types whose widths depend on the target.
//
// std::size_t is unsigned int on 32-bit targets and unsigned long on 64-bit ones, and std::uint64_t is
// unsigned long long on Windows and unsigned long on Linux, as is std::uintptr_t on 64-bit Linux (the
// u64 addresses Linux's PAGEMAP_SCAN reports become std::uintptr_t, os/linux/pagemap_scan.hpp). A
// static_cast to std::uint32_t from a std::size_t is then useless on 32-bit targets, and g++'s
// -Wuseless-cast (which a strict consumer may build with, tests/consumer/) fires there only. In a
// template the cast depends on a parameter, and the warning does not fire for any target.
#pragma once

#include "ebb/config.hpp"

#include <type_traits>

EBB_RUNTIME_BEGIN

template <class To, class From>
constexpr To integer_cast(From value) noexcept {
  static_assert(std::is_integral<To>::value && std::is_integral<From>::value, "ebb: integer_cast takes integers");
  return static_cast<To>(value);
}

EBB_RUNTIME_END
