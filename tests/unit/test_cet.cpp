// SPDX-License-Identifier: BSL-1.0
// Control-flow enforcement (CET): shadow stacks are refused clearly at fiber creation when active,
// and the switch routines carry endbr64 whenever indirect-branch tracking is compiled in.
#include "ebb_catch.hpp"

#include <ebb/ebb.hpp>

#include <cstdint>
#include <cstring>

namespace {

// The first bytes of a routine defined in assembly.
template <class Function>
bool starts_with_endbr64(Function* function) {
  const unsigned char endbr64[] = {0xf3, 0x0f, 0x1e, 0xfa};
  std::uintptr_t address;
  std::memcpy(&address, &function, sizeof address);
  return std::memcmp(reinterpret_cast<const void*>(address), endbr64, sizeof endbr64) == 0;
}

}  // namespace

#if EBB_HAS_EXCEPTIONS
TEST_CASE("an active shadow stack is refused with fiber_error", "[cet]") {
  REQUIRE_NOTHROW(ebb::detail::refuse_active_shadow_stack(0, "job"));
  // What rdssp answers with shadow stacks on: an address on the thread's shadow stack (any non-zero
  // value; cut to the pointer width on 32-bit targets, and the report shows it cut).
  const std::uintptr_t shadow_stack_pointer = static_cast<std::uintptr_t>(0x7f0012345ff8ull & UINTPTR_MAX);
  const char* const shown = sizeof(std::uintptr_t) == 8 ? "0x7f0012345ff8" : "0x12345ff8";
  try {
    ebb::detail::refuse_active_shadow_stack(shadow_stack_pointer, "cet-job");
    FAIL("no error");
  } catch (const ebb::fiber_error& e) {
    CHECK(e.code() == ebb::fiber_errc::shadow_stack_active);
    CHECK_THAT(e.what(), has_text("ebb: ") && has_text("cet-job") && has_text("shadow stacks are active") &&
                             has_text(shown) && has_text("-fcf-protection"));
  }
}

TEST_CASE("fiber creation consults the shadow-stack pointer", "[cet]") {
  // Here shadow stacks are inactive (no CET hardware, or a C library that leaves them off) and
  // fibers run; a machine that has them active must get the report instead of a crash.
  if (ebb::runtime_v1::arch::shadow_stack_pointer() == 0) {
    int runs = 0;
    ebb::fiber f([&] {
      ++runs;
      ebb::this_fiber::yield();
      ++runs;
    });
    while (f.resume()) {
    }
    CHECK(runs == 2);
  } else {
    WARN("CET shadow stacks are active on this machine: checking the refusal");
    try {
      ebb::fiber f(ebb::fiber_options().name("refused"), [] {});
      FAIL("a fiber was created with shadow stacks active");
    } catch (const ebb::fiber_error& e) {
      CHECK(e.code() == ebb::fiber_errc::shadow_stack_active);
    }
  }
}
#endif

#if defined(EBB_ARCH_AARCH64)
// AArch64's counterpart: `bti c` (0xd503245f) heads both routines exactly when -mbranch-protection asks
// for BTI landing pads (the compiler then marks the object BTI in its GNU property note).
template <class Function>
bool starts_with_bti_c(Function* function) {
  const unsigned char bti_c[] = {0x5f, 0x24, 0x03, 0xd5};
  std::uintptr_t address;
  std::memcpy(&address, &function, sizeof address);
  return std::memcmp(reinterpret_cast<const void*>(address), bti_c, sizeof bti_c) == 0;
}

TEST_CASE("the switch routines begin with bti c exactly when BTI is compiled in", "[cet][bti]") {
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
  const bool want = true;
#else
  const bool want = false;
#endif
  CHECK(starts_with_bti_c(&ebb::runtime_v1::arch::ebb_switch_context) == want);
  CHECK(starts_with_bti_c(&ebb::runtime_v1::arch::ebb_fiber_start) == want);
}
#endif

TEST_CASE("the switch routines begin with endbr64 exactly when IBT is compiled in", "[cet]") {
#if defined(__CET__) && (__CET__ & 1)
  const bool want = true;
#else
  const bool want = false;
#endif
  CHECK(starts_with_endbr64(&ebb::runtime_v1::arch::ebb_switch_context) == want);
  CHECK(starts_with_endbr64(&ebb::runtime_v1::arch::ebb_fiber_start) == want);
}
