// SPDX-License-Identifier: BSL-1.0
// ebb/detail/context.hpp — the part of a fiber every configuration agrees on, and per-thread state.
//
// A fiber's control block starts with a fiber_context. Code that reaches a fiber only through
// "the fiber running on this thread" (this_fiber::yield, this_fiber::stack_stats) sees just this
// struct, so its layout must not depend on the fiber's policies or on how the translation unit was
// configured: a fiber created in one shared library may yield through another.
#pragma once

#include "ebb/arch/switch.hpp"
#include "ebb/config.hpp"
#include "ebb/detail/exception_state.hpp"
#include "ebb/stack_stats.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

EBB_RUNTIME_BEGIN

enum class fiber_state : unsigned char {
  created,    // constructed, never resumed: the callable has not started
  suspended,  // yielded; may be resumed from any thread
  running,    // on some thread's CPU right now
  finished,   // the callable returned or threw; can never run again
};

struct fiber_context;
struct registry_slot;

// fiber_context::inspecting. A holder claims a fiber (free -> claimed), fences, checks that it is
// suspended, and takes it for the visit (claimed -> visiting). A resume that finds it only claimed
// takes it back (claimed -> cancelled) and runs at once; only a visit in progress makes it wait. The
// holder frees the mark in every case, so a fiber is never destroyed while a holder may look at it.
enum inspect_mark : std::uint8_t {
  mark_free = 0,
  mark_claimed = 1,    // a holder will visit it unless a resume comes first
  mark_visiting = 2,   // a holder is touching it now: a resume waits for this one visit
  mark_cancelled = 3,  // a resume took it back; the holder will skip it and free the mark
};

// The operations that need the fiber's policies, reached through the context alone.
// Why the tripwire handler refused to open more of a fiber's stack.
enum class trip_refusal : unsigned char { none, limit, budget, system };

struct fiber_ops {
  stack_stats (*stats)(fiber_context&, void* sp);
  // A shrink point at stack pointer sp: from inside the running fiber, or for a suspended one.
  std::size_t (*shrink)(fiber_context&, void* sp, bool inside);
  // Tripwire mode: open the window down to cover `touched` (plus the signal margin). Runs in the
  // fault handler: async-signal-safe, no locks, no allocation.
  trip_refusal (*open_window)(fiber_context&, char* touched) noexcept;
  // Start unwinding the fiber's frames (destruction asked for it). Lives with the fiber's own code, so
  // a yield from code built without exceptions can still hand the fiber an exception to unwind with.
  void (*raise_forced_unwind)(fiber_context&);
  // The resumer's bookkeeping for a fiber that has just switched away (it yielded, finished, or
  // switched to another fiber): its peak and logical size brought up to date with where it stopped,
  // and the FrameMapper told. Runs before the fiber is published as suspended.
  void (*after_switch_out)(fiber_context&) noexcept;
  // The resumer's last step for a fiber whose function ended: publish "finished", then rethrow the
  // exception that escaped the function, if any (taken out before the fiber is published: from then
  // on the owner may destroy it).
  void (*publish_finished)(fiber_context&);
  // The FrameMapper's on_resume, for a fiber that a switch_to runs (resume() calls it directly).
  // Null for a mapper that keeps in_place's, which does nothing. False when it could not run on this
  // stack (a copying mapper whose execution stack is the one switching away): the switch is then
  // routed through the resumer (detail/direct_switch.hpp).
  bool (*mapper_resume)(fiber_context&) noexcept;
  // Copying mappers only (null otherwise). admit: on the resuming thread, before the fiber is
  // published as running, refuse with fiber_error what the mapper cannot do (leaving: the fiber a
  // switch_to replaces, else null). evict: save the frames of a fiber whose execution stack another
  // fiber needs (mappers/shared_stack.hpp).
  void (*admit)(fiber_context&, const char* what, fiber_context* leaving);
  void (*evict)(fiber_context&) noexcept;
  // The address range whose residency a shrink point of the fiber may ask about (its reservation's
  // stack part), so that a registry pass can ask the kernel once for many fibers. Null when frames
  // are not kept in one range (copying mappers).
  void (*residency_span)(fiber_context&, std::uintptr_t& lo, std::uintptr_t& hi) noexcept;
  // After a shrink point from outside: whether another one would do nothing until the fiber runs
  // again (its policies' fixed point), so passes may skip it (detail/registry_slots.hpp). Null when
  // the mapper cannot promise that.
  bool (*settles)(fiber_context&) noexcept;
};

// What ASan and TSan keep per fiber (detail/tool_hooks.hpp). Only a sanitizer build needs it, so it
// lives on the heap, reached through fiber_context::tools: made by hooks::fiber_created in a
// translation unit built with ASan or TSan (or lazily by the first sanitizer hook that meets a fiber
// created without them), freed by hooks::fiber_destroyed in every configuration. Null means all of it
// is zero.
struct tool_state {
  void* asan_fiber_fake_stack = nullptr;
  void* asan_caller_fake_stack = nullptr;
  const void* asan_caller_bottom = nullptr;
  std::size_t asan_caller_size = 0;
  void* tsan_fiber = nullptr;
  void* tsan_caller = nullptr;
};

// Field order: sp first, at offset 0 (the switch is handed &sp and reads nothing else, but code
// outside C++ may take a context's address for its saved stack pointer: tests/unit/test_control_size.cpp
// pins the offset), then the fields of every switch. The one-byte and four-byte fields sit together,
// so a 64-bit target pads two bytes (it padded 18); the sanitizers' state is behind `tools`.
struct fiber_context {
  void* sp = nullptr;                 // the fiber's stack pointer while it is suspended
  void* caller_sp = nullptr;          // the resumer's stack pointer while the fiber runs
  fiber_context* parent = nullptr;    // the fiber that was running on the resumer's thread, if any
  exception_state fiber_eh;           // the fiber's exception state while it is suspended
  exception_state caller_eh;          // the resumer's exception state while the fiber runs
  std::atomic<fiber_state> state{fiber_state::created};
  bool unwind_requested = false;      // destruction asked the fiber to unwind its frames
  // The fiber's function has ended and it switched away for the last time. Its resumer publishes
  // "finished" only after its own bookkeeping: from then on the owner may destroy it, and after a
  // switch_to the owner may be on another thread than the resumer.
  bool finishing = false;
  bool pin_requested = false;         // fiber_options().pin_to_thread(true), or a compact fiber (checked in enforce_pin)
  bool ran_since_shrink = true;       // it ran since its last shrink point (else no page below the kept one is resident)
  // Held by whoever shrinks or inspects the suspended fiber from outside (a registry pass, or
  // fiber::shrink_stack()/stack_stats() from another thread): one of the inspect_mark values.
  std::atomic<std::uint8_t> inspecting{0};
  std::uint32_t registry_shard = 0;   // the registry shard it belongs to (registry.hpp)
  unsigned valgrind_stack_id = 0;     // Valgrind's id for its stack (detail/tool_hooks.hpp), 0 if none

  // this_fiber::yield_then(f): set by the fiber just before it switches away; resume() calls
  // then_run(then_arg) after all of its own bookkeeping (and clears it first).
  void (*then_run)(void*) noexcept = nullptr;
  void* then_arg = nullptr;
  // Run on top of the fiber, on its own stack, when it next continues (at its suspension point, or
  // before its function starts), then cleared: resume_with(fn), the forced unwind of destruction, and
  // the second half of this_fiber::switch_to (publishing the fiber that switched as suspended). May
  // throw into the fiber.
  void (*on_top)(fiber_context&, void*) = nullptr;
  void* on_top_arg = nullptr;

  std::uint64_t id = 0;               // unique in the process, never reused (tracers key fibers on it)
  void* user_data = nullptr;          // fiber_options().user_data(p), this_fiber::user_data()
  void* locals = nullptr;             // fiber_local<T> values (detail/fiber_locals.hpp), made on first use
  std::uint64_t pinned_to = 0;       // pin_to_thread: the serial of the thread it first ran on (thread_serial.hpp)

  char* guard_lo = nullptr;           // the inaccessible range below the stack: [guard_lo, guard_hi)
  char* guard_hi = nullptr;
  std::size_t max_size = 0;           // the most the stack may grow to
  char* window_lo = nullptr;          // tripwire mode: lowest accessible address (else nullptr)
  std::size_t signal_margin = 0;      // tripwire mode: room kept below the logical size for a signal frame
  char* stack_top = nullptr;          // frames begin here (just below the control block)
  char* stack_limit = nullptr;        // lowest address frames may reach (top - max_size)
  std::size_t size = 0;               // logical size set by the policies
  std::size_t peak = 0;               // deepest use observed since the last shrink point
  // Policy steps, each at least a doubling or a halving of the logical size in practice: 32 bits do
  // (and keep a compact fiber's control block 8 bytes smaller); stack_stats reports them as 64-bit.
  std::uint32_t grows = 0;
  std::uint32_t shrinks = 0;

  const fiber_ops* ops = nullptr;
  const char* name = "";

  // Registry membership (registry.hpp): its slot in the dense table of its shard (registry_shard,
  // above; detail/registry_slots.hpp), which never moves.
  registry_slot* registry_entry = nullptr;

  // What sanitizers and Valgrind are told (detail/tool_hooks.hpp; valgrind_stack_id is above). Present
  // in every configuration so the layout never depends on which tools a translation unit was built
  // with; the sanitizers' own state is behind one pointer, null outside sanitizer builds.
  char* tool_stack_lo = nullptr;
  char* tool_stack_hi = nullptr;
  tool_state* tools = nullptr;

  // The copy of the runtime that created the fiber (os/runtime_copies.hpp): only a process that
  // loaded ebb twice with dlopen(RTLD_LOCAL) has more than one.
  const char* runtime = nullptr;

  std::size_t used_at(const void* at) const noexcept {
    return static_cast<std::size_t>(stack_top - static_cast<const char*>(at));
  }
};

struct thread_state {
  fiber_context* current = nullptr;          // the fiber running on this thread, null on its own stack
  exception_state* eh_globals = nullptr;     // this thread's __cxa_eh_globals, looked up once
  std::uintptr_t faults_ready = 0;           // the overflow handler and a signal stack are in place
  std::uintptr_t registry_shard = 0;         // 1 + the registry shard this thread's new fibers join
};

// One per thread for the whole process, whichever library touches it: the variable is defined in
// assembly by the binary-format header (arch/format/elf.hpp; arch::thread_state_address reads it), in
// a COMDAT group with default visibility, so the dynamic linker binds every library's references to
// one definition. It lives in the static TLS block (initial-exec model; a shared library that is
// dlopen'ed draws on glibc's reserve for that, which these few bytes easily fit), so its address is
// the thread pointer plus a constant offset.
static_assert(sizeof(thread_state) == EBB_THREAD_STATE_BYTES, "ebb: thread_state must match its assembly definition");

// The only way ebb's code reaches its thread state. A fiber can be suspended on one thread and
// resumed on another, and compilers keep the address of a thread-local in a register across calls
// they cannot see into (the thread is assumed not to change). Computed by volatile assembly, the
// address is taken afresh at every call, never carried across a switch.
EBB_ALWAYS_INLINE thread_state* this_thread() noexcept {
  return static_cast<thread_state*>(arch::thread_state_address());
}

// resume()'s last step when the fiber suspended with this_fiber::yield_then(f): publish "suspended",
// then run f. Nothing here touches the fiber after f starts, so f may hand it to a thread that
// resumes it at once. Out of line: resume() pays only the test of then_run.
EBB_NOINLINE inline void suspend_then_run(fiber_context& c) noexcept {
  void (*run)(void*) noexcept = c.then_run;
  void* arg = c.then_arg;
  c.then_run = nullptr;
  c.state.store(fiber_state::suspended, std::memory_order_release);
  run(arg);
}

// The fiber continues (at its suspension point, or before its function starts): first whatever was
// put on top of it. Out of line: the switch path pays only the test of on_top. May throw into the fiber.
EBB_NOINLINE inline void run_on_top(fiber_context& c) {
  void (*run)(fiber_context&, void*) = c.on_top;
  void* arg = c.on_top_arg;
  c.on_top = nullptr;
  run(c, arg);
}

// Thrown from the suspension point of a fiber that is being destroyed, to run its destructors.
// Deliberately not derived from std::exception. A `catch (...)` that does not rethrow it is reported.
struct forced_unwind {
  fiber_context* fiber;
};

EBB_RUNTIME_END

// Windows: the thread state is reached through a process-wide TLS slot, whose out-of-line half needs
// thread_state complete (arch/x86_64_ms.hpp has the fast path).
#if defined(_WIN32)
#include "ebb/os/windows/thread_block.hpp"
#endif
