// SPDX-License-Identifier: BSL-1.0
// A consumer that includes ebb with a plain -I (as add_subdirectory or FetchContent users do, so no
// -isystem hides ebb's headers) and instantiates every shipped policy, allocator and API entry point.
// run_strict_consumer.sh compiles it with the strictest common warning set and -Werror: ebb must never
// be the reason a consumer's warning-clean build breaks.
#include <ebb/ebb.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>

namespace {

template <class Fiber>
std::size_t exercise(Fiber& f) {
  std::size_t steps = 0;
  while (f.resume()) ++steps;
  const ebb::stack_stats s = f.stack_stats();
  return steps + s.size / 1024 + f.shrink_stack();
}

int body_runs = 0, handed_off = 0;
void body() {
  ++body_runs;
  ebb::this_fiber::yield();
  const auto hand_off = []() noexcept { ++handed_off; };
  ebb::this_fiber::yield_then(hand_off);             // an lvalue: copied to the resumer's stack
  ebb::this_fiber::yield_then([]() noexcept { ++handed_off; });
  (void)ebb::this_fiber::stack_stats();
  (void)ebb::this_fiber::remaining_stack();
  (void)ebb::this_fiber::in_fiber();
  (void)ebb::this_fiber::shrink_stack();
}

#if EBB_SWITCH_HOOKS
int switches = 0;
void on_switch(std::uint64_t id, const char* name) { switches += id != 0 && name != nullptr; }
#endif

}  // namespace

int main() {
  std::size_t total = 0;
#if EBB_SWITCH_HOOKS
  ebb::set_switch_hooks(&on_switch, &on_switch);
#endif
  {
    ebb::fiber f(ebb::fiber_options().name("strict").max_size(256 * 1024), body);
    total += exercise(f);
  }
  {
    ebb::basic_fiber<ebb::fixed_increment_growth<8192, 8192, 128 * 1024>, ebb::shrink_to_fit<>,
                     ebb::virtual_stack_allocator<>>
        f(body);
    total += exercise(f);
  }
  {
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::peak_shrink<>, ebb::fixed_stack_allocator<64 * 1024>>
        f(body);
    total += exercise(f);
  }
#if EBB_HAS_TRIPWIRE  // a compile-time error on Windows
  {
    ebb::basic_fiber<ebb::doubling_growth<>, ebb::never_shrink, ebb::tripwire_stack_allocator<>> f(body);
    total += exercise(f);
  }
#endif
  {
    ebb::fiber f(std::allocator_arg, ebb::virtual_stack_allocator<>(), ebb::fiber_options(), body);
    total += exercise(f);
  }
  {
    // Every generator shape: value, move-only, const reference, mutable reference, rvalue reference,
    // another fiber type with fiber_options; iterator arithmetic through the standard traits.
    ebb::generator<std::size_t> counts([](ebb::yield_sink<std::size_t>& yield) {
      const std::size_t one = 1;
      yield(one);
      yield(std::size_t{2});
    });
    for (std::size_t v : counts) total += v;
    ebb::generator<std::unique_ptr<int>> owners([](ebb::yield_sink<std::unique_ptr<int>>& yield) {
      yield(std::make_unique<int>(3));
    });
    auto owner = owners.begin();
    total += static_cast<std::size_t>(*owner->get());
    auto taken = owner++;
    total += static_cast<std::size_t>(**taken);
    const std::string text = "strict";
    ebb::generator<const std::string&> views([&](ebb::yield_sink<const std::string&>& yield) { yield(text); });
    for (const std::string& s : views) total += s.size();
    ebb::generator<int&> slots([](ebb::yield_sink<int&>& yield) {
      int slot = 0;
      yield(slot);
    });
    for (int& slot : slots) slot = 1;
    ebb::generator<std::string&&> moved([](ebb::yield_sink<std::string&&>& yield) { yield(std::string("m")); });
    for (std::string&& s : moved) total += s.size();
    ebb::generator<int, ebb::basic_fiber<ebb::doubling_growth<4096, 65536>>> small(
        ebb::fiber_options().name("strict-generator"), [](ebb::yield_sink<int>& yield) { yield(4); });
    total += static_cast<std::size_t>(std::distance(small.begin(), small.end()));
    ebb::create_error why;
    if (auto f = ebb::fiber::try_create(ebb::fiber_options().name("tried"), body, why)) total += exercise(*f);
#if EBB_HAS_TRIPWIRE
    using tripwire_fiber = ebb::basic_fiber<ebb::doubling_growth<>, ebb::never_shrink, ebb::tripwire_stack_allocator<>>;
    if (auto f = tripwire_fiber::try_create(std::allocator_arg, ebb::tripwire_stack_allocator<>(),
                                            ebb::fiber_options(), body, why))
      total += exercise(*f);
#endif
    if (!ebb::fiber::try_create(body)) std::puts(why.what());
  }
  total += ebb::stack_registry::shrink_all().released_bytes;
  total += ebb::stack_registry::shrink_some(4).visited;
  const auto profile = ebb::stack_registry::profile();
  total += profile.fibers;
  ebb::trim_stack_pool();
#if EBB_SWITCH_HOOKS
  ebb::set_switch_hooks(nullptr, nullptr);
  if (switches == 0) return 1;
#endif
  std::printf("strict consumer: %d fibers ran, %d hand-offs, %zu\n", body_runs, handed_off, total);
  constexpr int expected_runs = EBB_HAS_TRIPWIRE ? 7 : 5;  // two of them are tripwire fibers
  return body_runs == expected_runs && handed_off == 2 * expected_runs ? 0 : 1;  // two hand-offs a run
}
