// SPDX-License-Identifier: BSL-1.0
// ebb::set_switch_hooks: on_enter/on_leave on every switch, paired per thread on every path.
//
// Built into ebb_tests_hooks (EBB_SWITCH_HOOKS=1) with a few other test files. This file installs
// checking hooks before main(), so every test of that binary (test_basics, test_switch_to, ...) also
// checks, on every switch it makes, that a thread never has two fibers entered at once and that each
// leave names the fiber entered last on that thread; a violation aborts with both ids.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

TEST_CASE("switch hooks: the setting is part of the ABI tag", "[switch_hooks]") {
  // ...h<hooks>k<compact checks> (config.hpp, EBB_ABI_PASTE_): the hooks' letter is not the last one.
  const std::string tag = EBB_STRINGIFY(EBB_ABI_NAMESPACE);
  const std::size_t h = tag.rfind('h');
  REQUIRE(h != std::string::npos);
  CHECK(tag.substr(h, 2) == (EBB_SWITCH_HOOKS ? "h1" : "h0"));
  CHECK(tag.substr(h + 2, 1) == "k");
}

#if EBB_SWITCH_HOOKS
namespace {

struct event {
  bool enter;
  std::uint64_t id;
  std::string name;
  std::thread::id thread;
  bool operator==(const event& o) const { return enter == o.enter && id == o.id && thread == o.thread; }
};

std::mutex log_mutex;
std::vector<event> events;
std::atomic<bool> recording{false};
thread_local std::uint64_t entered = 0;  // the fiber this thread runs as the hooks saw it; 0: none

void record(bool enter, std::uint64_t id, const char* name) {
  if (!recording.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(log_mutex);
  events.push_back(event{enter, id, name, std::this_thread::get_id()});
}

void check_enter(std::uint64_t id, const char* name) {
  if (entered != 0) {
    std::fprintf(stderr, "switch hooks: enter(%llu) while %llu is entered on this thread\n",
                 static_cast<unsigned long long>(id), static_cast<unsigned long long>(entered));
    std::abort();
  }
  entered = id;
  record(true, id, name);
}
void check_leave(std::uint64_t id, const char* name) {
  if (entered != id) {
    std::fprintf(stderr, "switch hooks: leave(%llu) while %llu is entered on this thread\n",
                 static_cast<unsigned long long>(id), static_cast<unsigned long long>(entered));
    std::abort();
  }
  entered = 0;
  record(false, id, name);
}

struct install_checking_hooks {
  install_checking_hooks() { ebb::set_switch_hooks(&check_enter, &check_leave); }
} installed;

// Records the events of its lifetime.
struct hook_recording {
  hook_recording() {
    std::lock_guard<std::mutex> lock(log_mutex);
    events.clear();
    recording = true;
  }
  ~hook_recording() { recording = false; }
  std::vector<event> take() {
    recording = false;
    std::lock_guard<std::mutex> lock(log_mutex);
    return std::move(events);
  }
};

event enter(const ebb::fiber& f) { return event{true, f.id(), std::string(f.name()), std::this_thread::get_id()}; }
event leave(const ebb::fiber& f) { return event{false, f.id(), std::string(f.name()), std::this_thread::get_id()}; }

// Per thread: enter, leave, enter, leave ..., each leave naming the fiber just entered.
bool paired_per_thread(const std::vector<event>& log) {
  std::vector<std::pair<std::thread::id, std::uint64_t>> open;
  for (const event& e : log) {
    auto it = open.begin();
    while (it != open.end() && it->first != e.thread) ++it;
    if (e.enter) {
      if (it != open.end()) return false;
      open.emplace_back(e.thread, e.id);
    } else {
      if (it == open.end() || it->second != e.id) return false;
      open.erase(it);
    }
  }
  return open.empty();
}

}  // namespace

TEST_CASE("switch hooks: resume, yield and finish enter and leave the fiber", "[switch_hooks]") {
  std::uint64_t inside = 0;
  ebb::fiber f(ebb::fiber_options().name("worker"), [&] {
    inside = ebb::this_fiber::id();
    ebb::this_fiber::yield();
  });
  hook_recording r;
  CHECK(f.resume());
  CHECK(f.resume() == false);
  const std::vector<event> log = r.take();
  CHECK(inside == f.id());
  REQUIRE(log == std::vector<event>{enter(f), leave(f), enter(f), leave(f)});
  CHECK(log[0].name == "worker");
  CHECK(log[3].name == "worker");
}

TEST_CASE("switch hooks: an unnamed fiber is reported with an empty name", "[switch_hooks]") {
  ebb::fiber f([] {});
  hook_recording r;
  f.resume();
  const std::vector<event> log = r.take();
  REQUIRE(log == std::vector<event>{enter(f), leave(f)});
  CHECK(log[0].name.empty());
}

TEST_CASE("switch hooks: an exception escaping the fiber leaves it before resume() rethrows", "[switch_hooks]") {
  ebb::fiber f(ebb::fiber_options().name("thrower"), [] { throw std::runtime_error("boom"); });
  hook_recording r;
  CHECK_THROWS_AS(f.resume(), std::runtime_error);
  CHECK(entered == 0);
  CHECK(r.take() == std::vector<event>{enter(f), leave(f)});
}

TEST_CASE("switch hooks: destroying a suspended fiber enters it for the forced unwind and leaves it",
          "[switch_hooks]") {
  bool unwound = false;
  struct on_exit {
    bool& flag;
    ~on_exit() { flag = true; }
  };
  std::vector<event> expected;
  hook_recording r;
  {
    ebb::fiber f(ebb::fiber_options().name("doomed"), [&] {
      on_exit guard{unwound};
      ebb::this_fiber::yield();
    });
    f.resume();
    expected = {enter(f), leave(f), enter(f), leave(f)};
  }
  CHECK(unwound);
  CHECK(r.take() == expected);
}

TEST_CASE("switch hooks: a switch_to chain leaves each fiber and enters the next", "[switch_hooks]") {
  ebb::fiber c(ebb::fiber_options().name("c"), [] { ebb::this_fiber::yield(); });
  ebb::fiber b(ebb::fiber_options().name("b"), [&] { ebb::this_fiber::switch_to(c); });
  ebb::fiber a(ebb::fiber_options().name("a"), [&] { ebb::this_fiber::switch_to(b); });
  hook_recording r;
  CHECK(a.resume());  // a -> b -> c, c yields back here
  CHECK(r.take() == std::vector<event>{enter(a), leave(a), enter(b), leave(b), enter(c), leave(c)});
  hook_recording r2;
  CHECK_FALSE(c.resume());
  CHECK_FALSE(b.resume());  // continues after its switch_to and finishes
  CHECK_FALSE(a.resume());
  CHECK(r2.take() == std::vector<event>{enter(c), leave(c), enter(b), leave(b), enter(a), leave(a)});
}

TEST_CASE("switch hooks: a fiber resuming another is left while the other runs and re-entered after",
          "[switch_hooks]") {
  ebb::fiber inner(ebb::fiber_options().name("inner"), [] { ebb::this_fiber::yield(); });
  ebb::fiber outer(ebb::fiber_options().name("outer"), [&] {
    inner.resume();
    inner.resume();
  });
  hook_recording r;
  CHECK_FALSE(outer.resume());
  CHECK(r.take() == std::vector<event>{enter(outer), leave(outer), enter(inner), leave(inner), enter(outer),
                                       leave(outer), enter(inner), leave(inner), enter(outer), leave(outer)});
}

TEST_CASE("switch hooks: switch_to inside a nested resume returns to the resuming fiber", "[switch_hooks]") {
  ebb::fiber c(ebb::fiber_options().name("c"), [] { ebb::this_fiber::yield(); });
  ebb::fiber b(ebb::fiber_options().name("b"), [&] { ebb::this_fiber::switch_to(c); });
  ebb::fiber a(ebb::fiber_options().name("a"), [&] { b.resume(); });
  hook_recording r;
  CHECK_FALSE(a.resume());  // a resumes b, b switches to c, c yields back to a, a finishes
  CHECK(r.take() == std::vector<event>{enter(a), leave(a), enter(b), leave(b), enter(c), leave(c), enter(a),
                                       leave(a)});
  c.resume();
  b.resume();
}

TEST_CASE("switch hooks: call_on_thread_stack leaves the fiber while fn runs on the thread's stack",
          "[switch_hooks]") {
  ebb::fiber g(ebb::fiber_options().name("g"), [] {});
  bool in_fiber_inside = true;
  ebb::fiber f(ebb::fiber_options().name("f"), [&] {
    ebb::this_fiber::call_on_thread_stack([&] {
      in_fiber_inside = ebb::this_fiber::in_fiber();
      g.resume();  // resumed from the thread's stack: no fiber to leave or re-enter around it
    });
  });
  hook_recording r;
  CHECK_FALSE(f.resume());
  CHECK_FALSE(in_fiber_inside);
  CHECK(r.take() == std::vector<event>{enter(f), leave(f), enter(g), leave(g), enter(f), leave(f)});
}

TEST_CASE("switch hooks: a fiber handed to another thread by yield_then is left here before it is entered there",
          "[switch_hooks]") {
  std::atomic<ebb::fiber*> handed{nullptr};
  ebb::fiber* self = nullptr;
  std::thread::id ran_on;
  ebb::fiber f(ebb::fiber_options().name("traveller"), [&] {
    ebb::this_fiber::yield_then([&handed, self]() noexcept { handed.store(self, std::memory_order_release); });
    ran_on = std::this_thread::get_id();
  });
  self = &f;
  hook_recording r;
  bool finished_there = false;
  std::thread worker([&] {
    ebb::fiber* p;
    while ((p = handed.load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
    finished_there = !p->resume();
  });
  CHECK(f.resume());
  worker.join();
  const std::vector<event> log = r.take();
  CHECK(finished_there);
  CHECK(ran_on != std::this_thread::get_id());
  REQUIRE(log.size() == 4);
  CHECK(log[0] == enter(f));
  CHECK(log[1] == leave(f));  // reported before yield_then's function published the fiber
  CHECK((log[2].enter && log[2].id == f.id() && log[2].thread == ran_on));
  CHECK((!log[3].enter && log[3].id == f.id() && log[3].thread == ran_on));
  CHECK(paired_per_thread(log));
}

TEST_CASE("switch hooks: fibers migrating between threads through yield_then stay paired per thread",
          "[switch_hooks]") {
  constexpr int n_fibers = 4, n_yields = 200, n_threads = 2;
  std::mutex m;
  std::vector<ebb::fiber*> queue;
  std::vector<ebb::fiber> fibers;
  fibers.reserve(n_fibers);
  std::vector<ebb::fiber*> handles(n_fibers);
  for (int i = 0; i < n_fibers; ++i) {
    fibers.emplace_back([&, i] {
      for (int k = 0; k < n_yields; ++k)
        ebb::this_fiber::yield_then([&m, &queue, h = handles[static_cast<std::size_t>(i)]]() noexcept {
          std::lock_guard<std::mutex> l(m);
          queue.push_back(h);
        });
    });
    handles[static_cast<std::size_t>(i)] = &fibers.back();
  }
  for (ebb::fiber& f : fibers) queue.push_back(&f);
  std::atomic<int> finished{0};
  hook_recording r;
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t)
    threads.emplace_back([&] {
      while (finished.load() < n_fibers) {
        ebb::fiber* f = nullptr;
        {
          std::lock_guard<std::mutex> l(m);
          if (!queue.empty()) {
            f = queue.back();
            queue.pop_back();
          }
        }
        if (f == nullptr) {
          std::this_thread::yield();
          continue;
        }
        if (!f->resume()) finished.fetch_add(1);
      }
    });
  for (std::thread& t : threads) t.join();
  const std::vector<event> log = r.take();
  CHECK(log.size() == std::size_t(2) * n_fibers * (n_yields + 1));
  CHECK(paired_per_thread(log));
}

TEST_CASE("switch hooks: set_switch_hooks(nullptr, nullptr) turns them off, and a missing one is a no-op",
          "[switch_hooks]") {
  static std::atomic<int> enters{0};
  ebb::fiber f([] {
    ebb::this_fiber::yield();
    ebb::this_fiber::yield();
  });
  hook_recording r;
  ebb::set_switch_hooks(nullptr, nullptr);
  f.resume();
  CHECK(r.take().empty());
  ebb::set_switch_hooks([](std::uint64_t, const char*) { enters.fetch_add(1); }, nullptr);
  f.resume();
  CHECK(enters.load() == 1);
  ebb::set_switch_hooks(&check_enter, &check_leave);
  hook_recording r2;
  f.resume();
  CHECK(r2.take() == std::vector<event>{enter(f), leave(f)});
}
#endif
