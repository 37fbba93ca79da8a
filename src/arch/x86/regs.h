/* SPDX-License-Identifier: MIT */
#ifndef CVMM_ARCH_X86_REGS_H
#define CVMM_ARCH_X86_REGS_H

#include <stdint.h>

#include "guest_mem.h"

/*
 * 64-bit Linux boot protocol entry: GDT (__BOOT_CS 0x10, __BOOT_DS 0x18),
 * identity-mapped page tables for the first 4 GiB, long mode, RSI = zero
 * page.
 */
int x86_boot_long_mode(const struct guest_mem *mem, int vcpu_fd,
		       uint64_t entry, uint64_t zero_page);

/*
 * PVH entry: 32-bit protected mode, paging off, flat CS 0x8 / DS 0x10,
 * EBX = hvm_start_info.
 */
int x86_boot_pvh(const struct guest_mem *mem, int vcpu_fd, uint64_t entry,
		 uint64_t start_info);

#endif
