// expect: ebb: CET shadow stacks were requested
// SPDX-License-Identifier: BSL-1.0
// flags: -fcf-protection=full
// With shadow stacks enforced, the first return after a switch would fault: ebb refuses to build
// rather than produce a program that crashes on a CET machine.
#include <ebb/ebb.hpp>

int main() {
  ebb::fiber f([] {});
  f.resume();
}
