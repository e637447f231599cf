// SPDX-License-Identifier: BSL-1.0
// ebb/fiber_options.hpp — run-time settings for one fiber.
//
// Compile-time policies give the defaults; these override them per fiber where the policy allows
// (a size outside the policy's [min_size, max_size] is clamped into it). Written as chained setters
// so a call site reads as a sentence in C++17:
//
//     ebb::fiber parser(ebb::fiber_options().name("json-parser").initial_size(16 * 1024), parse);
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/install_once.hpp"

#include <cstddef>
#include <new>
#include <string>
#include <utility>

EBB_NAMESPACE_BEGIN

// What to do with a fiber that is destroyed while suspended in the middle of its function.
enum class destroy_action : unsigned char {
  unwind,              // resume it with ebb::forced_unwind thrown from its suspension point
  abandon_and_report,  // release the stack without running its destructors, and say so on stderr
  abandon,             // release the stack without running its destructors, silently
  terminate,           // report and abort
};

#if EBB_HAS_EXCEPTIONS
inline constexpr destroy_action default_destroy_action = destroy_action::unwind;
#else
inline constexpr destroy_action default_destroy_action = destroy_action::abandon_and_report;
#endif

class fiber_options {
 public:
  // Used in every diagnostic about this fiber (misuse errors, overflow reports, debugger listings).
  fiber_options& name(std::string value) { name_ = std::move(value); return *this; }
  // The logical size the fiber starts with (Go has one global start size; ebb lets a job that is
  // known to run deep start there). 0: the GrowthPolicy's initial size.
  fiber_options& initial_size(std::size_t bytes) noexcept { initial_size_ = bytes; return *this; }
  // The most the stack may grow to. 0: the GrowthPolicy's max_size. A value above the GrowthPolicy's
  // max_size is lowered to it (and one below min_size raised to it): the policy is the type's hard
  // bound. stack_stats().max_size tells what a fiber got; an allocator with fixed-size stacks
  // (fixed_stack_allocator) may bound it further.
  fiber_options& max_size(std::size_t bytes) noexcept { max_size_ = bytes; return *this; }
  // Inaccessible bytes below the stack. 0: the StackAllocator's default.
  fiber_options& guard_size(std::size_t bytes) noexcept { guard_size_ = bytes; return *this; }
  fiber_options& on_destroy(destroy_action action) noexcept { on_destroy_ = action; return *this; }
  // Anything the program wants to find again from inside the fiber: this_fiber::user_data().
  fiber_options& user_data(void* value) noexcept { user_data_ = value; return *this; }
  // The fiber runs only on the thread that first resumes it: resuming it (or switching to it) on
  // another thread is a fiber_error (fiber_errc::wrong_thread). For code that keeps thread-local
  // state across its yields.
  fiber_options& pin_to_thread(bool pinned) noexcept { pin_to_thread_ = pinned; return *this; }

  const std::string& name() const noexcept { return name_; }
  std::size_t initial_size() const noexcept { return initial_size_; }
  std::size_t max_size() const noexcept { return max_size_; }
  std::size_t guard_size() const noexcept { return guard_size_; }
  destroy_action on_destroy() const noexcept { return on_destroy_; }
  void* user_data() const noexcept { return user_data_; }
  bool pin_to_thread() const noexcept { return pin_to_thread_; }

 private:
  std::string name_;
  std::size_t initial_size_ = 0;
  std::size_t max_size_ = 0;
  std::size_t guard_size_ = 0;
  destroy_action on_destroy_ = default_destroy_action;
  void* user_data_ = nullptr;
  bool pin_to_thread_ = false;
};

namespace detail {
// The options of a fiber made without any (`ebb::fiber f(fn)`): one shared object, so that such a
// fiber does not build and destroy an 80-byte fiber_options, a std::string among it, on the way in.
// GCC zeroes that temporary with `rep stos` in some callers, which cost 6 ns of a 44 ns create + run
// + destroy where it did. Never destroyed: a fiber made during static destruction still finds it.
// Not a function-local static, whose guard a thread holds while it constructs the object: a child
// forked then inherits the guard held and waits for ever at its first such fiber (test_fork's race of
// forks against first fibers hung 1 trial in about 1,500 on it). Built under a registration_once
// instead, which a child forked in the middle starts over.
struct default_options_storage {
  alignas(fiber_options) unsigned char bytes[sizeof(fiber_options)]{};
  runtime_v1::registration_once built;
};

inline const fiber_options& default_fiber_options() noexcept {
  static default_options_storage storage;  // constant-initialised: no guard
  storage.built.run([]() noexcept { ::new (static_cast<void*>(storage.bytes)) fiber_options(); });
  return *std::launder(reinterpret_cast<const fiber_options*>(storage.bytes));
}
}  // namespace detail

EBB_NAMESPACE_END
