/* SPDX-License-Identifier: MIT */
/*
 * Range allocator: hands out aligned blocks of [base, base+size), first fit
 * (lowest address that fits), with release. Used for port I/O space, the
 * 32- and 64-bit MMIO windows and GSIs (size-1 blocks, align 1).
 *
 * It records the allocated blocks, sorted by address; the free space is
 * what lies between them, so freeing a block merges it with its free
 * neighbours automatically. Not thread-safe: the owner serializes calls.
 */
#ifndef CVMM_ALLOC_H
#define CVMM_ALLOC_H

#include <stddef.h>
#include <stdint.h>

struct addr_block {
	uint64_t addr;
	uint64_t size;
};

struct addr_alloc {
	uint64_t base;
	uint64_t last;          /* base + size - 1 (the range may end at 2^64) */
	struct addr_block *blocks; /* allocated blocks, sorted, non-overlapping */
	size_t count;
	size_t cap;
};

/*
 * Manages [base, base+size). size must be non-zero and base+size must not
 * exceed 2^64. Returns 0 or -EINVAL. Allocates nothing yet.
 */
int addr_alloc_init(struct addr_alloc *a, uint64_t base, uint64_t size);

/* Frees the bookkeeping; the allocator must be re-initialized before use. */
void addr_alloc_destroy(struct addr_alloc *a);

/*
 * Allocates `size` bytes (units) at the lowest address that is a multiple
 * of `align` and fits. Returns 0 and *out, -EINVAL (size 0, align 0 or not
 * a power of two), -ENOSPC (no room) or -ENOMEM.
 */
int addr_alloc(struct addr_alloc *a, uint64_t size, uint64_t align,
	       uint64_t *out);

/*
 * Reserves exactly [addr, addr+size). Returns 0, -EINVAL (size 0, or the
 * range not inside the managed one), -EBUSY (overlaps an allocated block)
 * or -ENOMEM.
 */
int addr_alloc_fixed(struct addr_alloc *a, uint64_t addr, uint64_t size);

/*
 * Releases the block that starts at addr (from addr_alloc() or
 * addr_alloc_fixed()). Returns 0 or -ENOENT when no block starts there.
 */
int addr_free(struct addr_alloc *a, uint64_t addr);

#endif
