// SPDX-License-Identifier: BSL-1.0
// ebb/version.hpp — the one place ebb's version is written. CMakeLists.txt and meson.build read it
// from here (and meson checks that its project version agrees), so a release changes one line.
#pragma once

#define EBB_VERSION_MAJOR 0
#define EBB_VERSION_MINOR 1
#define EBB_VERSION_PATCH 0
// One number for comparisons: MAJOR * 10000 + MINOR * 100 + PATCH.
#define EBB_VERSION (EBB_VERSION_MAJOR * 10000 + EBB_VERSION_MINOR * 100 + EBB_VERSION_PATCH)
#define EBB_VERSION_STRING "0.1.0"
