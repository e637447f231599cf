// SPDX-License-Identifier: BSL-1.0
// basic_fiber::try_create: every refusal of ebb's own comes back as nullopt with the code and the
// message the constructor's fiber_error carries, and no exception leaves it.
#include "ebb_catch.hpp"
#include <ebb/ebb.hpp>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#if !defined(_WIN32)
#include <sys/resource.h>
#endif

#include "child_process.hpp"
#include "tool_support.hpp"

namespace {
// 64 KiB: a multiple of every page size (AArch64 Linux runs with 4, 16 or 64 KiB pages), since a
// fixed stack is rounded up to whole pages; 16 KiB became 64 with 64 KiB pages and held a 17 KiB capture.
using fixed_64k = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::fixed_stack_allocator<64 * 1024>>;
#if EBB_HAS_TRIPWIRE
using tripwire_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, ebb::tripwire_stack_allocator<>>;
#endif
namespace os = ebb::runtime_v1::os;

// A StackAllocator over the C heap that fails as it is told: by throwing (a std::exception or
// something else) or, as allocators built without exceptions do, with an empty region and errno.
struct failing_allocator {
  enum class mode { succeed, throw_bad_alloc, throw_int, empty_region };
  mode how = mode::succeed;
  int* allocations = nullptr;  // state that try_create's allocator_arg overload must carry

  ebb::stack_region allocate(const ebb::stack_request& request) {
    switch (how) {
      case mode::succeed:
        break;
      case mode::throw_bad_alloc:
        throw std::bad_alloc();
      case mode::throw_int:
        throw 42;
      case mode::empty_region:
        errno = ENOMEM;
        return {};
    }
    const std::size_t bytes = (request.max_size + 4095) / 4096 * 4096;
    void* p = test_support::aligned_block(4096, bytes);
    if (p == nullptr) return {};
    if (allocations) ++*allocations;
    ebb::stack_region r;
    r.base = r.limit = p;
    r.reserved = bytes;
    r.top = static_cast<char*>(p) + bytes;
    return r;
  }
  void deallocate(const ebb::stack_region& r) noexcept { test_support::free_aligned_block(r.base); }
};
using failing_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::quarter_shrink<>, failing_allocator>;

failing_allocator failing(failing_allocator::mode how) {
  failing_allocator a;
  a.how = how;
  return a;
}

#if EBB_HAS_TRIPWIRE  // Windows: tripwire_stack_allocator is a compile-time error there
// Valgrind cannot run tripwire fibers (test_tripwire.cpp).
bool tripwire_skipped() {
  if (!test_support::under_memory_tool() || EBB_ASAN || EBB_TSAN) return false;
  WARN("skipped under Valgrind, which cannot run tripwire fibers");
  return true;
}
#endif

#if EBB_HAS_EXCEPTIONS
// What the throwing constructor says for the same refusal.
template <class Make>
std::string constructor_message(Make make) {
  try {
    make();
  } catch (const ebb::fiber_error& e) {
    return e.what();
  }
  return "(no fiber_error)";
}
#endif
}  // namespace

TEST_CASE("try_create: success gives a fiber that runs", "[try_create]") {
  int steps = 0;
  std::optional<ebb::fiber> a = ebb::fiber::try_create([&] {
    ++steps;
    ebb::this_fiber::yield();
    ++steps;
  });
  REQUIRE(a);
  REQUIRE(*a);
  CHECK(a->id() != 0);
  CHECK(a->resume());
  CHECK(steps == 1);
  CHECK_FALSE(a->resume());
  CHECK(steps == 2);
  CHECK(a->done());

  ebb::create_error why;
  auto b = ebb::fiber::try_create(ebb::fiber_options().name("named"), [&] { steps += 10; }, why);
  REQUIRE(b);
  CHECK(b->name() == "named");
  CHECK_FALSE(b->resume());
  CHECK(steps == 12);

  auto c = ebb::fiber::try_create(ebb::fiber_options().name("moved out"), [] {});
  REQUIRE(c);
  ebb::fiber kept = std::move(*c);
  CHECK(kept.name() == "moved out");
  CHECK_FALSE(kept.resume());
}

TEST_CASE("try_create: a stack too small for the callable is stack_too_small", "[try_create]") {
  std::array<char, 65 * 1024> big{};
  big[0] = 1;
  ebb::create_error why;
  auto f = fixed_64k::try_create(ebb::fiber_options().name("big-capture"), [big] { (void)big[0]; }, why);
  CHECK_FALSE(f);
  CHECK(why.code == ebb::fiber_errc::stack_too_small);
  CHECK_THAT(why.what(), has_text("ebb: cannot create fiber 'big-capture': its 65536-byte stack") &&
                             has_text("capture less"));
  // Without a create_error: the same refusal, nothing to say.
  CHECK_FALSE(fixed_64k::try_create([big] { (void)big[0]; }));
#if EBB_HAS_EXCEPTIONS
  CHECK(std::string(why.what()) == constructor_message([&] {
          fixed_64k g(ebb::fiber_options().name("big-capture"), [big] { (void)big[0]; });
        }));
#endif
  // The refused stacks went back: what fits still runs.
  int seen = 0;
  auto ok = fixed_64k::try_create([&seen] { seen = 7; });
  REQUIRE(ok);
  ok->resume();
  CHECK(seen == 7);
}

TEST_CASE("try_create: a StackAllocator's failure is out_of_memory, never an exception", "[try_create]") {
  ebb::create_error why;
  SECTION("an empty region with errno set (the convention without exceptions)") {
    auto f = failing_fiber::try_create(std::allocator_arg, failing(failing_allocator::mode::empty_region),
                                       ebb::fiber_options().name("no-room"), [] {}, why);
    CHECK_FALSE(f);
    CHECK(why.code == ebb::fiber_errc::out_of_memory);
    CHECK_THAT(why.what(), has_text("ebb: cannot create fiber 'no-room': cannot reserve a ") &&
                               has_text(std::strerror(ENOMEM)));
  }
#if EBB_HAS_EXCEPTIONS
  SECTION("a std::exception") {
    std::optional<failing_fiber> f;
    REQUIRE_NOTHROW(f = failing_fiber::try_create(std::allocator_arg, failing(failing_allocator::mode::throw_bad_alloc),
                                                  ebb::fiber_options().name("heapless"), [] {}, why));
    CHECK_FALSE(f);
    CHECK(why.code == ebb::fiber_errc::out_of_memory);
    CHECK_THAT(why.what(), has_text("ebb: cannot create fiber 'heapless': ") && has_text("bad_alloc"));
    // The constructor says the same in its fiber_error.
    CHECK(std::string(why.what()) == constructor_message([] {
            failing_fiber g(std::allocator_arg, failing(failing_allocator::mode::throw_bad_alloc),
                            ebb::fiber_options().name("heapless"), [] {});
          }));
  }
  SECTION("anything else thrown") {
    std::optional<failing_fiber> f;
    REQUIRE_NOTHROW(f = failing_fiber::try_create(std::allocator_arg, failing(failing_allocator::mode::throw_int),
                                                  ebb::fiber_options().name("odd"), [] {}, why));
    CHECK_FALSE(f);
    CHECK(why.code == ebb::fiber_errc::out_of_memory);
    CHECK_THAT(why.what(), has_text("'odd'") && has_text("StackAllocator threw"));
    // The constructor lets what is not a std::exception through, as it always has.
    CHECK_THROWS_AS(failing_fiber(std::allocator_arg, failing(failing_allocator::mode::throw_int),
                                  ebb::fiber_options(), [] {}),
                    int);
  }
#endif
}

TEST_CASE("try_create: the allocator_arg overload uses the allocator it is given", "[try_create]") {
  int allocations = 0;
  failing_allocator counting;
  counting.allocations = &allocations;
  ebb::create_error why;
  int ran = 0;
  auto f = failing_fiber::try_create(std::allocator_arg, counting, ebb::fiber_options(), [&] { ++ran; }, why);
  REQUIRE(f);
  CHECK(allocations == 1);
  CHECK_FALSE(f->resume());
  CHECK(ran == 1);
}

#if EBB_HAS_TRIPWIRE
TEST_CASE("try_create: a spent tripwire budget is out_of_memory", "[try_create][tripwire]") {
  if (tripwire_skipped()) return;
  { tripwire_fiber warm([] {}); }
  const std::size_t granted_before = ebb::stack_budget_granted();
  {
    test_support::budget_scope budget(granted_before);  // nothing left
    ebb::create_error why;
    auto f = tripwire_fiber::try_create(ebb::fiber_options().name("late"), [] {}, why);
    CHECK_FALSE(f);
    CHECK(why.code == ebb::fiber_errc::out_of_memory);
    CHECK_THAT(why.what(), has_text("ebb: cannot create fiber 'late': the stack budget (") &&
                               has_text("bytes) is exhausted"));
#if EBB_HAS_EXCEPTIONS
    CHECK(std::string(why.what()) ==
          constructor_message([] { tripwire_fiber g(ebb::fiber_options().name("late"), [] {}); }));
#endif
    CHECK(ebb::stack_budget_granted() == granted_before);
  }
  // With the budget back, the same call succeeds.
  auto f = tripwire_fiber::try_create(ebb::fiber_options().name("in time"), [] {});
  REQUIRE(f);
  CHECK_FALSE(f->resume());
}

#endif
#if defined(__linux__)  // the failure injection is Linux's guard installation (os/linux/guard_install.hpp)
TEST_CASE("try_create: a tripwire stack the kernel will not guard is out_of_memory", "[try_create][tripwire]") {
  if (tripwire_skipped()) return;
  { tripwire_fiber warm([] {}); }
  const std::size_t granted_before = ebb::stack_budget_granted();
  os::injected_guard_failures.store(1);
  ebb::create_error why;
  auto f = tripwire_fiber::try_create(ebb::fiber_options().name("unguarded"), [] {}, why);
  CHECK(os::injected_guard_failures.load() == 0);
  CHECK_FALSE(f);
  CHECK(why.code == ebb::fiber_errc::out_of_memory);
  CHECK_THAT(why.what(), has_text("ebb: cannot create fiber 'unguarded': cannot guard its stack: "));
  CHECK(ebb::stack_budget_granted() == granted_before);
}
#endif

// A made-up shadow-stack pointer that fits the target's uintptr_t, and how the report prints it.
#if UINTPTR_MAX > 0xffffffffu
constexpr std::uintptr_t fake_shadow_stack_pointer = 0x7f0012345ff8;
constexpr const char* fake_shadow_stack_pointer_text = "0x7f0012345ff8";
#else
constexpr std::uintptr_t fake_shadow_stack_pointer = 0xf7345ff8;
constexpr const char* fake_shadow_stack_pointer_text = "0xf7345ff8";
#endif

TEST_CASE("try_create: active CET shadow stacks are refused as a value", "[try_create][cet]") {
  // Creation reads the real shadow-stack pointer (0 here unless CET is on); the check it goes through
  // is given a made-up one, as test_cet.cpp does for the throwing report.
  ebb::create_error why;
  CHECK(ebb::detail::check_shadow_stack(0, "job", ebb::detail::keep_failure{&why}));
  CHECK_FALSE(ebb::detail::check_shadow_stack(fake_shadow_stack_pointer, "cet-job", ebb::detail::keep_failure{&why}));
  CHECK(why.code == ebb::fiber_errc::shadow_stack_active);
  CHECK_THAT(why.what(), has_text("ebb: cannot create fiber 'cet-job': CET shadow stacks are active") &&
                             has_text(fake_shadow_stack_pointer_text));
#if EBB_HAS_EXCEPTIONS
  CHECK(std::string(why.what()) ==
        constructor_message([] { ebb::detail::refuse_active_shadow_stack(fake_shadow_stack_pointer, "cet-job"); }));
#endif
  if (ebb::runtime_v1::arch::shadow_stack_pointer() != 0) {
    WARN("CET shadow stacks are active on this machine: checking try_create's refusal");
    auto f = ebb::fiber::try_create(ebb::fiber_options().name("cet-fiber"), [] {}, why);
    CHECK_FALSE(f);
    CHECK(why.code == ebb::fiber_errc::shadow_stack_active);
  }
}

TEST_CASE("try_create: a message longer than create_error's buffer is cut short", "[try_create]") {
  std::array<char, 65 * 1024> big{};
  const std::string long_name(2000, 'n');
  ebb::create_error why;
  CHECK_FALSE(fixed_64k::try_create(ebb::fiber_options().name(long_name), [big] { (void)big[0]; }, why));
  CHECK(why.code == ebb::fiber_errc::stack_too_small);
  CHECK(std::strlen(why.what()) == sizeof why.message - 1);
  CHECK_THAT(why.what(), has_text("ebb: cannot create fiber 'nnnn"));
}

#if EBB_HAS_EXCEPTIONS
TEST_CASE("try_create: the callable's own exception propagates, and its stack goes back", "[try_create]") {
  struct throws_on_copy {
    bool armed = true;
    throws_on_copy() = default;
    throws_on_copy(const throws_on_copy& other) : armed(other.armed) {
      if (armed) throw std::runtime_error("copy refused");
    }
    void operator()() const {}
  };
  const throws_on_copy fn;
  int allocations = 0;
  failing_allocator counting;
  counting.allocations = &allocations;
  ebb::create_error why;
  CHECK_THROWS_WITH(failing_fiber::try_create(std::allocator_arg, counting, ebb::fiber_options(), fn, why),
                    "copy refused");
  CHECK(allocations == 1);  // allocated, then freed (ASan and Valgrind see any leak)
  throws_on_copy disarmed;
  disarmed.armed = false;
  CHECK(failing_fiber::try_create(std::allocator_arg, counting, ebb::fiber_options(), disarmed, why));
}
#endif

TEST_CASE("child: try_create until the address space runs out", "[.child]") {
  // 64-bit: RLIMIT_AS at 2 GiB, about 2000 default stacks. 32-bit: the process's own address space
  // (at most 4 GiB, about 15,000 default 256 KiB stacks), the only bound that holds under qemu-user too.
  if (sizeof(void*) >= 8) {
#if defined(_WIN32)
    std::_Exit(4);  // no RLIMIT_AS (the parent skips before it gets here)
#else
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max = std::size_t(2) << 30;
    if (setrlimit(RLIMIT_AS, &limit) != 0) std::_Exit(4);
#endif
  }
  std::vector<ebb::fiber> fibers;
  fibers.reserve(100000);  // no reallocation once the address space is short
  ebb::create_error why;
  for (std::size_t i = 0; i < 100000; ++i) {
    auto f = ebb::fiber::try_create(ebb::fiber_options().name("fiber-" + std::to_string(i)),
                                    [] { ebb::this_fiber::yield(); }, why);
    if (!f) {
      std::fprintf(stderr, "refused after %zu fibers: %s\n", fibers.size(), why.what());
      std::fflush(stderr);
      std::_Exit(why.code == ebb::fiber_errc::out_of_memory ? 0 : 3);
    }
    fibers.push_back(std::move(*f));
    fibers.back().resume();
  }
  std::_Exit(2);
}

TEST_CASE("try_create: running out of address space is reported as a value", "[try_create][exhaustion]") {
  if (EBB_ASAN || EBB_TSAN) {
    WARN("skipped: the sanitizer's own shadow memory cannot live under a small RLIMIT_AS");
    return;
  }
#if defined(_WIN32)
  WARN("skipped on Windows: no RLIMIT_AS to run short of address space with (a job object's commit limit "
       "would be the counterpart; not written)");
  return;
#endif
  if (sizeof(void*) >= 8) EBB_TEST_NOT_UNDER_EMULATION("RLIMIT_AS limits the emulator's own allocations too");
  auto child = test_support::run_child_test("child: try_create until the address space runs out");
  INFO(child.err);
  CHECK(child.exit_code == 0);
  CHECK_THAT(child.err, has_text("ebb: cannot create fiber 'fiber-") && has_text("cannot reserve"));
}
