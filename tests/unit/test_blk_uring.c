/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk's io_uring engine (blk_uring.c) driven directly, the way blk.c
 * does: a slot, blk_request_prepare, queue, drain. Over a temporary image
 * (in /tmp) filled with a known pattern; requests are hand-built chains
 * over a buffer registered as guest memory. What it checks: fixed buffers
 * (guest RAM registered; a one-segment READ/WRITE goes as READ_FIXED /
 * WRITE_FIXED, anything else as READV/WRITEV, both moving the right
 * bytes), and requests of more than BLK_URING_IOV segments (an array of
 * their own, given back with the slot, at most BLK_URING_BIG at a time),
 * and the device thread's wait in the ring (blk_uring_wait, the test's
 * thread in its place): a lone request submitted and waited for in one
 * io_uring_enter, a kick while waiting, a stop (reset) while waiting with
 * a request in flight. Skipped where the kernel gives no ring.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>

#include "guest_mem.h"
#include "virtio/blk_request.h"
#include "virtio/blk_uring.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x200000ULL
#define IMG_BYTES (1u << 20)
#define NQ 128u

struct fx {
	uint8_t *mem_buf;
	struct guest_mem mem;
	char path[64];
	struct blk_backend be;
	struct blk_uring *u;
	struct vq_chain chain;
	uint8_t hdr[16];
	uint8_t status[NQ];
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

static int fx_setup(void **state, bool fixed)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->mem_buf = aligned_alloc(4096, MEM_SIZE);
	if (!f->mem_buf || guest_mem_add(&f->mem, MEM_GPA, MEM_SIZE, f->mem_buf))
		return -1;
	memset(f->mem_buf, 0, MEM_SIZE);
	snprintf(f->path, sizeof(f->path), "/tmp/cvmm-test-uring-XXXXXX");
	int fd = mkstemp(f->path);
	if (fd < 0)
		return -1;
	static uint8_t img[IMG_BYTES];
	for (unsigned i = 0; i < IMG_BYTES; i++)
		img[i] = pattern(i);
	if (write(fd, img, IMG_BYTES) != IMG_BYTES)
		return -1;
	f->be.fd = fd;
	f->be.capacity_sectors = IMG_BYTES / 512;
	f->be.name = "test";
	int r = blk_uring_create(&f->u, fd, 1, NQ, fixed ? &f->mem : NULL);
	*state = f;
	if (r < 0) {
		f->u = NULL;
		return 0; /* each test skips */
	}
	return 0;
}

static int setup_fixed(void **state)
{
	return fx_setup(state, true);
}

static int setup_plain(void **state)
{
	return fx_setup(state, false);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	blk_uring_destroy(f->u);
	close(f->be.fd);
	unlink(f->path);
	free(f->mem_buf);
	free(f);
	return 0;
}

static void need_ring(struct fx *f)
{
	if (!f->u)
		skip();
}

/*
 * A request's chain: header (type, sector), nseg data segments of seglen
 * bytes at data (spaced by stride), the status byte of slot `tag`.
 */
static void build(struct fx *f, uint32_t type, uint64_t sector, uint8_t *data,
		  unsigned nseg, uint32_t seglen, uint32_t stride, unsigned tag)
{
	struct vq_chain *c = &f->chain;
	memset(c, 0, offsetof(struct vq_chain, segs));
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };
	memcpy(f->hdr, &h, sizeof(h));
	bool w = type == VIRTIO_BLK_T_IN;
	c->segs[c->nseg++] = (struct vq_seg){ f->hdr, 0, 16, false };
	c->read_len = 16;
	c->nread = 1;
	for (unsigned i = 0; i < nseg; i++) {
		c->segs[c->nseg++] = (struct vq_seg){ data + (size_t)stride * i, 0,
						      seglen, w };
		if (w)
			c->write_len += seglen;
		else
			c->read_len += seglen;
	}
	if (!w)
		c->nread = c->nseg;
	f->status[tag] = 0xff;
	c->segs[c->nseg++] = (struct vq_seg){ &f->status[tag], 0, 1, true };
	c->write_len += 1;
}

static void done(void *opaque, struct blk_uring_req *r, int res)
{
	struct fx *f = opaque;
	struct blk_req_result out;
	blk_request_complete(&f->be, &r->io, res, &out);
}

/* Prepares f->chain on a slot; BLK_REQ_ASYNC: queued (not submitted). */
static int queue_chain(struct fx *f, struct blk_uring_req **slot)
{
	struct blk_uring_req *r = blk_uring_get(f->u, 0, NQ);
	assert_non_null(r);
	struct blk_req_result res;
	int rc = blk_request_prepare(&f->be, &f->chain, &r->io, &res);
	if (rc != BLK_REQ_ASYNC) {
		blk_uring_put(f->u, r);
		return rc;
	}
	assert_int_equal(blk_uring_queue(f->u, r), 0);
	if (slot)
		*slot = r;
	return rc;
}

static void run(struct fx *f)
{
	assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
	assert_int_equal(blk_uring_drain(f->u, false, done, f), 0);
	assert_int_equal(blk_uring_inflight(f->u, 0), 0);
}

static void check_file(struct fx *f, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);
	assert_non_null(got);
	assert_int_equal(pread(f->be.fd, got, len, (off_t)off), (ssize_t)len);
	assert_memory_equal(got, want, len);
	free(got);
}

/* A 4 KiB read of `sector` into g (status slot tag): the file's bytes. */
static void read_4k(struct fx *f, uint8_t *g, uint64_t sector, unsigned tag)
{
	build(f, VIRTIO_BLK_T_IN, sector, g, 1, 4096, 4096, tag);
	run(f);
	assert_int_equal(f->status[tag], VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(g[i], pattern(sector * 512 + i));
}

/* A 4 KiB write of `fill` bytes from g to `sector`: the file has them. */
static void write_4k(struct fx *f, uint8_t *g, int fill, uint64_t sector, unsigned tag)
{
	memset(g, fill, 4096);
	build(f, VIRTIO_BLK_T_OUT, sector, g, 1, 4096, 4096, tag);
	run(f);
	assert_int_equal(f->status[tag], VIRTIO_BLK_S_OK);
	check_file(f, sector * 512, g, 4096);
}

/* Guest RAM registered: one-segment reads and writes go as *_FIXED and
 * move the right bytes; two segments, or a buffer outside guest RAM, go
 * as READV/WRITEV. */
static void test_fixed_buffers(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	assert_int_equal(blk_uring_fixed(f->u), 1);
	uint8_t *g = f->mem_buf + 0x10000;

	read_4k(f, g, 8, 0);
	assert_int_equal(blk_uring_fixed_ops(f->u), 1);
	write_4k(f, g, 0x5a, 64, 1);
	assert_int_equal(blk_uring_fixed_ops(f->u), 2);

	/* Two segments: vectored. */
	build(f, VIRTIO_BLK_T_IN, 16, g, 2, 512, 8192, 2);
	run(f);
	assert_int_equal(f->status[2], VIRTIO_BLK_S_OK);
	assert_int_equal(g[0], pattern(16 * 512));
	assert_int_equal(g[8192 + 511], pattern(16 * 512 + 1023));
	assert_int_equal(blk_uring_fixed_ops(f->u), 2);

	/* The last bytes of guest RAM: still inside the buffer. */
	uint8_t *end = f->mem_buf + MEM_SIZE - 512;
	build(f, VIRTIO_BLK_T_IN, 3, end, 1, 512, 512, 3);
	run(f);
	assert_int_equal(f->status[3], VIRTIO_BLK_S_OK);
	assert_int_equal(end[511], pattern(3 * 512 + 511));
	assert_int_equal(blk_uring_fixed_ops(f->u), 3);

	/* Not guest RAM (never the case for a guest's chain, but the engine
	 * must not hand the kernel a buffer it did not register). */
	static uint8_t outside[4096] __attribute__((aligned(4096)));
	build(f, VIRTIO_BLK_T_IN, 40, outside, 1, 4096, 4096, 4);
	run(f);
	assert_int_equal(f->status[4], VIRTIO_BLK_S_OK);
	assert_int_equal(outside[100], pattern(40 * 512 + 100));
	assert_int_equal(blk_uring_fixed_ops(f->u), 3);
}

/* Without fixed buffers: the same requests, vectored, same bytes. */
static void test_no_fixed_buffers(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	assert_int_equal(blk_uring_fixed(f->u), 0);
	uint8_t *g = f->mem_buf + 0x10000;
	read_4k(f, g, 8, 0);
	write_4k(f, g, 0xa5, 64, 1);
	assert_int_equal(blk_uring_fixed_ops(f->u), 0);
}

/* More segments than a slot holds: the ring takes the request whole
 * (an array of its own), the bytes land where they should, and the slot
 * has its own array back once the request completed. */
static void test_many_segments(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	enum { N = 200 };
	uint8_t *g = f->mem_buf + 0x20000;
	build(f, VIRTIO_BLK_T_IN, 100, g, N, 512, 1024, 0);
	struct blk_uring_req *r;
	assert_int_equal(queue_chain(f, &r), BLK_REQ_ASYNC);
	assert_int_equal(r->io.iovcnt, N);
	assert_ptr_not_equal(r->io.iov, r->iov);
	assert_int_equal(blk_uring_drain(f->u, false, done, f), 0);
	assert_int_equal(f->status[0], VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(g[1024 * i], pattern(100 * 512 + 512 * i));
		assert_int_equal(g[1024 * i + 511], pattern(100 * 512 + 512 * i + 511));
		assert_int_equal(g[1024 * i + 512], 0); /* the gaps untouched */
	}
	assert_ptr_equal(r->io.iov, r->iov);
	assert_int_equal(r->io.max_iov, BLK_URING_IOV);

	/* And a write of as many. */
	for (unsigned i = 0; i < N; i++)
		memset(g + 1024 * i, (int)(i + 1), 512);
	build(f, VIRTIO_BLK_T_OUT, 600, g, N, 512, 1024, 1);
	run(f);
	assert_int_equal(f->status[1], VIRTIO_BLK_S_OK);
	uint8_t want[512];
	for (unsigned i = 0; i < N; i++) {
		memset(want, (int)(i + 1), 512);
		check_file(f, 600 * 512 + 512 * i, want, 512);
	}
}

/* At most BLK_URING_BIG such requests hold an array at a time: the next
 * one runs synchronously (done at prepare, same result). */
static void test_many_segments_bounded(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	uint8_t *g = f->mem_buf + 0x20000;
	for (unsigned i = 0; i < BLK_URING_BIG; i++) {
		build(f, VIRTIO_BLK_T_IN, i, g, BLK_URING_IOV + 1, 512, 512, i);
		assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
	}
	build(f, VIRTIO_BLK_T_IN, 7, g, BLK_URING_IOV + 1, 512, 512, BLK_URING_BIG);
	assert_int_equal(queue_chain(f, NULL), 0); /* ran here */
	assert_int_equal(f->status[BLK_URING_BIG], VIRTIO_BLK_S_OK);
	/* BLK_URING_IOV segments still fit a slot's own array. */
	build(f, VIRTIO_BLK_T_IN, 9, g, BLK_URING_IOV, 512, 512, BLK_URING_BIG + 1);
	assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
	assert_int_equal(blk_uring_drain(f->u, false, done, f), 0);
	for (unsigned i = 0; i <= BLK_URING_BIG + 1; i++)
		assert_int_equal(f->status[i], VIRTIO_BLK_S_OK);
	/* All given back: the next big one goes to the ring again. */
	build(f, VIRTIO_BLK_T_IN, 7, g, BLK_URING_IOV + 1, 512, 512, 0);
	run(f);
	assert_int_equal(f->status[0], VIRTIO_BLK_S_OK);
	assert_int_equal(g[0], pattern(7 * 512));
	assert_int_equal(g[64 * 512 + 511], pattern(7 * 512 + 64 * 512 + 511));
}

/* ---- the device thread's wait in the ring (blk_uring_wait) ---- */

struct waitfds {
	int kick, stop; /* polled as fds[0], fds[1] */
};

static void wait_start(struct fx *f, struct waitfds *w)
{
	w->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(w->kick >= 0 && w->stop >= 0);
	int fds[2] = { w->kick, w->stop };
	assert_int_equal(blk_uring_thread_start(f->u, fds, 2), 0);
	/* The kernel's flags decide which ring: the one it says. */
	assert_int_equal(blk_uring_thread_own(f->u), blk_uring_defer(f->u));
}

static void wait_stop(struct fx *f, struct waitfds *w)
{
	blk_uring_thread_stop(f->u);
	assert_false(blk_uring_thread_own(f->u));
	close(w->kick);
	close(w->stop);
}

/* Waits in the ring until something happens: a wait may end with nothing
 * (only a submit done). Returns the requests completed (*ready: fds). */
static int wait_event(struct fx *f, uint32_t *ready)
{
	int n;
	do
		n = blk_uring_wait(f->u, ready, done, f);
	while (n == 0 && *ready == 0);
	assert_true(n >= 0);
	return n;
}

/* Writes 1 to an eventfd after a pause (the test meanwhile waits). */
struct later {
	pthread_t th;
	int fd;
	unsigned ms;
};

static void *write_later(void *arg)
{
	struct later *l = arg;
	usleep(l->ms * 1000);
	uint64_t one = 1;
	assert_int_equal(write(l->fd, &one, sizeof(one)), sizeof(one));
	return NULL;
}

static void start_later(struct later *l, int fd, unsigned ms)
{
	l->fd = fd;
	l->ms = ms;
	assert_int_equal(pthread_create(&l->th, NULL, write_later, l), 0);
}

/* A lone request: one io_uring_enter submits it and waits for its
 * completion (no submit of its own, no second wait), the bytes arrive. */
static void test_lone_submit_and_wait(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	struct waitfds w;
	wait_start(f, &w);
	uint8_t *g = f->mem_buf + 0x10000;
	for (unsigned k = 0; k < 3; k++) {
		struct blk_uring_stats s0, s1;
		blk_uring_get_stats(f->u, &s0);
		build(f, VIRTIO_BLK_T_IN, 8 + k, g, 1, 4096, 4096, k);
		assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
		uint32_t ready = 1234;
		int n = blk_uring_wait(f->u, &ready, done, f);
		/* A file read may complete inside the submit: then the same
		 * call returns it; else a wait without anything to submit
		 * would show as s.waits. */
		assert_int_equal(n, 1);
		assert_int_equal(ready, 0);
		blk_uring_get_stats(f->u, &s1);
		assert_int_equal(s1.submit_waits - s0.submit_waits, 1);
		assert_int_equal(s1.waits - s0.waits, 0);
		assert_int_equal(s1.submits - s0.submits, 0);
		assert_int_equal(f->status[k], VIRTIO_BLK_S_OK);
		assert_int_equal(g[100], pattern((8 + k) * 512 + 100));
		assert_int_equal(blk_uring_inflight(f->u, 0), 0);
	}
	wait_stop(f, &w);
}

/* The image replaced by a pipe: a read stays in flight until the test
 * writes to the pipe. */
static void held_ring(struct fx *f, int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	blk_uring_destroy(f->u);
	assert_int_equal(blk_uring_create(&f->u, p[0], 1, NQ, NULL), 0);
}

/* A request in flight, the thread waiting in the ring: a kick wakes it
 * (the request still in flight), and so does every later kick, without
 * the eventfd being read; then the completion ends a wait of its own. */
static void test_kick_while_waiting(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	int p[2];
	held_ring(f, p);
	struct waitfds w;
	wait_start(f, &w);
	uint8_t *g = f->mem_buf + 0x10000;
	build(f, VIRTIO_BLK_T_IN, 0, g, 1, 512, 512, 0);
	assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
	for (unsigned k = 0; k < 3; k++) {
		struct later l;
		start_later(&l, w.kick, 30);
		uint32_t ready = 0;
		int n = wait_event(f, &ready);
		pthread_join(l.th, NULL);
		assert_int_equal(n, 0);
		assert_int_equal(ready, 1u << 0); /* the kick, not the stop */
		assert_int_equal(blk_uring_inflight(f->u, 0), 1);
		assert_int_equal(f->status[0], 0xff);
	}
	uint8_t data[512];
	memset(data, 0x3c, sizeof(data));
	assert_int_equal(write(p[1], data, sizeof(data)), sizeof(data));
	uint32_t ready = 0;
	int n = wait_event(f, &ready);
	assert_int_equal(n, 1);
	assert_int_equal(ready, 0);
	assert_int_equal(f->status[0], VIRTIO_BLK_S_OK);
	assert_int_equal(g[511], 0x3c);
	wait_stop(f, &w);
	close(p[0]);
	close(p[1]);
}

/* A burst goes to the kernel in pairs as it is queued (blk_uring.c's
 * SUBMIT_EAGER), not all at the next wait: the two first reads complete
 * with no wait at all; the third, alone, is the wait's to submit. */
static void test_burst_in_pairs(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	int p[2];
	held_ring(f, p);
	uint8_t *g = f->mem_buf + 0x10000;
	memset(g, 0xee, 3 * 512);
	struct blk_uring_stats s0, s;
	blk_uring_get_stats(f->u, &s0);
	for (unsigned i = 0; i < 2; i++) {
		build(f, VIRTIO_BLK_T_IN, 0, g + 512 * i, 1, 512, 512, i);
		assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
		blk_uring_get_stats(f->u, &s);
		assert_int_equal(s.submits - s0.submits, i); /* 0, then 1 */
	}
	uint8_t data[1024];
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(write(p[1], data, sizeof(data)), sizeof(data));
	/* Both are in the kernel: they end without a wait (reap enters the
	 * ring only for task work). Bounded, generous: a loaded host. */
	unsigned got = 0;
	for (unsigned tries = 0; got < 2 && tries < 10000; tries++) {
		got += blk_uring_reap(f->u, done, f);
		if (got < 2)
			usleep(1000);
	}
	assert_int_equal(got, 2);
	assert_int_equal(f->status[0], VIRTIO_BLK_S_OK);
	assert_int_equal(f->status[1], VIRTIO_BLK_S_OK);
	assert_int_equal(g[511], 0x5a);
	assert_int_equal(g[1023], 0x5a);
	/* A lone one stays queued for the wait. */
	build(f, VIRTIO_BLK_T_IN, 0, g + 1024, 1, 512, 512, 2);
	assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
	blk_uring_get_stats(f->u, &s);
	assert_int_equal(s.submits - s0.submits, 1);
	assert_int_equal(write(p[1], data, 512), 512);
	assert_int_equal(blk_uring_drain(f->u, false, done, f), 0);
	assert_int_equal(f->status[2], VIRTIO_BLK_S_OK);
	assert_int_equal(g[1024 + 511], 0x5a);
	close(p[0]);
	close(p[1]);
}

/* Where a pair completes inside its submit (reads of the page cache: the
 * fixture's file was just written), the rest of the pass waits for the
 * wait, in one batch; the next pass is eager again. */
static void test_inline_pass_batches(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	uint8_t *g = f->mem_buf + 0x10000;
	struct blk_uring_stats s0, s;
	for (unsigned pass = 0; pass < 2; pass++) {
		blk_uring_get_stats(f->u, &s0);
		for (unsigned i = 0; i < 6; i++) {
			build(f, VIRTIO_BLK_T_IN, i, g + 512 * i, 1, 512, 512, i);
			assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
		}
		blk_uring_get_stats(f->u, &s);
		/* The first pair only; its reads are done already. */
		assert_int_equal(s.submits - s0.submits, 1);
		assert_int_equal(blk_uring_reap(f->u, done, f), 2);
		assert_int_equal(blk_uring_inflight(f->u, 0), 4);
		/* The wait submits the other four (and makes the next pass
		 * eager). */
		uint32_t ready;
		unsigned got = 0;
		while (got < 4)
			got += (unsigned)wait_event(f, &ready);
		for (unsigned i = 0; i < 6; i++) {
			assert_int_equal(f->status[i], VIRTIO_BLK_S_OK);
			assert_int_equal(g[512 * i + 7], pattern(i * 512 + 7));
		}
	}
}

static void count_done(void *opaque, struct blk_uring_req *r, int res)
{
	int *last = opaque;
	(void)r;
	*last = res;
}

/* Reset while waiting in the ring: the stop eventfd ends the wait, the
 * drain cancels the read in flight (it never completes into the queue:
 * -ECANCELED to done, no bytes), the thread's ring goes; a new start makes
 * a new one that serves requests. */
static void test_stop_while_waiting(void **state)
{
	struct fx *f = *state;
	need_ring(f);
	int p[2];
	held_ring(f, p);
	struct waitfds w;
	wait_start(f, &w);
	uint8_t *g = f->mem_buf + 0x10000;
	memset(g, 0xee, 512);
	build(f, VIRTIO_BLK_T_IN, 0, g, 1, 512, 512, 0);
	assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
	struct later l;
	start_later(&l, w.stop, 30);
	uint32_t ready = 0;
	int n = wait_event(f, &ready);
	pthread_join(l.th, NULL);
	assert_int_equal(n, 0);
	assert_int_equal(ready, 1u << 1);
	int last = 1;
	assert_int_equal(blk_uring_drain(f->u, true, count_done, &last), 0);
	assert_int_equal(last, -ECANCELED);
	assert_int_equal(blk_uring_inflight(f->u, 0), 0);
	assert_int_equal(g[0], 0xee);
	wait_stop(f, &w);
	/* Data written now is no request's. */
	uint8_t data[512];
	memset(data, 0x11, sizeof(data));
	assert_int_equal(write(p[1], data, sizeof(data)), sizeof(data));
	/* Started again: a fresh ring, the read gets the pipe's bytes. */
	wait_start(f, &w);
	build(f, VIRTIO_BLK_T_IN, 0, g, 1, 512, 512, 1);
	assert_int_equal(queue_chain(f, NULL), BLK_REQ_ASYNC);
	n = wait_event(f, &ready);
	assert_int_equal(n, 1);
	assert_int_equal(f->status[1], VIRTIO_BLK_S_OK);
	assert_int_equal(g[0], 0x11);
	wait_stop(f, &w);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixed_buffers, setup_fixed, teardown),
		cmocka_unit_test_setup_teardown(test_no_fixed_buffers, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_many_segments, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_many_segments, setup_fixed, teardown),
		cmocka_unit_test_setup_teardown(test_many_segments_bounded, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_lone_submit_and_wait, setup_plain, teardown),
		/* With fixed buffers: the shared ring (no thread ring). */
		cmocka_unit_test_setup_teardown(test_lone_submit_and_wait, setup_fixed, teardown),
		cmocka_unit_test_setup_teardown(test_burst_in_pairs, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_inline_pass_batches, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_kick_while_waiting, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_waiting, setup_plain, teardown),
	};
	return cmocka_run_group_tests_name("blk io_uring engine", tests, NULL, NULL);
}
