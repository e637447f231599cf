// SPDX-License-Identifier: BSL-1.0
// bench/dense_stack_pool.hpp — Boost.Context fibers on densely packed fixed stacks, the fairest Boost
// setup for many small fibers: what the many-fiber benchmarks compare ebb against.
//
// One mmap of count x stack_bytes (MAP_NORESERVE, MADV_NOHUGEPAGE), carved in order, no guard page (as
// Boost's pooled_fixedsize_stack), freed stacks kept on a std::vector: the pool itself never writes
// into a stack, so only the pages a fiber touches become resident. (Boost's pooled_fixedsize_stack
// does write into them: boost::pool's free list puts a link into the lowest word of every stack of each
// block it mallocs, so each stack has its bottom page resident as well as its top one.)
// Only for builds with EBB_BENCH_HAVE_BOOST.
#pragma once

#if EBB_BENCH_HAVE_BOOST

#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include <sys/mman.h>

namespace ebb_bench {

class dense_stack_pool {
 public:
  dense_stack_pool(std::size_t stack_bytes, std::size_t count) : stack_bytes_(stack_bytes), count_(count) {
    bytes_ = stack_bytes * count;
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                     -1, 0);
    if (p == MAP_FAILED) {
      std::perror("mmap");
      std::exit(1);
    }
#ifdef MADV_NOHUGEPAGE
    ::madvise(p, bytes_, MADV_NOHUGEPAGE);  // as ebb's slabs: a stack's untouched pages stay untouched
#endif
    base_ = static_cast<char*>(p);
    free_.reserve(count);
  }
  ~dense_stack_pool() { ::munmap(base_, bytes_); }
  dense_stack_pool(const dense_stack_pool&) = delete;
  dense_stack_pool& operator=(const dense_stack_pool&) = delete;

  boost::context::stack_context allocate() {
    char* lo;
    if (!free_.empty()) {
      lo = free_.back();
      free_.pop_back();
    } else if (carved_ < count_) {
      lo = base_ + carved_++ * stack_bytes_;
    } else {
      throw std::bad_alloc();
    }
    boost::context::stack_context sc;
    sc.size = stack_bytes_;
    sc.sp = lo + stack_bytes_;
    return sc;
  }
  void deallocate(boost::context::stack_context& sc) noexcept {
    free_.push_back(static_cast<char*>(sc.sp) - sc.size);
  }

 private:
  std::size_t stack_bytes_, count_, bytes_ = 0, carved_ = 0;
  char* base_ = nullptr;
  std::vector<char*> free_;
};

// Boost's StackAllocator concept: allocate() and deallocate(stack_context&), copied into each fiber.
struct dense_stack_allocator {
  dense_stack_pool* pool;
  boost::context::stack_context allocate() { return pool->allocate(); }
  void deallocate(boost::context::stack_context& sc) noexcept { pool->deallocate(sc); }
};

}  // namespace ebb_bench

#endif  // EBB_BENCH_HAVE_BOOST
