/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng device tests without a transport: the test plays the
 * transport (vq_init, activate, kick eventfd, fake notify/needs-reset
 * callbacks) and the driver (rings in a plain buffer used as guest memory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest_mem.h"
#include "log.h"
#include "virtio/rng.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x200000ULL
#define DESC_GPA (MEM_GPA + 0x0)
#define AVAIL_GPA (MEM_GPA + 0x1000)
#define USED_GPA (MEM_GPA + 0x2000)
#define DATA_GPA (MEM_GPA + 0x10000)
#define QSIZE 16

struct fx {
	uint8_t *buf;
	struct guest_mem mem;
	struct virtio_rng *rng;
	struct virtio_dev *vd;
	struct drv_queue q; /* kick_fd: the eventfd the test made */
	struct drv_transport t;
};

/* Plays the transport: configures queue 0 and activates the device. */
static void start(struct fx *f, const struct rng_config *cfg)
{
	assert_int_equal(virtio_rng_create(&f->rng, cfg, &f->mem), 0);
	f->vd = virtio_rng_vdev(f->rng);
	assert_int_equal(f->vd->device_id, VIRTIO_ID_RNG);
	assert_int_equal(f->vd->nqueues, 1);
	assert_int_equal(f->vd->queue_max_size, VIRTIO_RNG_QUEUE_SIZE);
	assert_int_equal(f->vd->config_size, 0);
	assert_int_equal(f->vd->ops->features(f->vd->dev), 0);
	f->vd->kick_fd[0] = f->q.kick_fd;
	drv_fake_transport(f->vd, &f->t);
	f->vd->features_negotiated = 1ULL << VIRTIO_F_VERSION_1;
	drv_queue_enable(&f->q, &f->vd->vqs[0], &f->mem);
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	if (!f->buf)
		return -1;
	f->q = (struct drv_queue){
		.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
		.desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA,
		.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
	};
	if (f->q.kick_fd < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_rng_destroy(f->rng);
	close(f->q.kick_fd);
	free(f->buf);
	free(f);
	return 0;
}

static bool all_same(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i] != p[0])
			return false;
	return true;
}

static void test_fill_one(void **state)
{
	struct fx *f = *state;
	start(f, &(struct rng_config){ .enabled = true });
	drv_set_desc(&f->q, 0, DATA_GPA, 4096, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].id, 0);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 4096);
	assert_false(all_same(drv_host(&f->q, DATA_GPA), 4096));
	/* Nothing written past the buffer. */
	assert_true(all_same(drv_host(&f->q, DATA_GPA + 4096), 4096));
	assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + 4096), 0);
	assert_true(drv_wait_count(&f->t.notified[0], 1));
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
	assert_int_equal(atomic_load(&f->vd->requests), 1);
	assert_int_equal(atomic_load(&f->vd->bytes), 4096);
}

static void test_multiple_chains(void **state)
{
	struct fx *f = *state;
	start(f, NULL);
	/* Chain 0: one 100-byte buffer. Chain 1: two buffers (3 + 500).
	 * Chain 2: 1 byte. Two kicks. */
	drv_set_desc(&f->q, 0, DATA_GPA, 100, VRING_DESC_F_WRITE, 0);
	drv_set_desc(&f->q, 1, DATA_GPA + 0x1000, 3, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	drv_set_desc(&f->q, 2, DATA_GPA + 0x2000, 500, VRING_DESC_F_WRITE, 0);
	drv_set_desc(&f->q, 3, DATA_GPA + 0x3000, 1, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	drv_make_avail(&f->q, 1);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 2));
	drv_make_avail(&f->q, 3);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 3));
	assert_int_equal(drv_used(&f->q)->ring[0].id, 0);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 100);
	assert_int_equal(drv_used(&f->q)->ring[1].id, 1);
	assert_int_equal(drv_used(&f->q)->ring[1].len, 503);
	assert_int_equal(drv_used(&f->q)->ring[2].id, 3);
	assert_int_equal(drv_used(&f->q)->ring[2].len, 1);
	assert_false(all_same(drv_host(&f->q, DATA_GPA), 100));
	assert_false(all_same(drv_host(&f->q, DATA_GPA + 0x2000), 500));
	/* Two requests' data differ. */
	assert_memory_not_equal(drv_host(&f->q, DATA_GPA),
				drv_host(&f->q, DATA_GPA + 0x2000), 100);
	assert_int_equal(atomic_load(&f->vd->requests), 3);
	assert_int_equal(atomic_load(&f->vd->bytes), 604);
}

/* Driver-readable buffers only: returned with 0 bytes, no reset asked. */
static void test_readable_only(void **state)
{
	struct fx *f = *state;
	start(f, NULL);
	drv_set_desc(&f->q, 0, DATA_GPA, 64, 0, 0);
	drv_make_avail(&f->q, 0);
	/* A readable header then a writable buffer: only the latter is filled. */
	memset(drv_host(&f->q, DATA_GPA + 0x1000), 0x5a, 16);
	drv_set_desc(&f->q, 1, DATA_GPA + 0x1000, 16, VRING_DESC_F_NEXT, 2);
	drv_set_desc(&f->q, 2, DATA_GPA + 0x2000, 32, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 1);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 2));
	assert_int_equal(drv_used(&f->q)->ring[0].id, 0);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 0);
	assert_true(all_same(drv_host(&f->q, DATA_GPA), 64));
	assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA), 0);
	assert_int_equal(drv_used(&f->q)->ring[1].id, 1);
	assert_int_equal(drv_used(&f->q)->ring[1].len, 32);
	assert_true(all_same(drv_host(&f->q, DATA_GPA + 0x1000), 16));
	assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + 0x1000), 0x5a);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

static void test_request_bounded(void **state)
{
	struct fx *f = *state;
	start(f, NULL);
	drv_set_desc(&f->q, 0, DATA_GPA, 0x30000, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].len, VIRTIO_RNG_MAX_REQUEST);
	/* The bytes past the bound are untouched. */
	assert_true(all_same(drv_host(&f->q, DATA_GPA + VIRTIO_RNG_MAX_REQUEST), 0x1000));
	assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + VIRTIO_RNG_MAX_REQUEST), 0);
}

/* A broken ring: the device asks for a reset and keeps running. */
static void test_broken_queue(void **state)
{
	struct fx *f = *state;
	start(f, NULL);
	drv_make_avail(&f->q, QSIZE + 3); /* head out of range */
	drv_kick(&f->q);
	assert_true(drv_wait_count(&f->t.needs_reset, 1));
	assert_int_equal(atomic_load(&f->vd->errors), 1);
	assert_int_equal(drv_used(&f->q)->idx, 0);
	/* More kicks on the broken queue neither crash nor spin. */
	drv_kick(&f->q);
	drv_kick(&f->q);
	/* A transport reset then a fresh queue works again. */
	f->vd->ops->reset(f->vd->dev);
	vq_reset(&f->vd->vqs[0]);
	memset(f->buf, 0, 0x3000);
	f->q.avail_idx = 0;
	assert_int_equal(vq_init(&f->vd->vqs[0], &f->mem, QSIZE, DESC_GPA,
				 AVAIL_GPA, USED_GPA, false),
			 0);
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	drv_set_desc(&f->q, 0, DATA_GPA, 8, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].len, 8);
}

/* EVENT_IDX: the driver asks for an interrupt only at its used_event. */
static void test_event_idx(void **state)
{
	struct fx *f = *state;
	start(f, NULL);
	f->vd->ops->reset(f->vd->dev);
	assert_int_equal(vq_init(&f->vd->vqs[0], &f->mem, QSIZE, DESC_GPA,
				 AVAIL_GPA, USED_GPA, true),
			 0);
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	/* used_event = 5: no interrupt for the first request. */
	__atomic_store_n(&drv_avail(&f->q)->ring[QSIZE], 5, __ATOMIC_RELAXED);
	drv_set_desc(&f->q, 0, DATA_GPA, 8, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 1));
	usleep(20000);
	assert_int_equal(atomic_load(&f->t.notified[0]), 0);
	__atomic_store_n(&drv_avail(&f->q)->ring[QSIZE], 1, __ATOMIC_RELAXED);
	drv_make_avail(&f->q, 0);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 2));
	assert_true(drv_wait_count(&f->t.notified[0], 1));
}

/* A file source is read round and round. */
static void test_file_source(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/cvmm-rng-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	start(f, &(struct rng_config){ .enabled = true, .src = path });
	drv_set_desc(&f->q, 0, DATA_GPA, 8, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	drv_kick(&f->q);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].len, 8);
	assert_memory_equal(drv_host(&f->q, DATA_GPA), "abcabcab", 8);
	unlink(path);
}

/*
 * A source with nothing to give (a pipe without data: EAGAIN, as
 * getrandom() before the host's random pool is initialised): the request
 * waits, and is answered once bytes come, never with 0 bytes. The old
 * device returned it at once with 0 bytes; Linux's driver then never asked
 * again and /dev/hwrng hung (found in the nested rig, tests/nested).
 */
static void test_source_empty_waits(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/cvmm-rng-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	start(f, &(struct rng_config){ .enabled = true, .src = path });
	/* A writer, so the device's reads say EAGAIN, not end of file. */
	int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(w >= 0);
	drv_set_desc(&f->q, 0, DATA_GPA, 64, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0);
	drv_kick(&f->q);
	/* A few retries pass with nothing; the request stays with the device. */
	usleep(5 * VIRTIO_RNG_RETRY_MS * 1000);
	drv_kick(&f->q);
	assert_int_equal(drv_used(&f->q)->idx, 0);
	assert_int_equal(write(w, "xyz", 3), 3);
	assert_true(drv_wait_used_idx(&f->q, 1));
	assert_int_equal(drv_used(&f->q)->ring[0].id, 0);
	assert_int_equal(drv_used(&f->q)->ring[0].len, 3);
	assert_memory_equal(drv_host(&f->q, DATA_GPA), "xyz", 3);
	assert_int_equal(atomic_load(&f->vd->requests), 1);
	/* The writer gone (end of the pipe): the next request waits too, and
	 * a reset while it waits returns. */
	close(w);
	drv_set_desc(&f->q, 1, DATA_GPA + 0x1000, 64, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 1);
	drv_kick(&f->q);
	usleep(3 * VIRTIO_RNG_RETRY_MS * 1000);
	assert_int_equal(drv_used(&f->q)->idx, 1);
	f->vd->ops->reset(f->vd->dev);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
	unlink(path);
	rmdir(dir);
}

static void test_bad_source(void **state)
{
	struct fx *f = *state;
	struct virtio_rng *rng = NULL;
	assert_int_equal(virtio_rng_create(&rng, &(struct rng_config){
					   .enabled = true,
					   .src = "/nonexistent/cvmm-rng" },
				   &f->mem),
			 -ENOENT);
	assert_null(rng);
	assert_int_equal(virtio_rng_create(&rng, &(struct rng_config){
					   .enabled = true, .src = "/tmp" },
				   &f->mem),
			 -EISDIR);
	assert_null(rng);
	/* An empty file could never give a byte. */
	char path[] = "/tmp/cvmm-rng-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(virtio_rng_create(&rng, &(struct rng_config){
					   .enabled = true, .src = path },
				   &f->mem),
			 -EINVAL);
	assert_null(rng);
	unlink(path);
}

/* Reset with the worker running, several times; destroy while active. */
static void test_reset_cycles(void **state)
{
	struct fx *f = *state;
	start(f, NULL);
	for (int i = 0; i < 20; i++) {
		f->vd->ops->reset(f->vd->dev);
		f->vd->ops->reset(f->vd->dev);
		assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
		drv_kick(&f->q);
	}
	/* Activating with the queue not enabled starts nothing, and is fine. */
	f->vd->ops->reset(f->vd->dev);
	vq_reset(&f->vd->vqs[0]);
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
}

/*
 * A driver that keeps refilling, with no kick: the one request's buffer is
 * the avail ring's own idx, and the source file holds the next idx for
 * each request, so serving request k makes request k + 1 available. The
 * file holds `count` values, the first `count` - 1 of them each one more
 * than the last, then, if `stop`, one that adds nothing (the refilling
 * ends after `count` requests); without `stop` the file is all 65536 idx
 * values in order and, read round and round, refills for ever.
 */
static void start_self_refilling(struct fx *f, char *path, unsigned count,
				 bool stop)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	for (unsigned k = 0; k < count; k++) {
		uint16_t next = htole16((uint16_t)(stop && k == count - 1 ? k + 1 : k + 2));
		assert_int_equal(write(fd, &next, 2), 2);
	}
	close(fd);
	drv_set_desc(&f->q, 0, AVAIL_GPA + offsetof(struct vring_avail, idx), 2,
		     VRING_DESC_F_WRITE, 0);
	drv_make_avail(&f->q, 0); /* ring entries are all 0: descriptor 0 */
	start(f, &(struct rng_config){ .enabled = true, .src = path });
}

/* The device thread yields after VIRTIO_RNG_BUDGET chains: one interrupt
 * per budget (before the budget, one wake-up served all in one go). */
static void test_budget_per_wakeup(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/cvmm-rng-XXXXXX";
	const unsigned rounds = 4, n = rounds * VIRTIO_RNG_BUDGET;
	start_self_refilling(f, path, n, true);
	assert_true(drv_wait_used_idx(&f->q, (uint16_t)n));
	assert_true(drv_wait_count(&f->t.notified[0], rounds));
	f->vd->ops->reset(f->vd->dev);
	assert_int_equal(atomic_load(&f->vd->requests), n);
	assert_int_equal(atomic_load(&f->t.notified[0]), rounds);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
	unlink(path);
}

/* A reset completes while the driver refills for ever (before the budget,
 * the device thread never left its handler and the reset never returned). */
static void test_reset_while_refilling(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/cvmm-rng-XXXXXX";
	start_self_refilling(f, path, 65536, false);
	assert_true(drv_wait_count(&f->t.notified[0], 3));
	f->vd->ops->reset(f->vd->dev); /* returns: the thread is gone */
	uint64_t served = atomic_load(&f->vd->requests);
	assert_true(served >= 3 * VIRTIO_RNG_BUDGET);
	assert_int_equal(atomic_load(&f->vd->requests), served);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fill_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiple_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_empty_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_cycles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_per_wakeup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_while_refilling, setup, teardown),
	};
	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
