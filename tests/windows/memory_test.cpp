// SPDX-License-Identifier: BSL-1.0
// The Windows virtual-memory seam (include/ebb/os/windows/memory.hpp), tested on its own: the rest of
// the Windows OS layer does not exist yet, so this includes only the memory header.
//
//     x86_64-w64-mingw32-g++-posix -std=c++17 -O2 -static -Iinclude tests/windows/memory_test.cpp -o m.exe
//     WINEPREFIX=$PWD/wineprefix WINEDEBUG=-all wine64 m.exe | tr -d '\r'
//
// One line per check (`ok` / `FAIL`, a group, what was checked), `info` lines for facts, and
// `N checks, M failed` last; exit status 1 if any check failed. What it checks:
//   reserve     a slab is 64 KiB aligned; guards are reserved, uncommitted and fault on read and write
//               (an access violation caught by a vectored handler, which skips the access); stacks are
//               committed PAGE_READWRITE and writable at both ends; slabs of several stacks are one
//               reservation per stack at adjacent addresses; a slab whose stacks are not multiples of
//               64 KiB is refused with EINVAL for count > 1 and served for count 1
//   residency   a fresh stack holds nothing; touching pages raises resident_bytes by exactly what was
//               touched; memory_held agrees; lowest_resident finds the lowest touched page
//   decommit    drops resident_bytes at once, keeps the range committed and writable, the next touch
//               reads zero; bounds round inward to pages
//   guards      install_guard / remove_guard / guard_and_free move VirtualQuery's state between
//               MEM_COMMIT+PAGE_READWRITE and MEM_RESERVE, fault when guarded, read zero when reopened
//   release     one stack of a slab, then the rest, then a whole slab at once: MEM_FREE
//   many        many slabs reserved, touched, measured and released
#include "check_report.hpp"
#include <ebb/os/memory.hpp>

#include <windows.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace os = ebb::runtime_v1::os;

// ==== reporting ===================================================================================
namespace {
using check_report::check;
using check_report::info;
std::string num(std::size_t v) { return std::to_string(v); }
}  // namespace

// ==== probing accesses ==============================================================================
// One-byte read and write whose faulting instruction is known: the vectored handler below resumes
// after it (at the `_done` label) and counts the fault, so a guard can be touched and survived.
extern "C" unsigned probe_read(const volatile void* p);  // the byte, or 0x100 if it faulted
extern "C" void probe_write(volatile void* p, unsigned value);
extern "C" char probe_read_insn[], probe_read_done[], probe_write_insn[], probe_write_done[];
asm(R"(
  .text
  .globl probe_read, probe_read_insn, probe_read_done, probe_write, probe_write_insn, probe_write_done
probe_read:
  xorl %eax, %eax
probe_read_insn:
  movb (%rcx), %al
  ret
probe_read_done:
  movl $0x100, %eax
  ret
probe_write:
probe_write_insn:
  movb %dl, (%rcx)
probe_write_done:
  ret
)");

namespace {
volatile LONG faults = 0;
volatile ULONG_PTR fault_address = 0;

LONG CALLBACK on_fault(EXCEPTION_POINTERS* info) {
  // A guard's top page is PAGE_GUARD (one-shot: the first touch raises a guard-page violation and
  // clears it); its other pages are reserved (an access violation at every touch).
  const DWORD code = info->ExceptionRecord->ExceptionCode;
  if (code != EXCEPTION_ACCESS_VIOLATION && code != EXCEPTION_GUARD_PAGE) return EXCEPTION_CONTINUE_SEARCH;
  auto* rip = reinterpret_cast<char*>(info->ContextRecord->Rip);
  char* resume = nullptr;
  if (rip == probe_read_insn) resume = probe_read_done;
  if (rip == probe_write_insn) resume = probe_write_done;
  if (resume == nullptr) return EXCEPTION_CONTINUE_SEARCH;
  fault_address = info->ExceptionRecord->ExceptionInformation[1];
  ++faults;
  info->ContextRecord->Rip = reinterpret_cast<DWORD64>(resume);
  return EXCEPTION_CONTINUE_EXECUTION;
}

// True if a read and a write of p both fault (at p).
bool faults_on_access(void* p) {
  const LONG before = faults;
  const bool read_faulted = probe_read(p) == 0x100 && fault_address == reinterpret_cast<ULONG_PTR>(p);
  probe_write(p, 0x5a);
  const bool write_faulted = faults == before + 2 && fault_address == reinterpret_cast<ULONG_PTR>(p);
  return read_faulted && write_faulted;
}
// The first touch of a PAGE_GUARD page faults (a guard-page violation) and clears the guard; the next
// one does not.
bool faults_once(void* p) {
  const LONG before = faults;
  const bool read_faulted = probe_read(p) == 0x100 && fault_address == reinterpret_cast<ULONG_PTR>(p);
  probe_write(p, 0x5a);
  return read_faulted && faults == before + 1;
}
// True if p can be written and read back without a fault.
bool accessible(void* p) {
  const LONG before = faults;
  probe_write(p, 0xa5);
  return probe_read(p) == 0xa5 && faults == before;
}

MEMORY_BASIC_INFORMATION query(void* p) {
  MEMORY_BASIC_INFORMATION mbi{};
  VirtualQuery(p, &mbi, sizeof mbi);
  return mbi;
}
bool is_committed_rw(void* p, std::size_t bytes) {
  auto m = query(p);
  return m.State == MEM_COMMIT && m.Protect == PAGE_READWRITE &&
         reinterpret_cast<char*>(m.BaseAddress) + m.RegionSize >= static_cast<char*>(p) + bytes;
}
bool is_reserved_only(void* p, std::size_t bytes) {
  auto m = query(p);
  return m.State == MEM_RESERVE && reinterpret_cast<char*>(m.BaseAddress) + m.RegionSize >= static_cast<char*>(p) + bytes;
}
bool is_free(void* p, std::size_t bytes) {
  auto m = query(p);
  return m.State == MEM_FREE && reinterpret_cast<char*>(m.BaseAddress) + m.RegionSize >= static_cast<char*>(p) + bytes;
}
// A guard as reserve lays it out (os/windows/memory.hpp, arm_overflow_zone): its lowest page reserved,
// the pages above it committed read-write, its top page committed PAGE_GUARD.
bool is_overflow_zone_guard(char* g, std::size_t bytes) {
  const std::size_t page = os::page_size();
  const auto bottom = query(g), middle = query(g + page), top = query(g + bytes - page);
  return bottom.State == MEM_RESERVE && bottom.RegionSize == page &&                                   //
         middle.State == MEM_COMMIT && middle.Protect == PAGE_READWRITE && middle.RegionSize == bytes - 2 * page &&
         top.State == MEM_COMMIT && top.Protect == (PAGE_READWRITE | PAGE_GUARD) && top.RegionSize == page;
}
std::string state(void* p) {
  auto m = query(p);
  char text[96];
  std::snprintf(text, sizeof text, "state %#lx protect %#lx region %zu KiB", m.State, m.Protect, m.RegionSize >> 10);
  return text;
}

void touch(char* lo, std::size_t pages, std::size_t page) {
  for (std::size_t i = 0; i < pages; ++i) static_cast<volatile char*>(lo)[i * page] = 1;
}

constexpr std::size_t KiB = 1024;

double now_us() {
  LARGE_INTEGER t, f;
  QueryPerformanceCounter(&t);
  QueryPerformanceFrequency(&f);
  return 1e6 * static_cast<double>(t.QuadPart) / static_cast<double>(f.QuadPart);
}
double elapsed_us(double since) { return now_us() - since; }

// ==== the checks ====================================================================================
void check_basics() {
  const std::size_t page = os::page_size();
  using wine_version_fn = const char* (*)();
  if (auto f = reinterpret_cast<wine_version_fn>(reinterpret_cast<void*>(GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version"))))
    info(std::string("running under wine ") + f());
  else
    info("not running under wine");
  check(page == 4096, "basics", "page_size() is 4 KiB (" + num(page) + ")");
  check(os::allocation_granularity() == 64 * KiB, "basics", "allocation granularity is 64 KiB (" + num(os::allocation_granularity()) + ")");
  os::prepare_residency_queries();
  check(os::query_working_set_ex() != nullptr, "basics", "prepare_residency_queries resolved K32QueryWorkingSetEx in kernel32");
  check(os::reserve_failure_hint(ENOMEM).find("commit limit") != std::string::npos, "basics",
        "reserve_failure_hint(ENOMEM) names the commit limit:" + os::reserve_failure_hint(ENOMEM));
  check(os::reserve_failure_hint(EINVAL).empty(), "basics", "reserve_failure_hint(EINVAL) adds nothing");
}

void check_one_stack() {
  const std::size_t page = os::page_size();
  const std::size_t guard = 16 * KiB, stack = 240 * KiB;  // 256 KiB each
  char* base = static_cast<char*>(os::reserve(guard, stack));
  check(base != nullptr, "reserve", "reserve(16 KiB guard, 240 KiB stack)");
  if (base == nullptr) return;
  char* lo = base + guard;
  char* hi = lo + stack;
  check(reinterpret_cast<std::uintptr_t>(base) % (64 * KiB) == 0, "reserve", "the slab is 64 KiB aligned");
  check(is_overflow_zone_guard(base, guard), "reserve",
        "guard: lowest page MEM_RESERVE, then read-write, top page PAGE_GUARD (" + state(base) + "; " +
            state(base + page) + "; " + state(base + guard - page) + ")");
  check(is_committed_rw(lo, stack), "reserve", "stack is MEM_COMMIT PAGE_READWRITE (" + state(lo) + ")");
  check(faults_on_access(base), "reserve", "guard's lowest byte faults on read and on write");
  check(faults_once(lo - 1), "reserve", "guard's highest byte faults once (PAGE_GUARD), then is read-write");
  check(os::resident_bytes(lo, hi) == 0, "residency", "a fresh stack holds nothing (" + num(os::resident_bytes(lo, hi)) + " bytes)");
  check(os::lowest_resident(lo, hi) == hi, "residency", "lowest_resident of a fresh stack is hi");
  auto fresh = os::memory_held(lo, hi);
  check(fresh.resident == 0 && fresh.swapped == 0 && fresh.swap_unknown, "residency",
        "memory_held of a fresh committed stack: nothing resident, swap unknown (committed pages may be in the page file)");
  auto guard_held = os::memory_held(base, lo);
  check(guard_held.resident == page && guard_held.swapped == 0, "residency",
        "memory_held of a guard: only its top page, touched above (its committed pages arrive only if touched)");
  check(accessible(lo) && accessible(hi - 1), "reserve", "stack is writable at both ends");
  // Now the lowest and highest pages are resident. Touch 10 more in the top part.
  touch(hi - 12 * page, 10, page);
  std::size_t r = os::resident_bytes(lo, hi);
  check(r == 12 * page, "residency", "12 pages touched: resident_bytes is 12 pages (" + num(r / page) + ")");
  check(os::resident_bytes(hi - 12 * page, hi - 2 * page) == 10 * page, "residency", "resident_bytes of the 10 touched pages alone");
  check(os::resident_bytes(lo + 1, lo + 2) == page, "residency", "bounds round out to pages");
  auto held = os::memory_held(lo, hi);
  check(held.resident == 12 * page && held.swapped == 0 && !held.swap_unknown, "residency", "memory_held agrees (resident " + num(held.resident / page) + " pages)");
  check(os::lowest_resident(lo, hi) == lo, "residency", "lowest_resident is the stack's lowest page");
  check(os::lowest_resident(lo + page, hi) == hi - 12 * page, "residency", "lowest_resident above it is the lowest of the 10");
  check(os::lowest_resident(lo + page, hi - 12 * page) == hi - 12 * page, "residency", "lowest_resident of an untouched range is its hi");

  // decommit: first with bounds that are not page aligned (rounded inward: 8 of the 10 pages), then
  // the 10 pages exactly.
  for (std::size_t i = 0; i < 10; ++i) (hi - 12 * page)[i * page] = 7;
  std::size_t covered = os::decommit(hi - 12 * page + 100, hi - 2 * page - 100);
  check(covered == 8 * page, "decommit", "unaligned bounds round inward: covers 8 of 10 pages (" + num(covered / page) + ")");
  r = os::resident_bytes(lo, hi);
  check(r == 4 * page, "decommit", "resident_bytes drops by those 8 pages at once (" + num(r / page) + " left)");
  check(probe_read(hi - 12 * page) == 7 && probe_read(hi - 3 * page) == 7, "decommit", "the two partly covered pages keep their contents");
  covered = os::decommit(hi - 12 * page, hi - 2 * page);
  check(covered == 10 * page, "decommit", "aligned: covers the 10 pages");
  r = os::resident_bytes(lo, hi);
  check(r == 2 * page, "decommit", "resident_bytes drops to the 2 pages outside (" + num(r / page) + ")");
  check(is_committed_rw(hi - 12 * page, 10 * page), "decommit", "the range is MEM_COMMIT PAGE_READWRITE again (" + state(hi - 12 * page) + ")");
  bool zero = true;
  for (std::size_t i = 0; i < 10; ++i) zero = zero && probe_read(hi - 12 * page + i * page) == 0;
  check(zero, "decommit", "the next touch reads zero on every page");
  check(os::resident_bytes(hi - 12 * page, hi - 2 * page) <= 10 * page, "decommit", "reading them back commits at most the 10 pages");
  check(os::decommit(lo + 1, lo + page) == 0, "decommit", "a range holding no whole page: 0");
  check(probe_read(lo) == 0xa5 && probe_read(hi - 1) == 0xa5, "decommit", "pages outside the range keep their contents");

  // Guard transitions in the middle of the stack.
  char* g = lo + 16 * page;
  touch(g, 8, page);
  check(os::install_guard(g, 8 * page), "guards", "install_guard on 8 touched pages");
  check(is_reserved_only(g, 8 * page), "guards", "guarded range is MEM_RESERVE (" + state(g) + ")");
  check(os::resident_bytes(g, g + 8 * page) == 0, "guards", "guarded range holds nothing");
  check(faults_on_access(g) && faults_on_access(g + 8 * page - 1), "guards", "guarded range faults at both ends");
  check(accessible(g - 1) && accessible(g + 8 * page), "guards", "neighbours stay accessible");
  check(os::remove_guard(g, 8 * page), "guards", "remove_guard");
  check(is_committed_rw(g, 8 * page), "guards", "reopened range is MEM_COMMIT PAGE_READWRITE (" + state(g) + ")");
  check(probe_read(g) == 0 && probe_read(g + 8 * page - 1) == 0, "guards", "reopened range reads zero");
  check(accessible(g) && accessible(g + 8 * page - 1), "guards", "reopened range is writable");
  touch(g, 8, page);
  const std::size_t before = os::resident_bytes(lo, hi);
  bool stuck = true;
  check(os::guard_and_free(g, 8 * page, stuck) && !stuck, "guards", "guard_and_free on 8 touched pages, not stuck");
  const std::size_t after = os::resident_bytes(lo, hi);
  check(before - after == 8 * page, "guards", "guard_and_free freed exactly 8 pages (" + num((before - after) / page) + ")");
  check(is_reserved_only(g, 8 * page) && faults_on_access(g), "guards", "guard_and_free left the range MEM_RESERVE and faulting");
  check(os::install_guard(g, 0) && os::remove_guard(g, 0) && os::guard_and_free(g, 0, stuck), "guards", "zero-byte ranges succeed and change nothing");
  check(is_reserved_only(g, 8 * page), "guards", "still guarded after the zero-byte calls");
  SetLastError(0);
  errno = 0;
  const bool refused = !os::install_guard(reinterpret_cast<char*>(base) + 64 * 1024 * KiB * 1024, page);  // far away: not ours
  check(refused && errno != 0, "guards", "install_guard on memory that is not reserved fails with errno " + num(errno));

  os::release(base, guard + stack);
  check(is_free(base, guard + stack), "release", "release frees the address space (" + state(base) + ")");
}

void check_slabs() {
  const std::size_t page = os::page_size();
  const std::size_t guard = 64 * KiB, stack = 192 * KiB, each = guard + stack;
  const std::size_t count = 8;
  char* base = static_cast<char*>(os::reserve(guard, stack, count));
  check(base != nullptr, "slab", "reserve(64 KiB guard, 192 KiB stack, 8)");
  if (base == nullptr) return;
  bool separate = true, guards = true, stacks = true;
  for (std::size_t i = 0; i < count; ++i) {
    char* b = base + i * each;
    separate = separate && query(b).AllocationBase == b && query(b + each - 1).AllocationBase == b;
    guards = guards && is_overflow_zone_guard(b, guard) && faults_on_access(b) && faults_once(b + guard - 1);
    stacks = stacks && is_committed_rw(b + guard, stack) && accessible(b + guard) && accessible(b + each - 1);
  }
  check(separate, "slab", "each [guard | stack] is a reservation of its own, adjacent to the next");
  check(guards, "slab", "every guard is laid out for an overflow report: faults at its base always, at its top once");
  check(stacks, "slab", "every stack is MEM_COMMIT PAGE_READWRITE and writable at both ends");
  check(os::resident_bytes(base, base + count * each) == 3 * count * page, "slab",
        "resident_bytes across the slab: 3 pages per stack (its two touched pages and its guard's top page, touched above)");
  os::release(base + 3 * each, each);
  check(is_free(base + 3 * each, each), "release", "releasing stack 3 of a slab frees it");
  check(is_committed_rw(base + 2 * each + guard, stack) && is_reserved_only(base + 4 * each, os::page_size()) && probe_read(base + 4 * each + guard) == 0xa5,
        "release", "stacks 2 and 4 are untouched by it");
  os::release(base, count * each);  // the rest at once, across the hole
  bool all_free = true;
  for (std::size_t i = 0; i < count; ++i) all_free = all_free && is_free(base + i * each, each);
  check(all_free, "release", "release of the whole slab (with a hole) frees every stack");

  errno = 0;
  void* odd = os::reserve(4 * KiB, 60 * KiB + 4 * KiB, 4);  // 68 KiB each: not a multiple of 64 KiB
  check(odd == nullptr && errno == EINVAL, "slab", "a slab of stacks that are not 64 KiB multiples is refused with EINVAL");
  odd = os::reserve(4 * KiB, 64 * KiB, 1);
  check(odd != nullptr && is_reserved_only(odd, 4 * KiB) && is_committed_rw(static_cast<char*>(odd) + 4 * KiB, 64 * KiB),
        "slab", "the same stack alone (count 1) is served");
  if (odd != nullptr) {
    os::release(odd, 68 * KiB);
    check(is_free(odd, 68 * KiB), "release", "and released");
  }
}

void check_many() {
  const std::size_t page = os::page_size();
  const std::size_t guard = 64 * KiB, stack = 960 * KiB, each = guard + stack;  // 1 MiB each
  const std::size_t count = 16, slabs = 64;  // 1 GiB of address space, 960 MiB of commit charge
  std::vector<char*> bases;
  const auto started = now_us();
  for (std::size_t s = 0; s < slabs; ++s) {
    char* b = static_cast<char*>(os::reserve(guard, stack, count));
    if (b == nullptr) break;
    bases.push_back(b);
  }
  info("reserving " + num(bases.size()) + " slabs of 16 stacks of 1 MiB took " + num(static_cast<std::size_t>(elapsed_us(started))) +
       " us in all");
  check(bases.size() == slabs, "many", num(bases.size()) + " of " + num(slabs) + " slabs of 16 x 1 MiB reserved");
  std::size_t touched_ok = 0, resident_ok = 0, guards_ok = 0;
  for (char* b : bases)
    for (std::size_t i = 0; i < count; ++i) {
      char* lo = b + i * each + guard;
      touch(lo + stack - 3 * page, 3, page);
      touched_ok += os::resident_bytes(lo, lo + stack) == 3 * page;
      resident_ok += os::lowest_resident(lo, lo + stack) == lo + stack - 3 * page;
      guards_ok += i % 5 == 0 ? faults_once(lo - 1) : true;
    }
  const std::size_t n = bases.size() * count;
  check(touched_ok == n, "many", "resident_bytes is 3 pages on each of " + num(n) + " stacks (" + num(touched_ok) + ")");
  check(resident_ok == n, "many", "lowest_resident is right on each (" + num(resident_ok) + ")");
  check(guards_ok == n, "many", "every fifth stack's guard faults at its top (once: PAGE_GUARD)");
  for (char* b : bases) os::release(b, count * each);
  bool all_free = true;
  for (char* b : bases) all_free = all_free && is_free(b, count * each);
  check(all_free, "many", "all released: MEM_FREE");
}
// Facts, not checks (Windows and wine differ here): whether committing a stack is charged against
// the commit limit (GlobalMemoryStatusEx's ullAvailPageFile drops by the stack's size on Windows), and
// what a reservation far beyond the commit limit does.
void probe_commit_charge() {
  MEMORYSTATUSEX before{}, after{};
  before.dwLength = after.dwLength = sizeof before;
  GlobalMemoryStatusEx(&before);
  const std::size_t stack = 1024 * KiB * 1024;  // 1 GiB committed, untouched
  void* base = os::reserve(64 * KiB, stack);
  GlobalMemoryStatusEx(&after);
  const long long drop = static_cast<long long>(before.ullAvailPageFile) - static_cast<long long>(after.ullAvailPageFile);
  info("commit charge: reserving a 1 GiB stack " + std::string(base ? "succeeded" : "failed") + ", available commit fell by " +
       std::to_string(drop >> 20) + " MiB (Windows: 1024)");
  if (base != nullptr) os::release(base, 64 * KiB + stack);
  const std::size_t huge = std::size_t{4} << 40;  // 4 TiB: beyond any commit limit here
  errno = 0;
  base = os::reserve(64 * KiB, huge);
  const int error = errno;
  check(base != nullptr || error == ENOMEM, "commit", "a stack beyond the commit limit, if refused, is refused with ENOMEM (errno " + std::to_string(error) + ")");
  info("a 4 TiB stack (above the commit limit of " + std::to_string(before.ullTotalPageFile >> 30) + " GiB): " +
       (base ? std::string("reserved and committed") : "refused, errno " + std::to_string(error) + ", GetLastError " + std::to_string(GetLastError()) + os::reserve_failure_hint(error)));
  if (base != nullptr) os::release(base, 64 * KiB + huge);
}
}  // namespace

int main() {
  AddVectoredExceptionHandler(1, on_fault);
  check_basics();
  check_one_stack();
  check_slabs();
  check_many();
  probe_commit_charge();
  return check_report::summary();
}
