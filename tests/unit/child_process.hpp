// SPDX-License-Identifier: BSL-1.0
// Test helper: run one hidden test case of this same binary in a child process, to observe what
// must end a process (an overflow report and abort) or what depends on a fresh process's signal
// handlers.
#pragma once

#include <csignal>
#include <cstdlib>
#include <initializer_list>
#include <string>

#if defined(_WIN32)
#include <vector>

#include "ebb/os/windows/windows_h.hpp"
#else
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace test_support {

struct child_result {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  std::string err;  // what the child wrote on stderr, and on stdout (Catch2's report of a failed check)
};

#if defined(_WIN32)
// Windows: CreateProcess of this executable with the test's name, stdout and stderr into one pipe.
// There are no signals: abort() ends a process with status 3 (the CRT's SIGABRT default action) and
// an unhandled exception with its code. Those are reported as the signals POSIX would have shown,
// so each test states its expectation once.
inline child_result run_child_test(const std::string& test_name, std::initializer_list<const char*> environment = {}) {
  SECURITY_ATTRIBUTES inherit{};
  inherit.nLength = sizeof inherit;
  inherit.bInheritHandle = TRUE;
  HANDLE read_end = nullptr, write_end = nullptr;
  if (!::CreatePipe(&read_end, &write_end, &inherit, 0)) std::abort();
  ::SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
  char self[MAX_PATH * 2];
  const DWORD length = ::GetModuleFileNameA(nullptr, self, sizeof self);
  if (length == 0 || length >= sizeof self) std::abort();
  // The child's environment: ours plus the entries (set around CreateProcess, which copies it).
  std::vector<std::pair<std::string, std::string>> saved;
  for (const char* entry : environment) {
    const std::string text(entry);
    const std::size_t eq = text.find('=');
    const std::string name = text.substr(0, eq);
    char old[4096];
    const DWORD n = ::GetEnvironmentVariableA(name.c_str(), old, sizeof old);
    saved.emplace_back(name, n > 0 && n < sizeof old ? std::string(old, n) : std::string("\x01"));
    ::SetEnvironmentVariableA(name.c_str(), text.substr(eq + 1).c_str());
  }
  std::string command = std::string("\"") + self + "\" \"" + test_name + "\"";
  STARTUPINFOA startup{};
  startup.cb = sizeof startup;
  startup.dwFlags = STARTF_USESTDHANDLES;
  startup.hStdInput = ::GetStdHandle(STD_INPUT_HANDLE);
  startup.hStdOutput = write_end;
  startup.hStdError = write_end;
  PROCESS_INFORMATION process{};
  const BOOL started = ::CreateProcessA(self, &command[0], nullptr, nullptr, TRUE, 0, nullptr, nullptr, &startup, &process);
  for (auto& [name, value] : saved) ::SetEnvironmentVariableA(name.c_str(), value == "\x01" ? nullptr : value.c_str());
  ::CloseHandle(write_end);
  child_result result;
  if (!started) {
    ::CloseHandle(read_end);
    result.exited = true;
    result.exit_code = 127;
    result.err = "CreateProcess failed with error " + std::to_string(::GetLastError());
    return result;
  }
  char buffer[4096];
  DWORD got = 0;
  while (::ReadFile(read_end, buffer, sizeof buffer, &got, nullptr) && got > 0) result.err.append(buffer, got);
  ::CloseHandle(read_end);
  ::WaitForSingleObject(process.hProcess, INFINITE);
  DWORD code = 0;
  if (!::GetExitCodeProcess(process.hProcess, &code))
    result.err += "\nGetExitCodeProcess failed with error " + std::to_string(::GetLastError());
  ::CloseHandle(process.hProcess);
  ::CloseHandle(process.hThread);
  if (code == 3) {
    result.signal = SIGABRT;
  } else if (code >= 0xC0000000u) {
    result.signal = code == 0xC0000005u || code == 0xC00000FDu ? SIGSEGV : SIGILL;
  } else {
    result.exited = true;
    result.exit_code = static_cast<int>(code);
  }
  return result;
}
#else
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
#endif

}  // namespace test_support
