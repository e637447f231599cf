// SPDX-License-Identifier: BSL-1.0
// ebb/detail/never_destroyed.hpp — process-wide objects that outlive static destruction.
//
// Other threads may still create and destroy fibers while static destructors run at exit, so the
// runtime's shared objects are constructed once and never destroyed.
#pragma once

#include "ebb/config.hpp"

EBB_RUNTIME_BEGIN

template <class T>
union never_destroyed {
  T value;
  never_destroyed() : value() {}
  ~never_destroyed() {}
};

EBB_RUNTIME_END
