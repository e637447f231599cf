// SPDX-License-Identifier: BSL-1.0
// ebb/detail/thread_stack_call.hpp — this_fiber::call_on_thread_stack: a function call made on the
// thread's own stack, from a fiber.
//
// The thread's own stack is suspended below the resume chain: the code that resumed the outermost
// fiber of the chain waits inside its switch, and everything below that switch frame is free. So the
// call needs no stack of its own: a first frame is laid out there (with the same make_initial_frame a
// new fiber gets), a switch runs it, and it switches straight back when the function is done. The
// fiber stays "running" throughout, so no other thread and no registry pass can touch it, and while
// the function runs the thread has no current fiber: this_fiber:: calls inside it report
// outside_fiber, and a fiber it resumes has the thread's stack as its resumer, as it should.
//
// "The thread's own stack" is the stack of whoever resumed the outermost ebb fiber on this thread: the
// thread's stack unless that code itself runs on another library's coroutine.
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/context.hpp"
#include "ebb/detail/switch_hooks.hpp"
#include "ebb/detail/tool_hooks.hpp"
#include "ebb/error.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

#if EBB_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if EBB_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if EBB_VALGRIND
#include <valgrind/memcheck.h>
#endif

EBB_NAMESPACE_BEGIN
namespace detail {

struct thread_stack_call {
  void (*invoke)(thread_stack_call&) noexcept;  // runs the caller's function, keeps its result
  void* function = nullptr;
  void* fiber_sp = nullptr;  // the fiber's side waits here
  // ASan: the fiber's fake stack while the call runs, and the stack the call came from.
  void* asan_fake_stack = nullptr;
  const void* asan_from_bottom = nullptr;
  std::size_t asan_from_size = 0;
  // TSan: the call runs as its own TSan fiber (its frames never return through the fiber's).
  void* tsan_fiber = nullptr;
  void* tsan_call = nullptr;
};

[[noreturn]] inline void thread_stack_entry(void* arg) noexcept {
  thread_stack_call& call = *static_cast<thread_stack_call*>(arg);
#if EBB_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &call.asan_from_bottom, &call.asan_from_size);
#endif
  call.invoke(call);
#if EBB_ASAN
  // This frame is abandoned, never returned from: its poisoned redzones would stay on the thread's
  // stack and trip the next deep call there.
  __asan_handle_no_return();
  __sanitizer_start_switch_fiber(nullptr, call.asan_from_bottom, call.asan_from_size);
#endif
#if EBB_TSAN
  __tsan_switch_to_fiber(call.tsan_fiber, 0);
#endif
  void* abandoned;
  runtime_v1::arch::ebb_switch_context(&abandoned, call.fiber_sp);
  fatal("a call on the thread's stack was switched to after it ended");
}

// Run call.invoke on the thread's own stack below the resume chain that `self` belongs to.
inline void run_on_thread_stack(runtime_v1::fiber_context& self, thread_stack_call& call) noexcept {
  runtime_v1::fiber_context* root = &self;
  while (root->parent != nullptr) root = root->parent;
  // Below the resumer's saved registers: its red zone (128 bytes in the x86-64 and AArch64 ABIs), and
  // some slack, then 16-byte alignment.
  const auto below = reinterpret_cast<std::uintptr_t>(root->caller_sp) - 256;
  void* top = reinterpret_cast<void*>(below & ~std::uintptr_t(15));
#if EBB_VALGRIND
  // Memcheck holds everything below the thread's last stack pointer inaccessible; the first frame is
  // written there while this thread runs on the fiber's stack.
  VALGRIND_MAKE_MEM_UNDEFINED(static_cast<char*>(top) - 256, 256);
#endif
#if defined(EBB_ABI_MS)
  // The thread's own stack, as the TIB described it when the thread resumed its first fiber: saved
  // in the root resumer's switch frame.
  void* sp = runtime_v1::arch::make_initial_frame_with_tib(top, &thread_stack_entry, &call,
                                                          runtime_v1::arch::tib_bounds_saved_at(root->caller_sp));
#else
  void* sp = runtime_v1::arch::make_initial_frame(top, &thread_stack_entry, &call);
#endif
  runtime_v1::thread_state* ts = runtime_v1::this_thread();
  ts->current = nullptr;
  note_switch(&self, nullptr);  // the thread runs its own stack now, not the fiber's
#if EBB_ASAN
  const runtime_v1::tool_state& root_tools = runtime_v1::hooks::tools_of(*root);
  __sanitizer_start_switch_fiber(&call.asan_fake_stack, root_tools.asan_caller_bottom, root_tools.asan_caller_size);
#endif
#if EBB_TSAN
  call.tsan_fiber = __tsan_get_current_fiber();
  call.tsan_call = __tsan_create_fiber(0);
  __tsan_switch_to_fiber(call.tsan_call, 0);
#endif
  runtime_v1::arch::ebb_switch_context(&call.fiber_sp, sp);
#if EBB_ASAN
  __sanitizer_finish_switch_fiber(call.asan_fake_stack, nullptr, nullptr);
#endif
#if EBB_TSAN
  __tsan_destroy_fiber(call.tsan_call);
#endif
  std::atomic_signal_fence(std::memory_order_release);
  ts->current = &self;
  note_switch(nullptr, &self);
}

// The function and what came of it, on the fiber's stack; invoke runs on the thread's.
template <class Fn>
struct thread_stack_result {
  using value_type = std::invoke_result_t<Fn&>;
  // A reference is kept as a pointer; nothing is kept for void (a byte stands in).
  using stored_type = std::conditional_t<
      std::is_void<value_type>::value, unsigned char,
      std::conditional_t<std::is_reference<value_type>::value, std::remove_reference_t<value_type>*, value_type>>;
  alignas(stored_type) unsigned char storage[sizeof(stored_type)];
  bool has_value = false;
#if EBB_HAS_EXCEPTIONS
  std::exception_ptr error;
#endif

  static void invoke(thread_stack_call& call) noexcept {
    auto& self = *static_cast<std::pair<Fn*, thread_stack_result*>*>(call.function);
#if EBB_HAS_EXCEPTIONS
    try {
      self.second->run(*self.first);
    } catch (...) {
      self.second->error = std::current_exception();
    }
#else
    self.second->run(*self.first);
#endif
  }
  void run(Fn& fn) {
    if constexpr (std::is_void<value_type>::value) {
      fn();
    } else if constexpr (std::is_reference<value_type>::value) {
      ::new (static_cast<void*>(storage)) stored_type(std::addressof(fn()));
      has_value = true;
    } else {
      ::new (static_cast<void*>(storage)) stored_type(fn());
      has_value = true;
    }
  }
  value_type take() {
#if EBB_HAS_EXCEPTIONS
    if (error) std::rethrow_exception(error);
#endif
    if constexpr (std::is_void<value_type>::value) {
      return;
    } else if constexpr (std::is_reference<value_type>::value) {
      return static_cast<value_type>(**std::launder(reinterpret_cast<stored_type*>(storage)));
    } else {
      stored_type& value = *std::launder(reinterpret_cast<stored_type*>(storage));
      value_type out(std::move(value));
      return out;
    }
  }
  ~thread_stack_result() {
    if constexpr (!std::is_void<value_type>::value && !std::is_reference<value_type>::value)
      if (has_value) std::launder(reinterpret_cast<stored_type*>(storage))->~stored_type();
  }
};

}  // namespace detail
EBB_NAMESPACE_END
