/* SPDX-License-Identifier: MIT */
/*
 * Where the fuzz targets (and the seed generator, fuzz/gen_seeds.c) put a
 * split virtqueue's rings in guest memory: packed from `base`, the
 * descriptor table (16 * size bytes), the available ring (6 + 2 * size)
 * right after it, the used ring (6 + 8 * size) at the next 4-byte boundary.
 * Returns the first byte after the used ring, rounded up to 64.
 */
#ifndef CVMM_FUZZ_LAYOUT_H
#define CVMM_FUZZ_LAYOUT_H

#include <stdint.h>

static inline uint64_t fuzz_ring_layout(uint64_t base, uint32_t size,
					uint64_t *desc, uint64_t *avail,
					uint64_t *used)
{
	*desc = base;
	*avail = base + 16ULL * size;
	*used = (*avail + 6 + 2ULL * size + 3) & ~3ULL;
	return (*used + 6 + 8ULL * size + 63) & ~63ULL;
}

#endif
