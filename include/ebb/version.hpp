// SPDX-License-Identifier: BSL-1.0
// ebb/version.hpp — the one place ebb's version is written. CMakeLists.txt and meson.build read the
// three numbers from here (meson also checks its project version against them), so a release changes
// these lines and nothing else.
#pragma once

#define EBB_VERSION_MAJOR 0
#define EBB_VERSION_MINOR 1
#define EBB_VERSION_PATCH 0

// One number for comparisons: MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 is 100).
#define EBB_VERSION (EBB_VERSION_MAJOR * 10000 + EBB_VERSION_MINOR * 100 + EBB_VERSION_PATCH)
#define EBB_VERSION_STRINGIFY_(x) #x
#define EBB_VERSION_STRINGIFY(x) EBB_VERSION_STRINGIFY_(x)
#define EBB_VERSION_STRING                                                                     \
  EBB_VERSION_STRINGIFY(EBB_VERSION_MAJOR) "." EBB_VERSION_STRINGIFY(EBB_VERSION_MINOR) "." \
  EBB_VERSION_STRINGIFY(EBB_VERSION_PATCH)
