// expect: ebb needs C\+\+17 or later
// flags: -std=c++14
// SPDX-License-Identifier: BSL-1.0
// Under C++14 the first thing the user sees is what to change, not a cascade from inside ebb.
#include <ebb/ebb.hpp>

int main() { return 0; }
