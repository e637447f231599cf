// SPDX-License-Identifier: BSL-1.0
// ebb/generator.hpp — ebb::generator<T>: a lazy input range whose values a producer function yields
// from its own fiber.
//
//   ebb::generator<int> g([](ebb::yield_sink<int>& yield) { yield(1); yield(2); });
//   for (int v : g) ...
//
// Why it is built this way:
//
// - The producer is an ordinary function running on a fiber, so it may yield from any depth (a
//   recursive tree walk, a parser's inner loop) — what a stackless coroutine cannot do.
// - No value is copied into the generator. yield(v) publishes a pointer to v, which stays alive in the
//   producer's frame while the fiber is suspended; the consumer reads it through the iterator until it
//   advances, which resumes the producer and ends that frame's full-expression.
// - The sink lives inside the fiber's callable, which basic_fiber constructs once in its own stack
//   region and never moves (fiber.hpp: "Memory layout"). Its move constructor, the last one that
//   runs, tells the generator where the sink is: a generator costs no allocation beyond its fiber,
//   and moving the generator moves only two pointers and the fiber handle.
// - Exceptions and early destruction need nothing here: resume() rethrows what escaped the producer,
//   and destroying a suspended fiber unwinds it (fiber_options().on_destroy). So this header has no
//   try/catch and compiles unchanged with -fno-exceptions.
#pragma once

#include "ebb/config.hpp"
#include "ebb/error.hpp"
#include "ebb/fiber.hpp"
#include "ebb/fiber_options.hpp"
#include "ebb/this_fiber.hpp"

#include <cstddef>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>

EBB_NAMESPACE_BEGIN

template <class T, class Fiber = fiber>
class generator;

namespace detail {
template <class T, class Fn>
class generator_producer;

// What every sink shares: the published value and the switch back to the consumer.
template <class T>
class yield_sink_base {
 public:
  // What the consumer's iterator hands out: T&& for a value type (the consumer may move from it, as
  // with C++23 std::generator), T itself for a reference type.
  using reference = std::conditional_t<std::is_reference<T>::value, T, T&&>;
  using pointer = std::add_pointer_t<reference>;

  yield_sink_base(const yield_sink_base&) = delete;
  yield_sink_base& operator=(const yield_sink_base&) = delete;

 protected:
  yield_sink_base() noexcept = default;
  ~yield_sink_base() = default;

  EBB_ALWAYS_INLINE void publish(pointer value) {
    value_ = value;
    this_fiber::yield();
  }

 private:
  template <class, class>
  friend class ebb::generator;
  pointer value_ = nullptr;  // null between a resume and the next yield
};

}  // namespace detail

// The producer's end of a generator: calling it suspends the producer and hands the value to the
// consumer. The value must stay alive until the call returns; an argument of the call always does.
template <class T>
class yield_sink : public detail::yield_sink_base<T> {
  static_assert(!std::is_void<T>::value, "ebb::yield_sink<void>: a generator yields values");

 public:
  // Copied first: the consumer receives T&&, which must not alias an object the producer declared const.
  // The copy lives in this call's frame while the producer is suspended.
  EBB_ALWAYS_INLINE void operator()(const T& value) {
    T copy(value);
    this->publish(std::addressof(copy));
  }
  // No copy: the consumer reads (or moves from) the producer's own object.
  EBB_ALWAYS_INLINE void operator()(T&& value) { this->publish(std::addressof(value)); }

 private:
  template <class, class>
  friend class generator;
  template <class, class>
  friend class detail::generator_producer;
  yield_sink() noexcept = default;
};

// generator<const U&>, generator<U&>: the consumer sees the producer's object itself.
template <class T>
class yield_sink<T&> : public detail::yield_sink_base<T&> {
 public:
  EBB_ALWAYS_INLINE void operator()(T& value) { this->publish(std::addressof(value)); }

 private:
  template <class, class>
  friend class generator;
  template <class, class>
  friend class detail::generator_producer;
  yield_sink() noexcept = default;
};

template <class T>
class yield_sink<T&&> : public detail::yield_sink_base<T&&> {
 public:
  EBB_ALWAYS_INLINE void operator()(T&& value) { this->publish(std::addressof(value)); }

 private:
  template <class, class>
  friend class generator;
  template <class, class>
  friend class detail::generator_producer;
  yield_sink() noexcept = default;
};

namespace detail {

// The fiber's callable: the user's function and the sink it is given. Its move constructor runs last
// at the callable's final address inside the fiber's stack region and reports the sink's place there.
template <class T, class Fn>
class generator_producer {
 public:
  template <class F>
  generator_producer(F&& fn, yield_sink<T>** sink_at) : fn_(std::forward<F>(fn)), sink_at_(sink_at) {}
  generator_producer(generator_producer&& other) : fn_(std::move(other.fn_)), sink_at_(other.sink_at_) {
    *sink_at_ = &sink_;
  }
  generator_producer(const generator_producer&) = delete;
  generator_producer& operator=(const generator_producer&) = delete;
  generator_producer& operator=(generator_producer&&) = delete;
  ~generator_producer() = default;

  void operator()() { fn_(sink_); }

 private:
  Fn fn_;
  yield_sink<T>** sink_at_;  // the generator's sink_ slot, valid only while the generator is constructed
  yield_sink<T> sink_;
};

}  // namespace detail

// A lazy input range over the values a producer yields. Move-only; destroying it while the producer is
// suspended unwinds the producer (its destructors run), as destroying the fiber would.
template <class T, class Fiber>
class generator {
  // The consumer reads each value where the producer published it: in the producer's frame (or, for a
  // reference type, wherever the producer's object is). A compact fiber's frames are not at their
  // addresses while it is suspended (mappers/shared_stack.hpp): the consumer would read another
  // fiber's bytes, or the canary of checked mode.
  static_assert(Fiber::frame_mapper::residency != frame_residency::absent_while_suspended,
                "ebb::generator: the producer cannot run on a compact fiber (its frames, which hold the "
                "values it yields, are not at their addresses while it is suspended); use ebb::fiber, or "
                "hand values out of a compact fiber through memory outside its frames");
  using sink_type = yield_sink<T>;
  using value_pointer = typename sink_type::pointer;

 public:
  using value_type = std::remove_cv_t<std::remove_reference_t<T>>;
  using reference = typename sink_type::reference;
  using fiber_type = Fiber;

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = generator::value_type;
    using reference = generator::reference;
    using pointer = value_pointer;
    using difference_type = std::ptrdiff_t;

    // The end sentinel; every iterator of an exhausted generator compares equal to it.
    iterator() noexcept = default;

    reference operator*() const { return static_cast<reference>(*current("operator*")); }
    pointer operator->() const { return current("operator->"); }

    // Resumes the producer until its next yield; an exception that escaped the producer comes out here.
    EBB_ALWAYS_INLINE iterator& operator++() {
      (void)current("operator++");
      owner_->advance();
      return *this;
    }

    // `*it++` must give the value that was current, which the producer is about to drop: the proxy
    // holds it as a value_type (moved out when T is a value type).
    class postfix_proxy {
     public:
      value_type& operator*() noexcept { return value_; }

     private:
      friend class iterator;
      explicit postfix_proxy(reference value) : value_(static_cast<reference>(value)) {}
      value_type value_;
    };
    postfix_proxy operator++(int) {
      postfix_proxy before(**this);
      ++*this;
      return before;
    }

    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      const bool a_end = a.at_end(), b_end = b.at_end();
      return a_end || b_end ? a_end == b_end : a.owner_ == b.owner_;
    }
    friend bool operator!=(const iterator& a, const iterator& b) noexcept { return !(a == b); }

   private:
    friend class generator;
    explicit iterator(generator* owner) noexcept : owner_(owner) {}

    bool at_end() const noexcept { return owner_ == nullptr || owner_->sink_ == nullptr; }

    value_pointer current(const char* what) const {
#if EBB_CHECKS
      if (EBB_UNLIKELY(at_end()))
        detail::misuse(fiber_errc::already_finished,
                       std::string("generator iterator: ") + what + " of an iterator at the end");
#else
      (void)what;
#endif
      return owner_->sink_->value_;
    }

    generator* owner_ = nullptr;
  };

  // An empty generator: begin() == end().
  generator() noexcept = default;

  // Nothing runs until begin(). fn is called once, on the generator's fiber, as fn(yield_sink<T>&).
  template <class Fn, class = std::enable_if_t<!std::is_same<std::decay_t<Fn>, generator>::value &&
                                               !std::is_same<std::decay_t<Fn>, fiber_options>::value &&
                                               !std::is_same<std::decay_t<Fn>, std::allocator_arg_t>::value>>
  explicit generator(Fn&& fn) : generator(detail::default_fiber_options(), std::forward<Fn>(fn)) {}

  // options name the fiber and size its stack, as for a fiber.
  template <class Fn>
  generator(const fiber_options& options, Fn&& fn)
      : generator(std::allocator_arg, typename Fiber::stack_allocator(), options, std::forward<Fn>(fn)) {}

  template <class Fn>
  generator(std::allocator_arg_t, typename Fiber::stack_allocator allocator, const fiber_options& options,
            Fn&& fn) {
    using callable = std::decay_t<Fn>;
    static_assert(std::is_invocable<callable&, sink_type&>::value,
                  "ebb::generator<T>: the producer must be callable as fn(ebb::yield_sink<T>&)");
    fiber_ = Fiber(std::allocator_arg, std::move(allocator), options,
                   detail::generator_producer<T, callable>(std::forward<Fn>(fn), &sink_));
    if (EBB_UNLIKELY(sink_ == nullptr))
      detail::fatal("ebb::generator: the fiber did not construct its callable in place");
  }

  generator(generator&& other) noexcept
      : fiber_(std::move(other.fiber_)),
        sink_(std::exchange(other.sink_, nullptr)),
        started_(std::exchange(other.started_, false)) {}
  generator& operator=(generator&& other) noexcept {
    if (this != &other) {
      fiber_ = std::move(other.fiber_);  // unwinds the producer this generator held, if suspended
      sink_ = std::exchange(other.sink_, nullptr);
      started_ = std::exchange(other.started_, false);
    }
    return *this;
  }
  generator(const generator&) = delete;
  generator& operator=(const generator&) = delete;
  ~generator() = default;

  // The first call starts the producer and runs it to its first yield (an exception that escaped it
  // comes out here). Later calls resume nothing: they return an iterator at the current position, so
  // a second loop continues where the first one stopped.
  iterator begin() {
    if (!started_) {
      started_ = true;
      advance();
    }
    return iterator(this);
  }
  iterator end() noexcept { return iterator(); }

  // The fiber the producer runs on: its name(), id(), stack_stats().
  const Fiber& producer_fiber() const noexcept { return fiber_; }

 private:
  EBB_ALWAYS_INLINE void advance() {
    // Until resume() returns true with a value published, the generator looks exhausted: so it stays
    // if the producer finishes or throws.
    sink_type* sink = std::exchange(sink_, nullptr);
    if (sink == nullptr) return;
    sink->value_ = nullptr;
    do {
      if (!fiber_.resume()) return;
    } while (EBB_UNLIKELY(sink->value_ == nullptr));  // a bare this_fiber::yield() in the producer
    sink_ = sink;
  }

  Fiber fiber_;
  sink_type* sink_ = nullptr;  // inside the fiber's callable; null once exhausted (or empty)
  bool started_ = false;
};

EBB_NAMESPACE_END
