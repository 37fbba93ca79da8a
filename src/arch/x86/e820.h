/* SPDX-License-Identifier: MIT */
/*
 * The guest's physical memory map (e820), built once from the RAM size and
 * the reserved ranges cvmm creates; the zero page, the PVH memmap and the
 * CMOS memory bytes are all derived from it.
 */
#ifndef CVMM_ARCH_X86_E820_H
#define CVMM_ARCH_X86_E820_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stdint.h>

#define E820_MAX 32

struct e820_map {
	struct boot_e820_entry entries[E820_MAX];
	unsigned count;
};

/* Where RAM goes for a guest of `mem_size` bytes. */
struct ram_layout {
	uint64_t low_size;  /* RAM at [0, low_size) */
	uint64_t high_size; /* RAM at [HIGH_RAM_START, +high_size) */
};

void x86_ram_layout(uint64_t mem_size, struct ram_layout *out);

/* Adds a range (sorted insert; overlaps refused): 0, -EINVAL, -ENOSPC. */
int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type);

/*
 * The standard map: low RAM, EBDA and BIOS area reserved, RAM, hole (with
 * the PCI ECAM window reserved when ecam: a VM with a PCI bus), RAM.
 */
int e820_build(struct e820_map *map, uint64_t mem_size, bool ecam);

/* Sum of E820_TYPE_RAM bytes. */
uint64_t e820_ram_total(const struct e820_map *map);

#endif
