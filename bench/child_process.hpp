// SPDX-License-Identifier: BSL-1.0
// bench/child_process.hpp — one measurement in a forked child process of its own.
//
// The benchmarks that compare memory and many-fiber speed run each contender's run in a child: it
// starts from a fresh heap, an empty stack pool (ebb's, or Boost's) and cold page tables, so what one
// contender left behind never lands in another's figures, and its memory is a delta inside that child.
// Fork before anything of ebb or Boost has run in the parent, so that the children inherit none of it.
// Linux (and POSIX) only.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include <sys/wait.h>
#include <unistd.h>

namespace ebb_bench {

// Runs `run()` in a child process and returns its result, copied back through a pipe. The result type
// must be trivially copyable (its bytes are what crosses the pipe). If the child crashes, exits with
// an error or writes less than a whole result, a value-initialized Result comes back: give it a field
// (an `ok` flag) that only a successful run sets.
template <class Run>
auto in_child(Run run) -> decltype(run()) {
  using result = decltype(run());
  static_assert(std::is_trivially_copyable<result>::value, "a result crosses the pipe as bytes");
  std::fflush(stdout);  // else the child's exit would print the parent's buffered output again
  std::fflush(stderr);
  int fds[2];
  if (::pipe(fds) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0) {
    ::close(fds[0]);
    const result r = run();
    const char* p = reinterpret_cast<const char*>(&r);
    std::size_t left = sizeof r;
    while (left > 0) {
      const ssize_t n = ::write(fds[1], p, left);
      if (n <= 0) ::_exit(1);
      p += n, left -= static_cast<std::size_t>(n);
    }
    ::_exit(0);  // no destructors, no atexit: the parent owns stdout's buffer
  }
  ::close(fds[1]);
  result r{};
  char* p = reinterpret_cast<char*>(&r);
  std::size_t got = 0;
  while (got < sizeof r) {
    const ssize_t n = ::read(fds[0], p + got, sizeof r - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (got != sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0) r = result{};
  return r;
}

}  // namespace ebb_bench
