// SPDX-License-Identifier: BSL-1.0
// ebb/os/windows/windows_h.hpp — <windows.h> as every Windows header of ebb includes it: without the
// min/max macros and the rarely used half (WIN32_LEAN_AND_MEAN), and without leaving either setting
// defined for the includer, who may want the opposite.
#pragma once

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#define EBB_UNDEF_WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#define EBB_UNDEF_NOMINMAX
#endif
#include <windows.h>
#ifdef EBB_UNDEF_WIN32_LEAN_AND_MEAN
#undef WIN32_LEAN_AND_MEAN
#undef EBB_UNDEF_WIN32_LEAN_AND_MEAN
#endif
#ifdef EBB_UNDEF_NOMINMAX
#undef NOMINMAX
#undef EBB_UNDEF_NOMINMAX
#endif
#endif  // defined(_WIN32)
