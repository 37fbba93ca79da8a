/* SPDX-License-Identifier: MIT */
/*
 * An address bus: an ordered set of non-overlapping [base, base+len) ranges,
 * each owned by one device. vCPU PIO and MMIO exits are dispatched through
 * one bus each. Lookup is a binary search; registration keeps the array
 * sorted and refuses overlaps. Readers (vCPU threads) and writers (device
 * setup, BAR moves) are serialized by a rwlock.
 */
#ifndef CVMM_BUS_H
#define CVMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Device access handler. `offset` is relative to the range base; `data` holds
 * `len` bytes (1, 2, 4 or 8) in guest (little-endian) order. For reads the
 * handler fills `data`; the bus pre-fills it with all-ones.
 */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data,
			  uint32_t len, bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name;
	struct bus_range *ranges;
	size_t count;
	size_t capacity;
	pthread_rwlock_t lock;
};

int bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* 0, -EINVAL for len 0 or wrap-around, -EBUSY on overlap, -ENOMEM. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		 void *opaque, const char *name);
/* Removes the range starting exactly at `base`: 0 or -ENOENT. */
int bus_unregister(struct bus *bus, uint64_t base);

/*
 * Dispatches one access. An access must lie inside a single range. Returns
 * true when a device handled it; false when nothing is mapped there (reads
 * then see all-ones in `data`).
 */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write);

#endif
