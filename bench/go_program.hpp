// SPDX-License-Identifier: BSL-1.0
// bench/go_program.hpp — finding or building the Go comparison programs of bench/go/ (standard
// library only), for the benchmarks that run one as a child process: ebb_worker_pool_bench
// (bench/go/worker_pool.go) and ebb_idle_memory_bench (bench/go/idle_goroutines.go).
//
// bench/run.sh builds them itself and passes --go-binary; run on their own, the benchmarks build them
// here with `go` from PATH into $TMPDIR/ebb-bench-go (GO111MODULE=off, GOCACHE and GOPATH there too).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

namespace ebb_bench {

inline bool executable(const std::string& path) { return !path.empty() && ::access(path.c_str(), X_OK) == 0; }

inline std::string find_on_path(const char* name) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (executable(candidate)) return candidate;
  }
  return "";
}

// A shell word: 's' with every ' escaped.
inline std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The Go program to run: `given` (--go-binary) if set, else `source` built with `go` from PATH into
// $TMPDIR/ebb-bench-go/`binary_name`. Empty, with `why_not` set, if there is none.
inline std::string locate_go_program(const std::string& given, const char* source, const char* binary_name,
                                     std::string& why_not) {
  if (!given.empty()) {
    if (executable(given)) return given;
    why_not = "--go-binary " + given + " is not an executable";
    return "";
  }
  if (source == nullptr) {
    why_not = "built without the path of the Go source; pass --go-binary";
    return "";
  }
  const std::string go = find_on_path("go");
  if (go.empty()) {
    why_not = "no `go` on PATH";
    return "";
  }
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/ebb-bench-go";
  ::mkdir(dir.c_str(), 0755);
  const std::string binary = dir + "/" + binary_name;
  const std::string command = "GO111MODULE=off GOFLAGS= GOCACHE=" + quoted(dir + "/cache") +
                              " GOPATH=" + quoted(dir + "/path") + " " + quoted(go) + " build -o " +
                              quoted(binary) + " " + quoted(source) + " 2>&1";
  std::printf("building the Go program: %s\n", command.c_str());
  std::fflush(stdout);
  if (std::system(command.c_str()) != 0 || !executable(binary)) {
    why_not = std::string("`go build` of ") + source + " failed";
    return "";
  }
  return binary;
}

}  // namespace ebb_bench
