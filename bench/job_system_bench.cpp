// SPDX-License-Identifier: BSL-1.0
// bench/job_system_bench.cpp — the job system of examples/job_system.cpp, measured on ebb fibers and
// on boost::context::fiber with the fixed-size stacks an engine gives them on Boost.
//
// One scheduler, written once as a template over a small adapter (the job's stack: resume it,
// suspend it and then run a function on the worker, hand the worker over to another job), so that
// what differs between the two runs is the fibers and their stacks, not the scheduling:
//   * worker threads (--workers, default 2) take ready entries from one queue; an entry is a new job
//     or a job whose children have finished. A new job takes a pooled fiber when a worker starts it
//     (as engines do; the example takes it at submit), so the pool holds the jobs that have started and
//     not finished: about 290 here;
//   * a job waits for its children on a wait_counter, free of lost wakeups because the registration
//     runs on the worker after the job's fiber has switched out (ebb: this_fiber::yield_then; Boost:
//     fiber::resume_with, whose function runs on the resumed worker's stack);
//   * the root job queues all its children but one, and hands its worker straight to that one
//     (ebb: this_fiber::switch_to; Boost: resume_with on the child, the worker's continuation handed
//     over with it);
//   * a waiting job is resumed by whichever worker finishes its last child, so jobs migrate.
// Between frames the ebb run calls stack_registry::shrink_some(budget), timed with the frames.
//
// Workload, per frame: a tree of 1 + 32 + 256 + 2048 = 2337 jobs (the root, 32 children, 8
// grandchildren each, 8 leaves each); every job but the leaves waits for its children. In every eighth
// frame (4, 12, 20, ...) four children parse a malformed asset first: they recurse 256 KiB deep, as in
// the example. Every frame's sum is checked.
//
// Boost's stacks: boost::context::pooled_fixedsize_stack of --boost-stack-kib (default 320 KiB). A
// fixed-size design must size every stack for the deepest job: 256 KiB of descent plus the frames
// above it (the job's, the scheduler's, Boost's entry: under 2 KiB; runs crash at 257 KiB and below),
// and then headroom, because pooled stacks have no guard page and an overflow corrupts the neighbouring
// stack silently. 320 KiB is the deepest job rounded up by a quarter.
//
// Measured, per run (each run a forked child process, the two sides alternating, --reps runs each,
// default 9, --quick 3; medians over the runs):
//   * jobs per second: jobs of frames 2..N over their time (submitting the root until every fiber is
//     back in the pool) plus, for ebb, the shrink between frames (also shown without it). Frame 1
//     fills the fiber pool and is left out. Beside it the median frame of the run (its shrink included),
//     which a burst of load on this shared machine moves less;
//   * stack memory at the end of every frame: ebb: stack_registry::profile().committed before and
//     after the shrink; Boost: what the design holds (fibers x stack size, which a console without
//     overcommit must back with memory) and what of it is resident (mincore over every stack);
//   * the process's resident anonymous memory, from /proc/self/smaps_rollup ("Anonymous:", a page-table
//     walk, exact; /proc/self/status's counters are batched on many kernels), as growth from before the
//     job system was created.
#include "bench_common.hpp"
#include "child_process.hpp"

#include <ebb/ebb.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/mman.h>

#if EBB_BENCH_HAVE_BOOST
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/context/stack_context.hpp>
#endif

namespace {

using namespace ebb_bench;

// ---- configuration and what a run reports ---------------------------------------------------------

constexpr std::size_t max_frames = 1000;  // a run's per-frame figures cross the pipe in a fixed array

struct run_config {
  unsigned workers = 2;
  std::size_t frames = 200;
  std::size_t shrink_budget = 1024;  // fibers per shrink_some call: above the pool, one pass a frame
  std::size_t boost_stack_bytes = 320 * 1024;
};

struct frame_memory {
  std::size_t fibers = 0;          // in the pool at the end of the frame
  std::size_t stack_before = 0;    // ebb: committed before the shrink; Boost: resident
  std::size_t stack_after = 0;     // ebb: committed after the shrink; Boost: resident
  std::size_t held = 0;            // ebb: = stack_after; Boost: fibers x stack size
  std::size_t released = 0;        // ebb: what the shrink gave back
  long rss_anon_kib = 0;           // growth of resident anonymous memory since before the job system
  int deep = 0;
};

struct run_result {
  int ok = 0;
  double jobs_per_second = 0;
  double frames_only_jobs_per_second = 0;  // the same without the time between frames (ebb's shrink)
  double ns_per_job = 0;
  double median_frame_ms = 0;  // the typical frame (and its shrink), steadier than the total on a busy machine
  double shrink_ms = 0;  // ebb: the shrink_some calls of frames 2..N together
  std::size_t migrated = 0, waits = 0;
  frame_memory frames[max_frames];
};

// Resident anonymous memory of this process in KiB, exact (a page-table walk), or -1.
long resident_anon_kib() {
  std::ifstream rollup("/proc/self/smaps_rollup");
  std::string key;
  while (rollup >> key) {
    if (key == "Anonymous:") {
      long kib = -1;
      rollup >> kib;
      return kib;
    }
    rollup.ignore(1 << 20, '\n');
  }
  return -1;
}

// ---- wait_counter: the example's, reasoning and all (examples/job_system.cpp) -----------------------

class waiter {
 public:
  virtual void wake() noexcept = 0;

 protected:
  ~waiter() = default;
};

// Count and "somebody waits" bit in one word: park() and the last finished_one() each decide in one
// atomic step, so whichever comes second sees the other and no wakeup is lost.
class wait_counter {
 public:
  explicit wait_counter(std::uint32_t jobs) : state_(jobs) {}
  wait_counter(const wait_counter&) = delete;
  wait_counter& operator=(const wait_counter&) = delete;

  void finished_one() noexcept {  // the counter may be gone when this returns
    if (state_.fetch_sub(1, std::memory_order_acq_rel) == (waiting_bit | 1u)) waiter_->wake();
  }
  bool park(waiter* w) noexcept {  // false: the count is zero already, nobody will wake w
    waiter_ = w;
    return (state_.fetch_or(waiting_bit, std::memory_order_acq_rel) & ~waiting_bit) != 0;
  }
  bool zero() const noexcept { return (state_.load(std::memory_order_acquire) & ~waiting_bit) == 0; }

 private:
  static constexpr std::uint32_t waiting_bit = 1u << 31;
  std::atomic<std::uint32_t> state_;
  waiter* waiter_ = nullptr;
};

// The main thread is no fiber: it waits for a frame by blocking.
class thread_waiter final : public waiter {
 public:
  void wait_for(wait_counter& counter) {
    if (!counter.park(this)) return;
    std::unique_lock<std::mutex> lock(mutex_);
    woken_cv_.wait(lock, [this] { return woken_; });
    woken_ = false;
  }
  void wake() noexcept override {
    std::lock_guard<std::mutex> lock(mutex_);
    woken_ = true;
    woken_cv_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable woken_cv_;
  bool woken_ = false;
};

// Which worker runs the calling code. Read through an opaque accessor: after a wait the job may be on
// another thread, and the compiler could otherwise reuse the first thread's address.
constexpr unsigned not_a_worker = ~0u;
thread_local unsigned this_worker = not_a_worker;
EBB_THREAD_LOCAL_ACCESSOR(current_worker, this_worker)

// ---- the scheduler, shared by both sides ----------------------------------------------------------

template <class Side>
class job_system;

template <class Side>
struct job_context;

template <class Side>
struct job {
  std::uint64_t (*body)(job_context<Side>&) = nullptr;
  unsigned frame = 0;
  unsigned place = 0;               // where in the frame's tree: decides the job's value and children
  std::uint64_t* result = nullptr;  // lives until `done` reaches zero
  wait_counter* done = nullptr;
};

// A pooled fiber: runs one job, goes back to the pool, runs the next one it is handed.
template <class Side>
class job_fiber final : public waiter {
 public:
  job_fiber(job_system<Side>& owner, Side& side) : owner_(owner), stack(side, [this] { owner_.run_jobs(*this); }) {}
  void wake() noexcept override { owner_.make_ready(this); }

 private:
  job_system<Side>& owner_;

 public:
  typename Side::job_stack stack;
  job<Side> next;
  bool quit = false;
};

template <class Side>
struct job_context {
  job_system<Side>& jobs;
  job_fiber<Side>& fiber;
  unsigned frame;
  unsigned place;
};

template <class Side>
class job_system {
 public:
  using fiber = job_fiber<Side>;

  job_system(Side& side, unsigned worker_count) : side_(side) {
    for (unsigned w = 0; w < worker_count; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
  }
  ~job_system() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    for (auto& f : all_fibers_) {  // each leaves its loop and ends: nothing to unwind on either side
      f->quit = true;
      f->stack.resume();
    }
  }
  job_system(const job_system&) = delete;
  job_system& operator=(const job_system&) = delete;

  void submit(const job<Side>& j) { queue(ready_entry{nullptr, j}); }
  void make_ready(fiber* f) noexcept { queue(ready_entry{f, {}}); }

  // Inside a job: suspend until `counter` is zero; the registration runs once the fiber is switched out.
  void wait(job_context<Side>& ctx, wait_counter& counter) {
    if (counter.zero()) return;
    waits_.fetch_add(1, std::memory_order_relaxed);
    const unsigned before = current_worker();
    fiber* self = &ctx.fiber;
    self->stack.suspend_then([&counter, self]() noexcept {
      if (!counter.park(self)) self->wake();  // then touch nothing: self may be running elsewhere
    });
    if (current_worker() != before) migrated_.fetch_add(1, std::memory_order_relaxed);
  }

  // Inside a job whose children are all queued but `last`: run `last` on this worker now, and continue
  // when every child has finished. Parking first is safe: the count cannot reach zero before `last` ran.
  void run_then_wait(job_context<Side>& ctx, wait_counter& counter, const job<Side>& last) {
    waits_.fetch_add(1, std::memory_order_relaxed);
    const unsigned before = current_worker();
    fiber& child = fiber_for(last);
    if (!counter.park(&ctx.fiber)) std::abort();  // cannot happen: `last` still holds a count
    ctx.fiber.stack.switch_to(child.stack);
    if (current_worker() != before) migrated_.fetch_add(1, std::memory_order_relaxed);
  }

  // Between frames: every fiber back in the pool, so every stack can be measured and shrunk.
  void wait_until_idle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_cv_.wait(lock, [this] { return ready_.empty() && idle_fibers_.size() == all_fibers_.size(); });
  }

  std::size_t pool_size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return all_fibers_.size();
  }
  std::size_t jobs_run() const { return jobs_run_.load(); }
  std::size_t waits() const { return waits_.load(); }
  std::size_t migrated() const { return migrated_.load(); }

  void run_jobs(fiber& self) {
    while (!self.quit) {
      const job<Side> j = self.next;
      job_context<Side> ctx{*this, self, j.frame, j.place};
      *j.result = j.body(ctx);
      jobs_run_.fetch_add(1, std::memory_order_relaxed);
      j.done->finished_one();
      self.stack.suspend_then([this, &self]() noexcept { park_idle(self); });
    }
  }

 private:
  struct ready_entry {
    fiber* waiting = nullptr;  // a job whose children finished, or null:
    job<Side> start;   // a job not started yet
  };

  void queue(const ready_entry& e) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(e);
    }
    work_cv_.notify_one();
  }

  void worker_loop(unsigned index) {
    this_worker = index;
    for (;;) {
      ready_entry e;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
        if (ready_.empty()) return;
        e = ready_.front();
        ready_.pop_front();
      }
      fiber* f = e.waiting != nullptr ? e.waiting : &fiber_for(e.start);
      f->stack.resume();  // returns once whatever runs on this worker suspends; f is not ours after
    }
  }

  fiber& fiber_for(const job<Side>& j) {
    std::unique_lock<std::mutex> lock(mutex_);
    fiber* f = nullptr;
    if (idle_fibers_.empty()) {
      // The pool grows to the most jobs ever started and unfinished at once. Under the lock: Boost's
      // pooled stacks are not thread-safe.
      all_fibers_.push_back(std::make_unique<fiber>(*this, side_));
      f = all_fibers_.back().get();
    } else {
      f = idle_fibers_.back();
      idle_fibers_.pop_back();
    }
    f->next = j;
    return *f;
  }

  void park_idle(fiber& f) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_fibers_.push_back(&f);
    if (idle_fibers_.size() == all_fibers_.size()) idle_cv_.notify_all();
  }

  Side& side_;
  std::mutex mutex_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<ready_entry> ready_;
  std::vector<fiber*> idle_fibers_;
  std::vector<std::unique_ptr<fiber>> all_fibers_;
  bool stopping_ = false;
  std::atomic<std::size_t> jobs_run_{0}, waits_{0}, migrated_{0};
  std::vector<std::thread> workers_;  // last: the threads start once everything above exists
};

// ---- one frame's jobs -----------------------------------------------------------------------------

constexpr unsigned children = 32, grandchildren = 8, leaves = 8;
constexpr unsigned jobs_per_frame = 1 + children + children * grandchildren + children * grandchildren * leaves;
constexpr std::size_t deep_bytes = 256 * 1024;

bool deep_frame(unsigned frame) { return frame % 8 == 4; }
bool goes_deep(unsigned frame, unsigned child) { return deep_frame(frame) && child % 8 == 3; }

std::uint64_t value_of(unsigned frame, unsigned place) {
  return (std::uint64_t{frame} * 7919u + std::uint64_t{place} * 104729u) % 1000u;
}

// A recursive-descent parser on absurdly nested input: one token buffer per level, used again after
// the call so that every level keeps its frame. Stops `bytes` below where it started (measured by
// address, the same on both sides); returns how many levels it went down.
unsigned descend(std::uintptr_t stop_at, unsigned level) {
  volatile unsigned char token[192];
  token[level % sizeof token] = static_cast<unsigned char>(level);
  const bool deep_enough = reinterpret_cast<std::uintptr_t>(&token[0]) <= stop_at;
  const unsigned levels = deep_enough ? level : descend(stop_at, level + 1);
  token[0] = token[level % sizeof token];
  return levels;
}

void parse_malformed_asset() {
  volatile unsigned char anchor = 0;
  descend(reinterpret_cast<std::uintptr_t>(&anchor) - deep_bytes, 0);
}

template <class Side>
std::uint64_t leaf_job(job_context<Side>& ctx) {
  return value_of(ctx.frame, ctx.place);
}

// The body of every job that has children: queue `count` jobs of `body` at places first_place.., wait
// for them, and add their results to this job's own value.
template <class Side>
std::uint64_t spawn_and_wait(job_context<Side>& ctx, std::uint64_t (*body)(job_context<Side>&), unsigned count,
                             unsigned first_place) {
  std::uint64_t results[grandchildren > leaves ? grandchildren : leaves] = {};
  wait_counter done(count);
  for (unsigned k = 0; k < count; ++k)
    ctx.jobs.submit(job<Side>{body, ctx.frame, first_place + k, &results[k], &done});
  std::uint64_t sum = value_of(ctx.frame, ctx.place);
  ctx.jobs.wait(ctx, done);
  for (unsigned k = 0; k < count; ++k) sum += results[k];
  return sum;
}

// Places: root 0; children 1..32; grandchildren 33..288; leaves 289...
constexpr unsigned first_grandchild = 1 + children, first_leaf = first_grandchild + children * grandchildren;

template <class Side>
std::uint64_t grandchild_job(job_context<Side>& ctx) {
  const unsigned index = ctx.place - first_grandchild;
  return spawn_and_wait(ctx, &leaf_job<Side>, leaves, first_leaf + index * leaves);
}

template <class Side>
std::uint64_t child_job(job_context<Side>& ctx) {
  const unsigned index = ctx.place - 1;
  if (goes_deep(ctx.frame, index)) parse_malformed_asset();
  return spawn_and_wait(ctx, &grandchild_job<Side>, grandchildren, first_grandchild + index * grandchildren);
}

template <class Side>
std::uint64_t frame_root(job_context<Side>& ctx) {
  std::uint64_t results[children] = {};
  wait_counter done(children);
  for (unsigned i = 0; i + 1 < children; ++i)
    ctx.jobs.submit(job<Side>{&child_job<Side>, ctx.frame, 1 + i, &results[i], &done});
  ctx.jobs.run_then_wait(ctx, done, job<Side>{&child_job<Side>, ctx.frame, children, &results[children - 1], &done});
  std::uint64_t sum = value_of(ctx.frame, 0);
  for (std::uint64_t r : results) sum += r;
  return sum;
}

std::uint64_t expected_frame_result(unsigned frame) {
  std::uint64_t sum = 0;
  for (unsigned place = 0; place < jobs_per_frame; ++place) sum += value_of(frame, place);
  return sum;
}

// ---- one run of one side, in a child process ------------------------------------------------------

template <class Side>
run_result run_side(const run_config& cfg) {
  run_result r;
  const long rss0 = resident_anon_kib();
  Side side(cfg);
  thread_waiter main_thread;
  bool ok = true;
  std::uint64_t timed_ns = 0, shrink_ns = 0;
  std::size_t timed_jobs = 0;
  std::vector<double> frame_ms;
  {
    job_system<Side> jobs(side, cfg.workers);
    for (unsigned frame = 1; frame <= cfg.frames; ++frame) {
      const std::size_t run_before = jobs.jobs_run();
      std::uint64_t result = 0;
      wait_counter frame_done(1);
      const std::uint64_t t0 = now_ns();
      jobs.submit(job<Side>{&frame_root<Side>, frame, 0, &result, &frame_done});
      main_thread.wait_for(frame_done);
      jobs.wait_until_idle();
      const std::uint64_t t1 = now_ns();
      frame_memory& m = r.frames[frame - 1];
      const std::uint64_t between_ns = side.between_frames(m);  // measures, and for ebb shrinks (timed)
      m.fibers = jobs.pool_size();
      m.rss_anon_kib = resident_anon_kib() - rss0;
      m.deep = deep_frame(frame);
      ok = ok && result == expected_frame_result(frame) && jobs.jobs_run() - run_before == jobs_per_frame;
      if (frame > 1) {
        timed_ns += t1 - t0 + between_ns;
        shrink_ns += between_ns;
        timed_jobs += jobs_per_frame;
        frame_ms.push_back(static_cast<double>(t1 - t0 + between_ns) / 1e6);
      }
    }
    r.migrated = jobs.migrated();
    r.waits = jobs.waits();
  }
  r.jobs_per_second = static_cast<double>(timed_jobs) * 1e9 / static_cast<double>(timed_ns);
  r.frames_only_jobs_per_second = static_cast<double>(timed_jobs) * 1e9 / static_cast<double>(timed_ns - shrink_ns);
  r.ns_per_job = static_cast<double>(timed_ns) / static_cast<double>(timed_jobs);
  r.shrink_ms = static_cast<double>(shrink_ns) / 1e6;
  r.median_frame_ms = summarize(frame_ms).median;
  r.ok = ok;
  return r;
}

// ---- the two sides ---------------------------------------------------------------------------------
// A side is constructed from the run_config and offers:
//   job_stack(side, body)      a fiber that will run body() (the pooled fiber's loop)
//   .resume()                  from a worker (or main, at shutdown): runs it until something suspends
//   .suspend_then(f)           from inside it: switch out to its worker, then run f() there (noexcept)
//   .switch_to(next)           from inside it: `next` runs in its place and returns to its worker
//   between_frames(memory)     every fiber parked: fill in the frame's memory figures, do the side's
//                              between-frames work and return the nanoseconds that work took

class ebb_side {
 public:
  explicit ebb_side(const run_config& cfg) : shrink_budget_(cfg.shrink_budget) {}

  class job_stack {
   public:
    template <class Body>
    job_stack(ebb_side&, Body body) : fiber_(std::move(body)) {}
    void resume() { fiber_.resume(); }
    template <class Then>
    void suspend_then(Then then) {
      ebb::this_fiber::yield_then(std::move(then));
    }
    void switch_to(job_stack& next) { ebb::this_fiber::switch_to(next.fiber_); }

   private:
    ebb::fiber fiber_;
  };

  // Every fiber is parked: the shrink pass (timed, part of the design) between two profiles (not).
  std::uint64_t between_frames(frame_memory& m) {
    m.stack_before = ebb::stack_registry::profile().committed;
    const std::uint64_t t0 = now_ns();
    const ebb::shrink_report shrink = ebb::stack_registry::shrink_some(shrink_budget_);
    const std::uint64_t t1 = now_ns();
    m.stack_after = m.held = ebb::stack_registry::profile().committed;
    m.released = shrink.released_bytes;
    return t1 - t0;
  }

 private:
  std::size_t shrink_budget_;
};

// ---- the Boost side -------------------------------------------------------------------------------

#if EBB_BENCH_HAVE_BOOST
namespace ctx = boost::context;

// pooled_fixedsize_stack, remembering every stack it hands out so that their residency can be counted.
class recorded_fixedsize_stacks {
 public:
  recorded_fixedsize_stacks(std::size_t bytes, std::vector<ctx::stack_context>& handed_out)
      : pool_(bytes), handed_out_(&handed_out) {}
  ctx::stack_context allocate() {
    ctx::stack_context s = pool_.allocate();
    handed_out_->push_back(s);
    return s;
  }
  void deallocate(ctx::stack_context& s) noexcept { pool_.deallocate(s); }

 private:
  ctx::pooled_fixedsize_stack pool_;
  std::vector<ctx::stack_context>* handed_out_;
};

class boost_side {
 public:
  explicit boost_side(const run_config& cfg) : stack_bytes_(cfg.boost_stack_bytes), stacks_(stack_bytes_, handed_out_) {}

  // A job's fiber. `suspended_`: the fiber as parked (what a worker resumes); `worker_`: the worker's
  // continuation while it runs (where it goes when it suspends).
  class job_stack {
   public:
    template <class Body>
    job_stack(boost_side& side, Body body)
        : suspended_(std::allocator_arg, side.stacks_, [this, body](ctx::fiber&& resumer) mutable {
            adopt(std::move(resumer));
            body();
            return std::move(worker_);
          }) {}

    void resume() { std::move(suspended_).resume(); }

    // resume_with runs its function on the worker's stack once this fiber is switched out, and hands it
    // this fiber's continuation: the counterpart of ebb's yield_then. The function is copied onto the
    // worker's stack before it runs, so `then` outlives this frame if the job moves on meanwhile.
    template <class Then>
    void suspend_then(Then then) {
      adopt(std::move(worker_).resume_with([this, then](ctx::fiber&& me) {
        suspended_ = std::move(me);
        then();
        return ctx::fiber{};  // the worker's resume() returns empty-handed
      }));
    }

    // `next` runs on this worker in this job's place and returns to this job's worker.
    void switch_to(job_stack& next) {
      next.worker_ = std::move(worker_);
      adopt(std::move(next.suspended_).resume_with([this](ctx::fiber&& me) {
        suspended_ = std::move(me);  // before `next` runs: the job can be woken only after it finished
        return ctx::fiber{};         // `next` keeps the worker it was handed
      }));
    }

   private:
    // A worker that resumes a job hands it the worker's continuation; a switch_to hands none (empty).
    void adopt(ctx::fiber&& resumer) {
      if (resumer) worker_ = std::move(resumer);
    }
    ctx::fiber worker_;
    ctx::fiber suspended_;
  };

  // Nothing to do between frames: a fixed-size stack keeps what it was given. Measured only.
  std::uint64_t between_frames(frame_memory& m) {
    m.held = handed_out_.size() * stack_bytes_;
    m.stack_before = m.stack_after = resident_stack_bytes();
    return 0;
  }

 private:
  // Pages of the stacks that are resident (mincore), each page counted once: boost::pool carves
  // stacks from malloc'd blocks without page alignment, so neighbours share a page.
  std::size_t resident_stack_bytes() const {
    const std::size_t page = page_bytes();
    std::set<std::uintptr_t> resident;
    std::vector<unsigned char> in_core;
    for (const ctx::stack_context& s : handed_out_) {
      const auto top = reinterpret_cast<std::uintptr_t>(s.sp);
      const std::uintptr_t first = (top - s.size) / page * page, end = (top + page - 1) / page * page;
      in_core.assign((end - first) / page, 0);
      if (::mincore(reinterpret_cast<void*>(first), end - first, in_core.data()) != 0) continue;
      for (std::size_t i = 0; i < in_core.size(); ++i)
        if (in_core[i] & 1) resident.insert(first + i * page);
    }
    return resident.size() * page;
  }

  std::size_t stack_bytes_;
  std::vector<ctx::stack_context> handed_out_;  // filled under the job system's lock
  recorded_fixedsize_stacks stacks_;
};
#endif

// ---- report ---------------------------------------------------------------------------------------

struct side_runs {
  std::string name;
  std::function<run_result(const run_config&)> run;
  std::vector<run_result> runs;
};

std::size_t kib(std::size_t bytes) { return (bytes + 1023) / 1024; }

summary over_runs(const side_runs& s, double run_result::*field) {
  std::vector<double> v;
  for (const run_result& r : s.runs) v.push_back(r.*field);
  return summarize(v);
}

// Peaks of one run: the most stack memory held and the most resident anonymous memory at a frame end.
struct peaks {
  std::size_t stack_before = 0, held = 0;
  long rss_anon_kib = 0;
};
peaks peaks_of(const run_result& r, std::size_t frames) {
  peaks p;
  for (std::size_t f = 0; f < frames; ++f) {
    p.stack_before = std::max(p.stack_before, r.frames[f].stack_before);
    p.held = std::max(p.held, r.frames[f].held);
    p.rss_anon_kib = std::max(p.rss_anon_kib, r.frames[f].rss_anon_kib);
  }
  return p;
}

double median_peak(const side_runs& s, std::size_t frames, double (*pick)(const peaks&)) {
  std::vector<double> v;
  for (const run_result& r : s.runs) v.push_back(pick(peaks_of(r, frames)));
  return summarize(v).median;
}

}  // namespace

int main(int argc, char** argv) {
  arguments args(argc, argv,
                 "[--workers N] [--frames N] [--reps N] [--boost-stack-kib N] [--shrink-budget N] [--quick] "
                 "[--markdown FILE]\n"
                 "  --workers N          worker threads (default 2)\n"
                 "  --frames N           frames per run, at most 1000 (default 200; --quick: 24)\n"
                 "  --reps N             runs of each side, alternating, each in a child process (default 9; --quick: 3)\n"
                 "  --boost-stack-kib N  Boost's fixed stack size (default 320: the deepest job, 256 KiB, and headroom)\n"
                 "  --shrink-budget N    fibers per ebb shrink_some() call between frames (default 1024)\n"
                 "  --markdown FILE      also write the results to FILE, as Markdown\n");
  const bool quick = args.flag("--quick");
  run_config cfg;
  cfg.workers = static_cast<unsigned>(args.number("--workers", cfg.workers));
  cfg.frames = args.number("--frames", quick ? 24 : cfg.frames);
  const std::size_t reps = args.number("--reps", quick ? 3 : 9);
  cfg.boost_stack_bytes = args.number("--boost-stack-kib", cfg.boost_stack_bytes / 1024) * 1024;
  cfg.shrink_budget = args.number("--shrink-budget", cfg.shrink_budget);
  const std::string markdown_path = args.text("--markdown", "");
  args.finish();
  if (cfg.frames < 2 || cfg.frames > max_frames) {
    std::fprintf(stderr, "--frames must be 2..%zu\n", max_frames);
    return 2;
  }

  std::printf("job system: %u workers, %zu frames of %u jobs (1 root, %u children, %u grandchildren each, %u leaves "
              "each); in frames 4, 12, 20...: %u children recurse %zu KiB deep; %zu run(s) of each side, alternating, "
              "each in a child process of its own; medians over the runs\n",
              cfg.workers, cfg.frames, jobs_per_frame, children, grandchildren, leaves, children / 8,
              deep_bytes / 1024, reps);
  std::printf("machine: %s\n", machine_description().c_str());
  std::printf("boost: %s\n", boost_description().c_str());
  std::fflush(stdout);

  std::vector<side_runs> sides;
  sides.push_back({"ebb::fiber, shrink_some between frames", [](const run_config& c) { return run_side<ebb_side>(c); }, {}});
#if EBB_BENCH_HAVE_BOOST
  sides.push_back({"boost::context::fiber, " + std::to_string(cfg.boost_stack_bytes / 1024) + " KiB pooled_fixedsize_stack",
                   [](const run_config& c) { return run_side<boost_side>(c); }, {}});
#else
  std::printf("Boost.Context was not found when this was built: the ebb side runs alone\n");
#endif
  const std::size_t n = sides.size();
  for (std::size_t r = 0; r < reps; ++r)
    for (std::size_t k = 0; k < n; ++k) {
      side_runs& s = sides[(r + k) % n];
      const run_result res = in_child([&] { return s.run(cfg); });
      if (res.ok)
        s.runs.push_back(res);
      else
        std::printf("  %s: run %zu FAILED (crashed, or a frame's sum or job count was wrong)\n", s.name.c_str(), r + 1);
    }

  // Throughput.
  std::size_t width = 4;
  for (const side_runs& s : sides) width = std::max(width, s.name.size());
  std::printf("\n  %-*s  %12s  %12s  %12s  %9s  %12s  %10s  %13s  %9s\n", static_cast<int>(width), "side", "jobs/s",
              "min", "max", "ns/job", "median frame", "shrinks", "w/o shrinks", "migrated");
  std::ostringstream md;
  md << "Job system (examples/job_system.cpp's design, one scheduler over both fibers): " << cfg.workers
     << " workers, " << cfg.frames << " frames of " << jobs_per_frame
     << " jobs, four of them 256 KiB deep in frames 4, 12, 20...; "
     << "jobs per second over frames 2.." << cfg.frames << " (the ebb side's shrink_some calls between frames included), "
     << "median (min, max) over " << reps << " run(s) of each side, alternating, each in a child process:\n\n"
     << "| side | jobs per second | min | max | ns per job | median frame | shrink_some, all frames "
        "| jobs per second without them | jobs migrated (first run) |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const side_runs& s : sides) {
    if (s.runs.empty()) {
      std::printf("  %-*s  no successful run\n", static_cast<int>(width), s.name.c_str());
      md << "| " << s.name << " | no successful run ||||||||\n";
      continue;
    }
    const summary jps = over_runs(s, &run_result::jobs_per_second);
    const double ns = over_runs(s, &run_result::ns_per_job).median;
    const double shrink = over_runs(s, &run_result::shrink_ms).median;
    const double frame = over_runs(s, &run_result::median_frame_ms).median;
    const double frames_only = over_runs(s, &run_result::frames_only_jobs_per_second).median;
    const double migrated = static_cast<double>(s.runs.front().migrated);
    std::printf("  %-*s  %12.0f  %12.0f  %12.0f  %9.0f  %9.3f ms  %7.2f ms  %13.0f  %9.0f\n", static_cast<int>(width),
                s.name.c_str(), jps.median, jps.min, jps.max, ns, frame, shrink, frames_only, migrated);
    md << "| " << s.name << " | " << fmt("%.0f", jps.median) << " | " << fmt("%.0f", jps.min) << " | "
       << fmt("%.0f", jps.max) << " | " << fmt("%.0f ns", ns) << " | " << fmt("%.3f ms", frame) << " | "
       << fmt("%.2f ms", shrink) << " | "
       << fmt("%.0f", frames_only) << " | " << fmt("%.0f", migrated) << " |\n";
  }

  // Memory, frame by frame, from each side's first successful run. The pattern repeats every eight
  // frames: past the first sixteen, the deep frames, the frames after them and the last are shown.
  auto shown = [&](std::size_t frame) {
    return frame <= 16 || deep_frame(static_cast<unsigned>(frame)) || deep_frame(static_cast<unsigned>(frame - 1)) ||
           frame == cfg.frames;
  };
  std::printf("\n  memory at the end of frames (first run of each side; frames 1-16, then each deep frame, the one "
              "after it and the last), KiB; RSS: growth of resident anonymous memory\n");
  std::printf("  %5s  %4s  %7s  %13s  %12s  %9s  %10s", "frame", "deep", "fibers", "ebb: before", "after shrink",
              "released", "ebb RSS");
  md << "\nMemory at the end of frames 1-16, then of each deep frame, the frame after it and the last, from "
        "each side's first run, in KiB. ebb: `stack_registry::profile().committed` "
        "before and after `shrink_some`; Boost: what the design holds (fibers x stack size) and what of it is resident "
        "(mincore); RSS: growth of resident anonymous memory (smaps_rollup) since before the job system was created.\n\n"
     << "| frame | deep jobs | ebb fibers | ebb committed before shrink | after shrink | released | ebb RSS |";
  const bool have_boost = n > 1 && !sides[1].runs.empty();
  if (have_boost) {
    std::printf("  %7s  %11s  %14s  %10s", "fibers", "Boost held", "Boost resident", "Boost RSS");
    md << " Boost fibers | Boost held | Boost resident | Boost RSS |";
  }
  std::printf("\n");
  md << "\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |" << (have_boost ? " ---: | ---: | ---: | ---: |" : "") << "\n";
  if (!sides[0].runs.empty()) {
    for (std::size_t f = 0; f < cfg.frames; ++f) {
      if (!shown(f + 1)) continue;
      const frame_memory& e = sides[0].runs.front().frames[f];
      std::printf("  %5zu  %4s  %7zu  %13zu  %12zu  %9zu  %10ld", f + 1, e.deep ? "4" : "-", e.fibers, kib(e.stack_before),
                  kib(e.stack_after), kib(e.released), e.rss_anon_kib);
      md << "| " << f + 1 << " | " << (e.deep ? "4" : "-") << " | " << e.fibers << " | " << kib(e.stack_before) << " | "
         << kib(e.stack_after) << " | " << kib(e.released) << " | " << e.rss_anon_kib << " |";
      if (have_boost) {
        const frame_memory& b = sides[1].runs.front().frames[f];
        std::printf("  %7zu  %11zu  %14zu  %10ld", b.fibers, kib(b.held), kib(b.stack_after), b.rss_anon_kib);
        md << " " << b.fibers << " | " << kib(b.held) << " | " << kib(b.stack_after) << " | " << b.rss_anon_kib << " |";
      }
      std::printf("\n");
      md << "\n";
    }
  }

  // Derived figures: medians over the runs.
  std::vector<derived_row> derived;
  const std::size_t frames = cfg.frames;
  auto have = [&](std::size_t i) { return i < sides.size() && !sides[i].runs.empty(); };
  auto jobs_per_second = [&](std::size_t i) { return over_runs(sides[i], &run_result::jobs_per_second).median; };
  auto peak_held_kib = [&](std::size_t i) {
    return median_peak(sides[i], frames, [](const peaks& p) { return static_cast<double>(p.held) / 1024; });
  };
  auto peak_rss_kib = [&](std::size_t i) {
    return median_peak(sides[i], frames, [](const peaks& p) { return static_cast<double>(p.rss_anon_kib); });
  };
  auto peak_committed_kib = [&](std::size_t i) {
    return median_peak(sides[i], frames, [](const peaks& p) { return static_cast<double>(p.stack_before) / 1024; });
  };
  auto median_frame_ms = [&](std::size_t i) { return over_runs(sides[i], &run_result::median_frame_ms).median; };
  auto last_stack_kib = [&](std::size_t i) {
    return static_cast<double>(kib(sides[i].runs.front().frames[frames - 1].stack_after));
  };
  if (have(0) && have(1)) {
    derived.push_back({"ebb / Boost: jobs per second", jobs_per_second(0) / jobs_per_second(1), "x", 0});
    derived.push_back({"ebb / Boost: median frame time", median_frame_ms(0) / median_frame_ms(1), "x", 0});
  }
  if (have(0)) {
    derived.push_back({"ebb: stacks committed, peak (a deep frame, before its shrink), KiB", peak_committed_kib(0),
                       " KiB", 0});
    derived.push_back({"ebb: stacks committed after the last frame's shrink, KiB", last_stack_kib(0), " KiB", 0});
    derived.push_back({"ebb: resident anonymous memory growth, peak, KiB", peak_rss_kib(0), " KiB", 0});
    const double shrink_us =
        over_runs(sides[0], &run_result::shrink_ms).median * 1000 / static_cast<double>(frames - 1);
    const double pooled = static_cast<double>(sides[0].runs.front().frames[frames - 1].fibers);
    derived.push_back({"ebb: shrink_some between two frames, us", shrink_us, " us", 0});
    derived.push_back({"ebb: shrink_some per pooled fiber, us", shrink_us / pooled, " us", 0});
  }
  if (have(1)) {
    derived.push_back({"Boost: stacks held (fibers x stack size), peak, KiB", peak_held_kib(1), " KiB", 0});
    derived.push_back({"Boost: stacks resident after the last frame, KiB", last_stack_kib(1), " KiB", 0});
    derived.push_back({"Boost: resident anonymous memory growth, peak, KiB", peak_rss_kib(1), " KiB", 0});
  }
  if (have(0) && have(1)) {
    derived.push_back({"Boost held / ebb committed, peaks", peak_held_kib(1) / peak_committed_kib(0), "x", 0});
    derived.push_back({"Boost RSS / ebb RSS, peaks", peak_rss_kib(1) / peak_rss_kib(0), "x", 0});
  }
  std::printf("\n");
  print_derived(derived);
  md << "\n" << markdown_derived(derived);
  if (!markdown_path.empty()) write_file(markdown_path, md.str());
  for (const side_runs& s : sides)
    if (s.runs.size() != reps) return 1;
  return 0;
}
