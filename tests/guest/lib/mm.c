/* SPDX-License-Identifier: MIT */
/*
 * The runtime's page tables: the first 4 GiB identity-mapped with 2 MiB
 * pages (3-4 GiB uncached, it is the MMIO hole), and more identity mappings
 * on request (RAM above 4 GiB).
 */
#include "runtime.h"

#define PTE_P 0x001
#define PTE_W 0x002
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS 0x080
#define PTE_ADDR 0x000ffffffffff000UL
#define POOL_PAGES 16

static u64 pml4[512] __aligned(4096);
static u64 pdpt0[512] __aligned(4096);
static u64 pd_low[4][512] __aligned(4096);
static u64 pool[POOL_PAGES][512] __aligned(4096);
static u32 pool_used;
u64 kernel_cr3;

void paging_init(void)
{
	pml4[0] = (u64)pdpt0 | PTE_P | PTE_W;
	for (u64 i = 0; i < 4; i++) {
		pdpt0[i] = (u64)pd_low[i] | PTE_P | PTE_W;
		u64 attr = PTE_P | PTE_W | PTE_PS | (i == 3 ? PTE_PCD | PTE_PWT : 0);
		for (u64 j = 0; j < 512; j++)
			pd_low[i][j] = ((i * 512 + j) << 21) | attr;
	}
	kernel_cr3 = (u64)pml4;
	write_cr3(kernel_cr3);
}

static u64 *next_level(u64 *table, u32 idx)
{
	if (!(table[idx] & PTE_P)) {
		if (pool_used == POOL_PAGES)
			return NULL;
		u64 *page = pool[pool_used++];
		memset(page, 0, 4096);
		table[idx] = (u64)page | PTE_P | PTE_W;
	}
	return (u64 *)(table[idx] & PTE_ADDR);
}

int map_identity(u64 addr, u64 size)
{
	u64 end = ALIGN_UP(addr + size, 2 * MiB);
	for (u64 a = ALIGN_DOWN(addr, 2 * MiB); a < end; a += 2 * MiB) {
		if (a >> 48)
			return -1;
		u64 *pdpt = next_level(pml4, (a >> 39) & 511);
		u64 *pd = pdpt ? next_level(pdpt, (a >> 30) & 511) : NULL;
		if (!pd)
			return -1;
		pd[(a >> 21) & 511] = a | PTE_P | PTE_W | PTE_PS;
	}
	write_cr3(read_cr3());
	return 0;
}
