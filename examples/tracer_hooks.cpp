// SPDX-License-Identifier: BSL-1.0
// tracer_hooks: a profiler's fiber timeline from ebb::set_switch_hooks.
//
// Profilers that understand fibers (Tracy's TracyFiberEnter/TracyFiberLeave, Perfetto's tracks) need
// to be told, on every switch, which fiber the thread runs from now on: a zone opened on a fiber
// belongs to that fiber, even when the fiber yields in the middle of it and finishes it on another
// thread. mini_tracy below is a tiny in-memory tracer with that shape (no dependency); two hooks
// connect it to ebb, and the program prints each thread's timeline and each fiber's zones.
//
// The hooks exist only when ebb is built with EBB_SWITCH_HOOKS=1 (here defined before the include;
// in a project, CMake -DEBB_SWITCH_HOOKS=ON or meson -Dswitch_hooks=true for every unit).
//
//   build and run:  cmake --build build --target example_tracer_hooks && build/example_tracer_hooks
#define EBB_SWITCH_HOOKS 1
#include <ebb/ebb.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mini_tracy {

enum class kind { fiber_enter, fiber_leave, zone_begin, zone_end };

struct event {
  std::int64_t ns;       // since the tracer started
  unsigned thread;       // 0, 1, ... in the order threads first reported
  kind what;
  const char* fiber;     // the fiber the thread runs as (null: the thread itself)
  const char* text;      // the zone's name, or the fiber entered or left
};

struct tracer {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::mutex mutex;
  std::vector<event> events;
  std::atomic<unsigned> threads{0};
  int unpaired = 0;
};
tracer* active = nullptr;

// Like Tracy's, per thread: the fiber it runs as, set by TracyFiberEnter and cleared by TracyFiberLeave.
thread_local const char* thread_fiber = nullptr;
thread_local unsigned thread_index = ~0u;

void emit(kind what, const char* text) {
  if (thread_index == ~0u) thread_index = active->threads.fetch_add(1);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                        active->start).count();
  std::lock_guard<std::mutex> lock(active->mutex);
  active->events.push_back(event{static_cast<std::int64_t>(ns), thread_index, what, thread_fiber, text});
}

// Tracy's contract: `fiber` is a unique name whose pointer stays valid for the whole run.
void TracyFiberEnter(const char* fiber) {
  if (thread_fiber != nullptr) ++active->unpaired;  // a tracer's model: one fiber per thread at a time
  thread_fiber = fiber;
  emit(kind::fiber_enter, fiber);
}
void TracyFiberLeave() {
  if (thread_fiber == nullptr) ++active->unpaired;
  emit(kind::fiber_leave, thread_fiber);
  thread_fiber = nullptr;
}

// ZoneScopedN: a zone belongs to the fiber that opened it, wherever it closes.
class ScopedZone {
 public:
  explicit ScopedZone(const char* name) : name_(name) { emit(kind::zone_begin, name_); }
  ~ScopedZone() { emit(kind::zone_end, name_); }
  ScopedZone(const ScopedZone&) = delete;
  ScopedZone& operator=(const ScopedZone&) = delete;

 private:
  const char* name_;
};

}  // namespace mini_tracy

namespace {

// ebb reports a fiber by id (unique, never reused) and name (valid while the fiber lives); Tracy wants
// a unique, permanent name: "name#id", made once per fiber.
std::mutex names_mutex;
std::map<std::uint64_t, std::string>* fiber_names = nullptr;

const char* permanent_name(std::uint64_t id, const char* name) {
  std::lock_guard<std::mutex> lock(names_mutex);
  std::string& s = (*fiber_names)[id];
  if (s.empty()) s = std::string(name[0] ? name : "fiber") + "#" + std::to_string(id);
  return s.c_str();
}

void on_enter(std::uint64_t id, const char* name) { mini_tracy::TracyFiberEnter(permanent_name(id, name)); }
void on_leave(std::uint64_t, const char*) { mini_tracy::TracyFiberLeave(); }

void busy(int microseconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(microseconds);
  while (std::chrono::steady_clock::now() < until) {
  }
}

}  // namespace

int main() {
  mini_tracy::tracer tracer;
  std::map<std::uint64_t, std::string> names;
  mini_tracy::active = &tracer;
  fiber_names = &names;
  ebb::set_switch_hooks(&on_enter, &on_leave);  // before any fiber runs: every enter gets its leave

  // An "I/O thread" that resumes whatever fiber is handed to it.
  std::atomic<ebb::fiber*> handed{nullptr};
  std::atomic<bool> io_done{false};
  std::thread io([&] {
    ebb::fiber* f;
    while ((f = handed.exchange(nullptr)) == nullptr) std::this_thread::yield();
    f->resume();
    io_done = true;
  });

  ebb::fiber* loader_handle = nullptr;
  ebb::fiber loader(ebb::fiber_options().name("loader"), [&] {
    mini_tracy::ScopedZone zone("load texture");  // opened on the main thread, closed on the I/O one
    busy(20);
    // Park and let the I/O thread continue us (after the main thread has finished the switch).
    ebb::this_fiber::yield_then([&handed, loader_handle]() noexcept { handed.store(loader_handle); });
    mini_tracy::ScopedZone decode("decode");
    busy(30);
  });
  loader_handle = &loader;

  ebb::fiber audio(ebb::fiber_options().name("audio"), [] {
    for (int i = 0; i < 2; ++i) {
      mini_tracy::ScopedZone zone("mix");
      busy(10);
      ebb::this_fiber::yield();
    }
  });
  ebb::fiber frame(ebb::fiber_options().name("frame"), [&] {
    mini_tracy::ScopedZone zone("frame");
    audio.resume();  // nested: the thread leaves "frame" while "audio" runs, and comes back
    busy(10);
    ebb::this_fiber::switch_to(audio);  // a direct hand-off: "audio" yields back to main, not here
    busy(5);
  });

  {
    mini_tracy::ScopedZone zone("main loop");
    loader.resume();
    frame.resume();
    frame.resume();
    audio.resume();
    while (!io_done) std::this_thread::yield();
  }
  io.join();
  ebb::set_switch_hooks(nullptr, nullptr);

  std::printf("mini_tracy: %zu events from %u threads, switch hooks from ebb\n", tracer.events.size(),
              tracer.threads.load());
  const std::int64_t t0 = tracer.events.empty() ? 0 : tracer.events.front().ns;
  for (unsigned t = 0; t < tracer.threads.load(); ++t) {
    std::printf("\nthread %u%s\n", t, t == 0 ? " (main)" : " (I/O)");
    for (const mini_tracy::event& e : tracer.events) {
      if (e.thread != t) continue;
      const double us = static_cast<double>(e.ns - t0) / 1000.0;
      const char* on = e.fiber ? e.fiber : "the thread";
      switch (e.what) {
        case mini_tracy::kind::fiber_enter: std::printf("  %9.1f us  >> enter %s\n", us, e.text); break;
        case mini_tracy::kind::fiber_leave: std::printf("  %9.1f us  << leave %s\n", us, e.text); break;
        case mini_tracy::kind::zone_begin:
          std::printf("  %9.1f us       zone %-13s begins  (%s)\n", us, e.text, on);
          break;
        case mini_tracy::kind::zone_end:
          std::printf("  %9.1f us       zone %-13s ends    (%s)\n", us, e.text, on);
          break;
      }
    }
  }
  // Per fiber: where each zone began and ended (a zone may start on one thread and end on another).
  std::printf("\nzones per fiber:\n");
  for (const auto& [id, name] : names) {
    (void)id;
    for (const mini_tracy::event& e : tracer.events)
      if (e.fiber == name.c_str() &&
          (e.what == mini_tracy::kind::zone_begin || e.what == mini_tracy::kind::zone_end))
        std::printf("  %-10s %-5s %-13s on thread %u\n", name.c_str(),
                    e.what == mini_tracy::kind::zone_begin ? "begin" : "end", e.text, e.thread);
  }
  std::printf("\nunpaired enter/leave: %d\n", tracer.unpaired);
  return tracer.unpaired == 0 ? 0 : 1;
}
