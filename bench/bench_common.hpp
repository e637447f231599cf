// SPDX-License-Identifier: BSL-1.0
// bench/bench_common.hpp — what every ebb benchmark shares: timing, statistics, command line, the
// machine description, and printing a result table both for the console and as Markdown.
//
// Deliberately free of any ebb header: it is included by translation units compiled in different ebb
// configurations (default and EBB_LEAN=1), and everything here must mean the same in all of them.
// (The only optional include is <boost/version.hpp>, for the Boost version the programs print; on
// Windows ebb/os/windows/process_memory.hpp: <windows.h> and the working set, no ebb configuration.)
//
// Method, the same for every benchmark (the machine this was written on is shared and noisy):
//   * every contender runs once per repetition, in an order rotated each repetition, so a burst of
//     background load lands on all contenders alike instead of on whichever happened to run then;
//   * each contender's figure is the MEDIAN over the repetitions, which ignores the few repetitions
//     that such a burst ruins; min and max are printed to show how noisy the run was;
//   * ratios are computed from medians measured in the same process run, never against a figure
//     remembered from elsewhere.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#if defined(_WIN32)
#include "ebb/os/windows/process_memory.hpp"  // <windows.h> and the working set; no ebb configuration
#else
#include <sys/utsname.h>
#include <unistd.h>
#endif

#if EBB_BENCH_HAVE_BOOST
#include <boost/version.hpp>
#endif

namespace ebb_bench {

// ---- timing -------------------------------------------------------------------------------------
// steady_clock reads the vDSO clock (about 20 ns); every timed region below lasts milliseconds, so
// the clock's own cost and resolution are far below the noise.
inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// ---- the kernel's view of this process ---------------------------------------------------------
// A "Key:  N kB" field of /proc/self/status (VmRSS, VmPTE, ...), in KiB; -1 if it is missing. Read
// fresh each time: the kernel updates these counters as pages are faulted in and released.
#if defined(_WIN32)
// Windows: VmRSS (and VmHWM) from the process's working set (GetProcessMemoryInfo through kernel32's
// K32 export); no page-table count (-1).
inline long proc_status_kib(const char* key) {
  const auto ws = ebb::windows_process_memory::process_working_set();
  if (!ws.known) return -1;
  if (std::strcmp(key, "VmRSS") == 0) return static_cast<long>(ws.current / 1024);
  if (std::strcmp(key, "VmHWM") == 0) return static_cast<long>(ws.peak / 1024);
  return -1;
}

inline std::size_t page_bytes() noexcept {
  static const std::size_t page = [] {
    SYSTEM_INFO info{};
    ::GetSystemInfo(&info);
    return static_cast<std::size_t>(info.dwPageSize);
  }();
  return page;
}
#else
inline long proc_status_kib(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t key_length = std::strlen(key);
  while (std::getline(status, line)) {
    if (line.size() > key_length && line.compare(0, key_length, key) == 0 && line[key_length] == ':')
      return std::strtol(line.c_str() + key_length + 1, nullptr, 10);
  }
  return -1;
}

inline std::size_t page_bytes() noexcept {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}
#endif

// ---- statistics ---------------------------------------------------------------------------------
struct summary {
  double median = 0;
  double min = 0;
  double max = 0;
};

inline summary summarize(std::vector<double> samples) {
  summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  s.median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
  s.min = samples.front();
  s.max = samples.back();
  return s;
}

// ---- one contender and the rotation ------------------------------------------------------------
// A contender measures itself once per call and returns nanoseconds per operation (per switch, per
// fiber...). Everything it needs to set up (a fiber, a stack pool) is set up outside its timed region.
struct contender {
  std::string name;
  std::function<double()> measure_once;
  std::vector<double> samples;  // one per repetition, filled by run_rotated
};

// Repetition r runs contenders r, r+1, ..., r-1 (mod count): each contender is first, second, ...
// equally often, so neither cache warmth left by a predecessor nor a trend in background load favours
// one of them.
inline void run_rotated(std::vector<contender>& contenders, std::size_t repetitions) {
  const std::size_t n = contenders.size();
  for (std::size_t r = 0; r < repetitions; ++r) {
    for (std::size_t k = 0; k < n; ++k) {
      contender& c = contenders[(r + k) % n];
      c.samples.push_back(c.measure_once());
    }
  }
}

// ---- command line -------------------------------------------------------------------------------
struct options {
  std::size_t repetitions = 15;
  std::size_t iterations = 0;   // per contender and repetition; 0: the benchmark's default
  std::string markdown_path;    // if set, the result tables are also written there as Markdown
};

inline void usage_and_exit(const char* program, const char* iterations_meaning, int status) {
  std::fprintf(status ? stderr : stdout,
               "usage: %s [--reps N] [--iterations N] [--markdown FILE]\n"
               "  --reps N        repetitions; each contender's median is taken over them (default 15)\n"
               "  --iterations N  %s\n"
               "  --markdown FILE also write the result tables to FILE, as Markdown\n",
               program, iterations_meaning);
  std::exit(status);
}

inline options parse_options(int argc, char** argv, const char* iterations_meaning) {
  options o;
  auto number = [&](int& i) -> std::size_t {
    if (i + 1 >= argc) usage_and_exit(argv[0], iterations_meaning, 2);
    char* end = nullptr;
    const unsigned long long v = std::strtoull(argv[++i], &end, 10);
    if (end == argv[i] || *end != '\0' || v == 0) usage_and_exit(argv[0], iterations_meaning, 2);
    return static_cast<std::size_t>(v);
  };
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps")) {
      o.repetitions = number(i);
    } else if (!std::strcmp(argv[i], "--iterations")) {
      o.iterations = number(i);
    } else if (!std::strcmp(argv[i], "--markdown")) {
      if (i + 1 >= argc) usage_and_exit(argv[0], iterations_meaning, 2);
      o.markdown_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      usage_and_exit(argv[0], iterations_meaning, 0);
    } else {
      usage_and_exit(argv[0], iterations_meaning, 2);
    }
  }
  return o;
}

// A command line of named options, for the benchmarks that have options of their own:
//
//   ebb_bench::arguments args(argc, argv, "usage text");
//   const bool quick = args.flag("--quick");
//   const std::size_t reps = args.number("--reps", 5);
//   args.finish();  // --help prints the usage; anything not asked for is an error
class arguments {
 public:
  arguments(int argc, char** argv, std::string usage) : usage_(std::move(usage)) {
    program_ = argc > 0 ? argv[0] : "bench";
    for (int i = 1; i < argc; ++i) args_.push_back(argv[i]);
    used_.assign(args_.size(), false);
  }

  bool flag(const char* name) {
    bool seen = false;
    for (std::size_t i = 0; i < args_.size(); ++i)
      if (args_[i] == name) used_[i] = seen = true;
    return seen;
  }

  std::string text(const char* name, std::string fallback) {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (args_[i] != name) continue;
      if (i + 1 >= args_.size()) fail(std::string(name) + " needs a value");
      used_[i] = used_[i + 1] = true;
      fallback = args_[i + 1];
    }
    return fallback;
  }

  std::size_t number(const char* name, std::size_t fallback) {
    const std::string v = text(name, "");
    if (v.empty()) return fallback;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0' || n == 0) fail(std::string(name) + " needs a positive integer");
    return static_cast<std::size_t>(n);
  }

  double real(const char* name, double fallback) {
    const std::string v = text(name, "");
    if (v.empty()) return fallback;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || d < 0) fail(std::string(name) + " needs a number >= 0");
    return d;
  }

  void finish() {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (used_[i]) continue;
      if (args_[i] == "--help" || args_[i] == "-h") {
        std::printf("usage: %s %s", program_.c_str(), usage_.c_str());
        std::exit(0);
      }
      fail("unknown argument '" + args_[i] + "'");
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "%s: %s\nusage: %s %s", program_.c_str(), why.c_str(), program_.c_str(),
                 usage_.c_str());
    std::exit(2);
  }
  std::string usage_, program_;
  std::vector<std::string> args_;
  std::vector<bool> used_;
};

// One figure printed with a printf format, for the tables.
inline std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// ---- the machine --------------------------------------------------------------------------------
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::size_t from = line.find_first_not_of(" \t", colon + 1);
        return from == std::string::npos ? std::string() : line.substr(from);
      }
    }
  }
  return "unknown";
}

inline std::string compiler_description() {
#if defined(__clang__)
  std::string v = std::string("clang++ ") + __clang_version__;  // __clang_version__ may end in a space
  while (!v.empty() && v.back() == ' ') v.pop_back();
  return v;
#elif defined(__GNUC__)
  return std::string("g++ ") + __VERSION__;
#else
  return "unknown compiler";
#endif
}

#if defined(_WIN32)
// "Windows", or "Windows API under wine 8.0 (emulated system calls; x86-64 code runs natively)": every
// figure a Windows build prints carries this, so that wine's numbers are never read as Windows'.
inline std::string windows_description() {
  using version_fn = const char*(__cdecl*)();
  const auto wine_version = reinterpret_cast<version_fn>(
      reinterpret_cast<void*>(::GetProcAddress(::GetModuleHandleA("ntdll.dll"), "wine_get_version")));
  if (wine_version != nullptr)
    return std::string("EMULATED: Windows API under wine ") + wine_version() +
           " (system calls emulated, x86-64 code native; not a Windows measurement)";
  return "Windows";
}
#endif

// One line: date (UTC), online CPUs, CPU model, kernel, compiler.
inline std::string machine_description() {
  char date[32] = "unknown date";
  const std::time_t t = std::time(nullptr);
  std::tm utc{};
#if defined(_WIN32)
  if (gmtime_s(&utc, &t) == 0) std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &utc);
  SYSTEM_INFO info{};
  ::GetSystemInfo(&info);
  const long cpus = static_cast<long>(info.dwNumberOfProcessors);
  const std::string kernel = windows_description();
#else
  if (gmtime_r(&t, &utc)) std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &utc);
  struct utsname u{};
  const std::string kernel = ::uname(&u) == 0 ? std::string(u.sysname) + " " + u.release : "unknown";
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
#endif
  std::ostringstream s;
  s << date << "; nproc " << cpus << "; " << cpu_model() << "; " << kernel << "; " << compiler_description();
  return s.str();
}

// "Boost 1.81.0", or a note that the program was built without Boost.
inline std::string boost_description() {
#if EBB_BENCH_HAVE_BOOST
  return "Boost " + std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) +
         "." + std::to_string(BOOST_VERSION % 100);
#else
  return "Boost not built in (configure with Boost.Context to compare)";
#endif
}

// ---- output -------------------------------------------------------------------------------------
// A table of contenders: name, then median / min / max in the unit given.
inline void print_table(const std::vector<contender>& contenders, const char* unit) {
  std::size_t width = 9;
  for (const contender& c : contenders) width = std::max(width, c.name.size());
  std::printf("  %-*s  %12s  %12s  %12s\n", static_cast<int>(width), "contender", "median", "min",
              "max");
  for (const contender& c : contenders) {
    const summary s = summarize(c.samples);
    std::printf("  %-*s  %9.2f %-2s  %9.2f %-2s  %9.2f %-2s\n", static_cast<int>(width), c.name.c_str(),
                s.median, unit, s.min, unit, s.max, unit);
  }
}

inline std::string markdown_table(const std::vector<contender>& contenders, const char* unit) {
  std::ostringstream s;
  char cell[64];
  s << "| contender | median | min | max |\n| --- | ---: | ---: | ---: |\n";
  for (const contender& c : contenders) {
    const summary m = summarize(c.samples);
    s << "| " << c.name;
    for (double v : {m.median, m.min, m.max}) {
      std::snprintf(cell, sizeof cell, " | %.2f %s", v, unit);
      s << cell;
    }
    s << " |\n";
  }
  return s.str();
}

// A figure derived from the medians (a ratio, or a median itself) and, if it has one, its target
// "at most `limit`". unit is appended to both numbers: "x" for ratios, " ns" for times.
struct derived_row {
  std::string what;
  double value;
  const char* unit;
  double limit;  // <= 0: no target, the row is for information
};

inline std::string format_value(double v, const char* unit) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f%s", v, unit);
  return buf;
}

inline std::string target_text(const derived_row& r) {
  return r.limit > 0 ? "<= " + format_value(r.limit, r.unit) : std::string("-");
}

inline const char* verdict(const derived_row& r) {
  if (r.limit <= 0) return "";
  return r.value <= r.limit ? "met" : "MISSED";
}

inline void print_derived(const std::vector<derived_row>& rows) {
  std::size_t width = 7;
  for (const derived_row& r : rows) width = std::max(width, r.what.size());
  std::printf("  %-*s  %10s  %12s\n", static_cast<int>(width), "derived", "measured", "target");
  for (const derived_row& r : rows) {
    std::printf("  %-*s  %10s  %12s", static_cast<int>(width), r.what.c_str(),
                format_value(r.value, r.unit).c_str(), target_text(r).c_str());
    std::printf(*verdict(r) ? "  %s\n" : "%s\n", verdict(r));
  }
}

inline std::string markdown_derived(const std::vector<derived_row>& rows) {
  std::ostringstream s;
  s << "| from the medians | measured | target | |\n| --- | ---: | ---: | --- |\n";
  for (const derived_row& r : rows)
    s << "| " << r.what << " | " << format_value(r.value, r.unit) << " | " << target_text(r) << " | "
      << verdict(r) << " |\n";
  return s.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

}  // namespace ebb_bench
