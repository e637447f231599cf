// SPDX-License-Identifier: BSL-1.0
// Catch2 v2 or v3, whichever the build found: every unit test includes this instead of Catch2.
//
// v2 is one header (catch2/catch.hpp); v3 is a compiled library with one header per part. The build
// system says which it found with EBB_CATCH2_MAJOR; without it (a cross build given only a directory
// holding catch2/catch.hpp) the headers that exist decide. The one API difference the tests meet,
// the substring matcher, is spelled has_text() here.
#pragma once

#include <string>

#include "ebb_catch_version.hpp"

#if EBB_CATCH2_MAJOR >= 3
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

namespace ebb_test {
inline auto has_text(const std::string& text) { return Catch::Matchers::ContainsSubstring(text); }
}  // namespace ebb_test
#else
#include <catch2/catch.hpp>

namespace ebb_test {
inline auto has_text(const std::string& text) { return Catch::Matchers::Contains(text); }
}  // namespace ebb_test
#endif

using ebb_test::has_text;
