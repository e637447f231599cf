// SPDX-License-Identifier: BSL-1.0
// ebb/mappers/saved_frames.hpp — moving a compact fiber's frames, and checking that nobody touched
// them while they were away (mappers/shared_stack.hpp uses these).
//
// The copies are not the program's accesses. Under ASan they must neither be checked (frames hold
// redzones) nor turned into an intercepted memcpy, and the frames' shadow travels with them: it is
// read and written through ASan's shadow mapping, one byte per 8 bytes of frames.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/error.hpp"
#include "ebb/mappers/execution_stack.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

#if EBB_ASAN
#include <sanitizer/asan_interface.h>
#endif

EBB_NAMESPACE_BEGIN
namespace detail {

constexpr unsigned char compact_canary = 0xEB;

// Byte by byte through volatile pointers in an uninstrumented function under ASan, so the compiler
// cannot turn the loop back into a memcpy call (which ASan intercepts and checks); memcpy otherwise.
EBB_NO_SANITIZE_ADDRESS inline void copy_frames(void* to, const void* from, std::size_t bytes) noexcept {
#if EBB_ASAN
  auto* d = static_cast<volatile unsigned char*>(to);
  auto* s = static_cast<const volatile unsigned char*>(from);
  for (std::size_t i = 0; i < bytes; ++i) d[i] = s[i];
#else
  std::memcpy(to, from, bytes);
#endif
}

#if EBB_ASAN
// ASan's shadow of the bytes from lo on (frames are 16-byte aligned at both ends).
inline unsigned char* asan_shadow(const void* lo) noexcept {
  std::size_t scale = 0, offset = 0;
  __asan_get_shadow_mapping(&scale, &offset);
  return reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(lo) >> scale) + offset);
}
#endif

// Saved frames sit at the top of their storage (their shadow, under ASan, at its bottom): from one
// block to another when the storage changes size.
inline void move_saved_frames(char* to, std::size_t to_bytes, const char* from, std::size_t from_bytes,
                              std::size_t frames) noexcept {
  copy_frames(to + to_bytes - frames, from + from_bytes - frames, frames);
#if EBB_ASAN
  copy_frames(to, from, frames / 8);
#endif
}

// Checked mode: the frames a saved fiber left on its execution stack may not be touched until it
// resumes. ASan poisons them (any access is reported at once); without ASan they are filled with
// the canary, verified by clear_checked_region.
inline void poison_left_frames(runtime_v1::fiber_context& c, runtime_v1::execution_stack& e) noexcept {
  char* sp = static_cast<char*>(c.sp);
#if EBB_ASAN
  ASAN_POISON_MEMORY_REGION(sp, static_cast<std::size_t>(e.top - sp));
#else
  std::memset(sp, compact_canary, static_cast<std::size_t>(e.top - sp));
#endif
  e.canary_lo = sp;
  e.canary_fiber = c.id;
}

// Checked mode, before the stack is used by anyone again: the region left poisoned is made clean
// (ASan), or its canary verified — a byte changed means something wrote through a pointer into the
// saved fiber's frames.
inline void clear_checked_region(runtime_v1::execution_stack& e) noexcept {
  if (e.canary_lo == nullptr) return;
#if EBB_ASAN
  ASAN_UNPOISON_MEMORY_REGION(e.canary_lo, static_cast<std::size_t>(e.top - e.canary_lo));
#else
  // %llu takes unsigned long long: the id's own type is that on Windows and unsigned long on 64-bit
  // Linux, so a cast would be useless on one of them (-Wuseless-cast) and a conversion is not.
  const unsigned long long fiber_id = e.canary_fiber;
  for (const char* p = e.canary_lo; p < e.top; ++p)
    if (static_cast<unsigned char>(*p) != compact_canary)
      fatal("the frames of suspended compact fiber #%llu were written at %p (%zu bytes below the top of its "
            "execution stack) while it was suspended: a pointer into its frames was used outside it "
            "(mappers/shared_stack.hpp)",
            fiber_id, static_cast<const void*>(p),
            static_cast<std::size_t>(e.top - p));
#endif
  e.canary_lo = nullptr;
}

}  // namespace detail
EBB_NAMESPACE_END
