// SPDX-License-Identifier: BSL-1.0
// ebb/registry.hpp — every live fiber of the process, for shrink passes and stack profiles.
//
// Go shrinks stacks while its garbage collector scans them. ebb has no collector, so the program says
// when: a game at a frame boundary, a server when a burst is over. stack_registry::shrink_all() is
// that scan: a shrink point for every suspended fiber, whatever thread created it. shrink_some(n) does
// at most n fibers and continues where it stopped on the next call, so a frame loop can spread a pass
// over several frames.
//
// The machinery (shards, claims, the handshake with resume) is in detail/registry_shards.hpp.
#pragma once

#include "ebb/allocators/thread_stack_cache.hpp"
#include "ebb/config.hpp"
#include "ebb/mappers/execution_stack.hpp"
#include "ebb/detail/registry_shards.hpp"
#include "ebb/stack_stats.hpp"

#include <cstddef>
#include <map>

EBB_NAMESPACE_BEGIN

struct shrink_report {
  std::size_t visited = 0;         // fibers the pass reached in this call
  std::size_t shrunk = 0;          // suspended fibers given a shrink point (or known to be at their
                                   // policies' fixed point, where one would change nothing)
  std::size_t released_bytes = 0;  // memory returned to the OS
  bool complete = false;           // the pass reached every fiber (the next call starts a new one)
};

struct stack_profile {
  std::size_t fibers = 0;                      // suspended or never-started fibers seen
  std::size_t committed = 0;                   // their resident stack bytes
  std::size_t reserved = 0;                    // their reserved address space, guards included
  std::size_t used = 0;                        // their bytes in use
  std::map<std::size_t, std::size_t> by_size;  // logical size -> how many fibers have it
};

class stack_registry {
  static shrink_report shrink_pass(std::size_t budget, bool fresh) {
    shrink_report report;
    auto progress = runtime_v1::visit_suspended(
        budget,
        [&](runtime_v1::fiber_context& c) {
          report.released_bytes += c.ops->shrink(c, c.sp, /*inside=*/false);
          ++report.shrunk;
          if (c.ops->settles != nullptr && c.ops->settles(c)) runtime_v1::mark_settled(c);
        },
        fresh);
    report.released_bytes -= progress.unreleased;
    report.visited = progress.visited;
    report.shrunk += progress.settled;  // their shrink point is known to change nothing
    report.complete = progress.complete;
    // Dead fibers' stacks too: one that went deep between switches was pooled with its pages.
    if (progress.complete) report.released_bytes += runtime_v1::clean_pooled_reservations();
    // And this thread's execution stacks of compact fibers, below the frames they hold.
    if (progress.complete) report.released_bytes += runtime_v1::trim_this_thread_execution_stacks();
    return report;
  }

 public:
  // A shrink point for every suspended fiber in the process. Safe while other threads resume, yield,
  // create and destroy fibers; running fibers are skipped.
  // It starts a pass of its own: fibers that an unfinished shrink_some() pass already visited get
  // their shrink point too.
  static shrink_report shrink_all() {
    shrink_report total;
    for (bool first = true;; first = false) {
      shrink_report part = shrink_pass(static_cast<std::size_t>(-1), first);
      total.visited += part.visited;
      total.shrunk += part.shrunk;
      total.released_bytes += part.released_bytes;
      if (part.complete) break;
    }
    total.complete = true;
    return total;
  }

  // At most `budget` fibers, continuing the current pass where the previous call stopped.
  static shrink_report shrink_some(std::size_t budget) { return shrink_pass(budget, false); }

  // What Go's stack profile answers: how many fibers at each size, and what they hold. Counts the
  // fibers that are suspended or not started; running ones are not stopped to be measured.
  static stack_profile profile() {
    stack_profile profile;
    // Sizes wait here while their fibers are held; the map (which allocates) takes them after.
    std::size_t sizes[runtime_v1::claim_batch::capacity];
    std::size_t pending = 0;
    runtime_v1::visit_all_suspended(
        [&](runtime_v1::fiber_context& c) noexcept {
          ebb::stack_stats s = c.ops->stats(c, c.sp);
          ++profile.fibers;
          profile.committed += s.committed;
          profile.reserved += s.reserved;
          profile.used += s.used;
          sizes[pending++] = s.size;
        },
        [&] {
          for (; pending > 0; --pending) ++profile.by_size[sizes[pending - 1]];
        });
    return profile;
  }

  // Live fibers known to the registry (running ones included). Counts every slot: for tests and
  // monitoring, not for a hot path.
  static std::size_t size() noexcept {
    std::size_t n = 0;
    for (auto& shard : runtime_v1::process_registry().shards) {
      shard.lock();
      for (std::size_t i = 0; i < shard.used; ++i)
        n += shard.slot(i).fiber.load(std::memory_order_relaxed) != nullptr ? 1u : 0u;
      shard.unlock();
    }
    return n;
  }
};

EBB_NAMESPACE_END
