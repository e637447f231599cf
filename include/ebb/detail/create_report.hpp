// SPDX-License-Identifier: BSL-1.0
// ebb/detail/create_report.hpp — how fiber creation reports a refusal: thrown (the constructors) or
// kept as a value (basic_fiber::try_create).
//
// Creation is written once, over a Report: each refusal calls report(code, format), where format
// writes the message snprintf-style (format(out, size) returns the full length, as snprintf does) and
// allocates nothing. raise_failure throws fiber_error (aborts without exceptions) and never returns,
// so the constructors' code after a refusal is dead and their success path is what it was.
// keep_failure writes the message into a create_error's fixed buffer: a refusal allocates nothing,
// so it can be reported when the heap is what failed, and in builds without exceptions.
#pragma once

#include "ebb/config.hpp"
#include "ebb/error.hpp"

#include <cstddef>
#include <cstring>
#include <string>

EBB_NAMESPACE_BEGIN
namespace detail {

struct raise_failure {
  static constexpr bool raises = true;

  template <class Format>
  [[noreturn]] EBB_NOINLINE void operator()(fiber_errc code, const Format& format) const {
#if EBB_HAS_EXCEPTIONS
    const int length = format(nullptr, 0);
    std::string message(length > 0 ? static_cast<std::size_t>(length) : 0, '\0');
    format(&message[0], message.size() + 1);  // the terminator lands on the string's own
    misuse(code, message);
#else
    (void)code;
    char line[512];
    format(line, sizeof line);
    fatal("%s", line);
#endif
  }
};

struct keep_failure {
  static constexpr bool raises = false;

  explicit keep_failure(create_error* where) noexcept : why(where) {}

  // True once a refusal was reported: the first reason is the one kept.
  bool told() const noexcept { return told_; }

  template <class Format>
  EBB_NOINLINE void operator()(fiber_errc code, const Format& format) const noexcept {
    told_ = true;
    if (why == nullptr) return;
    why->code = code;
    constexpr char prefix[] = "ebb: ";  // what fiber_error::what() would start with
    std::memcpy(why->message, prefix, sizeof prefix);
    format(why->message + sizeof prefix - 1, sizeof why->message - (sizeof prefix - 1));
  }

 private:
  create_error* why;  // nullptr: the caller does not want the reason
  mutable bool told_ = false;
};

}  // namespace detail
EBB_NAMESPACE_END
