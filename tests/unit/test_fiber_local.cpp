// SPDX-License-Identifier: BSL-1.0
// ebb::fiber_local<T>, fiber_options().user_data / this_fiber::user_data, pin_to_thread, and reading
// thread-locals across a yield after which the fiber moved (ebb/thread_migration.hpp).
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

// Counts its live instances, and remembers on which thread the last one died.
struct counted {
  static inline std::atomic<int> alive{0};
  static inline std::atomic<int> made{0};
  static inline std::thread::id last_destroyed_on{};
  int value = 7;
  counted() {
    ++alive;
    ++made;
  }
  counted(const counted&) = delete;
  counted& operator=(const counted&) = delete;
  ~counted() {
    --alive;
    last_destroyed_on = std::this_thread::get_id();
  }
};

// Throws the first time it is made.
struct picky {
  static inline int attempts = 0;
  picky() {
    if (++attempts == 1) throw std::runtime_error("first time");
  }
};

ebb::fiber_local<int> local_int;
ebb::fiber_local<counted> local_counted;
ebb::fiber_local<std::string> local_string;
ebb::fiber_local<std::vector<int>> local_vector;

// Which worker thread this is (0 on threads that did not say). Read only through the opaque
// accessors: after a yield the fiber may be on another thread.
thread_local int worker_id = 0;
EBB_THREAD_LOCAL_ACCESSOR(current_worker_id, worker_id)

// Run fn on a new thread that calls itself worker `id`, and wait for it.
template <class Fn>
void on_worker(int id, Fn&& fn) {
  std::thread t([&] {
    worker_id = id;
    fn();
  });
  t.join();
}

}  // namespace

// ---- fiber_local -----------------------------------------------------------------------------------

TEST_CASE("fiber_local: each fiber has its own value, value-initialised on first use", "[fiber_local]") {
  int seen_a = -1, seen_b = -1, after_a = -1, after_b = -1;
  ebb::fiber a([&] {
    seen_a = local_int.get();  // 0: value-initialised
    local_int.get() = 1;
    ebb::this_fiber::yield();
    after_a = *local_int;
  });
  ebb::fiber b([&] {
    seen_b = *local_int;
    *local_int = 2;
    ebb::this_fiber::yield();
    after_b = local_int.get();
  });
  CHECK(a.resume());
  CHECK(b.resume());
  CHECK_FALSE(a.resume());
  CHECK_FALSE(b.resume());
  CHECK(seen_a == 0);
  CHECK(seen_b == 0);
  CHECK(after_a == 1);
  CHECK(after_b == 2);
}

TEST_CASE("fiber_local: outside any fiber it is the thread's own value", "[fiber_local]") {
  local_int.get() = 42;  // this thread's value
  int in_fiber = -1, on_thread_stack = -1;
  ebb::fiber f([&] {
    in_fiber = *local_int;
    *local_int = 5;
    // On the thread's own stack there is no current fiber: the thread's value again.
    on_thread_stack = ebb::this_fiber::call_on_thread_stack([] { return *local_int; });
  });
  CHECK_FALSE(f.resume());
  CHECK(in_fiber == 0);
  CHECK(on_thread_stack == 42);
  CHECK(*local_int == 42);

  // Another thread has its own, destroyed when it exits.
  const int before = counted::alive;
  int other_thread = -1;
  std::thread::id other_id;
  std::thread t([&] {
    other_thread = *local_int;
    local_counted->value = 3;
    other_id = std::this_thread::get_id();
  });
  t.join();
  CHECK(other_thread == 0);
  CHECK(counted::alive == before);
  CHECK(counted::last_destroyed_on == other_id);
}

namespace {
// At thread exit, after the thread's value of local_counted was set: its destructor reads it.
int read_at_thread_exit = -1;
struct reads_local_at_exit {
  ~reads_local_at_exit() { read_at_thread_exit = local_counted->value; }
};
thread_local reads_local_at_exit exit_reader;
}  // namespace

TEST_CASE("fiber_local: a thread's own values outlive its thread_local destructors", "[fiber_local][threads]") {
  const int base = counted::alive;
  std::thread t([] {
    (void)&exit_reader;  // constructed first, so destroyed after anything constructed later
    local_counted->value = 55;
  });
  t.join();
  CHECK(read_at_thread_exit == 55);  // the thread's value, not a fresh one
  CHECK(counted::alive == base);     // and destroyed after that destructor ran
}

TEST_CASE("fiber_local: values are destroyed with their fiber, however it ends", "[fiber_local]") {
  const int base = counted::alive;
  SECTION("finished") {
    ebb::fiber f([] { local_counted->value = 1; });
    CHECK_FALSE(f.resume());
    CHECK(counted::alive == base + 1);  // kept until the fiber is destroyed, not when it finishes
    f = ebb::fiber();
    CHECK(counted::alive == base);
  }
  SECTION("never started: nothing was made") {
    const int made = counted::made;
    { ebb::fiber f([] { local_counted->value = 1; }); }
    CHECK(counted::made == made);
    CHECK(counted::alive == base);
  }
  SECTION("suspended, then unwound: the unwinding frames still see the fiber's value") {
    int seen_while_unwinding = -1;
    {
      ebb::fiber f([&] {
        struct on_exit {
          int* out;
          ~on_exit() { *out = local_counted->value; }
        } guard{&seen_while_unwinding};
        local_counted->value = 99;
        ebb::this_fiber::yield();
      });
      CHECK(f.resume());
      CHECK(counted::alive == base + 1);
    }
#if EBB_HAS_EXCEPTIONS
    CHECK(seen_while_unwinding == 99);
#endif
    CHECK(counted::alive == base);
  }
  SECTION("suspended, then abandoned") {
    {
      ebb::fiber f(ebb::fiber_options().on_destroy(ebb::destroy_action::abandon), [] {
        local_counted->value = 1;
        ebb::this_fiber::yield();
      });
      CHECK(f.resume());
      CHECK(counted::alive == base + 1);
    }
    CHECK(counted::alive == base);
  }
  SECTION("the function threw") {
    ebb::fiber f([] {
      local_counted->value = 1;
      throw std::runtime_error("out");
    });
    CHECK_THROWS_AS(f.resume(), std::runtime_error);
    f = ebb::fiber();
    CHECK(counted::alive == base);
  }
}

TEST_CASE("fiber_local: non-trivial types and many objects (more than a table's first size)", "[fiber_local]") {
  static ebb::fiber_local<int> many[50];
  std::vector<ebb::fiber> fibers;
  std::vector<int> wrong(4, 0);
  for (int k = 0; k < 4; ++k)
    fibers.emplace_back([k, &wrong] {
      // In reverse order: the first use is of the highest slot, so the table grows in one go for some
      // fibers and step by step (for the other fiber_locals of this file) for others.
      for (int i = 49; i >= 0; --i) many[i].get() = k * 1000 + i;
      local_string->assign(static_cast<std::size_t>(100 + k), 'x');  // past any small-string buffer
      local_vector->assign(static_cast<std::size_t>(1000 + k), k);
      ebb::this_fiber::yield();
      for (int i = 0; i < 50; ++i)
        if (many[i].get() != k * 1000 + i) ++wrong[static_cast<std::size_t>(k)];
      if (local_string->size() != static_cast<std::size_t>(100 + k)) ++wrong[static_cast<std::size_t>(k)];
      if (local_vector->size() != static_cast<std::size_t>(1000 + k) || local_vector->back() != k)
        ++wrong[static_cast<std::size_t>(k)];
    });
  for (auto& f : fibers) CHECK(f.resume());
  for (auto& f : fibers) CHECK_FALSE(f.resume());
  CHECK(wrong == std::vector<int>(4, 0));
  CHECK(local_string->empty());  // this thread's string was never touched by the fibers
}

TEST_CASE("fiber_local: a value follows its fiber to another thread, and dies where the fiber does",
          "[fiber_local][threads]") {
  const int base = counted::alive;
  const counted* made_at = nullptr;
  const counted* seen_at = nullptr;
  int seen_value = -1;
  auto f = std::make_unique<ebb::fiber>([&] {
    made_at = &local_counted.get();
    local_counted->value = 123;
    ebb::this_fiber::yield();
    seen_at = &local_counted.get();
    seen_value = local_counted->value;
    ebb::this_fiber::yield();
  });
  on_worker(1, [&] { f->resume(); });  // created here, first run on worker 1
  on_worker(2, [&] { f->resume(); });  // moved to worker 2: same value, same address
  CHECK(seen_at == made_at);
  CHECK(seen_value == 123);
  CHECK(counted::alive == base + 1);
  std::thread::id destroyer;
  on_worker(3, [&] {
    destroyer = std::this_thread::get_id();
    f.reset();  // destroyed (unwound) on a third thread: the value's destructor runs there
  });
  CHECK(counted::alive == base);
  CHECK(counted::last_destroyed_on == destroyer);
}

TEST_CASE("fiber_local: works for fibers of any configuration", "[fiber_local]") {
  using fixed =
      ebb::basic_fiber<ebb::doubling_growth<>, ebb::never_shrink, ebb::fixed_stack_allocator<128 * 1024>>;
  const int base = counted::alive;
  int seen = -1;
  {
    fixed f([&] {
      local_counted->value = 11;
      ebb::fiber inner([&] { seen = local_counted->value; });  // a nested fiber of another type: its own
      inner.resume();
      ebb::this_fiber::yield();
    });
    CHECK(f.resume());
    CHECK(counted::alive == base + 2);  // inner (still alive in f's frame) has one too
  }
  CHECK(seen == 7);
  CHECK(counted::alive == base);
}

TEST_CASE("fiber_local: destroying the fiber_local object leaves its values to their fibers", "[fiber_local]") {
  const int base = counted::alive;
  auto key = std::make_unique<ebb::fiber_local<counted>>();
  ebb::fiber f([&] {
    (*key)->value = 5;
    ebb::this_fiber::yield();
  });
  CHECK(f.resume());
  key.reset();  // the fiber still holds a value for it
  CHECK(counted::alive == base + 1);
  // A new object never gets the old slot: it finds no stale value in the fiber's table.
  auto fresh = std::make_unique<ebb::fiber_local<counted>>();
  int seen = -1;
  CHECK_FALSE(f.resume_with([&] { seen = (*fresh)->value; }));  // runs as the fiber, which then finishes
  CHECK(seen == 7);
  CHECK(counted::alive == base + 2);
  f = ebb::fiber();
  CHECK(counted::alive == base);
}

TEST_CASE("fiber_local: a constructor that throws stores nothing, and the next get() tries again",
          "[fiber_local]") {
  static ebb::fiber_local<picky> local_picky;
  ebb::fiber f([] {
    CHECK_THROWS_AS(local_picky.get(), std::runtime_error);
    local_picky.get();
  });
  CHECK_FALSE(f.resume());
  CHECK(picky::attempts == 2);
}

// ---- user_data -------------------------------------------------------------------------------------

TEST_CASE("user_data: fiber_options().user_data(p) comes back from this_fiber::user_data()", "[user_data]") {
  int payload = 0;
  void* inside = nullptr;
  void* inside_default = &payload;
  ebb::fiber f(ebb::fiber_options().user_data(&payload), [&] { inside = ebb::this_fiber::user_data(); });
  ebb::fiber g([&] { inside_default = ebb::this_fiber::user_data(); });
  CHECK(f.user_data() == &payload);
  CHECK_FALSE(f.resume());
  CHECK_FALSE(g.resume());
  CHECK(inside == &payload);
  CHECK(inside_default == nullptr);
  CHECK(g.user_data() == nullptr);
  CHECK(ebb::fiber().user_data() == nullptr);
#if EBB_CHECKS  // lean builds do not check for a current fiber
  try {
    (void)ebb::this_fiber::user_data();
    FAIL("no error");
  } catch (const ebb::fiber_error& e) {
    CHECK(e.code() == ebb::fiber_errc::outside_fiber);
    CHECK_THAT(e.what(), has_text("user_data()"));
  }
#endif
}

// ---- pin_to_thread ---------------------------------------------------------------------------------

TEST_CASE("pin_to_thread: only the thread that first ran the fiber may resume it", "[pin][threads]") {
  int runs = 0;
  ebb::fiber f(ebb::fiber_options().name("pinned").pin_to_thread(true), [&] {
    for (;;) {
      ++runs;
      ebb::this_fiber::yield();
    }
  });
  // Creating it pins nothing: the first resume does, wherever it happens.
  std::thread::id first;
  bool first_ok = false;
  on_worker(1, [&] {
    first = std::this_thread::get_id();
    first_ok = f.resume();
  });
  CHECK(first_ok);
  // That thread has exited: its serial is never given to another thread, so no thread may resume it.
  // (This thread may even get the exited thread's TLS block, and so its thread-state address.)
  ebb::fiber_errc code{};
  std::string message;
  try {
    f.resume();
  } catch (const ebb::fiber_error& e) {
    code = e.code();
    message = e.what();
  }
  CHECK(code == ebb::fiber_errc::wrong_thread);
  CHECK_THAT(message, has_text("pinned"));
  CHECK_THAT(message, has_text("pin_to_thread"));
  CHECK(runs == 1);
  CHECK_FALSE(f.running());  // the refused resume left it suspended
  // Destroying it is allowed on any thread (it unwinds here).
}

TEST_CASE("pin_to_thread: resumed on its own thread again after a refusal elsewhere", "[pin][threads]") {
  int runs = 0;
  ebb::fiber f(ebb::fiber_options().name("stay-home").pin_to_thread(true), [&] {
    ++runs;
    ebb::this_fiber::yield();
    ++runs;
    ebb::this_fiber::yield();
    ++runs;
  });
  CHECK(f.resume());  // pinned to this thread
  ebb::fiber_errc code{};
  std::string message;
  on_worker(1, [&] {
    try {
      f.resume();
    } catch (const ebb::fiber_error& e) {
      code = e.code();
      message = e.what();
    }
  });
  CHECK(code == ebb::fiber_errc::wrong_thread);
  CHECK_THAT(message, has_text("resume() of fiber 'stay-home'"));
  CHECK(runs == 1);
  CHECK(f.resume());  // home again: fine
  CHECK(runs == 2);
  // resume_with is refused the same way, before its function runs.
  bool ran_on_top = false;
  code = {};
  on_worker(2, [&] {
    try {
      f.resume_with([&] { ran_on_top = true; });
    } catch (const ebb::fiber_error& e) {
      code = e.code();
    }
  });
  CHECK(code == ebb::fiber_errc::wrong_thread);
  CHECK_FALSE(ran_on_top);
  CHECK_FALSE(f.resume_with([&] { ran_on_top = true; }));
  CHECK(ran_on_top);
  CHECK(runs == 3);
}

TEST_CASE("pin_to_thread: unpinned fibers migrate freely", "[pin][threads]") {
  std::vector<int> workers;
  ebb::fiber f([&] {
    for (int i = 0; i < 3; ++i) {
      workers.push_back(current_worker_id());
      ebb::this_fiber::yield();
    }
  });
  on_worker(1, [&] { CHECK(f.resume()); });
  on_worker(2, [&] { CHECK(f.resume()); });
  CHECK(f.resume());
  CHECK_FALSE(f.resume());
  CHECK(workers == std::vector<int>{1, 2, 0});
}

TEST_CASE("pin_to_thread: switch_to a fiber pinned to another thread is refused", "[pin][threads][switch_to]") {
  int pinned_runs = 0;
  ebb::fiber pinned(ebb::fiber_options().name("homebody").pin_to_thread(true), [&] {
    for (;;) {
      ++pinned_runs;
      ebb::this_fiber::yield();
    }
  });
  CHECK(pinned.resume());  // pinned to this thread
  ebb::fiber_errc code{};
  std::string message;
  bool switcher_continued = false;
  ebb::fiber switcher([&] {
    try {
      ebb::this_fiber::switch_to(pinned);
    } catch (const ebb::fiber_error& e) {
      code = e.code();
      message = e.what();
    }
    switcher_continued = true;
  });
  on_worker(1, [&] { switcher.resume(); });
  CHECK(code == ebb::fiber_errc::wrong_thread);
  CHECK_THAT(message, has_text("switch_to() of fiber 'homebody'"));
  CHECK(switcher_continued);
  CHECK(pinned_runs == 1);
  // From a fiber on the pinned thread, switch_to is fine.
  ebb::fiber local_switcher([&] { ebb::this_fiber::switch_to(pinned); });
  CHECK(local_switcher.resume());  // pinned yielded back here
  CHECK(pinned_runs == 2);
}

// ---- thread-locals across a migration --------------------------------------------------------------

TEST_CASE("thread migration: EBB_THREAD_LOCAL_ACCESSOR and on_this_thread read the thread the fiber runs on now",
          "[migration][threads]") {
  int before = -1, after = -1, after_via_lambda = -1;
  std::thread::id id_before, id_after, worker2;
  ebb::fiber f([&] {
    before = current_worker_id();
    id_before = ebb::on_this_thread([] { return std::this_thread::get_id(); });
    ebb::this_fiber::yield();  // resumed on another thread
    after = current_worker_id();
    after_via_lambda = ebb::on_this_thread([] { return worker_id; });
    id_after = ebb::on_this_thread([] { return std::this_thread::get_id(); });
    current_worker_id() = 20;  // writes go to the new thread's variable
  });
  std::thread::id worker1;
  on_worker(1, [&] {
    worker1 = std::this_thread::get_id();
    f.resume();
  });
  int worker2_after = -1;
  on_worker(2, [&] {
    worker2 = std::this_thread::get_id();
    f.resume();
    worker2_after = worker_id;
  });
  CHECK(before == 1);
  CHECK(after == 2);
  CHECK(after_via_lambda == 2);
  CHECK(id_before == worker1);
  CHECK(id_after == worker2);
  CHECK(worker2_after == 20);
  CHECK(worker_id == 0);  // this thread's variable was never touched
}
