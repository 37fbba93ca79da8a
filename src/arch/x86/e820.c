/* SPDX-License-Identifier: MIT */
#include "arch/x86/e820.h"

#include <asm/e820.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

void x86_ram_layout(uint64_t mem_size, struct ram_layout *out)
{
	out->low_size = mem_size < MMIO32_START ? mem_size : MMIO32_START;
	out->high_size = mem_size - out->low_size;
}

int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0 || addr + size < addr)
		return -EINVAL;
	if (map->count == E820_MAX)
		return -ENOSPC;
	unsigned pos = 0;
	while (pos < map->count && map->entries[pos].addr < addr)
		pos++;
	if (pos > 0) {
		const struct boot_e820_entry *p = &map->entries[pos - 1];
		if (p->addr + p->size > addr)
			return -EINVAL;
	}
	if (pos < map->count && addr + size > map->entries[pos].addr)
		return -EINVAL;
	memmove(&map->entries[pos + 1], &map->entries[pos],
		(map->count - pos) * sizeof(map->entries[0]));
	map->entries[pos] = (struct boot_e820_entry){
		.addr = addr, .size = size, .type = type,
	};
	map->count++;
	return 0;
}

int e820_build(struct e820_map *map, uint64_t mem_size, bool ecam)
{
	struct ram_layout l;
	memset(map, 0, sizeof(*map));
	if (mem_size < HIMEM_START + (1ULL << 20))
		return -EINVAL;
	x86_ram_layout(mem_size, &l);
	int ret = e820_add(map, 0, EBDA_START, E820_RAM);
	ret = ret ?: e820_add(map, EBDA_START, LOW_RAM_END - EBDA_START, E820_RESERVED);
	ret = ret ?: e820_add(map, ACPI_START, ACPI_END - ACPI_START, E820_RESERVED);
	ret = ret ?: e820_add(map, HIMEM_START, l.low_size - HIMEM_START, E820_RAM);
	/* PCI ECAM: reserved so that the guest trusts the MCFG table. */
	if (!ret && ecam)
		ret = e820_add(map, ECAM_START, ECAM_SIZE, E820_RESERVED);
	if (!ret && l.high_size)
		ret = e820_add(map, HIGH_RAM_START, l.high_size, E820_RAM);
	return ret;
}

uint64_t e820_ram_total(const struct e820_map *map)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < map->count; i++)
		if (map->entries[i].type == E820_RAM)
			total += map->entries[i].size;
	return total;
}
