// SPDX-License-Identifier: BSL-1.0
// A randomized state-machine test: thousands of fibers of several policy types, and random operations
// on them chosen by a seeded PRNG — create, resume (here or on another thread), yield, recursion to a
// random depth, shrink points from outside and inside, registry passes, exceptions thrown out of a
// fiber, destruction while suspended, fibers resuming fibers, direct hand-offs between fibers
// (this_fiber::switch_to), functions run on top of a resumed fiber (resume_with), calls on the
// thread's own stack, generators consumed inside fibers, fibers made with try_create, fibers pinned
// to the driver's thread (a resume elsewhere must be refused with wrong_thread), suspensions with
// this_fiber::yield_then, and compact fibers (two configurations of ebb::shared_stack) mixed with all
// the others: a compact fiber may first run on any thread (the driver's or a worker) and then stays
// there, so its resumes elsewhere must be refused with wrong_thread, and it is destroyed there while
// suspended; a compact fiber resuming another of its own execution stack may be refused with
// execution_stack_busy, and a switch_to between two of them is routed through the resumer; every fiber
// checks its fiber_local value, its user_data and (through EBB_THREAD_LOCAL_ACCESSOR) which thread it
// runs on at every step. After every step the invariants are
// checked against a model the driver keeps.
//
// Short mode (CI): about 20,000 operations on up to 2,000 live fibers, a few seconds.
// Soak mode:       EBB_SOAK_SECONDS=N ./ebb_tests "[soak]"   runs for N seconds and prints figures.
// Replay a run:    EBB_RANDOM_SEED=<the seed it printed> ./ebb_tests "[random]"
// Other knobs:     EBB_RANDOM_OPS (operations in short mode), EBB_RANDOM_FIBERS (live fibers).
//
// Every operation is chosen on this thread from the seed and the driver's model (never from anything
// measured), and a worker thread that resumes a fiber does so while this thread waits, so a seed
// replays the same run exactly, with either compiler at any optimisation level (the lean build has
// fewer kinds of operation, so its runs differ from the checked build's).
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "deep_stack.hpp"
#include "random_support.hpp"
#include "tool_support.hpp"

namespace {
using namespace test_support;

// ---- what a fiber is told to do next, and what it reports ------------------------------------------

enum class command : unsigned char {
  yield,           // yield where it is
  descend,         // recurse `bytes` deeper (frames of ~1 KiB that really use the stack), yield at the bottom
  ascend,          // return from the innermost descent, then yield
  inner_shrink,    // this_fiber::shrink_stack(), then yield
  finish,          // return from the function (from any depth): resume() returns false
  throw_error,     // throw test_error from where it is: resume() rethrows it
  yield_in_catch,  // throw and catch, yield inside the catch block (its own exception state)
  nest,            // resume another fiber from this one, then yield
  hand_off,        // this_fiber::switch_to another fiber; when resumed, carry out the command given then
  thread_stack,    // this_fiber::call_on_thread_stack(fn), then yield
  generate,        // consume a generator of `bytes % 64` values (it yields inside too), then yield
  yield_then,      // suspend with this_fiber::yield_then(f): f runs once, with the fiber suspended
};
const char* command_name(command c) {
  static const char* const names[] = {"yield", "descend", "ascend", "inner_shrink", "finish", "throw", "yield_in_catch", "nest", "hand_off",
                                      "thread_stack", "generate", "yield_then"};
  return names[static_cast<int>(c)];
}

struct test_error {
  std::uint64_t id;
};
struct catch_probe {
  std::uint64_t id;
  std::uint64_t step;
};

// Process-wide tallies, compared with what the driver expects after every step.
std::atomic<long> body_dtors_total{0}, callable_dtors_total{0}, frames_live_total{0};

constexpr int max_level = 5;
constexpr std::size_t frame_bytes = 1024;
constexpr std::size_t dive_reserve = 16 * 1024;  // a descent stops early if less than this would remain

struct fiber_record {
  std::uint64_t id = 0;
  fiber_kind kind = fiber_kind::default_policies;
  std::string name;
  std::size_t start_size = 0, max_size = 0;  // from the statistics at creation

  // The command the next resume delivers (written by the driver before it resumes).
  command cmd = command::yield;
  std::size_t bytes = 0;
  bool shrink_at_bottom = false;
  any_fiber* nested = nullptr;  // command::nest: the fiber to resume, and its record
  fiber_record* nested_record = nullptr;
  int nested_outcome = 0;  // 1 yielded, 2 finished, 3 threw its test_error, 4 threw something else,
                           // 5 refused with a fiber_error (nested_error)
  ebb::fiber_errc nested_error = ebb::fiber_errc::empty_fiber;
  bool pinned = false;              // fiber_options().pin_to_thread(true): only the driver resumes it
  bool pin_taken = false;           // its first resume (on the driver's thread) pinned it
  bool compact = false;             // a compact fiber: bound to the thread it first ran on
  int home = -1;                    // compact: that thread's tag (0 the driver, 1 + i worker i); -1 not yet
  any_fiber* self = nullptr;        // its own handle (yield_then's f looks at it)
  std::uint64_t then_runs = 0;      // yield_then functions that ran (written by them)
  bool then_saw_running = false;    // a yield_then function found its fiber not yet suspended
  std::uint64_t hand_offs = 0;      // switch_to calls made (written by the fiber)
  std::uint64_t on_top_runs = 0;    // resume_with functions that ran on it (written by them)
  std::vector<std::size_t> descents;  // the driver's model: bytes asked for by each open descent

  // Written by the fiber.
  bool started = false;
  int level = 0;
  std::uint64_t expected = 0;   // checksum of the payload the fiber must find after its next resume
  std::uint64_t steps = 0;      // yields made
  int frames_live = 0;          // frames with a sentinel, now on the fiber's stack
  int body_dtors = 0, callable_dtors = 0;
  std::string error;            // the first problem the fiber saw

  void fail(const std::string& what) {
    if (error.empty()) error = what;
  }
};

struct callable_token {  // part of the callable: counts its destruction (once, whichever way)
  fiber_record* r;
  explicit callable_token(fiber_record* record) : r(record) {}
  callable_token(callable_token&& other) noexcept : r(std::exchange(other.r, nullptr)) {}
  callable_token(const callable_token&) = delete;
  callable_token& operator=(const callable_token&) = delete;
  ~callable_token() {
    if (r) {
      ++r->callable_dtors;
      ++callable_dtors_total;
    }
  }
};
struct body_sentinel {  // the first object on the fiber's stack: counts the body's unwinding or return
  fiber_record* r;
  ~body_sentinel() {
    ++r->body_dtors;
    ++body_dtors_total;
  }
};
struct frame_sentinel {
  fiber_record* r;
  explicit frame_sentinel(fiber_record* record) : r(record) {
    ++r->frames_live;
    ++frames_live_total;
  }
  frame_sentinel(const frame_sentinel&) = delete;
  frame_sentinel& operator=(const frame_sentinel&) = delete;
  ~frame_sentinel() {
    --r->frames_live;
    --frames_live_total;
  }
};

// ---- the fiber's side ----------------------------------------------------------------------------

// Each fiber keeps its own record's address here: after any switch, migration or hand-off it must
// still find its own.
ebb::fiber_local<const fiber_record*> own_record;

// Which thread runs the code: 0 the driver, 1 + i worker i. The driver says where each resume runs
// (expected_thread_tag, written before the job starts there); a fiber reads its thread's tag through
// the migration-safe accessor after every switch and must see that thread's.
thread_local int thread_tag = 0;
EBB_THREAD_LOCAL_ACCESSOR(current_thread_tag, thread_tag)
std::atomic<int> expected_thread_tag{0};

void check_identity(fiber_record& r, const char* where) {
  if (!ebb::this_fiber::in_fiber()) r.fail(std::string(where) + ": in_fiber() is false");
  if (*own_record != &r) r.fail(std::string(where) + ": the fiber_local value is another fiber's");
  if (current_thread_tag() != expected_thread_tag.load(std::memory_order_relaxed))
    r.fail(std::string(where) + ": EBB_THREAD_LOCAL_ACCESSOR read another thread's variable");
  if (ebb::this_fiber::user_data() != &r) r.fail(std::string(where) + ": this_fiber::user_data() is not its record");
  if (r.name != ebb::this_fiber::name())
    r.fail(std::string(where) + ": this_fiber::name() is '" + ebb::this_fiber::name() + "', expected '" + r.name + "'");
}

// Every yield of the fiber goes through here: after the resume, the payload must be exactly as it was
// (compared with a checksum kept on this stack and one kept outside it), then it changes.
void yield_point(stack_payload& payload, fiber_record& r, bool then = false) {
  const std::uint64_t before = payload.checksum();  // on the fiber's stack, across the yield
  if (before != r.expected) r.fail("payload changed before a yield");
  ++r.steps;
  if (then) {
    // f runs on the resumer's side once the fiber is published as suspended (its frames may already
    // be saved, for a compact fiber): it may only look at the record and the handle.
    fiber_record* rp = &r;
    ebb::this_fiber::yield_then([rp]() noexcept {
      ++rp->then_runs;
      if (rp->self->running() || rp->self->done()) rp->then_saw_running = true;
    });
  } else {
    ebb::this_fiber::yield();
  }
  const std::uint64_t now = payload.checksum();
  if (now != before || now != r.expected) {
    char line[160];
    std::snprintf(line, sizeof line, "payload checksum mismatch after resume: %016llx, before the yield %016llx, expected %016llx",
                  static_cast<unsigned long long>(now), static_cast<unsigned long long>(before),
                  static_cast<unsigned long long>(r.expected));
    r.fail(line);
  }
  check_identity(r, "after a yield");
  payload.mutate(r.id);
  r.expected = payload.checksum();
}

void inner_shrink(fiber_record& r) {
  ebb::this_fiber::shrink_stack();
  const ebb::stack_stats s = ebb::this_fiber::stack_stats();
  if (std::string why = stats_problem(s, r.compact); !why.empty())
    r.fail("this_fiber::stack_stats after an inner shrink: " + why);
  if (s.max_size != r.max_size) r.fail("max_size changed (inside)");
}

void nest(fiber_record& r) {
  fiber_record& inner = *r.nested_record;
  try {
    r.nested_outcome = r.nested->resume() ? 1 : 2;
  } catch (const test_error& e) {
    r.nested_outcome = e.id == inner.id ? 3 : 4;
  } catch (const ebb::fiber_error& e) {  // a compact fiber refused (the driver judges whether it may be)
    r.nested_outcome = 5;
    r.nested_error = e.code();
  }
  check_identity(r, "after resuming a nested fiber");
}

// command::hand_off: the payload must survive the suspension inside switch_to as it does a yield.
void hand_off(stack_payload& payload, fiber_record& r) {
  const std::uint64_t before = payload.checksum();
  ++r.hand_offs;
  r.nested->switch_to_this();  // returns when someone resumes this fiber again, on any thread
  if (payload.checksum() != before) r.fail("payload changed across a switch_to");
  check_identity(r, "after a switch_to");
}

// command::thread_stack: fn runs on the thread's stack, outside any fiber, and its result comes back.
void thread_stack_call(fiber_record& r) {
  const std::uint64_t got = ebb::this_fiber::call_on_thread_stack([&r] {
    if (ebb::this_fiber::in_fiber()) r.fail("in_fiber() inside call_on_thread_stack");
    return r.id * 7;
  });
  if (got != r.id * 7) r.fail("call_on_thread_stack returned the wrong value");
  check_identity(r, "after call_on_thread_stack");
}

// command::generate: a generator whose producer runs on its own fiber, nested in this one.
void generate(fiber_record& r) {
  const std::size_t n = r.bytes % 64;
  ebb::generator<std::size_t> g([n](ebb::yield_sink<std::size_t>& yield) {
    for (std::size_t i = 0; i < n; ++i) yield(i);
  });
  std::size_t sum = 0, count = 0;
  for (std::size_t v : g) {
    sum += v;
    ++count;
  }
  if (count != n || sum != n * (n - 1) / 2) r.fail("a generator's values came out wrong");
  check_identity(r, "after consuming a generator");
}

bool run_level(stack_payload& payload, fiber_record& r, int level);

unsigned char frame_pattern(std::uint64_t id, std::uint32_t depth, std::size_t i) {
  return static_cast<unsigned char>(id * 131 + depth * 29 + i * 7);
}

// One ~1 KiB frame per call; its buffer is written on the way down and checked on the way up, so a
// page released under a live frame (it would read back as zeros) is caught. TEST_REAL_STACK keeps
// the frame on the fiber's stack under ASan too.
TEST_REAL_STACK __attribute__((noinline)) bool dive(stack_payload& payload, fiber_record& r, int level, std::size_t bytes,
                                    bool shrink, std::uint32_t depth) {
  frame_sentinel sentinel(&r);
  unsigned char frame[frame_bytes];
  for (std::size_t i = 0; i < sizeof frame; ++i) frame[i] = frame_pattern(r.id, depth, i);
  keep(frame);
  bool finish;
  if (bytes > sizeof frame && ebb::this_fiber::remaining_stack() > dive_reserve) {
    finish = dive(payload, r, level, bytes - sizeof frame, shrink, depth + 1);
  } else {
    if (shrink) inner_shrink(r);
    r.level = level + 1;
    yield_point(payload, r);  // the descent's yield
    finish = run_level(payload, r, level + 1);
  }
  keep(frame);
  for (std::size_t i = 0; i < sizeof frame; ++i)
    if (frame[i] != frame_pattern(r.id, depth, i)) {
      r.fail("a frame's buffer changed at depth " + std::to_string(depth) + ", byte " + std::to_string(i));
      break;
    }
  return finish;
}

#if EBB_SWAP_EXCEPTION_STATE
// Yields inside a catch block; the exception being handled must still be this fiber's afterwards,
// whatever the thread and other fibers did meanwhile.
void yield_in_catch(stack_payload& payload, fiber_record& r) {
  const std::uint64_t step = r.steps;
  try {
    throw catch_probe{r.id, step};
  } catch (const catch_probe&) {
    yield_point(payload, r);
    if (std::uncaught_exceptions() != 0) r.fail("uncaught_exceptions() != 0 inside a catch block after a yield");
    try {
      throw;
    } catch (const catch_probe& again) {
      if (again.id != r.id || again.step != step) r.fail("the exception being handled changed across a yield");
    } catch (...) {
      r.fail("rethrow inside a catch block after a yield threw something else");
    }
  }
}
#endif

// Returns true when the fiber is to finish (the caller unwinds all the way up), false to return up
// one level (command::ascend).
bool run_level(stack_payload& payload, fiber_record& r, int level) {
  frame_sentinel sentinel(&r);
  r.level = level;
  for (;;) {
    bool then = false;
    switch (r.cmd) {
      case command::yield:
        break;
      case command::descend:
        if (dive(payload, r, level, r.bytes, r.shrink_at_bottom, 0)) return true;
        r.level = level;
        break;
      case command::ascend:
        if (level > 0) return false;
        break;
      case command::inner_shrink:
        inner_shrink(r);
        break;
      case command::finish:
        return true;
      case command::throw_error:
        throw test_error{r.id};
      case command::yield_in_catch:
#if EBB_SWAP_EXCEPTION_STATE
        yield_in_catch(payload, r);
        continue;  // its yield took this resume; the next command has been delivered
#else
        r.fail("yield_in_catch in a build without the exception-state swap");
        break;
#endif
      case command::nest:
        nest(r);
        break;
      case command::hand_off:
        hand_off(payload, r);
        continue;  // the resume that brought it back delivered the next command
      case command::thread_stack:
        thread_stack_call(r);
        break;
      case command::generate:
        generate(r);
        break;
      case command::yield_then:
        then = true;
        break;
    }
    yield_point(payload, r, then);
  }
}

void fiber_body(fiber_record* r) {
  body_sentinel sentinel{r};
  r->started = true;
  *own_record = r;
  check_identity(*r, "at start");
  stack_payload payload;
  payload.mutate(r->id);
  r->expected = payload.checksum();
  run_level(payload, *r, 0);
}

// ---- worker threads that resume (or destroy) a fiber while the driver waits --------------------------

class sync_workers {
 public:
  explicit sync_workers(int n) : workers_(static_cast<std::size_t>(n)) {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      worker& w = workers_[i];
      w.thread = std::thread([&w, i] {
        thread_tag = static_cast<int>(i) + 1;
        w.loop();
      });
    }
  }
  ~sync_workers() {
    for (auto& w : workers_) {
      {
        std::lock_guard<std::mutex> lock(w.mutex);
        w.stop = true;
      }
      w.wake.notify_all();
      w.thread.join();
    }
  }
  int size() const { return static_cast<int>(workers_.size()); }

  // Runs job on worker i and waits; an exception it threw is rethrown here.
  void run(int i, const std::function<void()>& job) {
    worker& w = workers_[static_cast<std::size_t>(i)];
    std::unique_lock<std::mutex> lock(w.mutex);
    w.job = &job;
    w.error = nullptr;
    w.wake.notify_all();
    w.wake.wait(lock, [&] { return w.job == nullptr; });
    if (w.error) std::rethrow_exception(std::exchange(w.error, nullptr));
  }

 private:
  struct worker {
    std::thread thread;
    std::mutex mutex;
    std::condition_variable wake;
    const std::function<void()>* job = nullptr;
    std::exception_ptr error;
    bool stop = false;

    void loop() {
      std::unique_lock<std::mutex> lock(mutex);
      for (;;) {
        wake.wait(lock, [&] { return stop || job != nullptr; });
        if (job == nullptr) return;
        try {
          (*job)();
        } catch (...) {
          error = std::current_exception();
        }
        job = nullptr;
        wake.notify_all();
      }
    }
  };
  std::vector<worker> workers_;
};

// ---- the driver ------------------------------------------------------------------------------------

struct slot {
  std::unique_ptr<fiber_record> rec;
  std::unique_ptr<any_fiber> fiber;
  bool finished = false;  // returned or threw; still held until destroyed
};

struct figures {
  std::uint64_t ops = 0, created = 0, destroyed = 0, finished = 0, thrown = 0, resumes = 0, migrated = 0,
                nested = 0, hand_offs = 0, resumed_with = 0, pin_refusals = 0, outside_shrinks = 0,
                registry_passes = 0, busy_refusals = 0, same_stack_switches = 0;
  std::size_t max_live = 0;
};

class driver {
 public:
  driver(std::uint64_t seed, std::size_t target_fibers, int worker_count)
      : seed_(seed), rng_(seed), target_(target_fibers), workers_(worker_count) {
    registry_base_ = ebb::stack_registry::size();
    budget_base_ = ebb::stack_budget_granted();
    profile_base_ = ebb::stack_registry::profile().fibers;
    bodies_base_ = body_dtors_total.load();
    callables_base_ = callable_dtors_total.load();
    frames_base_ = frames_live_total.load();
  }

  ~driver() {
    // On a failed check the slots still hold fibers: destroy them here (they unwind). A suspended
    // compact fiber is unwound on its own thread's execution stack: on the worker it ran on.
    for (slot& s : slots_)
      if (s.rec->compact && s.rec->home > 0 && !s.finished && s.fiber) {
        try {
          workers_.run(s.rec->home - 1, [&s] { s.fiber.reset(); });
        } catch (...) {
        }
      }
    slots_.clear();
  }

  const figures& stats() const { return figures_; }
  std::size_t live() const { return slots_.size(); }

  void step() {
    ++figures_.ops;
    op_ = "?";
    fiber_id_ = 0;
    const std::size_t n = slots_.size();
    // Weights: fill up to the target first, then a steady mix.
    const unsigned create_weight = n < target_ / 2 ? 300 : (n < target_ ? 20 : 0);
    struct choice {
      unsigned weight;
      void (driver::*op)();
    };
    const choice choices[] = {
        {create_weight, &driver::op_create},
        {n ? 36u : 0u, &driver::op_resume},
        {n ? 10u : 0u, &driver::op_destroy},
        {n ? 6u : 0u, &driver::op_outside_shrink},
        {n ? 5u : 0u, &driver::op_stats},
        {3u, &driver::op_shrink_some},
        {n ? 1u : 0u, &driver::op_move_handle},
        {1u, &driver::op_rare},
#if EBB_CHECKS
        {n ? 1u : 0u, &driver::op_misuse},
#endif
    };
    unsigned total = 0;
    for (const choice& c : choices) total += c.weight;
    unsigned at = static_cast<unsigned>(rng_.below(total));
    for (const choice& c : choices) {
      if (at < c.weight) {
        (this->*c.op)();
        break;
      }
      at -= c.weight;
    }
    check_globals();
    if (figures_.ops % 1000 == 0) sweep();
    if (slots_.size() > figures_.max_live) figures_.max_live = slots_.size();
  }

  // Destroy every fiber (some on the worker threads) and check that everything came back.
  void finish() {
    op_ = "teardown";
    sweep();
    while (!slots_.empty()) destroy_at(slots_.size() - 1, rng_.chance(30));
    check_globals();
    expect(ebb::stack_registry::size() == registry_base_, "registry size back to its value before the test");
    expect(ebb::stack_budget_granted() == budget_base_, "stack budget granted back to its value before the test");
    expect(frames_live_total.load() == frames_base_, "every frame sentinel destroyed");
  }

  void sweep() {
    long frames = 0;
    std::size_t unfinished = 0, tripwires = 0;
    for (slot& s : slots_) {
      fiber_id_ = s.rec->id;
      check_fiber(s, "sweep");
      frames += s.rec->frames_live;
      if (!s.finished) ++unfinished;
      if (s.rec->kind == fiber_kind::tripwire) ++tripwires;
    }
    fiber_id_ = 0;
    expect(frames_live_total.load() - frames_base_ == frames, "frames alive on fiber stacks match the records");
    expect(ebb::stack_registry::profile().fibers == profile_base_ + unfinished,
           "profile() counts every suspended or unstarted fiber");
    if (tripwires == 0) expect(ebb::stack_budget_granted() == budget_base_, "no tripwire fiber, no granted budget");
  }

 private:
  // ---- checks --------------------------------------------------------------------------------------

  template <class Message>
  void expect(bool ok, const Message& message) {
    if (ok) return;
    std::ostringstream where;
    where << "seed " << seed_ << " (EBB_RANDOM_SEED=" << seed_ << " replays it), operation " << figures_.ops
          << " (" << op_ << "), fiber " << fiber_id_ << kind_of(fiber_id_) << ": " << message;
    FAIL(where.str());
  }

  std::string kind_of(std::uint64_t id) const {
    for (const slot& s : slots_)
      if (s.rec->id == id) return std::string(" (") + kind_name(s.rec->kind) + ")";
    return "";
  }

  void check_record(const fiber_record& r) { expect(r.error.empty(), "the fiber reported: " + r.error); }

  void check_stats(const slot& s, const ebb::stack_stats& st, const char* when) {
    const fiber_record& r = *s.rec;
    if (std::string why = stats_problem(st, r.compact); !why.empty()) expect(false, std::string(when) + ": " + why);
    expect(st.max_size == r.max_size, std::string(when) + ": max_size changed");
    if (!s.fiber->reachable(st.size, r.start_size, r.max_size))
      expect(false, std::string(when) + ": size " + std::to_string(st.size) + " is not reachable by the " +
                        kind_name(r.kind) + " policies from " + std::to_string(r.start_size) + " (max " +
                        std::to_string(r.max_size) + ")");
  }

  void check_fiber(slot& s, const char* when) {
    check_record(*s.rec);
    expect(s.fiber->done() == s.finished, std::string(when) + ": done() disagrees with the model");
    expect(!s.fiber->running(), std::string(when) + ": running() while the driver holds it");
    check_stats(s, s.fiber->stats(), when);
  }

  void check_globals() {
    expect(ebb::stack_registry::size() == registry_base_ + slots_.size(), "stack_registry::size() equals the live fibers");
    expect(body_dtors_total.load() - bodies_base_ == bodies_gone_,
           "body destructors ran exactly once for every finished or destroyed started fiber (ran " +
               std::to_string(body_dtors_total.load() - bodies_base_) + ", expected " + std::to_string(bodies_gone_) + ")");
    expect(callable_dtors_total.load() - callables_base_ == callables_gone_,
           "callables destroyed exactly once for every finished or destroyed fiber (ran " +
               std::to_string(callable_dtors_total.load() - callables_base_) + ", expected " +
               std::to_string(callables_gone_) + ")");
    expect(ebb::stack_budget_granted() >= budget_base_, "the stack budget granted went below its starting value");
  }

  // After a fiber returned or threw: everything on its stack was destroyed, once.
  void check_ended(slot& s) {
    fiber_record& r = *s.rec;
    expect(s.fiber->done(), "done() after the body ended");
    expect(r.body_dtors == 1, "the body's sentinel destroyed once (" + std::to_string(r.body_dtors) + ")");
    expect(r.callable_dtors == 1, "the callable destroyed once (" + std::to_string(r.callable_dtors) + ")");
    expect(r.frames_live == 0, "every frame sentinel destroyed (" + std::to_string(r.frames_live) + " left)");
    s.finished = true;
    ++bodies_gone_;
    ++callables_gone_;
  }

  // ---- helpers ---------------------------------------------------------------------------------------

  // A random slot whose fiber has not finished (nullptr if none found quickly).
  slot* pick_unfinished() {
    for (int tries = 0; tries < 16 && !slots_.empty(); ++tries) {
      slot& s = slots_[rng_.below(slots_.size())];
      if (!s.finished) return &s;
    }
    return nullptr;
  }

  // A thread for an operation: 0 (the driver's) or 1 + a random worker.
  int pick_place(bool elsewhere) {
    if (!elsewhere) return 0;
    return 1 + static_cast<int>(rng_.below(static_cast<std::uint64_t>(workers_.size())));
  }

  // Run `job` on the thread with that tag (0 here, 1 + i worker i); returns whether it ran elsewhere.
  bool run_at(int place, const std::function<void()>& job) {
    if (place == 0) {
      expected_thread_tag.store(0, std::memory_order_relaxed);
      job();
      return false;
    }
    expected_thread_tag.store(place, std::memory_order_relaxed);  // the worker's wake-up publishes it
    workers_.run(place - 1, job);
    expected_thread_tag.store(0, std::memory_order_relaxed);
    return true;
  }

  // Where a fiber must run: pinned ones on the driver's thread, compact ones on the thread they first
  // ran on; -1 if anywhere.
  static int bound_place(const fiber_record& r) {
    if (r.pinned) return 0;
    if (r.compact) return r.home;
    return -1;
  }

  // After r ran (was not refused) on `place`: a compact fiber that had not run is bound there now.
  static void note_ran(fiber_record& r, int place) {
    if (r.compact && r.home < 0) r.home = place;
    if (r.pinned) r.pin_taken = true;
  }

  // Choose what the fiber does when resumed; `inner`: for a fiber resumed by another one.
  void choose_command(slot& s, bool inner) {
    fiber_record& r = *s.rec;
    // From the model, not from what the fiber measured (frame sizes differ between compilers and
    // optimisation levels, and the choices must not).
    std::size_t used = 0;
    for (std::size_t bytes : r.descents) used += bytes;
    const std::size_t allowed = r.max_size / 2 > used ? r.max_size / 2 - used : 0;
    const bool can_descend = r.descents.size() < max_level && allowed >= 2 * frame_bytes;
    struct option {
      unsigned weight;
      command c;
    };
    const option options[] = {
        {30, command::yield},
        {can_descend ? 22u : 0u, command::descend},
        {r.descents.empty() ? 0u : 16u, command::ascend},
        {7, command::inner_shrink},
        {3, command::finish},
        {2, command::throw_error},
#if EBB_SWAP_EXCEPTION_STATE
        {4, command::yield_in_catch},
#endif
        {inner ? 0u : 4u, command::nest},
        {inner ? 0u : 4u, command::hand_off},
        {3, command::thread_stack},
        {3, command::generate},
        {4, command::yield_then},
    };
    unsigned total = 0;
    for (const option& o : options) total += o.weight;
    unsigned at = static_cast<unsigned>(rng_.below(total));
    for (const option& o : options) {
      if (at < o.weight) {
        r.cmd = o.c;
        break;
      }
      at -= o.weight;
    }
    if (r.cmd == command::generate) r.bytes = static_cast<std::size_t>(rng_.below(64));
    if (r.cmd == command::descend) {
      // Mostly shallow; now and then down to half the fiber's maximum.
      const std::size_t cap = rng_.chance(85) ? std::min<std::size_t>(allowed, 12 * 1024) : allowed;
      r.bytes = static_cast<std::size_t>(rng_.between(frame_bytes, cap));
      r.shrink_at_bottom = rng_.chance(20);
    }
  }

  // A yield_then function runs exactly once per yield_then, after its fiber is suspended.
  void check_then(const fiber_record& r, command cmd, std::uint64_t then_before) {
    expect(r.then_runs == then_before + (cmd == command::yield_then ? 1 : 0),
           "a yield_then function did not run exactly once (" + std::to_string(r.then_runs - then_before) + ")");
    expect(!r.then_saw_running, "a yield_then function ran before its fiber was suspended");
  }

  // The model's side of a command that the fiber completed with a yield.
  static void apply_to_model(fiber_record& r, command c) {
    if (c == command::descend) r.descents.push_back(r.bytes);
    if (c == command::ascend && !r.descents.empty()) r.descents.pop_back();
  }

  // Resume s (already given its command) on the thread `place` (0 the driver's, 1 + i worker i), or
  // where it is bound; handles the outcome for s.
  void resume_and_check(slot& s, int place) {
    fiber_record& r = *s.rec;
    const int bound = bound_place(r);
    if (bound >= 0 && place != bound) {
      // A pinned fiber, or a compact one that ran, on another thread: refused before anything runs
      // (once it ran), then resumed where it belongs.
      if (r.pin_taken || (r.compact && r.home >= 0)) {
        ebb::fiber_errc code = ebb::fiber_errc::empty_fiber;
        bool refused = false;
        const std::uint64_t steps = r.steps;
        run_at(place, [&] {
          try {
            s.fiber->resume();
          } catch (const ebb::fiber_error& e) {
            refused = true;
            code = e.code();
          }
        });
        expect(refused && code == ebb::fiber_errc::wrong_thread,
               r.compact ? "a compact fiber was not refused on another thread"
                         : "a pinned fiber was not refused on another thread");
        expect(r.steps == steps && !s.fiber->running(), "a refused resume ran the fiber");
        ++figures_.pin_refusals;
        check_record(r);
      }
      place = bound;
    }
    note_ran(r, place);
    fiber_id_ = r.id;
    const command cmd = r.cmd;
    const std::uint64_t steps_before = r.steps;
    const std::uint64_t on_top_before = r.on_top_runs;
    const std::uint64_t then_before = r.then_runs;
    const bool with_fn = rng_.chance(15);  // resume_with: a function runs on the fiber first
    bool more = false, threw = false, threw_other = false;
    ++figures_.resumes;
    if (run_at(place, [&] {
          try {
            if (with_fn)
              more = s.fiber->resume_with([&r] {
                ++r.on_top_runs;
                if (r.started)
                  check_identity(r, "in a resume_with function");
                else if (*own_record != nullptr)  // runs before the body: nothing set yet in this fiber
                  r.fail("a new fiber's fiber_local value is not value-initialized");
              });
            else
              more = s.fiber->resume();
          } catch (const test_error& e) {
            threw = true;
            threw_other = e.id != r.id;
          }
        }))
      ++figures_.migrated;
    check_record(r);
    expect(r.on_top_runs == on_top_before + (with_fn ? 1 : 0), "a resume_with function did not run exactly once");
    check_then(r, cmd, then_before);
    if (with_fn) ++figures_.resumed_with;
    expect(!threw_other, "resume() rethrew another fiber's exception");
    if (cmd == command::throw_error) {
      expect(threw, "the fiber threw, but resume() did not rethrow");
      ++figures_.thrown;
      check_ended(s);
    } else if (cmd == command::finish) {
      expect(!threw, "resume() threw, but the fiber returned");
      expect(!more, "resume() returned true, but the fiber returned");
      ++figures_.finished;
      check_ended(s);
    } else {
      expect(!threw, std::string("resume() threw after command ") + command_name(cmd));
      expect(more, std::string("resume() returned false after command ") + command_name(cmd));
      expect(r.steps == steps_before + 1, std::string("one yield per resume after command ") + command_name(cmd));
      expect(!s.fiber->done(), "done() while the fiber can be resumed");
      apply_to_model(r, cmd);
      expect(r.level == static_cast<int>(r.descents.size()), "the fiber is not at the depth the model says");
    }
    check_stats(s, s.fiber->stats(), "after resume");
  }

  // ---- operations ------------------------------------------------------------------------------------

  void op_create() {
    op_ = "create";
    auto rec = std::make_unique<fiber_record>();
    fiber_record& r = *rec;
    r.id = ++next_id_;
    fiber_id_ = r.id;
    r.kind = random_kind(rng_, /*with_compact=*/true);
    r.compact = is_compact(r.kind);
    ebb::fiber_options options;
    switch (rng_.below(3)) {
      case 0: break;  // unnamed
      case 1: r.name = "f" + std::to_string(r.id); break;
      default: r.name = "random-fiber-" + std::to_string(r.id) + "-with-a-name-longer-than-the-small-buffer";
    }
    if (!r.name.empty()) options.name(r.name);
    static const std::size_t initial_sizes[] = {0, 2 * 1024, 8 * 1024, 64 * 1024};
    static const std::size_t max_sizes[] = {0, 64 * 1024, 256 * 1024};
    const std::size_t initial = initial_sizes[rng_.below(4)];
    const std::size_t max = max_sizes[rng_.below(3)];
    if (initial) options.initial_size(initial);
    if (max) options.max_size(max);
    options.user_data(&r);
    if (rng_.chance(10)) {
      r.pinned = true;
      options.pin_to_thread(true);
    }
    slot s;
    // A third of the fibers through try_create (the default kind's; it must succeed here).
    if (r.kind == fiber_kind::default_policies && rng_.chance(33)) {
      ebb::create_error why;
      auto made = ebb::fiber::try_create(options, [token = callable_token(&r), rp = &r] { fiber_body(rp); }, why);
      expect(made.has_value(), std::string("try_create failed: ") + why.what());
      if (!made) return;
      s.fiber = std::make_unique<typed_fiber<ebb::fiber, fiber_kind::default_policies>>(std::move(*made));
    } else {
      s.fiber = make_fiber(r.kind, options, [token = callable_token(&r), rp = &r] { fiber_body(rp); });
    }
    s.rec = std::move(rec);
    r.self = s.fiber.get();
    ++figures_.created;

    const ebb::stack_stats st = s.fiber->stats();
    const std::size_t policy_max = ebb::default_max_stack;
    const std::size_t wanted_max = max ? max : policy_max;
    expect(st.max_size <= wanted_max, "max_size above the one asked for");
    // A fixed stack, and a compact fiber's execution stack, may hold less than asked for.
    if (r.kind != fiber_kind::fixed_stack && !r.compact) expect(st.max_size == wanted_max, "max_size is not the one asked for");
    std::size_t start = initial ? initial : s.fiber->min_size();
    if (start > st.max_size) start = st.max_size;
    expect(st.size == start, "a new fiber's size is not its initial size (" + std::to_string(st.size) + ", want " +
                                 std::to_string(start) + "; kind " + std::to_string(static_cast<int>(r.kind)) +
                                 ", initial " + std::to_string(initial) + ", max " + std::to_string(max) + ")");
    r.start_size = start;
    r.max_size = st.max_size;
    check_stats(s, st, "after create");
    slots_.push_back(std::move(s));
  }

  void op_resume() {
    op_ = "resume";
    slot* s = pick_unfinished();
    if (!s) return;
    choose_command(*s, false);
    const bool elsewhere = rng_.chance(40);
    const int place = pick_place(elsewhere);
    // Where the outer fiber will run: the inner one must be able to run there too.
    const int outer_place = bound_place(*s->rec) >= 0 ? bound_place(*s->rec) : place;
    slot* inner = nullptr;
    if (s->rec->cmd == command::nest || s->rec->cmd == command::hand_off) {
      // A compact fiber looks for another of its kind first half the time (they share execution
      // stacks: refused nested resumes, routed switch_to), else takes any.
      const bool same_kind = s->rec->compact && rng_.chance(50);
      for (int tries = 0; tries < (same_kind ? 32 : 8) && !inner; ++tries) {
        slot* candidate = pick_unfinished();
        if (same_kind && tries < 24 && candidate && candidate->rec->kind != s->rec->kind) continue;
        // Not a pinned one: the outer fiber may run on a worker. Not a compact one bound to another
        // thread than the outer one's.
        if (candidate && candidate != s && !candidate->rec->pinned &&
            !(candidate->rec->compact && candidate->rec->home >= 0 && candidate->rec->home != outer_place))
          inner = candidate;
      }
      if (!inner) s->rec->cmd = command::yield;
    }
    if (!inner) {
      op_ = elsewhere ? "resume on a worker" : "resume";
      resume_and_check(*s, place);
      return;
    }
    if (s->rec->cmd == command::hand_off) return resume_hand_off(*s, *inner, outer_place);
    // A fiber resumes another: both get a command; the outer one yields afterwards.
    op_ = outer_place ? "nested resume on a worker" : "nested resume";
    ++figures_.nested;
    choose_command(*inner, true);
    fiber_record& ir = *inner->rec;
    s->rec->nested = inner->fiber.get();
    s->rec->nested_record = &ir;
    s->rec->nested_outcome = 0;
    const command inner_cmd = ir.cmd;
    const std::uint64_t inner_steps = ir.steps, inner_then = ir.then_runs;
    resume_and_check(*s, outer_place);
    fiber_id_ = ir.id;
    check_record(ir);
    const int outcome = s->rec->nested_outcome;
    expect(outcome != 4, "the nested resume threw another fiber's exception");
    // A compact fiber resuming one of its own execution stack is refused (execution_stack_busy): always
    // for two of compact_single (one stack per thread), sometimes for two of compact (two stacks),
    // never otherwise.
    const bool same_stacks = s->rec->compact && ir.compact && s->rec->kind == ir.kind;
    if (same_stacks && ir.kind == fiber_kind::compact_single)
      expect(outcome == 5, "a compact fiber resumed one bound to its own execution stack");
    if (outcome == 5) {
      expect(same_stacks, "a nested resume was refused");
      expect(s->rec->nested_error == ebb::fiber_errc::execution_stack_busy,
             "a nested compact resume was refused with another error than execution_stack_busy");
      expect(ir.steps == inner_steps && ir.then_runs == inner_then && !inner->fiber->done(),
             "a refused nested resume ran the fiber");
      ++figures_.busy_refusals;
      check_stats(*inner, inner->fiber->stats(), "after a refused nested resume");
      return;
    }
    note_ran(ir, outer_place);
    check_then(ir, inner_cmd, inner_then);
    if (inner_cmd == command::throw_error) {
      expect(outcome == 3, "the nested fiber threw, but its resume() did not rethrow");
      ++figures_.thrown;
      check_ended(*inner);
    } else if (inner_cmd == command::finish) {
      expect(outcome == 2, "the nested fiber returned, but its resume() did not return false");
      ++figures_.finished;
      check_ended(*inner);
    } else {
      expect(outcome == 1, std::string("the nested resume did not return true after ") + command_name(inner_cmd));
      expect(ir.steps == inner_steps + 1, "one yield per nested resume");
      apply_to_model(ir, inner_cmd);
      expect(ir.level == static_cast<int>(ir.descents.size()), "the nested fiber is not at the depth the model says");
    }
    check_stats(*inner, inner->fiber->stats(), "after a nested resume");
  }

  // s switches to inner, which carries out its command in s's place: inner's yield (or end) comes
  // back out of s's resume(); s stays suspended inside switch_to until its next resume.
  void resume_hand_off(slot& s, slot& inner, int place) {
    op_ = place ? "switch_to on a worker" : "switch_to";
    ++figures_.hand_offs;
    fiber_record& r = *s.rec;
    fiber_record& ir = *inner.rec;
    choose_command(inner, true);
    r.nested = inner.fiber.get();
    r.nested_record = &ir;
    const command inner_cmd = ir.cmd;
    const std::uint64_t steps = r.steps, inner_steps = ir.steps, hand_offs = r.hand_offs, inner_then = ir.then_runs;
    bool more = false, threw = false;
    std::uint64_t thrower = 0;
    fiber_id_ = r.id;
    ++figures_.resumes;
    if (r.compact && ir.compact && r.kind == ir.kind) ++figures_.same_stack_switches;
    note_ran(r, place);
    note_ran(ir, place);
    if (run_at(place, [&] {
          try {
            more = s.fiber->resume();
          } catch (const test_error& e) {
            threw = true;
            thrower = e.id;
          }
        }))
      ++figures_.migrated;
    check_record(r);
    expect(r.hand_offs == hand_offs + 1, "the fiber did not switch_to");
    expect(r.steps == steps, "the fiber that switched yielded");
    expect(!s.fiber->done() && !s.fiber->running(), "the fiber that switched is not suspended");
    fiber_id_ = ir.id;
    check_record(ir);
    check_then(ir, inner_cmd, inner_then);
    if (inner_cmd == command::throw_error) {
      expect(threw && thrower == ir.id, "the exception of the fiber switched to did not come out of resume()");
      ++figures_.thrown;
      check_ended(inner);
    } else if (inner_cmd == command::finish) {
      expect(!threw && more, "resume() of a fiber that switched to one that finished did not return true");
      ++figures_.finished;
      check_ended(inner);
    } else {
      expect(!threw && more, std::string("resume() after a switch_to and ") + command_name(inner_cmd));
      expect(ir.steps == inner_steps + 1, "one yield by the fiber switched to");
      apply_to_model(ir, inner_cmd);
      expect(ir.level == static_cast<int>(ir.descents.size()), "the fiber switched to is not at the depth the model says");
    }
    check_stats(inner, inner.fiber->stats(), "after a switch_to");
    check_stats(s, s.fiber->stats(), "after its switch_to");
  }

  void destroy_at(std::size_t index, bool elsewhere) {
    slot& s = slots_[index];
    fiber_record& r = *s.rec;
    fiber_id_ = r.id;
    const bool started = r.started, finished = s.finished;
    const int bodies = r.body_dtors, callables = r.callable_dtors;
    int place = pick_place(elsewhere);
    // A suspended compact fiber is unwound on its own execution stack: on its thread. Unstarted or
    // finished, it may be destroyed anywhere.
    if (r.compact && r.home >= 0 && !finished) place = r.home;
    run_at(place, [&] { s.fiber.reset(); });
    ++figures_.destroyed;
    check_record(r);
    if (!finished) {
      ++callables_gone_;
      if (started) ++bodies_gone_;
    }
    expect(r.callable_dtors == 1, "the callable destroyed exactly once (" + std::to_string(r.callable_dtors) + ")");
    expect(r.body_dtors == (started ? 1 : 0),
           "the body's sentinel destroyed exactly once if it started (" + std::to_string(r.body_dtors) + ")");
    expect(r.frames_live == 0, "destruction unwound every frame (" + std::to_string(r.frames_live) + " left)");
    if (finished) expect(r.body_dtors == bodies && r.callable_dtors == callables, "destroying a finished fiber ran destructors again");
    if (index + 1 != slots_.size()) slots_[index] = std::move(slots_.back());
    slots_.pop_back();
  }

  void op_destroy() {
    const bool elsewhere = rng_.chance(30);
    op_ = elsewhere ? "destroy on a worker" : "destroy";
    destroy_at(rng_.below(slots_.size()), elsewhere);
  }

  void op_outside_shrink() {
    op_ = "shrink_stack";
    slot& s = slots_[rng_.below(slots_.size())];
    fiber_id_ = s.rec->id;
    ++figures_.outside_shrinks;
    const std::size_t released = s.fiber->shrink();
    if (s.finished) {
      expect(released == 0, "shrink_stack() of a finished fiber released memory");
      return;
    }
    const ebb::stack_stats st = s.fiber->stats();
    check_stats(s, st, "after shrink_stack");
    check_shrunk(s, st, "after shrink_stack");
  }

  // Right after a shrink point, nothing below the kept size may be resident: the stack's top part (the
  // control block and the callable) and page rounding aside.
  void check_shrunk(const slot& s, const ebb::stack_stats& st, const char* when) {
    const std::size_t page = ebb::runtime_v1::os::page_size();
    std::size_t slack = s.rec->kind == fiber_kind::tripwire ? 8 * page : 2 * page;  // + signal margin
    // A compact fiber's committed bytes are its storage: under ASan one more byte per 8 for the shadow.
    if (s.rec->compact) slack += st.size / 8 + 16;
    if (st.committed > st.size + slack)
      expect(false, std::string(when) + ": " + std::to_string(st.committed) + " bytes committed for a " +
                        std::to_string(st.size) + "-byte stack");
  }

  void op_stats() {
    op_ = "stack_stats";
    slot& s = slots_[rng_.below(slots_.size())];
    fiber_id_ = s.rec->id;
    check_fiber(s, "stack_stats");
  }

  void op_shrink_some() {
    const std::size_t budget = static_cast<std::size_t>(rng_.between(1, 256));
    op_ = "shrink_some";
    const ebb::shrink_report report = ebb::stack_registry::shrink_some(budget);
    ++figures_.registry_passes;
    expect(report.visited <= budget, "shrink_some visited more fibers than its budget");
    expect(report.shrunk <= report.visited, "shrink_some shrank more fibers than it visited");
  }

  void op_move_handle() {
    op_ = "move handle";
    slot& s = slots_[rng_.below(slots_.size())];
    fiber_id_ = s.rec->id;
    s.fiber->shuffle_handle();
    check_fiber(s, "after moving the handle");
  }

  void op_rare() {
    switch (rng_.below(4)) {
      case 0: {
        // A pass over everything. shrink_all() first completes a pass that shrink_some() left
        // unfinished (fibers it already visited are skipped); the second call is a whole pass.
        op_ = "shrink_all";
        ebb::stack_registry::shrink_all();
        const ebb::shrink_report report = ebb::stack_registry::shrink_all();
        ++figures_.registry_passes;
        expect(report.complete, "shrink_all() did not complete its pass");
        std::size_t unfinished = 0;
        for (slot& s : slots_)
          if (!s.finished) {
            ++unfinished;
            fiber_id_ = s.rec->id;
            const ebb::stack_stats st = s.fiber->stats();
            check_stats(s, st, "after shrink_all");
            check_shrunk(s, st, "after shrink_all");
          }
        fiber_id_ = 0;
        expect(report.shrunk >= unfinished, "shrink_all() reached every suspended fiber");
        break;
      }
      case 1:
        op_ = "trim_stack_pool";
        ebb::trim_stack_pool();
        break;
      case 2:
        op_ = "sweep";
        sweep();
        break;
      default: {
        op_ = "profile";
        std::size_t unfinished = 0;
        for (slot& s : slots_) unfinished += !s.finished;
        expect(ebb::stack_registry::profile().fibers == profile_base_ + unfinished, "profile() fiber count");
      }
    }
  }

#if EBB_CHECKS
  void op_misuse() {
    op_ = "misuse";
    for (int tries = 0; tries < 8; ++tries) {
      slot& s = slots_[rng_.below(slots_.size())];
      if (!s.finished) continue;
      fiber_id_ = s.rec->id;
      bool refused = false;
      try {
        s.fiber->resume();
      } catch (const ebb::fiber_error& e) {
        refused = e.code() == ebb::fiber_errc::already_finished;
      }
      expect(refused, "resume() of a finished fiber was not refused with already_finished");
      expect(s.fiber->shrink() == 0, "shrink_stack() of a finished fiber released memory");
      return;
    }
  }
#endif

  std::uint64_t seed_;
  rng rng_;
  std::size_t target_;
  sync_workers workers_;
  std::vector<slot> slots_;
  figures figures_;
  std::uint64_t next_id_ = 0;
  std::size_t registry_base_ = 0, budget_base_ = 0, profile_base_ = 0;
  long bodies_base_ = 0, callables_base_ = 0, frames_base_ = 0;
  long bodies_gone_ = 0, callables_gone_ = 0;
  const char* op_ = "";
  std::uint64_t fiber_id_ = 0;
};

}  // namespace

TEST_CASE("random operations on thousands of fibers keep every invariant", "[random][soak]") {
  const std::uint64_t seed = random_seed();
  const std::uint64_t soak_seconds = env_u64("EBB_SOAK_SECONDS", 0);
  // Under a sanitizer or Valgrind every operation costs 5-50 times more: a shorter run.
  const bool tool = under_memory_tool();
  const std::uint64_t ops = env_u64("EBB_RANDOM_OPS", scaled(tool ? 4000 : 20000));
  const std::size_t fibers = static_cast<std::size_t>(env_u64("EBB_RANDOM_FIBERS", scaled(tool ? 400 : 2000)));
  constexpr int worker_threads = 2;
  WARN("random operations: seed " << seed << " (replay with EBB_RANDOM_SEED=" << seed << ")");
  INFO("seed " << seed);

  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  figures result;
  {
    driver d(seed, fibers, worker_threads);
    if (soak_seconds == 0) {
      for (std::uint64_t i = 0; i < ops; ++i) d.step();
    } else {
      double next_report = 60;
      while (elapsed() < static_cast<double>(soak_seconds)) {
        for (int i = 0; i < 1000; ++i) d.step();
        if (elapsed() >= next_report) {
          std::printf("soak: %.0f s, %llu operations, %zu live fibers, peak RSS %ld KiB\n", elapsed(),
                      static_cast<unsigned long long>(d.stats().ops), d.live(), peak_rss_kib());
          std::fflush(stdout);
          next_report += 60;
        }
      }
    }
    d.finish();
    result = d.stats();
  }
  const double seconds = elapsed();
  char line[1024];
  std::snprintf(line, sizeof line,
                "random operations (%s): seed %llu; %llu operations in %.1f s (%.0f ops/s); fibers: %llu created, "
                "up to %zu live, %llu finished, %llu threw, %llu destroyed; %llu resumes (%llu on another "
                "thread, %llu nested, %llu switch_to, %llu resume_with, %llu refused as pinned or compact elsewhere, "
                "%llu nested compact refused as execution_stack_busy, %llu switch_to between compact fibers of "
                "one kind); %llu outside shrinks, %llu registry passes; threads: 1 driver + %d "
                "workers; peak RSS %ld KiB",
                soak_seconds ? "soak" : "short", static_cast<unsigned long long>(seed),
                static_cast<unsigned long long>(result.ops), seconds, static_cast<double>(result.ops) / seconds,
                static_cast<unsigned long long>(result.created), result.max_live,
                static_cast<unsigned long long>(result.finished), static_cast<unsigned long long>(result.thrown),
                static_cast<unsigned long long>(result.destroyed), static_cast<unsigned long long>(result.resumes),
                static_cast<unsigned long long>(result.migrated), static_cast<unsigned long long>(result.nested),
                static_cast<unsigned long long>(result.hand_offs), static_cast<unsigned long long>(result.resumed_with),
                static_cast<unsigned long long>(result.pin_refusals),
                static_cast<unsigned long long>(result.busy_refusals),
                static_cast<unsigned long long>(result.same_stack_switches),
                static_cast<unsigned long long>(result.outside_shrinks),
                static_cast<unsigned long long>(result.registry_passes), worker_threads, peak_rss_kib());
  WARN(line);
  if (soak_seconds) {
    std::printf("%s\n", line);
    std::fflush(stdout);
  }
  CHECK(result.ops > 0);
}
