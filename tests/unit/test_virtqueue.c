/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue tests: the test plays the driver, building rings by hand in
 * a plain buffer registered as guest memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "guest_mem.h"
#include "log.h"
#include "virtio/queue.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x200000ULL
#define DESC_GPA (MEM_GPA + 0x0)
#define AVAIL_GPA (MEM_GPA + 0x10000)
#define USED_GPA (MEM_GPA + 0x20000)
#define DATA_GPA (MEM_GPA + 0x40000)
#define TABLE_GPA (MEM_GPA + 0x80000) /* indirect tables */
#define QSIZE 16

struct fx {
	uint8_t *buf;
	struct guest_mem mem;
	struct virtqueue vq;
	struct vq_chain chain;
	struct drv_queue q; /* the driver's view: size, avail_idx shadow */
};

static void reinit(struct fx *f, uint16_t size, bool event_idx)
{
	memset(f->buf, 0, 0x40000); /* rings */
	f->q = (struct drv_queue){
		.mem = f->buf, .mem_gpa = MEM_GPA, .size = size,
		.desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA,
		.kick_fd = -1, .event_idx = event_idx,
	};
	f->vq.name = "test";
	drv_queue_enable(&f->q, &f->vq, &f->mem);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	if (!f->buf) {
		free(f);
		return -1;
	}
	reinit(f, QSIZE, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	free(f->buf);
	free(f);
	return 0;
}

/* Pops and expects -EIO, then checks the queue stays broken. */
static void expect_broken(struct fx *f)
{
	assert_int_equal(vq_pop(&f->vq, &f->chain), -EIO);
	assert_int_equal(vq_pop(&f->vq, &f->chain), -EIO);
	assert_false(vq_has_available(&f->vq));
	assert_false(vq_enable_notify(&f->vq));
}

/* ---- init ---- */

static void test_init_size(void **state)
{
	struct fx *f = *state;
	static const uint16_t bad[] = { 0, 3, 12, 100, 65535, 32767, 49152 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vq_init(&f->vq, &f->mem, bad[i], DESC_GPA,
					 AVAIL_GPA, USED_GPA, false),
				 -EINVAL);
		assert_false(f->vq.ready);
		assert_int_equal(vq_pop(&f->vq, &f->chain), -ENOENT);
	}
	assert_int_equal(vq_init(&f->vq, &f->mem, 1, DESC_GPA, AVAIL_GPA,
				 USED_GPA, false),
			 0);
	/* The largest size, with rings placed to fit. */
	assert_int_equal(vq_init(&f->vq, &f->mem, 32768, MEM_GPA,
				 MEM_GPA + 0x80000, MEM_GPA + 0x100000, true),
			 0);
	assert_true(f->vq.ready);
}

static void test_init_rings(void **state)
{
	struct fx *f = *state;
	struct virtqueue *vq = &f->vq;
	const struct guest_mem *m = &f->mem;
	uint64_t end = MEM_GPA + MEM_SIZE;

	/* Alignment. */
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA + 8, AVAIL_GPA, USED_GPA, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, AVAIL_GPA + 1, USED_GPA, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, AVAIL_GPA, USED_GPA + 2, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4, false), 0);
	/* Outside memory. */
	assert_int_equal(vq_init(vq, m, 16, 0, AVAIL_GPA, USED_GPA, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, end, USED_GPA, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, AVAIL_GPA, end + 0x1000, false), -EINVAL);
	/* Crossing the end, by one byte each (event fields included). */
	assert_int_equal(vq_init(vq, m, 16, end - 16 * 16 + 16, AVAIL_GPA, USED_GPA, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, end - 16 * 16, AVAIL_GPA, USED_GPA, false), 0);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, end - (6 + 2 * 16) + 2, USED_GPA, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, end - (6 + 2 * 16), USED_GPA, false), 0);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, AVAIL_GPA, end - (6 + 8 * 16) + 2, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, AVAIL_GPA, end - (6 + 8 * 16) - 2, false), 0);
	/* Wrapping 2^64. */
	assert_int_equal(vq_init(vq, m, 16, UINT64_MAX - 15, AVAIL_GPA, USED_GPA, false), -EINVAL);
	assert_int_equal(vq_init(vq, m, 16, DESC_GPA, AVAIL_GPA, UINT64_MAX - 3, false), -EINVAL);
	assert_int_equal(vq_init(vq, NULL, 16, DESC_GPA, AVAIL_GPA, USED_GPA, false), -EINVAL);
}

/* ---- restore (snapshots) ---- */

/*
 * A queue restored from its indices goes on where it was: the chain made
 * available before the snapshot and not taken is popped next, the used
 * ring continues from its index, and the restore writes nothing into the
 * rings (guest RAM holds them as the snapshot left them).
 */
static void test_restore(void **state)
{
	struct fx *f = *state;
	for (uint16_t i = 0; i < 5; i++)
		drv_set_desc(&f->q, i, DATA_GPA + 0x100 * i, 0x10, 0, 0);
	for (uint16_t i = 0; i < 3; i++) {
		drv_make_avail(&f->q, i);
		assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
		assert_int_equal(vq_push_used(&f->vq, i, 4), 0);
	}
	drv_make_avail(&f->q, 3); /* available, not taken */
	vq_disable_notify(&f->vq);
	uint16_t last_avail = f->vq.last_avail_idx, used_idx = f->vq.used_idx;
	uint16_t signalled = f->vq.signalled_used, used_flags = f->vq.used_flags;
	assert_int_equal(last_avail, 3);
	assert_int_equal(used_idx, 3);
	uint8_t *rings = malloc(0x40000);
	assert_non_null(rings);
	memcpy(rings, f->buf, 0x40000);

	vq_reset(&f->vq); /* the new process's queue */
	assert_int_equal(vq_restore(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false,
				    last_avail, used_idx, signalled, used_flags, false),
			 0);
	assert_memory_equal(f->buf, rings, 0x40000); /* rings untouched */
	assert_true(f->vq.ready);
	assert_int_equal(f->vq.last_avail_idx, last_avail);
	assert_int_equal(f->vq.used_idx, used_idx);
	assert_int_equal(f->vq.signalled_used, signalled);
	assert_int_equal(f->vq.used_flags, used_flags);
	assert_true(vq_has_available(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(vq_pop(&f->vq, &f->chain), -ENOENT); /* nothing twice */
	assert_int_equal(vq_push_used(&f->vq, 3, 4), 0);
	assert_int_equal(drv_used(&f->q)->idx, 4);
	assert_int_equal(drv_used(&f->q)->ring[3].id, 3);
	/* What came before is as the driver saw it. */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(drv_used(&f->q)->ring[i].id, i);

	/* A broken queue stays broken; bad rings are refused (not ready). */
	assert_int_equal(vq_restore(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false,
				    3, 3, 3, 0, true),
			 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), -EIO);
	assert_int_equal(vq_restore(&f->vq, &f->mem, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA,
				    false, 0, 0, 0, 0, false),
			 -EINVAL);
	assert_false(f->vq.ready);
	assert_int_equal(vq_restore(&f->vq, &f->mem, 12, DESC_GPA, AVAIL_GPA, USED_GPA, false, 0,
				    0, 0, 0, false),
			 -EINVAL);
	assert_false(f->vq.ready);
	free(rings);
}

/* ---- pop ---- */

static void test_empty(void **state)
{
	struct fx *f = *state;
	assert_false(vq_has_available(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), -ENOENT);
	/* Not ready: nothing to pop either. */
	vq_reset(&f->vq);
	drv_make_avail(&f->q, 0);
	assert_false(vq_has_available(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), -ENOENT);
	assert_int_equal(vq_push_used(&f->vq, 0, 0), -EINVAL);
}

static void test_simple_chain(void **state)
{
	struct fx *f = *state;
	memcpy(drv_host(&f->q, DATA_GPA), "hello", 5);
	drv_set_desc(&f->q, 3, DATA_GPA, 5, 0, 0);
	drv_make_avail(&f->q, 3);
	assert_true(vq_has_available(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_false(vq_has_available(&f->vq));
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.nseg, 1);
	assert_int_equal(f->chain.nread, 1);
	assert_int_equal(f->chain.read_len, 5);
	assert_int_equal(f->chain.write_len, 0);
	assert_ptr_equal(f->chain.segs[0].addr, drv_host(&f->q, DATA_GPA));
	assert_int_equal(f->chain.segs[0].gpa, DATA_GPA);
	assert_false(f->chain.segs[0].writable);
	char buf[8] = { 0 };
	assert_int_equal(vq_chain_read(&f->chain, 0, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(vq_chain_write(&f->chain, 0, "x", 1), 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), -ENOENT);

	assert_int_equal(vq_push_used(&f->vq, 3, 0), 0);
	assert_int_equal(drv_used(&f->q)->idx, 1);
	assert_int_equal(drv_used(&f->q)->ring[0].id, 3);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 0);
	assert_int_equal(vq_push_used(&f->vq, QSIZE, 0), -EINVAL);
	assert_int_equal(drv_used(&f->q)->idx, 1);
}

static void test_multi_chain(void **state)
{
	struct fx *f = *state;
	uint8_t *d = drv_host(&f->q, DATA_GPA);
	memcpy(d, "abcd", 4);
	memcpy(d + 0x100, "efghij", 6);
	/* 5 → 9 → 2 → 7: two readable, two writable. */
	drv_set_desc(&f->q, 5, DATA_GPA, 4, VRING_DESC_F_NEXT, 9);
	drv_set_desc(&f->q, 9, DATA_GPA + 0x100, 6, VRING_DESC_F_NEXT, 2);
	drv_set_desc(&f->q, 2, DATA_GPA + 0x200, 3, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 7);
	drv_set_desc(&f->q, 7, DATA_GPA + 0x300, 8, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 5);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	const struct vq_chain *c = &f->chain;
	assert_int_equal(c->head, 5);
	assert_int_equal(c->nseg, 4);
	assert_int_equal(c->nread, 2);
	assert_int_equal(c->read_len, 10);
	assert_int_equal(c->write_len, 11);
	assert_true(c->segs[2].writable && c->segs[3].writable);
	assert_false(c->segs[0].writable || c->segs[1].writable);

	char buf[16];
	assert_int_equal(vq_chain_read(c, 0, buf, 10), 10);
	assert_memory_equal(buf, "abcdefghij", 10);
	assert_int_equal(vq_chain_read(c, 3, buf, 4), 4);
	assert_memory_equal(buf, "defg", 4);
	assert_int_equal(vq_chain_read(c, 4, buf, 16), 6);
	assert_memory_equal(buf, "efghij", 6);
	assert_int_equal(vq_chain_read(c, 10, buf, 16), 0);
	assert_int_equal(vq_chain_read(c, 1000, buf, 16), 0);
	assert_int_equal(vq_chain_read(c, 9, buf, 0), 0);

	/* Writes never touch the readable part. */
	assert_int_equal(vq_chain_write(c, 0, "0123456789AB", 12), 11);
	assert_memory_equal(d + 0x200, "012", 3);
	assert_memory_equal(d + 0x300, "3456789A", 8);
	assert_memory_equal(d, "abcd", 4);
	assert_int_equal(vq_chain_write(c, 2, "xy", 2), 2);
	assert_memory_equal(d + 0x200, "01x", 3);
	assert_memory_equal(d + 0x300, "y456789A", 8);
	assert_int_equal(vq_chain_write(c, 10, "zz", 2), 1);
	assert_int_equal(d[0x307], 'z');
	assert_int_equal(d[0x308], 0);
	assert_int_equal(vq_chain_write(c, 11, "zz", 2), 0);

	assert_int_equal(vq_push_used(&f->vq, 5, 11), 0);
	assert_int_equal(drv_used(&f->q)->ring[0].id, 5);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 11);
	assert_int_equal(drv_used(&f->q)->idx, 1);
}

static void test_full_length_chain(void **state)
{
	struct fx *f = *state;
	/* Every descriptor of the table in one chain: allowed. */
	for (unsigned i = 0; i < QSIZE; i++)
		drv_set_desc(&f->q, i, DATA_GPA + i, 1,
			 i + 1 < QSIZE ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	drv_make_avail(&f->q, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.nseg, QSIZE);
}

static void test_indirect(void **state)
{
	struct fx *f = *state;
	uint8_t *d = drv_host(&f->q, DATA_GPA);
	memcpy(d, "head", 4);
	memcpy(d + 0x10, "body", 4);
	/* Table entries used in the order 0 → 2 → 1. */
	drv_set_desc_in(&f->q, TABLE_GPA, 0, DATA_GPA + 0x10, 4, VRING_DESC_F_NEXT, 2);
	drv_set_desc_in(&f->q, TABLE_GPA, 2, DATA_GPA + 0x20, 2, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	drv_set_desc_in(&f->q, TABLE_GPA, 1, DATA_GPA + 0x30, 6, VRING_DESC_F_WRITE, 0);
	/* A direct descriptor, then the indirect one (its WRITE flag ignored). */
	drv_set_desc(&f->q, 0, DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
	drv_set_desc(&f->q, 1, TABLE_GPA, 3 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	/* Indirect alone as head. */
	drv_set_desc(&f->q, 4, TABLE_GPA, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_make_avail(&f->q, 4);

	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	const struct vq_chain *c = &f->chain;
	assert_int_equal(c->head, 0);
	assert_int_equal(c->nseg, 4);
	assert_int_equal(c->nread, 2);
	assert_int_equal(c->read_len, 8);
	assert_int_equal(c->write_len, 8);
	assert_int_equal(c->segs[2].gpa, DATA_GPA + 0x20);
	assert_int_equal(c->segs[3].gpa, DATA_GPA + 0x30);
	char buf[8];
	assert_int_equal(vq_chain_read(c, 0, buf, 8), 8);
	assert_memory_equal(buf, "headbody", 8);
	assert_int_equal(vq_chain_write(c, 0, "ABCDEFGH", 8), 8);
	assert_memory_equal(d + 0x20, "AB", 2);
	assert_memory_equal(d + 0x30, "CDEFGH", 6);

	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(c->head, 4);
	assert_int_equal(c->nseg, 3);
	assert_int_equal(c->nread, 1);

	/* Indirect table at an unaligned address (allowed). */
	memmove(drv_host(&f->q, TABLE_GPA + 0x1003), drv_host(&f->q, TABLE_GPA), 3 * 16);
	drv_set_desc(&f->q, 6, TABLE_GPA + 0x1003, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_make_avail(&f->q, 6);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(c->nseg, 3);
	assert_int_equal(c->write_len, 8);
}

static void test_indirect_max_segs(void **state)
{
	struct fx *f = *state;
	for (unsigned i = 0; i < VQ_MAX_SEGS + 1; i++)
		drv_set_desc_in(&f->q, TABLE_GPA, i, DATA_GPA + i, 1, VRING_DESC_F_NEXT,
			    (uint16_t)(i + 1));
	/* Exactly VQ_MAX_SEGS descriptors: fine. */
	drv_desc_at(&f->q, TABLE_GPA, VQ_MAX_SEGS - 1)->flags = 0;
	drv_set_desc(&f->q, 0, TABLE_GPA, VQ_MAX_SEGS * 16, VRING_DESC_F_INDIRECT, 0);
	drv_make_avail(&f->q, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.nseg, VQ_MAX_SEGS);
	assert_int_equal(f->chain.read_len, VQ_MAX_SEGS);
	/* One more: rejected. */
	drv_desc_at(&f->q, TABLE_GPA, VQ_MAX_SEGS - 1)->flags = VRING_DESC_F_NEXT;
	drv_desc_at(&f->q, TABLE_GPA, VQ_MAX_SEGS)->flags = 0;
	drv_set_desc(&f->q, 0, TABLE_GPA, (VQ_MAX_SEGS + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	drv_make_avail(&f->q, 0);
	expect_broken(f);
}

/* Sets up one broken indirect table case on a fresh queue. */
static void indirect_case(struct fx *f, uint64_t addr, uint32_t len,
			  uint16_t flags)
{
	reinit(f, QSIZE, false);
	drv_set_desc(&f->q, 0, addr, len, VRING_DESC_F_INDIRECT | flags, 1);
	drv_set_desc(&f->q, 1, DATA_GPA, 1, 0, 0);
	drv_make_avail(&f->q, 0);
}

static void test_indirect_errors(void **state)
{
	struct fx *f = *state;
	uint64_t end = MEM_GPA + MEM_SIZE;
	for (unsigned i = 0; i < 4; i++)
		drv_set_desc_in(&f->q, TABLE_GPA, i, DATA_GPA, 1, VRING_DESC_F_NEXT,
			    (uint16_t)(i + 1));
	drv_desc_at(&f->q, TABLE_GPA, 3)->flags = 0;

	indirect_case(f, TABLE_GPA, 4 * 16, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0); /* sanity */

	indirect_case(f, TABLE_GPA, 0, 0);
	expect_broken(f);
	indirect_case(f, TABLE_GPA, 24, 0);
	expect_broken(f);
	indirect_case(f, TABLE_GPA, 4 * 16, VRING_DESC_F_NEXT);
	expect_broken(f);
	indirect_case(f, end - 32, 64, 0);
	expect_broken(f);
	indirect_case(f, UINT64_MAX - 31, 64, 0);
	expect_broken(f);
	indirect_case(f, 0x1000, 64, 0);
	expect_broken(f);

	/* Nested indirect. */
	drv_desc_at(&f->q, TABLE_GPA, 2)->flags = VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT;
	indirect_case(f, TABLE_GPA, 4 * 16, 0);
	expect_broken(f);
	drv_desc_at(&f->q, TABLE_GPA, 2)->flags = VRING_DESC_F_NEXT;

	/* Loop inside the table: 0 → 1 → 2 → 3 → 1. */
	drv_desc_at(&f->q, TABLE_GPA, 3)->flags = VRING_DESC_F_NEXT;
	drv_desc_at(&f->q, TABLE_GPA, 3)->next = 1;
	indirect_case(f, TABLE_GPA, 4 * 16, 0);
	expect_broken(f);
	/* Next beyond the table (but inside the queue size). */
	drv_desc_at(&f->q, TABLE_GPA, 3)->next = 4;
	indirect_case(f, TABLE_GPA, 4 * 16, 0);
	expect_broken(f);
	/* Chain ends within the table but the table is shorter than it. */
	drv_desc_at(&f->q, TABLE_GPA, 3)->flags = 0;
	indirect_case(f, TABLE_GPA, 3 * 16, 0);
	expect_broken(f);
	/* A bad buffer inside the table. */
	drv_desc_at(&f->q, TABLE_GPA, 1)->addr = end;
	indirect_case(f, TABLE_GPA, 4 * 16, 0);
	expect_broken(f);
}

static void test_loop(void **state)
{
	struct fx *f = *state;
	/* 0 → 1 → 2 → 0 */
	drv_set_desc(&f->q, 0, DATA_GPA, 1, VRING_DESC_F_NEXT, 1);
	drv_set_desc(&f->q, 1, DATA_GPA, 1, VRING_DESC_F_NEXT, 2);
	drv_set_desc(&f->q, 2, DATA_GPA, 1, VRING_DESC_F_NEXT, 0);
	drv_make_avail(&f->q, 0);
	expect_broken(f);
	/* Self loop, with zero-length descriptors (no segment limit helps). */
	reinit(f, QSIZE, false);
	drv_set_desc(&f->q, 5, 0, 0, VRING_DESC_F_NEXT, 5);
	drv_make_avail(&f->q, 5);
	expect_broken(f);
	/* Broken state is cleared by re-initialization. */
	reinit(f, QSIZE, false);
	drv_set_desc(&f->q, 5, DATA_GPA, 1, 0, 0);
	drv_make_avail(&f->q, 5);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
}

static void test_bad_indices(void **state)
{
	struct fx *f = *state;
	/* next out of range. */
	drv_set_desc(&f->q, 0, DATA_GPA, 1, VRING_DESC_F_NEXT, QSIZE);
	drv_make_avail(&f->q, 0);
	expect_broken(f);
	/* head out of range. */
	reinit(f, QSIZE, false);
	drv_make_avail(&f->q, QSIZE);
	expect_broken(f);
	reinit(f, QSIZE, false);
	drv_make_avail(&f->q, 0xffff);
	expect_broken(f);
}

static void test_bad_buffers(void **state)
{
	struct fx *f = *state;
	uint64_t end = MEM_GPA + MEM_SIZE;
	const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ 0x1000, 1 },             /* below guest memory */
		{ end, 1 },                /* just past it */
		{ end - 4, 5 },            /* straddling the end */
		{ MEM_GPA - 1, 2 },        /* straddling the start */
		{ UINT64_MAX - 10, 100 },  /* wrapping 2^64 */
		{ UINT64_MAX, 1 },
		{ DATA_GPA, MEM_SIZE },    /* too long */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reinit(f, QSIZE, false);
		drv_set_desc(&f->q, 0, DATA_GPA, 4, VRING_DESC_F_NEXT, 1);
		drv_set_desc(&f->q, 1, bad[i].addr, bad[i].len, VRING_DESC_F_WRITE, 0);
		drv_make_avail(&f->q, 0);
		expect_broken(f);
	}
	/* Last byte of memory is fine. */
	reinit(f, QSIZE, false);
	drv_set_desc(&f->q, 0, end - 1, 1, 0, 0);
	drv_make_avail(&f->q, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_ptr_equal(f->chain.segs[0].addr, f->buf + MEM_SIZE - 1);
}

static void test_cross_region_buffer(void **state)
{
	struct fx *f = *state;
	uint64_t end = MEM_GPA + MEM_SIZE;
	uint8_t *second = calloc(1, 0x1000);
	assert_non_null(second);
	/* A region right after the first one, backed by other host memory. */
	assert_int_equal(guest_mem_add(&f->mem, end, 0x1000, second), 0);
	reinit(f, QSIZE, false);
	drv_set_desc(&f->q, 0, end - 8, 16, 0, 0);
	drv_make_avail(&f->q, 0);
	expect_broken(f);
	reinit(f, QSIZE, false);
	drv_set_desc(&f->q, 0, end, 16, 0, 0);
	drv_make_avail(&f->q, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_ptr_equal(f->chain.segs[0].addr, second);
	free(second);
}

static void test_order_rule(void **state)
{
	struct fx *f = *state;
	drv_set_desc(&f->q, 0, DATA_GPA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	drv_set_desc(&f->q, 1, DATA_GPA, 4, 0, 0);
	drv_make_avail(&f->q, 0);
	expect_broken(f);
	/* Also across the direct → indirect boundary. */
	reinit(f, QSIZE, false);
	drv_set_desc_in(&f->q, TABLE_GPA, 0, DATA_GPA, 4, 0, 0);
	drv_set_desc(&f->q, 0, DATA_GPA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	drv_set_desc(&f->q, 1, TABLE_GPA, 16, VRING_DESC_F_INDIRECT, 0);
	drv_make_avail(&f->q, 0);
	expect_broken(f);
}

static void test_zero_length(void **state)
{
	struct fx *f = *state;
	/* A chain of only zero-length descriptors (bogus addresses unchecked). */
	drv_set_desc(&f->q, 0, UINT64_MAX, 0, VRING_DESC_F_NEXT, 1);
	drv_set_desc(&f->q, 1, 0, 0, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.head, 0);
	assert_int_equal(f->chain.nseg, 0);
	assert_int_equal(f->chain.nread, 0);
	assert_int_equal(f->chain.read_len, 0);
	assert_int_equal(f->chain.write_len, 0);
	char buf[4];
	assert_int_equal(vq_chain_read(&f->chain, 0, buf, 4), 0);
	assert_int_equal(vq_chain_write(&f->chain, 0, buf, 4), 0);
	assert_int_equal(vq_push_used(&f->vq, 0, 0), 0);
	/* Zero-length descriptors mixed in are skipped. */
	drv_set_desc(&f->q, 2, DATA_GPA, 0, VRING_DESC_F_NEXT, 3);
	drv_set_desc(&f->q, 3, DATA_GPA, 4, VRING_DESC_F_NEXT, 4);
	drv_set_desc(&f->q, 4, 0, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 5);
	drv_set_desc(&f->q, 5, DATA_GPA + 8, 4, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 2);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.nseg, 2);
	assert_int_equal(f->chain.nread, 1);
	assert_int_equal(f->chain.read_len, 4);
	assert_int_equal(f->chain.write_len, 4);
	/* The ordering rule still applies to them. */
	drv_set_desc(&f->q, 6, DATA_GPA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 7);
	drv_set_desc(&f->q, 7, DATA_GPA, 0, 0, 0);
	drv_make_avail(&f->q, 6);
	expect_broken(f);
}

static void test_avail_jump(void **state)
{
	struct fx *f = *state;
	drv_set_desc(&f->q, 0, DATA_GPA, 1, 0, 0);
	/* Exactly size entries: fine. */
	for (unsigned i = 0; i < QSIZE; i++)
		drv_make_avail(&f->q, 0);
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), -ENOENT);
	/* size + 1 ahead: broken. */
	f->q.avail_idx += QSIZE + 1;
	drv_publish(&f->q);
	expect_broken(f);
	/* Going backwards looks like a huge jump too. */
	reinit(f, QSIZE, false);
	f->q.avail_idx = 0xffff;
	drv_publish(&f->q);
	expect_broken(f);
}

static void test_unpop(void **state)
{
	struct fx *f = *state;
	drv_set_desc(&f->q, 0, DATA_GPA, 1, 0, 0);
	drv_set_desc(&f->q, 1, DATA_GPA, 2, 0, 0);
	drv_make_avail(&f->q, 0);
	drv_make_avail(&f->q, 1);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	vq_unpop(&f->vq, 2);
	assert_true(vq_has_available(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.head, 0);
	vq_unpop(&f->vq, 1);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.head, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.head, 1);
}

/* Pops one chain (head 0) and pushes it back. */
static void roundtrip(struct fx *f, uint32_t written)
{
	drv_make_avail(&f->q, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(vq_push_used(&f->vq, f->chain.head, written), 0);
}

static void test_wraparound(void **state)
{
	struct fx *f = *state;
	drv_set_desc(&f->q, 0, DATA_GPA, 1, 0, 0);
	for (uint32_t i = 0; i < 65536 + 20; i++) {
		roundtrip(f, i);
		uint16_t idx = (uint16_t)(i + 1);
		assert_int_equal(drv_used(&f->q)->idx, idx);
		assert_int_equal(drv_used(&f->q)->ring[i % QSIZE].len, i);
	}
	assert_int_equal(f->vq.last_avail_idx, 20);
	assert_int_equal(f->vq.used_idx, 20);
}

/* ---- notifications ---- */

static void test_notify_no_event_idx(void **state)
{
	struct fx *f = *state;
	drv_set_desc(&f->q, 0, DATA_GPA, 1, 0, 0);
	assert_false(vq_needs_notify(&f->vq)); /* nothing pushed */
	roundtrip(f, 0);
	assert_true(vq_needs_notify(&f->vq));
	assert_false(vq_needs_notify(&f->vq)); /* already decided */
	drv_avail(&f->q)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	roundtrip(f, 0);
	roundtrip(f, 0);
	assert_false(vq_needs_notify(&f->vq));
	drv_avail(&f->q)->flags = 0;
	assert_false(vq_needs_notify(&f->vq));
	roundtrip(f, 0);
	assert_true(vq_needs_notify(&f->vq));
	/* used_event is ignored without EVENT_IDX. */
	*drv_used_event(&f->q) = 100;
	roundtrip(f, 0);
	assert_true(vq_needs_notify(&f->vq));
}

static void test_notify_event_idx(void **state)
{
	struct fx *f = *state;
	reinit(f, QSIZE, true);
	drv_set_desc(&f->q, 0, DATA_GPA, 1, 0, 0);
	/* NO_INTERRUPT is ignored with EVENT_IDX. */
	drv_avail(&f->q)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*drv_used_event(&f->q) = 0;
	roundtrip(f, 0); /* used 0 → 1: event 0 crossed */
	assert_true(vq_needs_notify(&f->vq));
	roundtrip(f, 0); /* 1 → 2: event 0 already behind */
	assert_false(vq_needs_notify(&f->vq));
	*drv_used_event(&f->q) = 3;
	roundtrip(f, 0); /* 2 → 3 */
	assert_false(vq_needs_notify(&f->vq));
	roundtrip(f, 0); /* 3 → 4: entry 3 used */
	assert_true(vq_needs_notify(&f->vq));
	/* A batch 4 → 7 crossing event 5. */
	*drv_used_event(&f->q) = 5;
	roundtrip(f, 0);
	roundtrip(f, 0);
	roundtrip(f, 0);
	assert_true(vq_needs_notify(&f->vq));
	/* Batch 7 → 9 not reaching event 20. */
	*drv_used_event(&f->q) = 20;
	roundtrip(f, 0);
	roundtrip(f, 0);
	assert_false(vq_needs_notify(&f->vq));
	assert_false(vq_needs_notify(&f->vq));

	/* Wrap-around: move used idx to 65534 with nothing wanted. */
	while (f->vq.used_idx != 65534) {
		*drv_used_event(&f->q) = (uint16_t)(f->vq.used_idx - 1);
		roundtrip(f, 0);
		assert_false(vq_needs_notify(&f->vq));
	}
	*drv_used_event(&f->q) = 65535;
	roundtrip(f, 0); /* 65534 → 65535 */
	assert_false(vq_needs_notify(&f->vq));
	roundtrip(f, 0); /* 65535 → 0 */
	assert_true(vq_needs_notify(&f->vq));
	*drv_used_event(&f->q) = 0;
	roundtrip(f, 0); /* 0 → 1 */
	assert_true(vq_needs_notify(&f->vq));
	/* Batch crossing the wrap: 65534 → 2 with event 1. */
	while (f->vq.used_idx != 65534) {
		*drv_used_event(&f->q) = (uint16_t)(f->vq.used_idx - 1);
		roundtrip(f, 0);
		assert_false(vq_needs_notify(&f->vq));
	}
	*drv_used_event(&f->q) = 1;
	for (int i = 0; i < 4; i++)
		roundtrip(f, 0);
	assert_int_equal(f->vq.used_idx, 2);
	assert_true(vq_needs_notify(&f->vq));
	/* Batch 2 → 4 with event 65535 (behind): no. */
	*drv_used_event(&f->q) = 65535;
	roundtrip(f, 0);
	roundtrip(f, 0);
	assert_false(vq_needs_notify(&f->vq));
}

static void test_notify_full_lap(void **state)
{
	struct fx *f = *state;
	reinit(f, QSIZE, true);
	drv_set_desc(&f->q, 0, DATA_GPA, 1, 0, 0);
	/* 65536 pushes without a decision: notify whatever used_event says. */
	*drv_used_event(&f->q) = 0x8000;
	for (uint32_t i = 0; i < 65536; i++)
		roundtrip(f, 0);
	assert_int_equal(f->vq.used_idx, 0);
	assert_true(vq_needs_notify(&f->vq));
}

static void test_suppress_kicks(void **state)
{
	struct fx *f = *state;
	drv_set_desc(&f->q, 0, DATA_GPA, 1, 0, 0);
	/* Without EVENT_IDX: the used->flags bit. */
	vq_disable_notify(&f->vq);
	assert_int_equal(drv_used(&f->q)->flags, VRING_USED_F_NO_NOTIFY);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(drv_used(&f->q)->flags, 0);
	vq_disable_notify(&f->vq);
	drv_make_avail(&f->q, 0);
	assert_true(vq_enable_notify(&f->vq)); /* work arrived meanwhile */
	assert_int_equal(drv_used(&f->q)->flags, 0);
	assert_int_equal(*drv_avail_event(&f->q), 0);  /* untouched */

	/* With EVENT_IDX: avail_event, flags untouched. */
	reinit(f, QSIZE, true);
	drv_make_avail(&f->q, 0);
	drv_make_avail(&f->q, 0);
	drv_make_avail(&f->q, 0);
	vq_disable_notify(&f->vq);
	assert_int_equal(drv_used(&f->q)->flags, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(*drv_avail_event(&f->q), 3);
	assert_int_equal(drv_used(&f->q)->flags, 0);
	drv_make_avail(&f->q, 0);
	assert_true(vq_enable_notify(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	vq_set_avail_event(&f->vq);
	assert_int_equal(*drv_avail_event(&f->q), 4);
}

/* ---- robustness ---- */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Mostly sane values, sometimes garbage: reaches the deep paths. */
static bool rare(uint64_t *s)
{
	return rnd(s) % 16 == 0;
}

static uint64_t random_addr(uint64_t *s)
{
	if (!rare(s))
		return DATA_GPA + rnd(s) % 0x10000;
	switch (rnd(s) % 3) {
	case 0:
		return rnd(s);
	case 1:
		return MEM_GPA + MEM_SIZE - rnd(s) % 64;
	default:
		return MEM_GPA + rnd(s) % MEM_SIZE;
	}
}

static uint32_t random_len(uint64_t *s)
{
	return rare(s) ? (uint32_t)rnd(s) : (uint32_t)(rnd(s) % 64);
}

static uint16_t random_flags(uint64_t *s, bool allow_indirect)
{
	if (rare(s))
		return (uint16_t)rnd(s);
	uint16_t fl = 0;
	if (rnd(s) % 3)
		fl |= VRING_DESC_F_NEXT;
	if (rnd(s) % 4 == 0)
		fl |= VRING_DESC_F_WRITE;
	if (allow_indirect && rnd(s) % 6 == 0) {
		fl |= VRING_DESC_F_INDIRECT;
		if (!rare(s))
			fl &= (uint16_t)~VRING_DESC_F_NEXT;
	}
	return fl;
}

static void random_desc(uint64_t *s, struct fx *f, uint64_t table, unsigned i,
			unsigned n)
{
	uint16_t fl = random_flags(s, table == DESC_GPA);
	uint16_t next = (uint16_t)(rare(s) ? rnd(s) : rnd(s) % n);
	if (fl & VRING_DESC_F_INDIRECT) {
		/* Point into the indirect area, mostly well-formed. */
		uint64_t first = rnd(s) % 64, cnt = 1 + rnd(s) % 64;
		drv_set_desc_in(&f->q, table, i,
			    rare(s) ? random_addr(s) : TABLE_GPA + 16 * first,
			    rare(s) ? random_len(s) : (uint32_t)(16 * cnt), fl,
			    next);
		return;
	}
	drv_set_desc_in(&f->q, table, i, random_addr(s), random_len(s), fl, next);
}

static void test_random_rings(void **state)
{
	struct fx *f = *state;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	for (int round = 0; round < 4000; round++) {
		uint16_t size = (uint16_t)(1u << (rnd(&seed) % 9));
		reinit(f, size, rnd(&seed) & 1);
		for (unsigned i = 0; i < size; i++)
			random_desc(&seed, f, DESC_GPA, i, size);
		for (unsigned i = 0; i < 128; i++)
			random_desc(&seed, f, TABLE_GPA, i, 128);
		for (unsigned i = 0; i < size; i++)
			drv_avail(&f->q)->ring[i] = (uint16_t)(rare(&seed) ? rnd(&seed)
								   : rnd(&seed) % size);
		f->q.avail_idx = (uint16_t)(rare(&seed) ? rnd(&seed)
						      : rnd(&seed) % (size + 1u));
		drv_publish(&f->q);
		for (int i = 0; i < 2 * size + 2; i++) {
			int r = vq_pop(&f->vq, &f->chain);
			assert_true(r == 0 || r == -ENOENT || r == -EIO);
			if (r)
				break;
			const struct vq_chain *c = &f->chain;
			assert_true(c->nseg <= VQ_MAX_SEGS && c->nread <= c->nseg);
			assert_true(c->head < size);
			uint64_t rl = 0, wl = 0;
			for (unsigned k = 0; k < c->nseg; k++) {
				const struct vq_seg *sg = &c->segs[k];
				assert_true(sg->len > 0);
				assert_true(sg->writable == (k >= c->nread));
				assert_true(sg->addr >= f->buf &&
					    sg->addr + sg->len <= f->buf + MEM_SIZE);
				*(sg->writable ? &wl : &rl) += sg->len;
			}
			assert_true(rl == c->read_len && wl == c->write_len);
			/* Touch the bytes: ASan checks they are in the buffer. */
			uint8_t tmp[64];
			size_t n = vq_chain_read(c, rnd(&seed) % 64, tmp, sizeof(tmp));
			vq_chain_write(c, rnd(&seed) % 64, tmp, n);
			assert_int_equal(vq_push_used(&f->vq, c->head, 0), 0);
			vq_needs_notify(&f->vq);
		}
	}
}

static void test_chain_4gib_limit(void **state)
{
	struct fx *f = *state;
	const uint64_t big_gpa = 1ULL << 40, big_size = 8ULL << 30;
	/* Reserved, never touched: vq_pop does not access buffers. */
	void *big = mmap(NULL, big_size, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (big == MAP_FAILED)
		skip();
	assert_int_equal(guest_mem_add(&f->mem, big_gpa, big_size, big), 0);
	reinit(f, QSIZE, false);
	/* Exactly 2^32 bytes: allowed. */
	drv_set_desc(&f->q, 0, big_gpa, 0x80000000u, VRING_DESC_F_NEXT, 1);
	drv_set_desc(&f->q, 1, big_gpa + 0x80000000u, 0x80000000u, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_int_equal(f->chain.read_len, 0x80000000u);
	assert_int_equal(f->chain.write_len, 0x80000000u);
	/* One byte more: rejected. */
	drv_set_desc(&f->q, 1, big_gpa + 0x80000000u, 0x80000001u, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	expect_broken(f);
	munmap(big, big_size);
}

int main(void)
{
	/* The -EIO cases log warnings by design; keep the output readable. */
	log_set_level(LOG_ERROR);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_init_size),
		T(test_init_rings),
		T(test_restore),
		T(test_empty),
		T(test_simple_chain),
		T(test_multi_chain),
		T(test_full_length_chain),
		T(test_indirect),
		T(test_indirect_max_segs),
		T(test_indirect_errors),
		T(test_loop),
		T(test_bad_indices),
		T(test_bad_buffers),
		T(test_cross_region_buffer),
		T(test_order_rule),
		T(test_zero_length),
		T(test_avail_jump),
		T(test_unpop),
		T(test_wraparound),
		T(test_notify_no_event_idx),
		T(test_notify_event_idx),
		T(test_notify_full_lap),
		T(test_suppress_kicks),
		T(test_random_rings),
		T(test_chain_4gib_limit),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
