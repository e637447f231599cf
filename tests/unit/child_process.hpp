// SPDX-License-Identifier: BSL-1.0
// Test helper: run one hidden test case of this same binary in a child process, to observe what
// must end a process (an overflow report and abort) or what depends on a fresh process's signal
// handlers.
#pragma once

#include <csignal>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace test_support {

struct child_result {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  std::string err;  // what the child wrote on stderr, and on stdout (Catch2's report of a failed check)
};

// `environment`: "NAME=value" entries added to the child's environment.
inline child_result run_child_test(const std::string& test_name, std::initializer_list<const char*> environment = {}) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) std::abort();
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const char* entry : environment) ::putenv(const_cast<char*>(entry));
    ::dup2(pipe_fds[1], 2);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    // stdout too: a child test that fails says why there (the parent shows it with INFO(child.err)).
    ::dup2(2, 1);
    // The path of this binary (under Valgrind /proc/self/exe is Valgrind itself, but readlink of it
    // answers the program's path).
    char self[4096];
    ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0) ::_exit(126);
    self[length] = '\0';
    // Under qemu-user (the cross targets' CMAKE_CROSSCOMPILING_EMULATOR / meson exe_wrapper set
    // EBB_TEST_EMULATOR) the binary is not native: execve of it fails, so run it through the emulator,
    // which takes its other settings (library prefix, page size) from the inherited environment.
    const char* emulator = std::getenv("EBB_TEST_EMULATOR");
    if (emulator != nullptr && *emulator != '\0') {
      const char* argv[] = {emulator, self, test_name.c_str(), nullptr};
      ::execvp(emulator, const_cast<char* const*>(argv));
    } else {
      const char* argv[] = {self, test_name.c_str(), nullptr};
      ::execv(self, const_cast<char* const*>(argv));
    }
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  child_result result;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) result.err.append(buffer, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exited = WIFEXITED(status);
  result.exit_code = result.exited ? WEXITSTATUS(status) : -1;
  result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return result;
}

}  // namespace test_support
