// SPDX-License-Identifier: BSL-1.0
// ebb/arch/switch.hpp — picks the architecture port for the target, and checks it keeps the contract.
//
// Everything in ebb that needs the context switch includes this header, never a port: a port is
// chosen by instruction set, calling convention and object format together (config.hpp detects
// each), and adding one must not touch its users. What every port provides is arch/contract.hpp;
// how its routines are emitted into the object file is arch/format/<format>.hpp, which the port
// includes; the vocabulary its frame layout is written in is arch/frame.hpp.
//
// To add a port: one header, arch/<isa>_<abi>.hpp, and one line below (docs/design.md, "Adding an
// architecture").
#pragma once

#include "ebb/config.hpp"

#include <cstddef>
#include <cstdint>

#if defined(EBB_ARCH_X86_64) && defined(EBB_ABI_SYSV) && defined(EBB_FORMAT_ELF)
#include "ebb/arch/x86_64_sysv.hpp"
#elif defined(EBB_ARCH_AARCH64) && defined(EBB_ABI_AAPCS64) && defined(EBB_FORMAT_ELF)
#include "ebb/arch/aarch64_aapcs.hpp"
#elif defined(EBB_ARCH_RISCV64) && defined(EBB_ABI_LP64D) && defined(EBB_FORMAT_ELF)
#include "ebb/arch/riscv64_lp64d.hpp"
#elif defined(EBB_ARCH_ARM32) && defined(EBB_ABI_AAPCS_HF) && defined(EBB_FORMAT_ELF)
#include "ebb/arch/arm32_aapcs_hf.hpp"
#elif defined(EBB_ARCH_I386) && defined(EBB_ABI_SYSV) && defined(EBB_FORMAT_ELF)
#include "ebb/arch/i386_sysv.hpp"
#elif defined(EBB_ARCH_X86_64) && defined(EBB_ABI_MS) && defined(EBB_FORMAT_PE)
#include "ebb/arch/x86_64_ms.hpp"
#else
#error "ebb: no architecture port for this target (supported: on ELF x86-64 System V, AArch64 AAPCS64, RISC-V 64 lp64d, ARM32 AAPCS hard-float, i386 System V; on PE x86-64 Microsoft x64)"
#endif

#include "ebb/arch/contract.hpp"
