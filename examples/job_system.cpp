// SPDX-License-Identifier: BSL-1.0
// job_system: a fiber-based job system of the kind game engines run their frames on, with stacks that
// grow for a bad frame and give their memory back between frames.
//
// The model is the one Naughty Dog described at GDC 2015 ("Parallelizing the Naughty Dog Engine Using
// Fibers"): a few worker threads, one per core, take ready jobs from a queue; every job runs on a fiber
// of its own, so a job that waits for its children simply suspends (its worker takes the next job), and
// whichever worker finishes the last child puts the waiter back on the queue, to be resumed by any
// worker. Fibers come from a pool and are reused frame after frame.
//
// The engine has to size those fibers' stacks. Naughty Dog used 128 fibers of 64 KiB and 32 of 512 KiB
// and had to pick which jobs get the big ones. With ebb every fiber starts at 2 KiB and grows in place
// when a job goes deep (here: a few jobs of two frames recurse through a malformed, deeply nested
// asset), and stack_registry::shrink_some() between frames hands those pages back to the OS.
//
// What it shows, per frame: jobs run, how many waiting jobs were resumed on another worker than the one
// they suspended on, and the pool's committed stack memory before and after the shrink between frames.
//
//   build and run:  cmake --build build --target example_job_system && build/example_job_system
#include <ebb/ebb.hpp>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

// ---- wait_counter: "how many jobs are still running", and who waits for zero ----------------------

// Whoever waits for a counter: a job's fiber (woken by putting it back on the ready queue) or a plain
// thread (woken through a condition variable). wake() is called exactly once per wait.
class waiter {
 public:
  virtual void wake() noexcept = 0;

 protected:
  ~waiter() = default;
};

// One atomic word holds both the count of unfinished jobs and a "somebody waits" bit. That is what
// makes the wait free of lost wakeups: the waiter publishes itself and reads the count in one atomic
// step (park), and a finishing job decrements and learns whether somebody waits in one atomic step
// (finished_one), so of the two, whichever comes second sees the other:
//   - park first: the job that brings the count to zero sees the bit and wakes the waiter;
//   - the count reaches zero first: park sees zero, and the waiter must not suspend (or, already
//     suspended, wakes itself), because no job will look again.
// It also makes the counter safe to destroy as soon as the waiter runs again: a finishing job touches
// the counter only in its fetch_sub; if it saw the bit, the waiter cannot run before that job wakes it.
class wait_counter {
 public:
  explicit wait_counter(std::uint32_t jobs) : state_(jobs) {}
  wait_counter(const wait_counter&) = delete;
  wait_counter& operator=(const wait_counter&) = delete;

  // A job counted here has finished. The counter may be gone when this returns: touch nothing after.
  void finished_one() noexcept {
    const std::uint32_t before = state_.fetch_sub(1, std::memory_order_acq_rel);
    if (before == (waiting_bit | 1u)) waiter_->wake();  // the last one, and somebody waits
  }

  // Registers `w` as the one waiter. True: w will be woken by the job that brings the count to zero.
  // False: the count is zero already; nobody will wake w.
  bool park(waiter* w) noexcept {
    waiter_ = w;  // published by the fetch_or (release), read after a fetch_sub that follows it
    const std::uint32_t before = state_.fetch_or(waiting_bit, std::memory_order_acq_rel);
    return (before & ~waiting_bit) != 0;
  }

  bool zero() const noexcept { return (state_.load(std::memory_order_acquire) & ~waiting_bit) == 0; }

 private:
  static constexpr std::uint32_t waiting_bit = 1u << 31;
  std::atomic<std::uint32_t> state_;
  waiter* waiter_ = nullptr;
};

// The main thread is no fiber: it waits for a counter by blocking.
class thread_waiter final : public waiter {
 public:
  void wait_for(wait_counter& counter) {
    if (!counter.park(this)) return;
    std::unique_lock<std::mutex> lock(mutex_);
    woken_cv_.wait(lock, [this] { return woken_; });
    woken_ = false;  // ready for the next wait
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

// ---- the job system ---------------------------------------------------------------------------------

class job_system;
class job_fiber;

// What a job computes, and where it is: the frame and its place in the frame's job tree.
struct job_context {
  job_system& jobs;
  job_fiber& fiber;  // the fiber the job runs on: what it parks when it waits
  unsigned frame;
  unsigned index;
};

struct job {
  std::uint64_t (*body)(job_context&) = nullptr;
  unsigned frame = 0;
  unsigned index = 0;
  std::uint64_t* result = nullptr;  // where the spawner wants the value (it lives until `done` is zero)
  wait_counter* done = nullptr;     // counts this job among the spawner's children
};

// Which worker the calling thread is (0, 1, ...; none on the main thread). A job reads it before and
// after a wait to see whether it moved. It must be read through an accessor: a fiber that comes back
// on another thread could otherwise go on using the address of the first thread's variable, which the
// compiler is free to keep across the call that suspends it (README, "Thread migration").
constexpr unsigned not_a_worker = ~0u;
thread_local unsigned this_worker = not_a_worker;
EBB_THREAD_LOCAL_ACCESSOR(current_worker, this_worker)

// Per-frame counts, from every worker.
struct frame_counts {
  std::atomic<unsigned> jobs_run{0};
  std::atomic<unsigned> resumes{0};     // fibers resumed by a worker
  std::atomic<unsigned> waits{0};       // times a job suspended to wait for its children
  std::atomic<unsigned> migrated{0};    // ... and was resumed on another worker than the one it left
  std::atomic<unsigned> deep_jobs{0};
  std::atomic<std::size_t> deepest{0};  // bytes of stack the deepest job used

  void reset() {
    for (auto* c : {&jobs_run, &resumes, &waits, &migrated, &deep_jobs}) c->store(0);
    deepest.store(0);
  }
};

// A pooled fiber: runs one job, goes back to the pool, runs the next when it is handed one.
class job_fiber final : public waiter {
 public:
  job_fiber(job_system& owner, std::size_t number);
  void wake() noexcept override;  // the counter it waits for reached zero: back on the ready queue

  job_system& owner;
  ebb::fiber fiber;
  job next;           // the job it runs when resumed from the pool (written before it is handed out)
  bool quit = false;  // resumed with this set, it ends (at shutdown)
};

class job_system {
 public:
  explicit job_system(unsigned worker_count) {
    for (unsigned w = 0; w < worker_count; ++w) workers_.emplace_back([this, w] { worker_loop(w); });
  }

  ~job_system() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : workers_) t.join();
    // Every fiber is parked in the pool, suspended in its loop. Let each one leave its loop and end, so
    // nothing needs unwinding: a finished fiber is destroyed without running anything.
    for (auto& f : all_fibers_) {
      f->quit = true;
      f->fiber.resume();
    }
  }
  job_system(const job_system&) = delete;
  job_system& operator=(const job_system&) = delete;

  // Queues a job: any worker may run it. From any thread, inside or outside a job.
  void submit(const job& j) { make_ready(&fiber_for(j)); }

  // A parked fiber, handed the job but not queued: the caller starts it itself (switch_to).
  job_fiber& fiber_for(const job& j) {
    job_fiber* f = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_fibers_.empty()) {
        f = idle_fibers_.back();
        idle_fibers_.pop_back();
      }
    }
    if (f == nullptr) f = new_fiber();  // the pool grows to the most jobs ever in flight at once
    f->next = j;
    return *f;
  }

  void make_ready(job_fiber* f) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.push_back(f);
    }
    work_cv_.notify_one();
  }

  // Inside a job: suspend until `counter` is zero. The job's fiber leaves its worker, which goes on
  // with other jobs; whichever worker finishes the last counted job queues it again.
  void wait(job_context& ctx, wait_counter& counter) {
    if (counter.zero()) return;
    counts_.waits.fetch_add(1, std::memory_order_relaxed);
    const unsigned worker_before = current_worker();
    job_fiber* self = &ctx.fiber;
    // The check and the registration happen in yield_then's function, which runs on the worker after
    // this fiber has completely switched out. Registering first and then yielding would let a child
    // on another worker bring the count to zero in between and queue this fiber while it is still
    // running here: a second worker would resume a running fiber. Checking first and then yielding
    // would lose the wakeup of a child that finishes in between. park() decides in one atomic step.
    ebb::this_fiber::yield_then([&counter, self]() noexcept {
      // If park() registered it, `self` may be running elsewhere the instant park() returns (and
      // `counter`, on its stack, gone): touch neither afterwards.
      if (!counter.park(self)) self->wake();  // the count is zero: nobody else will queue it
    });
    if (current_worker() != worker_before) counts_.migrated.fetch_add(1, std::memory_order_relaxed);
  }

  // Inside a job whose children are all queued but one: run that last child right here, now, and
  // continue when every child has finished. The direct hand-off (this_fiber::switch_to) saves a trip
  // through the queue, and the worker stays busy with the job the waiter needs anyway.
  void run_then_wait(job_context& ctx, wait_counter& counter, job_fiber& last_child) {
    counts_.waits.fetch_add(1, std::memory_order_relaxed);
    const unsigned worker_before = current_worker();
    // Registering before suspending is safe here, unlike in wait(): the count cannot reach zero while
    // `last_child` has not run, and it runs only once this fiber is suspended (switch_to publishes it
    // as suspended after its registers are saved, so a worker that queues it at once is fine).
    if (!counter.park(&ctx.fiber)) std::abort();  // cannot happen: last_child still holds a count
    ebb::this_fiber::switch_to(last_child.fiber);  // returns when a worker resumes this job
    if (current_worker() != worker_before) counts_.migrated.fetch_add(1, std::memory_order_relaxed);
  }

  // Between frames: blocks until every fiber is back in the pool (after the frame's counter reached
  // zero, the last jobs still have their own bookkeeping to do), so the shrink pass finds all of them
  // suspended and can reach every stack.
  void wait_until_idle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_cv_.wait(lock, [this] { return ready_.empty() && idle_fibers_.size() == all_fibers_.size(); });
  }

  frame_counts& counts() { return counts_; }
  std::size_t pool_size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return all_fibers_.size();
  }

 private:
  friend class job_fiber;

  // One per worker thread. A real engine gives each worker its own lock-free queue and lets idle
  // workers steal from the others; a mutex and a deque keep this example short.
  void worker_loop(unsigned index) {
    this_worker = index;
    for (;;) {
      job_fiber* f = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        work_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
        if (ready_.empty()) return;  // stopping, and nothing left to run
        f = ready_.front();
        ready_.pop_front();
      }
      counts_.resumes.fetch_add(1, std::memory_order_relaxed);
      // Returns when this fiber, or one it switched to, suspends. Whoever suspended has already handed
      // itself on (to a counter or to the pool) through yield_then or park: `f` is not ours any more.
      f->fiber.resume();
    }
  }

  // The body of every pooled fiber.
  void run_jobs(job_fiber& self) {
    while (!self.quit) {
      const job j = self.next;
      job_context ctx{*this, self, j.frame, j.index};
      *j.result = j.body(ctx);
      counts_.jobs_run.fetch_add(1, std::memory_order_relaxed);
      j.done->finished_one();  // may queue the spawner, which may then end and destroy the counter
      // Back to the pool once completely switched out: from then on anyone may hand it a job.
      ebb::this_fiber::yield_then([this, &self]() noexcept { park_idle(self); });
    }
  }

  void park_idle(job_fiber& f) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_fibers_.push_back(&f);
    if (idle_fibers_.size() == all_fibers_.size()) idle_cv_.notify_all();
  }

  job_fiber* new_fiber() {
    std::lock_guard<std::mutex> lock(mutex_);
    all_fibers_.push_back(std::make_unique<job_fiber>(*this, all_fibers_.size()));
    return all_fibers_.back().get();
  }

  std::mutex mutex_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<job_fiber*> ready_;
  std::vector<job_fiber*> idle_fibers_;
  std::vector<std::unique_ptr<job_fiber>> all_fibers_;
  bool stopping_ = false;
  frame_counts counts_;
  std::vector<std::thread> workers_;  // last: the threads start once everything above exists
};

job_fiber::job_fiber(job_system& jobs, std::size_t number)
    : owner(jobs),
      fiber(ebb::fiber_options().name("job-fiber-" + std::to_string(number)), [this] { owner.run_jobs(*this); }) {}

void job_fiber::wake() noexcept { owner.make_ready(this); }

// ---- one frame's jobs -------------------------------------------------------------------------------

// Each frame: a root job spawns 64 children; child i spawns i % 4 grandchildren (96 in all) and waits
// for them. Every job contributes a value that depends only on where it is in the tree, so main can
// check each frame's sum: every job ran exactly once and every result reached its spawner.
constexpr unsigned children_per_frame = 64;
constexpr unsigned max_grandchildren = 4;
constexpr unsigned jobs_per_frame = 1 + children_per_frame + children_per_frame * (max_grandchildren - 1) / 2;

unsigned grandchildren_of(unsigned child) { return child % max_grandchildren; }

std::uint64_t value_of(unsigned frame, unsigned place) {
  return (std::uint64_t{frame} * 7919u + std::uint64_t{place} * 104729u) % 1000u;
}

// Two frames bring a malformed asset: four children each descend a quarter of the default maximum
// stack (256 KiB on 64-bit targets) deep, as a recursive-descent parser does on absurdly nested input.
bool goes_deep(unsigned frame, unsigned child) { return (frame == 3 || frame == 7) && child % 16 == 5; }
constexpr std::size_t deep_bytes = ebb::default_max_stack / 4;

// One level of the parser: a token buffer of locals per level. The buffer is volatile and used again
// after the recursive call, so every level really keeps its frame (no compiler turns this into a loop).
// Returns the fiber's remaining stack at the deepest level.
std::size_t descend(std::size_t stop_when_remaining, unsigned level) {
  volatile unsigned char token[192];
  token[level % sizeof token] = static_cast<unsigned char>(level);
  const std::size_t remaining = ebb::this_fiber::remaining_stack();
  const std::size_t lowest = remaining <= stop_when_remaining ? remaining : descend(stop_when_remaining, level + 1);
  token[0] = token[level % sizeof token];
  return lowest;
}

void parse_malformed_asset(job_context& ctx) {
  const std::size_t start = ebb::this_fiber::remaining_stack();
  const std::size_t used = start - descend(start - deep_bytes, 0);
  frame_counts& counts = ctx.jobs.counts();
  counts.deep_jobs.fetch_add(1, std::memory_order_relaxed);
  std::size_t seen = counts.deepest.load(std::memory_order_relaxed);
  while (used > seen && !counts.deepest.compare_exchange_weak(seen, used, std::memory_order_relaxed)) {
  }
}

std::uint64_t grandchild_job(job_context& ctx) { return value_of(ctx.frame, 1000 + ctx.index); }

std::uint64_t child_job(job_context& ctx) {
  const unsigned count = grandchildren_of(ctx.index);
  std::uint64_t results[max_grandchildren] = {};
  wait_counter grandchildren(count);
  for (unsigned k = 0; k < count; ++k)
    ctx.jobs.submit(job{&grandchild_job, ctx.frame, ctx.index * max_grandchildren + k, &results[k], &grandchildren});
  // Its own work meanwhile (the grandchildren may already run on other workers).
  if (goes_deep(ctx.frame, ctx.index)) parse_malformed_asset(ctx);
  std::uint64_t sum = value_of(ctx.frame, 100 + ctx.index);
  ctx.jobs.wait(ctx, grandchildren);  // suspends this fiber; may come back on another worker
  for (unsigned k = 0; k < count; ++k) sum += results[k];
  return sum;
}

std::uint64_t frame_root(job_context& ctx) {
  std::uint64_t results[children_per_frame] = {};
  wait_counter children(children_per_frame);
  constexpr unsigned last = children_per_frame - 1;
  for (unsigned i = 0; i < last; ++i) ctx.jobs.submit(job{&child_job, ctx.frame, i, &results[i], &children});
  job_fiber& last_child = ctx.jobs.fiber_for(job{&child_job, ctx.frame, last, &results[last], &children});
  ctx.jobs.run_then_wait(ctx, children, last_child);
  std::uint64_t sum = value_of(ctx.frame, 0);
  for (std::uint64_t r : results) sum += r;
  return sum;
}

// The same sum, computed plainly.
std::uint64_t expected_frame_result(unsigned frame) {
  std::uint64_t sum = value_of(frame, 0);
  for (unsigned i = 0; i < children_per_frame; ++i) {
    sum += value_of(frame, 100 + i);
    for (unsigned k = 0; k < grandchildren_of(i); ++k) sum += value_of(frame, 1000 + i * max_grandchildren + k);
  }
  return sum;
}

std::size_t kib(std::size_t bytes) { return (bytes + 1023) / 1024; }

}  // namespace

int main() {
  constexpr unsigned frames = 10;
  // A shrink pass visits at most this many fibers per call and resumes where it stopped at the next
  // call: an engine with thousands of fibers spreads one pass over several frames to bound the time
  // it takes. This pool stays under it, so each call here is a complete pass.
  constexpr std::size_t shrink_budget = 256;
  const unsigned worker_count = std::max(2u, std::thread::hardware_concurrency());

  thread_waiter main_thread;  // declared first: destroyed after the workers have stopped
  job_system jobs(worker_count);
  std::printf("%u workers; each frame: %u jobs (1 root, %u children, their children); deep jobs in frames 3 and 7\n",
              worker_count, jobs_per_frame, children_per_frame);
  std::printf("                                                        stacks committed\n");
  std::printf("frame  jobs  resumes  waits  moved  deep jobs    fibers  before shrink     after  released\n");

  bool ok = true;
  std::size_t peak_committed = 0, last_committed = 0;
  for (unsigned frame = 1; frame <= frames; ++frame) {
    frame_counts& counts = jobs.counts();
    counts.reset();
    std::uint64_t result = 0;
    wait_counter frame_done(1);
    jobs.submit(job{&frame_root, frame, 0, &result, &frame_done});
    main_thread.wait_for(frame_done);
    jobs.wait_until_idle();

    // Between frames: every pooled fiber is parked. profile() sums what their stacks hold.
    const ebb::stack_profile before = ebb::stack_registry::profile();
    const ebb::shrink_report shrink = ebb::stack_registry::shrink_some(shrink_budget);
    const ebb::stack_profile after = ebb::stack_registry::profile();

    const unsigned deep = counts.deep_jobs.load();
    char deep_text[48] = "-";
    if (deep != 0) std::snprintf(deep_text, sizeof deep_text, "%u x %zu KiB", deep, kib(counts.deepest.load()));
    std::printf("%5u  %4u  %7u  %5u  %5u  %-11s  %6zu  %9zu KiB  %5zu KiB  %4zu KiB\n", frame,
                counts.jobs_run.load(), counts.resumes.load(), counts.waits.load(), counts.migrated.load(), deep_text,
                after.fibers, kib(before.committed), kib(after.committed), kib(shrink.released_bytes));

    if (result != expected_frame_result(frame) || counts.jobs_run.load() != jobs_per_frame) {
      std::printf("frame %u: result %" PRIu64 " (expected %" PRIu64 "), %u jobs run (expected %u)\n", frame, result,
                  expected_frame_result(frame), counts.jobs_run.load(), jobs_per_frame);
      ok = false;
    }
    peak_committed = std::max(peak_committed, before.committed);
    last_committed = after.committed;
  }
  std::printf("pool of %zu fibers: stacks held at most %zu KiB (after a deep frame), %zu KiB at the end\n",
              jobs.pool_size(), kib(peak_committed), kib(last_committed));
  std::printf("%s\n", ok ? "every frame's sum checked" : "WRONG RESULTS");
  return ok ? 0 : 1;
}
