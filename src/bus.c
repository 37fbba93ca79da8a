/* SPDX-License-Identifier: MIT */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	return -pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->count = bus->capacity = 0;
	pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first range whose base is > addr. */
static size_t upper_bound(const struct bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bus->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn,
		 void *opaque, const char *name)
{
	if (len == 0 || base + len - 1 < base || !fn)
		return -EINVAL;
	int ret = 0;
	pthread_rwlock_wrlock(&bus->lock);
	size_t pos = upper_bound(bus, base);
	if (pos > 0) {
		const struct bus_range *prev = &bus->ranges[pos - 1];
		if (prev->base + prev->len - 1 >= base) {
			ret = -EBUSY;
			goto out;
		}
	}
	if (pos < bus->count && bus->ranges[pos].base <= base + len - 1) {
		ret = -EBUSY;
		goto out;
	}
	if (bus->count == bus->capacity) {
		size_t cap = bus->capacity ? bus->capacity * 2 : 16;
		struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));
		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
		bus->ranges = r;
		bus->capacity = cap;
	}
	memmove(&bus->ranges[pos + 1], &bus->ranges[pos],
		(bus->count - pos) * sizeof(bus->ranges[0]));
	bus->ranges[pos] = (struct bus_range){
		.base = base, .len = len, .fn = fn, .opaque = opaque, .name = name,
	};
	bus->count++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	int ret = -ENOENT;
	pthread_rwlock_wrlock(&bus->lock);
	size_t pos = upper_bound(bus, base);
	if (pos > 0 && bus->ranges[pos - 1].base == base) {
		memmove(&bus->ranges[pos - 1], &bus->ranges[pos],
			(bus->count - pos) * sizeof(bus->ranges[0]));
		bus->count--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		bool is_write)
{
	if (!is_write)
		memset(data, 0xff, len);
	/*
	 * Look the range up under the lock, call the device without it: a
	 * handler may then move ranges (a BAR write through ECAM re-registers
	 * on this very bus). Devices live as long as the VM, so a handler
	 * stays valid after its range moves.
	 */
	struct bus_range hit = { 0 };
	pthread_rwlock_rdlock(&bus->lock);
	size_t pos = upper_bound(bus, addr);
	if (pos > 0) {
		const struct bus_range *r = &bus->ranges[pos - 1];
		uint64_t off = addr - r->base;
		if (off < r->len && len <= r->len - off)
			hit = *r;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!hit.fn)
		return false;
	hit.fn(hit.opaque, addr - hit.base, data, len, is_write);
	return true;
}
