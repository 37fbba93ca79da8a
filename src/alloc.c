/* SPDX-License-Identifier: MIT */
#include "alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int addr_alloc_init(struct addr_alloc *a, uint64_t base, uint64_t size)
{
	memset(a, 0, sizeof(*a));
	if (size == 0 || base + (size - 1) < base)
		return -EINVAL;
	a->base = base;
	a->last = base + (size - 1);
	return 0;
}

void addr_alloc_destroy(struct addr_alloc *a)
{
	free(a->blocks);
	memset(a, 0, sizeof(*a));
}

static uint64_t block_last(const struct addr_block *b)
{
	return b->addr + (b->size - 1);
}

/* Inserts a block at position pos of the sorted array. */
static int insert_block(struct addr_alloc *a, size_t pos, uint64_t addr,
			uint64_t size)
{
	if (a->count == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct addr_block *b = realloc(a->blocks, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		a->blocks = b;
		a->cap = cap;
	}
	memmove(&a->blocks[pos + 1], &a->blocks[pos],
		(a->count - pos) * sizeof(a->blocks[0]));
	a->blocks[pos] = (struct addr_block){ addr, size };
	a->count++;
	return 0;
}

/*
 * Whether an aligned block of `size` fits in the free gap [start, last]
 * (inclusive bounds, so a gap may end at 2^64 - 1); *out gets its address.
 */
static int fit_in_gap(uint64_t start, uint64_t last, uint64_t size,
		      uint64_t align, uint64_t *out)
{
	uint64_t mis = start & (align - 1);
	uint64_t addr = start;
	if (mis) {
		uint64_t pad = align - mis;
		if (start + pad < start)
			return 0; /* aligning overflows */
		addr = start + pad;
	}
	if (addr > last || size - 1 > last - addr)
		return 0;
	*out = addr;
	return 1;
}

/* Allocates at `addr` if an aligned block of `size` fits in [start, last]. */
static int try_gap(struct addr_alloc *a, size_t pos, uint64_t start,
		   uint64_t last, uint64_t size, uint64_t align, uint64_t *out)
{
	uint64_t addr;
	if (!fit_in_gap(start, last, size, align, &addr))
		return -ENOSPC;
	int r = insert_block(a, pos, addr, size);
	if (r == 0)
		*out = addr;
	return r;
}

int addr_alloc(struct addr_alloc *a, uint64_t size, uint64_t align,
	       uint64_t *out)
{
	if (size == 0 || align == 0 || (align & (align - 1)) != 0)
		return -EINVAL;

	/* Gaps in address order: before each block, then after the last. */
	uint64_t start = a->base;
	for (size_t i = 0; i < a->count; i++) {
		const struct addr_block *b = &a->blocks[i];
		if (b->addr > start) {
			int r = try_gap(a, i, start, b->addr - 1, size, align, out);
			if (r != -ENOSPC)
				return r;
		}
		if (block_last(b) == a->last)
			return -ENOSPC; /* no room after the last block */
		start = block_last(b) + 1;
	}
	return try_gap(a, a->count, start, a->last, size, align, out);
}

int addr_alloc_fixed(struct addr_alloc *a, uint64_t addr, uint64_t size)
{
	if (size == 0 || addr < a->base || addr > a->last ||
	    size - 1 > a->last - addr)
		return -EINVAL;
	uint64_t last = addr + (size - 1);

	size_t pos = 0;
	while (pos < a->count && block_last(&a->blocks[pos]) < addr)
		pos++;
	/* blocks[pos] is the first that ends at or after addr. */
	if (pos < a->count && a->blocks[pos].addr <= last)
		return -EBUSY;
	return insert_block(a, pos, addr, size);
}

int addr_free(struct addr_alloc *a, uint64_t addr)
{
	for (size_t i = 0; i < a->count; i++) {
		if (a->blocks[i].addr == addr) {
			memmove(&a->blocks[i], &a->blocks[i + 1],
				(a->count - i - 1) * sizeof(a->blocks[0]));
			a->count--;
			return 0;
		}
		if (a->blocks[i].addr > addr)
			break;
	}
	return -ENOENT;
}
