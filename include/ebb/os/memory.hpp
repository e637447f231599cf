// SPDX-License-Identifier: BSL-1.0
// ebb/os/memory.hpp — what ebb asks of an operating system's virtual memory, written once; each OS
// implements it once (os/<system>/), as Go's runtime/mem.go does for mem_<system>.go.
//
// The states a stack's memory passes through:
//
//   reserved     address space no other mapping can take; holds no memory. A slab of reservations,
//                each [guard | stack], is taken in one call (reserve).
//   guarded      reserved, and every access faults: the guard below each stack, the part of a
//                tripwire stack below its window. Faults there are classified by os/stack_fault.hpp.
//   accessible   the stack proper: readable and writable from the start, each page committed by the
//                system on first touch, by the fiber or by the kernel itself (a read() into a stack
//                buffer, a signal frame: those never fault into a handler of ours, which is why the
//                stack cannot be committed lazily by ebb, only by the system).
//   committed    an accessible page that has been touched: it holds memory, in RAM or in swap.
//   decommitted  back to accessible: decommit returns the memory at once (not under memory pressure
//                later) and the next touch commits a fresh zero page.
//   released     given back to the system, address space and all (release).
//
// Operations every implementation provides, in namespace ebb::runtime_v1::os:
//
//   std::size_t page_size()                           the unit of every operation below
//   void* reserve(guard, stack, count = 1)            `count` adjacent [guard | stack] reservations,
//                                                     guards installed, stacks accessible; nullptr and
//                                                     errno on failure
//   std::string reserve_failure_hint(int error)       why reserve may have failed on this system, for
//                                                     the exception's text ("" if nothing to add)
//   void release(base, bytes)                         reserved -> released
//   void* map_block(bytes, alignment)                 plain read-write memory, aligned (dense
//   void unmap_block(at, bytes)                       storage of compact fibers), and its release
//   bool install_guard(lo, bytes)                     accessible -> guarded     (async-signal-safe)
//   bool remove_guard(lo, bytes)                      guarded -> accessible     (async-signal-safe)
//   bool guard_and_free(lo, bytes, bool& stuck)       committed -> guarded, memory freed; on failure
//                                                     the range is accessible again unless `stuck`
//                                                     (async-signal-safe)
//   std::size_t decommit(lo, hi)                      committed -> decommitted for the pages wholly
//                                                     inside; returns the bytes covered, 0 if refused
//   std::size_t decommit_accounted(lo, hi, n)         decommit, for a range the caller counted as
//                                                     holding n bytes: returns n, or 0 if refused. In
//                                                     a registry pass's group it may be queued for the
//                                                     group's one release call (pass_memory)
//   class pass_memory                                 a pass group's memory work: begin(spans, n) scans
//                                                     the held fibers' stacks once and answers the
//                                                     residency queries below from that; end() makes
//                                                     the queued releases and returns the bytes that
//                                                     could not be released (linux/pass_memory.hpp;
//                                                     Windows: does nothing)
//   std::size_t resident_bytes(lo, hi)                bytes of committed pages in RAM
//   held_memory memory_held(lo, hi)                   in RAM and in swap (or "swap unknown")
//   void* lowest_resident(lo, hi)                     the lowest committed page, hi if none
//   void* held_floor_known(lo, hi)                    from a pass's snapshot only: the lowest address
//                                                     from which every page up to hi holds memory;
//                                                     nullptr if unknown (linux/pass_memory.hpp;
//                                                     Windows: always unknown)
//   void prepare_residency_queries()                  acquire what the queries need now, outside
//                                                     fork()'s locks (detail/fork_safety.hpp)
//
// Elsewhere, same rule (portable header, per-OS implementation):
//   os/asymmetric_fence.hpp   heavy_fence(): every thread of the process executes a full fence
//   os/stack_fault.hpp        prepare_thread_for_faults, signal_frame_margin, and the OS's fault
//                             delivery feeding the portable classification
//   os/signal_frame.hpp       minimum_signal_frame_bytes: the largest frame fault delivery pushes
//   os/thread_exit.hpp        run_at_thread_exit: clean-up after every thread_local destructor
//   os/fork.hpp               run_around_fork: handlers around fork() where the system has one
//   os/fault_classification.hpp  write_stderr (async-signal-safe), for the one-line reports
//   os/runtime_copies.hpp     other_runtime_runs_a_fiber: another copy of the runtime in the process
//   os/process_wide.hpp       how an object is one per process
//
// Implementations:
//   posix/   what any POSIX system has: mmap/munmap/mprotect, madvise(MADV_DONTNEED), mincore,
//            sigaction/sigaltstack/ucontext, pthread keys, write.
//   linux/   what only Linux has, and the Linux choices among the POSIX pieces: guard install
//            (MADV_GUARD_INSTALL, one mapping per slab), PAGEMAP_SCAN, membarrier, sysinfo's swap,
//            /proc/sys/vm/max_map_count, getauxval(AT_MINSIGSTKSZ), dl_iterate_phdr.
//   windows/ maps the states one for one (os/windows/memory.hpp):
//            reserve            VirtualAlloc(MEM_RESERVE) of each [guard | stack] of the slab at
//                               adjacent addresses (release frees whole reservations only, and stacks
//                               are released one by one), then VirtualAlloc(MEM_COMMIT,
//                               PAGE_READWRITE) of each stack: Windows commits charge, not pages, at
//                               MEM_COMMIT (pages still arrive on first touch), so a stack is committed
//                               up to its maximum against the commit limit (committing in steps
//                               through a moving PAGE_GUARD page, as Windows grows thread stacks,
//                               is not done yet); each guard is [reserved page | read-write |
//                               PAGE_GUARD page] so an overflow has room to be reported
//            install_guard      VirtualFree(MEM_DECOMMIT) (an uncommitted page faults on access)
//            remove_guard       VirtualAlloc(MEM_COMMIT, PAGE_READWRITE)
//            guard_and_free     VirtualFree(MEM_DECOMMIT): frees and guards in one call
//            decommit           VirtualFree(MEM_DECOMMIT) then MEM_COMMIT again
//            release            VirtualFree(MEM_RELEASE) of each reservation in the range
//            residency          QueryWorkingSetEx (one PSAPI_WORKING_SET_EX_BLOCK per page; Valid = in
//                               RAM), swap known unknowable: memory_held reports swap_unknown
//            page_size          GetSystemInfo().dwPageSize (the granularity of reserve is
//                               dwAllocationGranularity, 64 KiB: slabs keep that alignment)
//            heavy_fence        FlushProcessWriteBuffers (a page-protection change under wine)
//            faults             AddVectoredExceptionHandler, first in the chain, on the faulting stack
//                               (os/windows/exception_handler.hpp)
//            thread exit        an FlsAlloc callback
//            process-wide       os/process_wide.hpp
#pragma once

#include "ebb/config.hpp"
#include "ebb/os/memory_units.hpp"

#if defined(__linux__)
#include "ebb/os/linux/memory.hpp"
#elif defined(_WIN32)
#include "ebb/os/windows/memory.hpp"
#else
#error "ebb: no virtual memory implementation for this system (see ebb/os/memory.hpp)"
#endif
