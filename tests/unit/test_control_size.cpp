// SPDX-License-Identifier: BSL-1.0
// The control block's size budget. A fiber's control block sits at the top of its stack, so every
// byte of it is a byte of every fiber; a compact fiber is meant to fit in about 2.5 KiB, control block
// included. Measured on 64-bit Linux (x86-64 and AArch64 with libstdc++, where the figures below were
// taken); other targets have other type sizes and are not held to them.
//
// And the saved stack pointer stays the context's first field, at offset 0.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <cstddef>
#include <type_traits>

namespace {
using default_control = ebb::detail::fiber_control<ebb::doubling_growth<>, ebb::quarter_shrink<>,
                                                   ebb::virtual_stack_allocator<>, ebb::in_place>;
using context = ebb::runtime_v1::fiber_context;
using compact_control = ebb::detail::fiber_control<ebb::doubling_growth<>, ebb::quarter_shrink<>,
                                                   ebb::compact_allocator, ebb::shared_stack<>>;
}  // namespace

TEST_CASE("the control block of a default fiber stays within its size budget", "[layout]") {
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
  if (sizeof(void*) == 8) {
    // 472 and 352 bytes before the sanitizer state moved behind one pointer, the name became one
    // owned pointer and the fields were repacked; 384 and 296 after; 376 and 288 with 32-bit grows and
    // shrinks. A compact fiber's control block: 392.
    constexpr std::size_t control_budget = 408;
    constexpr std::size_t context_budget = 300;
    CHECK(sizeof(default_control) <= control_budget);
    CHECK(sizeof(context) <= context_budget);
    // A compact fiber's block is its 2 KiB of first storage, this, and its callable: an idle one must
    // stay under 2.5 KB (2,500 bytes) with its handle, which leaves about 420 bytes here (400 now).
    CHECK(sizeof(compact_control) <= 416);
  }
#endif
  SUCCEED();
}

TEST_CASE("the saved stack pointer is the context's first field", "[layout]") {
  static_assert(std::is_standard_layout<context>::value, "offsetof needs a standard-layout fiber_context");
  constexpr std::size_t sp_offset = offsetof(context, sp);
  CHECK(sp_offset == 0);
}

// The registry is one process-wide object, zeroed at start-up: everything it holds up front is resident
// in every process that includes ebb. A flat directory of every possible chunk of slots made it 8 MiB
// (RSS at start-up went from 3.7 to 11.9 MiB); the directory now grows in blocks.
TEST_CASE("the registry's process-wide object stays small", "[size][registry]") {
  CHECK(sizeof(ebb::runtime_v1::registry_state) <= 64 * 1024);
}
