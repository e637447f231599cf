# SPDX-License-Identifier: BSL-1.0
# ebb_link_libatomic_if_needed(TARGET): link TARGET (ebb, or the installed ebb::ebb) with libatomic
# when the C++ compiler does not expand ebb's atomic operations inline.
#
# ebb keeps one-byte atomics (fiber states, flags) and exchanges / compare-exchanges them. RISC-V has
# no one-byte atomic instructions, and GCC before 13 on RISC-V calls __atomic_exchange_1 and
# __atomic_compare_exchange_1 in libatomic for them instead of expanding an LR/SC loop; a program
# that includes ebb then fails to link ("undefined reference to `__atomic_exchange_1'") unless it
# links -latomic. Other targets and compilers (x86, AArch64, ARMv7, clang, GCC 13+) answer "inline"
# here and link nothing. Used by CMakeLists.txt and by the installed ebbConfig.cmake.
include_guard(GLOBAL)
include(CheckCXXSourceCompiles)

function(ebb_link_libatomic_if_needed target)
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "CXX" IN_LIST languages)
    return()  # no C++ compiler to ask; a consumer without C++ does not compile ebb anyway
  endif()
  set(source [=[
#include <atomic>
#include <cstdint>
std::atomic<std::uint8_t> byte{0};
std::atomic<bool> flag{false};
std::atomic<std::uint64_t> wide{0};
int main() {
  std::uint8_t expected = 0;
  byte.compare_exchange_strong(expected, 1);
  wide.fetch_add(1);
  return byte.exchange(2) + static_cast<int>(flag.exchange(true)) + static_cast<int>(wide.load());
}
]=])
  set(CMAKE_REQUIRED_QUIET ON)
  check_cxx_source_compiles("${source}" EBB_ATOMICS_INLINE)
  if(EBB_ATOMICS_INLINE)
    return()
  endif()
  set(CMAKE_REQUIRED_LIBRARIES atomic)
  check_cxx_source_compiles("${source}" EBB_ATOMICS_WITH_LIBATOMIC)
  if(EBB_ATOMICS_WITH_LIBATOMIC)
    message(STATUS "ebb: this compiler needs libatomic for one-byte atomics: linking -latomic")
    target_link_libraries(${target} INTERFACE atomic)
  else()
    message(WARNING "ebb: the compiler neither expands one-byte atomic operations inline nor links "
                    "them from libatomic; programs using ebb may fail to link")
  endif()
endfunction()
