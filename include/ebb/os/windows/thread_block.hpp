// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/thread_block.hpp — everything ebb keeps per thread on Windows, in one block per thread
// reached through one TLS slot of the process: the thread state (arch/x86_64_ms.hpp has the fast
// path), the per-thread objects (os/per_thread.hpp) and the thread-exit clean-ups (os/thread_exit.hpp).
//
// Why not C++ thread_local, as on Linux:
//   - a DLL's thread_locals are its own: PE does not merge them across modules, so a fiber created in
//     one DLL would not be seen as running by another. The TLS index is published in the
//     process-wide table (os/windows/process_objects.hpp), so every module reads the same slot.
//   - MinGW-w64's thread_locals are GCC's emulated TLS, whose storage winpthreads frees before the C++
//     thread_local destructors run: a destructor reading one sees a fresh zero (checked under wine with
//     a 5-line program). ebb promises that a user's thread_local destructor may still use fibers and
//     fiber_locals, as on Linux (tests/unit/test_fiber_local.cpp).
//
// The block is allocated on the thread's first use and freed at thread exit by a TLS callback of ours
// (section .CRT$XLY, after the C runtime's own callbacks: .CRT$XLC/.CRT$XLD, which run the C++
// thread_local destructors), which first runs the clean-ups registered with run_at_thread_exit in
// registration order. Seen under wine 8.0: thread_local destructors, then FLS callbacks, then TLS
// callbacks in section order. Whatever asks after that (another module's later callback) gets a fresh
// block that is never freed: a page, once per such thread. The main thread's block stays with the
// process, as its pthread keys do on POSIX.
#pragma once

#include "ebb/config.hpp"

#if defined(_WIN32)
#include "ebb/detail/context.hpp"
#include "ebb/os/process_wide.hpp"
#include "ebb/os/windows/windows_h.hpp"
#include "ebb/os/windows/write_stderr.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

EBB_RUNTIME_BEGIN
namespace os {

struct thread_exit_call {
  void (*at_exit)(void*);
  void* value;
};

struct thread_block {
  static constexpr std::size_t bytes = 4096;
  static constexpr std::size_t max_objects = 64;
  static constexpr std::size_t max_exit_calls = 8;

  thread_state state;              // first: arch::thread_state_address() is the block's address
  std::uint64_t constructed;       // bit i: per-thread object i was constructed in this block
  std::uint32_t exit_count;
  thread_exit_call exits[max_exit_calls];
};
static_assert(offsetof(thread_block, state) == 0, "the thread state is the block's address");

// Per-thread objects after the header, placed once for the process (every thread's block has the same
// layout), constructed in each block on that thread's first use.
struct per_thread_layout {
  std::atomic<std::uint32_t> next_offset{0};  // 0: not started (the header comes first)
  std::atomic<std::uint32_t> next_id{0};
};
EBB_PROCESS_WIDE(per_thread_layout, process_per_thread_layout, {});
// 1 + the process's TLS index for the blocks; 0 until the first thread asks.
EBB_PROCESS_WIDE(std::atomic<std::uint32_t>, process_thread_block_slot, {0});

[[noreturn]] inline void thread_block_failure(const char* why) noexcept {
  write_stderr("ebb: ", 5);
  std::size_t n = 0;
  while (why[n] != 0) ++n;
  write_stderr(why, n);
  write_stderr("\n", 1);
  std::abort();
}

inline DWORD thread_block_tls_index() noexcept {
  std::uint32_t slot = process_thread_block_slot.load(std::memory_order_acquire);
  if (EBB_LIKELY(slot != 0)) return slot - 1;
  const DWORD fresh = ::TlsAlloc();
  if (fresh == TLS_OUT_OF_INDEXES) thread_block_failure("no TLS index left for the thread state (TlsAlloc failed)");
  if (process_thread_block_slot.compare_exchange_strong(slot, fresh + 1, std::memory_order_acq_rel)) return fresh;
  ::TlsFree(fresh);  // another thread published first
  return slot - 1;
}

inline thread_block& this_thread_block() noexcept { return *reinterpret_cast<thread_block*>(this_thread()); }

// The calling thread's object placed at `placement` (see EBB_PER_THREAD in os/per_thread.hpp), of
// `size` bytes, built by `construct` on its first use on this thread.
inline void* per_thread_object(std::atomic<std::uint32_t>& placement, std::size_t size, std::size_t alignment,
                               void (*construct)(void*)) noexcept {
  std::uint32_t where = placement.load(std::memory_order_acquire);
  if (EBB_UNLIKELY(where == 0)) {
    // offset << 8 | id. Racing first users may both take room; one placement wins, the other's
    // room stays unused.
    auto& layout = process_per_thread_layout;
    std::uint32_t offset = layout.next_offset.load(std::memory_order_relaxed);
    std::uint32_t fresh;
    do {
      std::uint32_t at = offset != 0 ? offset : static_cast<std::uint32_t>(sizeof(thread_block));
      at = static_cast<std::uint32_t>((at + alignment - 1) / alignment * alignment);
      fresh = at + static_cast<std::uint32_t>(size);
      if (fresh > thread_block::bytes) thread_block_failure("the per-thread block is full (os/windows/thread_block.hpp)");
      if (layout.next_offset.compare_exchange_weak(offset, fresh, std::memory_order_relaxed)) {
        offset = at;
        break;
      }
    } while (true);
    const std::uint32_t id = layout.next_id.fetch_add(1, std::memory_order_relaxed);
    if (id >= thread_block::max_objects) thread_block_failure("too many per-thread objects (os/windows/thread_block.hpp)");
    std::uint32_t expected = 0;
    placement.compare_exchange_strong(expected, offset << 8 | id, std::memory_order_acq_rel);
    where = placement.load(std::memory_order_acquire);
  }
  thread_block& block = this_thread_block();
  void* object = reinterpret_cast<char*>(&block) + (where >> 8);
  const std::uint64_t bit = std::uint64_t{1} << (where & 0xff);
  if (EBB_UNLIKELY((block.constructed & bit) == 0)) {
    construct(object);
    block.constructed |= bit;
  }
  return object;
}

// Runs the thread's exit calls and frees its block; from the TLS callback below, on thread exit.
inline void finish_thread() noexcept {
  if (process_thread_block_slot.load(std::memory_order_acquire) == 0) return;
  const DWORD index = thread_block_tls_index();
  auto* block = static_cast<thread_block*>(::TlsGetValue(index));
  if (block == nullptr) return;
  // A clean-up may register another (it uses something that registers): run until none is left.
  for (std::uint32_t i = 0; i < block->exit_count; ++i) block->exits[i].at_exit(block->exits[i].value);
  ::TlsSetValue(index, nullptr);
  ::HeapFree(::GetProcessHeap(), 0, block);
}

inline void NTAPI thread_block_tls_callback(void*, DWORD reason, void*) noexcept {
  if (reason == DLL_THREAD_DETACH) finish_thread();
}

}  // namespace os

namespace arch {

EBB_NOINLINE inline void* thread_state_slow() noexcept {
  const DWORD index = os::thread_block_tls_index();
  void* block = ::TlsGetValue(index);
  if (block == nullptr) {
    block = ::HeapAlloc(::GetProcessHeap(), HEAP_ZERO_MEMORY, os::thread_block::bytes);
    if (block == nullptr || !::TlsSetValue(index, block)) os::thread_block_failure("cannot allocate this thread's state");
  }
  // Slots 64 and up live in TlsExpansionSlots: those keep taking this path (TlsGetValue).
  if (index < 64) thread_state_slot_cache.store(index + 1, std::memory_order_relaxed);
  return block;
}

}  // namespace arch
EBB_RUNTIME_END

// The TLS callback: one per module (each module's loader entry calls its own), all but the first find
// the block gone. Placed after the C runtime's callbacks (.CRT$XLA < ... < .CRT$XLY < .CRT$XLZ).
#if defined(__GNUC__) || defined(__clang__)
extern "C" __attribute__((section(".CRT$XLY"), used)) inline const PIMAGE_TLS_CALLBACK ebb_v1_thread_block_tls_callback =
    &::ebb::runtime_v1::os::thread_block_tls_callback;
#else
// MSVC (not compiled here: docs/design.md): the linker keeps the TLS directory and our entry only if
// asked to by name.
#pragma section(".CRT$XLY", long, read)
extern "C" __declspec(allocate(".CRT$XLY")) inline const PIMAGE_TLS_CALLBACK ebb_v1_thread_block_tls_callback =
    &::ebb::runtime_v1::os::thread_block_tls_callback;
#pragma comment(linker, "/INCLUDE:_tls_used")
#pragma comment(linker, "/INCLUDE:ebb_v1_thread_block_tls_callback")
#endif

#endif  // defined(_WIN32)
