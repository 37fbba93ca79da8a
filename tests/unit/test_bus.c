/* SPDX-License-Identifier: MIT */
/*
 * The address bus: registration (overlap shapes, bad lengths), lookup and
 * dispatch (offsets relative to the base, all-ones for unmapped reads,
 * accesses that straddle a range end), unregistration, and a randomized
 * comparison against a brute-force reference with many ranges.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"

/* What the last handler invocation saw. */
struct dev {
	int id;
	unsigned calls;
	uint64_t offset;
	uint32_t len;
	bool is_write;
	uint8_t seen[8];     /* data as passed in (for reads: the pre-fill) */
	uint8_t fill;        /* reads return this byte pattern */
};

static void dev_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct dev *d = opaque;
	d->calls++;
	d->offset = offset;
	d->len = len;
	d->is_write = is_write;
	memset(d->seen, 0, sizeof(d->seen));
	memcpy(d->seen, data, len > 8 ? 8 : len);
	if (!is_write)
		memset(data, d->fill, len);
}

static void bus_setup(struct bus *b)
{
	assert_int_equal(bus_init(b, "test"), 0);
	assert_int_equal(b->count, 0);
}

static void test_register_and_dispatch(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	struct dev a = { .id = 1, .fill = 0x11 }, c = { .id = 2, .fill = 0x22 };
	assert_int_equal(bus_register(&b, 0x3f8, 8, dev_io, &a, "a"), 0);
	assert_int_equal(bus_register(&b, 0x60, 1, dev_io, &c, "c"), 0);
	assert_int_equal(b.count, 2);
	/* Kept sorted by base. */
	assert_int_equal(b.ranges[0].base, 0x60);
	assert_int_equal(b.ranges[1].base, 0x3f8);
	assert_string_equal(b.ranges[1].name, "a");

	/* Read at base+5: offset 5, data pre-filled with 0xff. */
	uint8_t data[8] = { 0 };
	assert_true(bus_access(&b, 0x3fd, data, 1, false));
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.offset, 5);
	assert_int_equal(a.len, 1);
	assert_false(a.is_write);
	assert_int_equal(a.seen[0], 0xff);
	assert_int_equal(data[0], 0x11);
	assert_int_equal(c.calls, 0);

	/* Write: data reaches the handler unchanged. */
	uint8_t w[4] = { 1, 2, 3, 4 };
	assert_true(bus_access(&b, 0x3f8 + 4, w, 4, true));
	assert_int_equal(a.calls, 2);
	assert_int_equal(a.offset, 4);
	assert_int_equal(a.len, 4);
	assert_true(a.is_write);
	assert_memory_equal(a.seen, w, 4);
	assert_int_equal(w[0], 1); /* writes are not pre-filled */

	/* First and last byte of the range. */
	assert_true(bus_access(&b, 0x3f8, data, 1, false));
	assert_int_equal(a.offset, 0);
	assert_true(bus_access(&b, 0x3ff, data, 1, false));
	assert_int_equal(a.offset, 7);
	/* A whole-range 8-byte access. */
	assert_true(bus_access(&b, 0x3f8, data, 8, false));
	assert_int_equal(a.offset, 0);
	assert_int_equal(a.len, 8);

	/* Other device. */
	assert_true(bus_access(&b, 0x60, data, 1, false));
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.offset, 0);
	assert_int_equal(data[0], 0x22);
	bus_destroy(&b);
}

static void test_unmapped(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	uint8_t data[8];
	/* Empty bus. */
	memset(data, 0x5a, sizeof(data));
	assert_false(bus_access(&b, 0, data, 4, false));
	for (int i = 0; i < 4; i++)
		assert_int_equal(data[i], 0xff);
	assert_int_equal(data[4], 0x5a); /* only len bytes filled */

	struct dev a = { .fill = 0 };
	assert_int_equal(bus_register(&b, 0x1000, 0x10, dev_io, &a, "a"), 0);
	/* Just below, just past, far past, far below. */
	const uint64_t miss[] = { 0xfff, 0x1010, 0x2000, 0, UINT64_MAX };
	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
		memset(data, 0, sizeof(data));
		assert_false(bus_access(&b, miss[i], data, 8, false));
		for (int j = 0; j < 8; j++)
			assert_int_equal(data[j], 0xff);
	}
	/* Unmapped writes leave data alone and are not dispatched. */
	uint8_t w[2] = { 7, 8 };
	assert_false(bus_access(&b, 0x2000, w, 2, true));
	assert_int_equal(w[0], 7);
	assert_int_equal(w[1], 8);
	assert_int_equal(a.calls, 0);
	bus_destroy(&b);
}

static void test_straddle(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	struct dev a = { .fill = 0x33 }, c = { .fill = 0x44 };
	assert_int_equal(bus_register(&b, 0x100, 4, dev_io, &a, "a"), 0);
	assert_int_equal(bus_register(&b, 0x104, 4, dev_io, &c, "c"), 0);
	uint8_t data[8];
	/* 2 bytes at the last byte of a: would run into c. */
	memset(data, 0, sizeof(data));
	assert_false(bus_access(&b, 0x103, data, 2, false));
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[1], 0xff);
	/* 4 bytes at 0x102: straddles too. */
	assert_false(bus_access(&b, 0x102, data, 4, false));
	/* 8 bytes at a's base: larger than the range. */
	assert_false(bus_access(&b, 0x100, data, 8, false));
	assert_false(bus_access(&b, 0x100, data, 8, true));
	assert_int_equal(a.calls, 0);
	assert_int_equal(c.calls, 0);
	/* Exactly fitting accesses do go through. */
	assert_true(bus_access(&b, 0x102, data, 2, false));
	assert_int_equal(a.offset, 2);
	assert_true(bus_access(&b, 0x104, data, 4, false));
	assert_int_equal(c.offset, 0);
	/* A straddle off the end of the last range, and off the top of the
	 * address space. */
	assert_false(bus_access(&b, 0x106, data, 4, false));
	struct dev top = { .fill = 1 };
	assert_int_equal(bus_register(&b, UINT64_MAX - 3, 4, dev_io, &top, "top"), 0);
	assert_true(bus_access(&b, UINT64_MAX - 3, data, 4, false));
	assert_int_equal(top.offset, 0);
	assert_true(bus_access(&b, UINT64_MAX, data, 1, false));
	assert_int_equal(top.offset, 3);
	assert_false(bus_access(&b, UINT64_MAX - 1, data, 4, false));
	assert_false(bus_access(&b, UINT64_MAX, data, 8, false));
	assert_int_equal(top.calls, 2);
	bus_destroy(&b);
}

static void test_overlap_shapes(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	struct dev d = { 0 };
	/* Existing range [0x100, 0x200). */
	assert_int_equal(bus_register(&b, 0x100, 0x100, dev_io, &d, "x"), 0);
	static const struct {
		uint64_t base, len;
		int want;
	} cases[] = {
		{ 0x100, 0x100, -EBUSY },  /* identical */
		{ 0x100, 1, -EBUSY },      /* same base, shorter */
		{ 0x100, 0x1000, -EBUSY }, /* same base, longer */
		{ 0x180, 0x10, -EBUSY },   /* inside */
		{ 0x80, 0x200, -EBUSY },   /* covering */
		{ 0x80, 0x81, -EBUSY },    /* overlaps the first byte */
		{ 0x1ff, 1, -EBUSY },      /* last byte */
		{ 0x1ff, 0x100, -EBUSY },  /* overlaps the last byte */
		{ 0x0, UINT64_MAX, -EBUSY }, /* everything but the top byte */
		{ 0x80, 0x80, 0 },         /* touches the left edge */
		{ 0x200, 0x10, 0 },        /* touches the right edge */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = bus_register(&b, cases[i].base, cases[i].len, dev_io, &d, "y");
		if (r != cases[i].want)
			fail_msg("case %zu: base 0x%llx len 0x%llx: got %d want %d", i,
				 (unsigned long long)cases[i].base,
				 (unsigned long long)cases[i].len, r, cases[i].want);
	}
	assert_int_equal(b.count, 3);
	/* Now [0x80,0x100) [0x100,0x200) [0x200,0x210): a gap-filler that
	 * touches both neighbours fits only when exact. */
	assert_int_equal(bus_register(&b, 0x210, 0x10, dev_io, &d, "z"), 0);
	assert_int_equal(bus_register(&b, 0x20f, 2, dev_io, &d, "z"), -EBUSY);
	assert_int_equal(bus_register(&b, 0x7f, 2, dev_io, &d, "z"), -EBUSY);
	assert_int_equal(bus_register(&b, 0x7f, 1, dev_io, &d, "z"), 0);
	assert_int_equal(b.count, 5);
	for (size_t i = 1; i < b.count; i++)
		assert_int_equal(b.ranges[i - 1].base + b.ranges[i - 1].len,
				 b.ranges[i].base);
	/* Bridging a gap between two ranges that both border it. */
	bus_destroy(&b);
	bus_setup(&b);
	assert_int_equal(bus_register(&b, 0x0, 0x10, dev_io, &d, "l"), 0);
	assert_int_equal(bus_register(&b, 0x20, 0x10, dev_io, &d, "r"), 0);
	assert_int_equal(bus_register(&b, 0x8, 0x20, dev_io, &d, "m"), -EBUSY);
	assert_int_equal(bus_register(&b, 0x10, 0x11, dev_io, &d, "m"), -EBUSY);
	assert_int_equal(bus_register(&b, 0xf, 0x11, dev_io, &d, "m"), -EBUSY);
	assert_int_equal(bus_register(&b, 0x10, 0x10, dev_io, &d, "m"), 0);
	assert_int_equal(b.count, 3);
	bus_destroy(&b);
}

static void test_invalid(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	struct dev d = { 0 };
	assert_int_equal(bus_register(&b, 0x10, 0, dev_io, &d, "z"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX, 2, dev_io, &d, "w"), -EINVAL);
	assert_int_equal(bus_register(&b, UINT64_MAX - 0xf, 0x11, dev_io, &d, "w"),
			 -EINVAL);
	assert_int_equal(bus_register(&b, 2, UINT64_MAX, dev_io, &d, "w"), -EINVAL);
	assert_int_equal(bus_register(&b, 0x10, 1, NULL, &d, "nofn"), -EINVAL);
	assert_int_equal(b.count, 0);
	/* The largest legal ranges: ending exactly at the top. */
	assert_int_equal(bus_register(&b, UINT64_MAX, 1, dev_io, &d, "top"), 0);
	assert_int_equal(bus_register(&b, 0, UINT64_MAX, dev_io, &d, "all"), 0);
	assert_int_equal(b.count, 2);
	uint8_t data[8];
	assert_true(bus_access(&b, UINT64_MAX - 1, data, 1, false));
	assert_int_equal(d.offset, UINT64_MAX - 1);
	bus_destroy(&b);
}

static void test_unregister(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	struct dev a = { .fill = 0xa }, c = { .fill = 0xc };
	uint8_t data[1];
	assert_int_equal(bus_unregister(&b, 0x10), -ENOENT);
	assert_int_equal(bus_register(&b, 0x10, 0x10, dev_io, &a, "a"), 0);
	assert_int_equal(bus_register(&b, 0x30, 0x10, dev_io, &c, "c"), 0);
	/* Only the exact base counts. */
	assert_int_equal(bus_unregister(&b, 0x11), -ENOENT);
	assert_int_equal(bus_unregister(&b, 0x1f), -ENOENT);
	assert_int_equal(bus_unregister(&b, 0x20), -ENOENT);
	assert_int_equal(bus_unregister(&b, 0), -ENOENT);
	assert_int_equal(b.count, 2);
	assert_int_equal(bus_unregister(&b, 0x10), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(bus_unregister(&b, 0x10), -ENOENT);
	assert_false(bus_access(&b, 0x15, data, 1, false));
	assert_int_equal(data[0], 0xff);
	assert_int_equal(a.calls, 0);
	/* c still works. */
	assert_true(bus_access(&b, 0x35, data, 1, false));
	assert_int_equal(data[0], 0xc);
	assert_int_equal(c.offset, 5);
	/* The freed space takes a new, larger range. */
	assert_int_equal(bus_register(&b, 0x0, 0x30, dev_io, &a, "a2"), 0);
	assert_true(bus_access(&b, 0x15, data, 1, false));
	assert_int_equal(a.offset, 0x15);
	assert_int_equal(data[0], 0xa);
	assert_int_equal(bus_unregister(&b, 0x30), 0);
	assert_int_equal(bus_unregister(&b, 0x0), 0);
	assert_int_equal(b.count, 0);
	/* Re-register at the same base after removal. */
	assert_int_equal(bus_register(&b, 0x30, 0x10, dev_io, &c, "c"), 0);
	assert_true(bus_access(&b, 0x3f, data, 1, false));
	assert_int_equal(c.offset, 0xf);
	bus_destroy(&b);
}

/* Deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

#define NREF 1000

struct ref_range {
	uint64_t base, len;
	bool live;
};

/* Brute force: index of the live reference range holding addr, or -1. */
static int ref_find(const struct ref_range *r, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].live && addr >= r[i].base && addr - r[i].base < r[i].len)
			return (int)i;
	return -1;
}

static bool ref_overlaps(const struct ref_range *r, size_t n, uint64_t base,
			 uint64_t len)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].live && base < r[i].base + r[i].len && r[i].base < base + len)
			return true;
	return false;
}

struct tagged {
	int idx;
	unsigned calls;
	uint64_t offset;
};

static void tagged_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		      bool is_write)
{
	struct tagged *t = opaque;
	t->calls++;
	t->offset = offset;
	if (!is_write)
		memset(data, (uint8_t)t->idx, len);
}

static void check_against_ref(struct bus *b, const struct ref_range *ref,
			      size_t n, struct tagged *tags, uint64_t space)
{
	/* Sortedness and no overlap in the bus itself. */
	for (size_t i = 1; i < b->count; i++)
		assert_true(b->ranges[i - 1].base + b->ranges[i - 1].len <=
			    b->ranges[i].base);
	size_t live = 0;
	for (size_t i = 0; i < n; i++)
		live += ref[i].live;
	assert_int_equal(b->count, live);
	for (int k = 0; k < 20000; k++) {
		uint64_t addr;
		int pick = (int)(rnd() % n);
		switch (k % 4) {
		case 0: /* anywhere */
			addr = rnd() % space;
			break;
		case 1: /* first byte of a range */
			addr = ref[pick].base;
			break;
		case 2: /* last byte */
			addr = ref[pick].base + ref[pick].len - 1;
			break;
		default: /* just past */
			addr = ref[pick].base + ref[pick].len;
			break;
		}
		uint32_t len = 1u << (rnd() % 4);
		int want = ref_find(ref, n, addr);
		bool fits = want >= 0 && len <= ref[want].len - (addr - ref[want].base);
		uint8_t data[8];
		unsigned before = want >= 0 ? tags[want].calls : 0;
		bool got = bus_access(b, addr, data, len, false);
		if (got != fits)
			fail_msg("addr 0x%llx len %u: bus says %d, reference %d (range %d)",
				 (unsigned long long)addr, len, got, fits, want);
		if (fits) {
			assert_int_equal(tags[want].calls, before + 1);
			assert_int_equal(tags[want].offset, addr - ref[want].base);
			assert_int_equal(data[0], (uint8_t)want);
		} else {
			for (uint32_t j = 0; j < len; j++)
				assert_int_equal(data[j], 0xff);
		}
	}
}

static void test_many_random(void **state)
{
	(void)state;
	static struct ref_range ref[NREF];
	static struct tagged tags[NREF];
	const uint64_t space = 1ULL << 24;
	struct bus b;
	bus_setup(&b);
	memset(ref, 0, sizeof(ref));
	size_t n = 0;
	unsigned refused = 0;
	/* Random placement; the reference decides whether each must succeed. */
	while (n < NREF) {
		uint64_t base = rnd() % space;
		uint64_t len = 1 + rnd() % 0x2000;
		bool busy = ref_overlaps(ref, n, base, len);
		tags[n] = (struct tagged){ .idx = (int)n };
		int r = bus_register(&b, base, len, tagged_io, &tags[n], "r");
		assert_int_equal(r, busy ? -EBUSY : 0);
		if (busy) {
			refused++;
			continue;
		}
		ref[n++] = (struct ref_range){ .base = base, .len = len, .live = true };
	}
	assert_true(refused > 0); /* the overlap path was exercised */
	assert_int_equal(b.count, NREF);
	check_against_ref(&b, ref, n, tags, space);

	/* Remove every third range, check, then put them back. */
	for (size_t i = 0; i < n; i += 3) {
		assert_int_equal(bus_unregister(&b, ref[i].base), 0);
		ref[i].live = false;
	}
	check_against_ref(&b, ref, n, tags, space);
	for (size_t i = 0; i < n; i += 3) {
		assert_int_equal(bus_register(&b, ref[i].base, ref[i].len, tagged_io,
					      &tags[i], "again"), 0);
		ref[i].live = true;
	}
	check_against_ref(&b, ref, n, tags, space);
	bus_destroy(&b);
}

/* A handler that moves its own range (as a BAR write through ECAM does):
 * dispatch must not hold the bus lock while calling it. */
struct mover {
	struct bus *bus;
	uint64_t base;
	unsigned calls;
	int move_ret;
};

static void mover_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		     bool is_write)
{
	struct mover *m = opaque;
	(void)offset;
	(void)len;
	m->calls++;
	if (!is_write) {
		data[0] = (uint8_t)(m->base >> 12);
		return;
	}
	uint64_t to = (uint64_t)data[0] << 12;
	int r = bus_unregister(m->bus, m->base);
	if (!r)
		r = bus_register(m->bus, to, 0x10, mover_io, m, "mover");
	m->move_ret = r;
	if (!r)
		m->base = to;
}

static void test_handler_moves_range(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	struct mover m = { .bus = &b, .base = 0x1000, .move_ret = -1 };
	struct dev other = { .fill = 0x77 };
	assert_int_equal(bus_register(&b, 0x1000, 0x10, mover_io, &m, "mover"), 0);
	assert_int_equal(bus_register(&b, 0x5000, 0x10, dev_io, &other, "other"), 0);
	uint8_t data[1] = { 0x2 };
	assert_true(bus_access(&b, 0x1004, data, 1, true));
	assert_int_equal(m.move_ret, 0);
	assert_int_equal(m.base, 0x2000);
	assert_false(bus_access(&b, 0x1004, data, 1, false));
	assert_int_equal(data[0], 0xff);
	assert_true(bus_access(&b, 0x2004, data, 1, false));
	assert_int_equal(data[0], 0x2);
	/* Moving onto another device's range is refused from the handler too. */
	data[0] = 0x5;
	assert_true(bus_access(&b, 0x2000, data, 1, true));
	assert_int_equal(m.move_ret, -EBUSY);
	assert_true(bus_access(&b, 0x5000, data, 1, false));
	assert_int_equal(data[0], 0x77);
	assert_int_equal(b.count, 1); /* the mover unregistered itself */
	bus_destroy(&b);
}

/* Readers on two threads while the main thread adds and removes other
 * ranges: the stable ranges are always found, with the right offset. */
struct reader_arg {
	struct bus *bus;
	atomic_bool *stop;
	unsigned misses;
	unsigned bad_data;
	unsigned long hits;
};

static void *reader(void *opaque)
{
	struct reader_arg *a = opaque;
	uint64_t x = 0x12345;
	/* At least 1000 lookups each, however the threads get scheduled. */
	while (a->hits < 1000 || !atomic_load(a->stop)) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		unsigned k = (unsigned)(x >> 33) % 64;
		uint64_t addr = 0x100000 + k * 0x1000 + (x >> 20) % 0x100;
		uint8_t data[1];
		if (!bus_access(a->bus, addr, data, 1, false))
			a->misses++;
		else if (data[0] != (uint8_t)k)
			a->bad_data++;
		a->hits++;
	}
	return NULL;
}

/* Stateless handler for the threaded test: reads return the byte that
 * opaque points to (no shared counters written from two threads). */
static void const_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
		     bool is_write)
{
	(void)offset;
	if (!is_write)
		memset(data, *(const uint8_t *)opaque, len);
}

static void test_concurrent(void **state)
{
	(void)state;
	struct bus b;
	bus_setup(&b);
	static uint8_t ids[64];
	for (int k = 0; k < 64; k++) {
		ids[k] = (uint8_t)k;
		assert_int_equal(bus_register(&b, 0x100000 + k * 0x1000ULL, 0x100,
					      const_io, &ids[k], "s"), 0);
	}
	atomic_bool stop = false;
	struct reader_arg args[2] = { { .bus = &b, .stop = &stop },
				      { .bus = &b, .stop = &stop } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
	static uint8_t churn_id = 0xee;
	for (int round = 0; round < 2000; round++) {
		/* Churn ranges interleaved with the stable ones. */
		for (int k = 0; k < 64; k += 3)
			assert_int_equal(bus_register(&b, 0x100800 + k * 0x1000ULL, 0x10,
						      const_io, &churn_id, "churn"), 0);
		for (int k = 0; k < 64; k += 3)
			assert_int_equal(bus_unregister(&b, 0x100800 + k * 0x1000ULL), 0);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(args[i].misses, 0);
		assert_int_equal(args[i].bad_data, 0);
		assert_true(args[i].hits > 0);
	}
	assert_int_equal(b.count, 64);
	bus_destroy(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_dispatch),
		cmocka_unit_test(test_unmapped),
		cmocka_unit_test(test_straddle),
		cmocka_unit_test(test_overlap_shapes),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_unregister),
		cmocka_unit_test(test_many_random),
		cmocka_unit_test(test_handler_moves_range),
		cmocka_unit_test(test_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
