// SPDX-License-Identifier: BSL-1.0
// ebb/allocators/block_heap.hpp — dense memory for compact fibers: control blocks and saved frames.
//
// A compact fiber (mappers/shared_stack.hpp) owns one block: the storage its frames are copied into
// while it is suspended at the policies' minimum size (2 KiB by default), then its control block with
// the callable (about 450 bytes); and, while the policies give it more, a second block of that size. A million of them must cost little more than
// those bytes, so blocks come from size classes carved out of 1 MiB chunks, with no per-block
// header: a block's chunk is found by masking its address (chunks are aligned to their size), and
// the chunk's header says its class. The classes are 16 bytes apart up to 4 KiB (a fiber's own block
// is its first storage plus its control block and callable, whose sizes differ by the callable) and
// four to a doubling above that, so the doubling and halving sizes of the default policies (4, 8,
// 16 KiB) are classes of their own and waste nothing.
//
// Blocks above 16 KiB (the saved frames of a fiber seen deep) are mappings of their own: few fibers
// are deep at once, and unmapping hands their memory back the moment a shrink point halves them.
// A chunk whose blocks are all free is unmapped too, and a freed block of a page or more inside a
// chunk has its pages decommitted, so the worker-pool scenario (deep once, then idle) ends
// with the memory it started with.
//
// One process-wide heap, one spin lock per class: fibers are created and destroyed on any thread.
#pragma once

#include "ebb/config.hpp"
#include "ebb/detail/integer_cast.hpp"
#include "ebb/detail/never_destroyed.hpp"
#include "ebb/detail/spin_wait.hpp"
#include "ebb/os/memory.hpp"
#include "ebb/os/process_wide.hpp"

#include <cstddef>
#include <cstdint>

EBB_RUNTIME_BEGIN

struct block_heap {
  static constexpr std::size_t chunk_bytes = std::size_t(1) << 20;
  static constexpr std::size_t largest_class = 16 * 1024;
  static constexpr std::size_t fine_step = 16, fine_limit = 4096;
  static constexpr std::size_t class_count = fine_limit / fine_step + 2 * 4;  // 256 fine, then 4-8 and 8-16 KiB

  struct chunk {
    chunk* prev;          // the class's list of chunks with room
    chunk* next;
    void* free_list;      // freed blocks, linked through their first word
    std::uint32_t free_blocks;  // on the free list
    std::uint32_t carved;       // blocks handed out at least once (the rest lie untouched above them)
    std::uint32_t capacity;
    std::uint32_t class_index;
    std::uint32_t block_bytes;
    std::uint32_t first_offset;  // the first block's offset from the chunk (the header's room, page-aligned for page-sized classes)
    bool listed;
  };

  struct size_class : spin_lock {
    chunk* with_room = nullptr;
  };
  size_class classes[class_count];

  static std::size_t class_bytes(std::size_t index) noexcept {
    if (index < fine_limit / fine_step) return (index + 1) * fine_step;
    const std::size_t coarse = index - fine_limit / fine_step;   // 0..7
    const std::size_t base = fine_limit << (coarse / 4);         // 4, 8 KiB
    return base + base / 4 * (coarse % 4 + 1);
  }
  static std::size_t class_of(std::size_t bytes) noexcept {
    if (bytes <= fine_limit) return bytes == 0 ? 0 : (bytes - 1) / fine_step;
    std::size_t index = fine_limit / fine_step;
    while (class_bytes(index) < bytes) ++index;
    return index;
  }
  // What a request of `bytes` really takes.
  static std::size_t rounded(std::size_t bytes) noexcept {
    if (bytes > largest_class) return (bytes + os::page_size() - 1) / os::page_size() * os::page_size();
    return class_bytes(class_of(bytes));
  }

  // nullptr (errno set) when the system has no memory left.
  void* allocate(std::size_t bytes) noexcept {
    if (bytes > largest_class) return os::map_block(rounded(bytes), os::page_size());
    const std::size_t index = class_of(bytes);
    size_class& sc = classes[index];
    sc.lock();
    chunk* ch = sc.with_room;
    if (ch == nullptr) {
      sc.unlock();
      chunk* fresh = new_chunk(index);
      if (fresh == nullptr) return nullptr;
      sc.lock();
      link(sc, fresh);
      ch = sc.with_room;
    }
    void* block;
    if (ch->free_list != nullptr) {
      block = ch->free_list;
      ch->free_list = *static_cast<void**>(block);
      --ch->free_blocks;
    } else {
      block = reinterpret_cast<char*>(ch) + ch->first_offset + integer_cast<std::size_t>(ch->carved) * ch->block_bytes;
      ++ch->carved;
    }
    if (ch->free_list == nullptr && ch->carved == ch->capacity) unlink(sc, *ch);
    sc.unlock();
    return block;
  }

  void deallocate(void* block, std::size_t bytes) noexcept {
    if (block == nullptr) return;
    if (bytes > largest_class) return os::unmap_block(block, rounded(bytes));
    chunk* ch = reinterpret_cast<chunk*>(reinterpret_cast<std::uintptr_t>(block) & ~(chunk_bytes - 1));
    // A freed block of whole pages gives its memory back at once; the address stays in the chunk.
    if (ch->block_bytes % os::page_size() == 0) release_pages(block, ch->block_bytes);
    size_class& sc = classes[ch->class_index];
    sc.lock();
    *static_cast<void**>(block) = ch->free_list;
    ch->free_list = block;
    ++ch->free_blocks;
    if (!ch->listed) link(sc, ch);
    // An empty chunk goes back to the system, unless it is the class's only one with room: a program
    // that creates and destroys one fiber at a time would otherwise map and unmap a chunk each time.
    const bool empty = ch->free_blocks == ch->carved && (sc.with_room != ch || ch->next != nullptr);
    if (empty) unlink(sc, *ch);
    sc.unlock();
    if (empty) os::unmap_block(ch, chunk_bytes);
  }

 private:
  static chunk* new_chunk(std::size_t index) noexcept {
    void* at = os::map_block(chunk_bytes, chunk_bytes);
    if (at == nullptr) return nullptr;
    chunk* ch = static_cast<chunk*>(at);
    const std::size_t block = class_bytes(index);
    std::size_t first = (sizeof(chunk) + 63) / 64 * 64;
    if (block % os::page_size() == 0) first = os::page_size();
    ch->prev = ch->next = nullptr;
    ch->free_list = nullptr;
    ch->free_blocks = 0;
    ch->carved = 0;
    ch->capacity = integer_cast<std::uint32_t>((chunk_bytes - first) / block);
    ch->class_index = integer_cast<std::uint32_t>(index);
    ch->block_bytes = integer_cast<std::uint32_t>(block);
    ch->first_offset = integer_cast<std::uint32_t>(first);
    ch->listed = false;
    return ch;
  }
  static void link(size_class& sc, chunk* ch) noexcept {
    ch->prev = nullptr;
    ch->next = sc.with_room;
    if (sc.with_room) sc.with_room->prev = ch;
    sc.with_room = ch;
    ch->listed = true;
  }
  static void unlink(size_class& sc, chunk& ch) noexcept {
    if (ch.prev) ch.prev->next = ch.next; else sc.with_room = ch.next;
    if (ch.next) ch.next->prev = ch.prev;
    ch.prev = ch.next = nullptr;
    ch.listed = false;
  }
  // Zero pages on next touch, as a fresh block would be (os::decommit keeps the range accessible).
  static void release_pages(void* block, std::size_t bytes) noexcept {
    (void)os::decommit(block, static_cast<char*>(block) + bytes);
  }
};

EBB_NO_DESTROY EBB_PROCESS_WIDE(never_destroyed<block_heap>, process_block_heap_storage, {});
inline block_heap& process_block_heap() noexcept { return process_block_heap_storage.value; }

EBB_RUNTIME_END
