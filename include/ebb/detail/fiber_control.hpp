// SPDX-License-Identifier: BSL-1.0
// ebb/detail/fiber_control.hpp — a fiber's control block: the shared context plus what its policies own.
//
// It sits where the FrameMapper placed it, for in_place at the top of the fiber's own stack reservation
// (the memory map is drawn in fiber.hpp), so creating a fiber allocates nothing from the heap but the
// copy of its name, if it has one (and, in ASan and TSan builds, the sanitizers' tool_state). Code that
// knows the fiber only as "the one running on this thread" sees the fiber_context at its start;
// everything after it depends on the policies. Every byte of it is a byte of every fiber:
// tests/unit/test_control_size.cpp holds the default fiber's to a budget.
#pragma once

#include "ebb/allocators/stack_region.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/fiber_options.hpp"

#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

EBB_NAMESPACE_BEGIN
namespace detail {

// A fiber's own copy of its name: one pointer (libstdc++'s std::string is four words), null while
// unnamed. The copy comes from operator new, as std::string's did, so a failure is the same
// std::bad_alloc.
class owned_name {
 public:
  owned_name() noexcept = default;
  owned_name(const owned_name&) = delete;
  owned_name& operator=(const owned_name&) = delete;
  ~owned_name() {
    if (text_ != nullptr) ::operator delete(text_);  // an unnamed fiber's destruction makes no call
  }

  // Keeps a copy of `name` (all of it, with a terminator after it); an empty name keeps nothing.
  void assign(const std::string& name) {
    if (name.empty()) return;
    char* text = static_cast<char*>(::operator new(name.size() + 1));
    std::memcpy(text, name.data(), name.size());
    text[name.size()] = '\0';
    ::operator delete(text_);
    text_ = text;
  }
  // The name, or "" while there is none.
  const char* c_str() const noexcept { return text_ != nullptr ? text_ : ""; }

 private:
  char* text_ = nullptr;
};

// The small members sit together right after the context: empty policies and a stateless allocator
// take a byte each and on_destroy is one byte, so with the defaults all four share one word (on_destroy
// used to pad a word of its own further down).
template <class GrowthPolicy, class ShrinkPolicy, class StackAllocator, class FrameMapper>
struct fiber_control : runtime_v1::fiber_context {
  using stack_allocator = StackAllocator;
  GrowthPolicy growth;
  ShrinkPolicy shrink;
  StackAllocator allocator;
  destroy_action on_destroy = default_destroy_action;
  FrameMapper mapper;
  stack_region region;
  void* callable = nullptr;
  void (*drop_callable)(void*) noexcept = nullptr;
#if EBB_HAS_EXCEPTIONS
  std::exception_ptr error;
#endif
  owned_name name_storage;  // what `name` points at (fiber_creation.hpp sets both)

  explicit fiber_control(StackAllocator&& a) : allocator(std::move(a)) {}
};

}  // namespace detail
EBB_NAMESPACE_END
