/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk tests: the test plays the driver. Rings and buffers live in a
 * plain buffer registered as guest memory; the device runs its own thread
 * over a temporary image file (in /tmp) filled with a known pattern; each
 * request is made available, kicked through the eventfd, and waited for
 * (bounded) on the used ring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "config.h"
#include "guest_mem.h"
#include "log.h"
#include "virtio/blk.h"
#include "virtio/blk_uring.h"
#include "virtio/blk_request.h"
#include "virtio/virtio.h"
#include "virtio/worker.h"
#include "log_capture.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x400000ULL
#define DESC_GPA (MEM_GPA + 0x0)
#define AVAIL_GPA (MEM_GPA + 0x10000)
#define USED_GPA (MEM_GPA + 0x20000)
#define ITABLE_GPA (MEM_GPA + 0x30000) /* indirect table */
#define HDR_GPA (MEM_GPA + 0x40000)    /* request headers, 16 bytes apart */
#define STATUS_GPA (MEM_GPA + 0x48000) /* status bytes */
#define DATA_GPA (MEM_GPA + 0x100000)
#define QSIZE 256

#define DISK_SECTORS 128u
#define DISK_BYTES (DISK_SECTORS * 512u)
/* Queue 1's rings (test_multiqueue). */
#define DESC1_GPA (MEM_GPA + 0x50000)
#define AVAIL1_GPA (MEM_GPA + 0x52000)
#define USED1_GPA (MEM_GPA + 0x54000)

/* The engine every test runs on: main() runs the suite once per engine. */
static enum disk_engine engine = DISK_ENGINE_URING;
/* And with guest RAM registered as the ring's fixed buffers (main). */
static bool fixed_buffers;

struct fx {
	uint8_t *buf;
	struct guest_mem mem;
	char path[64];
	int file_fd;                /* test's own view of the image */
	struct disk_config cfg;
	struct virtio_blk *blk;
	struct virtio_dev *vd;
	struct drv_queue q;
	struct drv_transport t;
	uint8_t snapshot[DISK_BYTES];
};

/* ---- driver side ---- */

/* Waits (bounded) until the used ring has `n` more entries than seen. */
static void wait_used(struct fx *f, uint16_t n)
{
	uint16_t want = (uint16_t)(f->q.used_seen + n);
	if (!drv_wait_used_idx(&f->q, want))
		fail_msg("timed out waiting for the used ring (%u/%u)",
			 drv_used_idx(&f->q), want);
	f->q.used_seen = want;
}

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

/* Lays the chain out at descriptors [first, first+n) (or in an indirect table). */
static uint16_t place_chain(struct fx *f, unsigned first, const struct seg *s,
			    unsigned n, bool indirect)
{
	uint64_t table = indirect ? ITABLE_GPA : DESC_GPA;
	unsigned base = indirect ? 0 : first;
	for (unsigned i = 0; i < n; i++)
		drv_set_desc_in(&f->q, table, base + i, s[i].gpa, s[i].len,
				(uint16_t)((s[i].w ? VRING_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VRING_DESC_F_NEXT : 0)),
				(uint16_t)(base + i + 1));
	if (indirect)
		drv_set_desc(&f->q, first, ITABLE_GPA,
			     n * sizeof(struct vring_desc), VRING_DESC_F_INDIRECT,
			     0);
	return (uint16_t)first;
}

/* Submits one chain, waits for it; returns the used length. */
static uint32_t submit(struct fx *f, const struct seg *s, unsigned n,
		       bool indirect)
{
	uint16_t head = place_chain(f, 0, s, n, indirect);
	drv_make_avail(&f->q, head);
	drv_kick(&f->q);
	wait_used(f, 1);
	struct vring_used_elem *e = &drv_used(&f->q)->ring[(uint16_t)(f->q.used_seen - 1) % QSIZE];
	assert_int_equal(e->id, head);
	return e->len;
}

static void set_hdr(struct fx *f, uint64_t gpa, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .ioprio = 0, .sector = sector };
	memcpy(drv_host(&f->q, gpa), &h, sizeof(h));
}

/* A request with one data segment (or none when data_len is 0). */
static uint8_t req(struct fx *f, uint32_t type, uint64_t sector,
		   uint64_t data_gpa, uint32_t data_len, bool data_w,
		   uint32_t *used_len)
{
	set_hdr(f, HDR_GPA, type, sector);
	*(uint8_t *)drv_host(&f->q, STATUS_GPA) = 0xff;
	struct seg s[3];
	unsigned n = 0;
	s[n++] = (struct seg){ HDR_GPA, 16, false };
	if (data_len)
		s[n++] = (struct seg){ data_gpa, data_len, data_w };
	s[n++] = (struct seg){ STATUS_GPA, 1, true };
	uint32_t len = submit(f, s, n, false);
	if (used_len)
		*used_len = len;
	return *(uint8_t *)drv_host(&f->q, STATUS_GPA);
}

/* ---- image ---- */

static uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9) * 13 + 1);
}

static void make_image(struct fx *f, uint64_t size)
{
	snprintf(f->path, sizeof(f->path), "/tmp/cvmm-blk-XXXXXX");
	f->file_fd = mkstemp(f->path);
	assert_true(f->file_fd >= 0);
	uint8_t *p = malloc(size ? size : 1);
	assert_non_null(p);
	for (uint64_t i = 0; i < size; i++)
		p[i] = pat(i);
	assert_int_equal(pwrite(f->file_fd, p, size, 0), (ssize_t)size);
	free(p);
}

static void read_file(struct fx *f, uint64_t off, void *dst, size_t len)
{
	assert_int_equal(pread(f->file_fd, dst, len, (off_t)off), (ssize_t)len);
}

static void take_snapshot(struct fx *f)
{
	read_file(f, 0, f->snapshot, DISK_BYTES);
}

static void assert_file_unchanged(struct fx *f)
{
	uint8_t now[DISK_BYTES];
	struct stat st;
	assert_int_equal(fstat(f->file_fd, &st), 0);
	assert_int_equal(st.st_size, DISK_BYTES);
	read_file(f, 0, now, DISK_BYTES);
	assert_memory_equal(now, f->snapshot, DISK_BYTES);
}

/* ---- device ---- */

static uint64_t dev_features(struct fx *f)
{
	return f->vd->ops->features(f->vd->dev);
}

static bool has_feature(struct fx *f, unsigned bit)
{
	return (dev_features(f) >> bit) & 1;
}

/* Driver init: rings (queue 0 of size qsize), eventfd, features, DRIVER_OK. */
static void start_device_n(struct fx *f, bool event_idx, uint16_t qsize)
{
	struct virtio_dev *vd = f->vd;
	memset(f->buf, 0, 0x60000); /* rings, headers, statuses */
	f->q = (struct drv_queue){
		.mem = f->buf, .mem_gpa = MEM_GPA, .size = qsize,
		.desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA,
		.kick_fd = vd->kick_fd[0], .event_idx = event_idx,
	};
	drv_queue_enable(&f->q, &vd->vqs[0], &f->mem);
	vd->features_negotiated = dev_features(f) | (1ULL << VIRTIO_F_VERSION_1) |
				  (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
				  (event_idx ? 1ULL << VIRTIO_RING_F_EVENT_IDX : 0);
	assert_int_equal(vd->ops->activate(vd->dev), 0);
}

static void start_device(struct fx *f, bool event_idx)
{
	start_device_n(f, event_idx, QSIZE);
}

static int open_device_q(struct fx *f, bool readonly, bool direct,
			 unsigned nqueues)
{
	f->cfg = (struct disk_config){ .path = f->path, .id = "test-disk",
				       .readonly = readonly, .direct = direct,
				       .num_queues = nqueues, .engine = engine,
				       .fixed_buffers = fixed_buffers };
	int r = virtio_blk_create(&f->blk, &f->cfg, &f->mem);
	if (r < 0)
		return r;
	f->vd = virtio_blk_vdev(f->blk);
	drv_fake_transport(f->vd, &f->t);
	for (unsigned q = 0; q < f->vd->nqueues; q++) {
		f->vd->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(f->vd->kick_fd[q] >= 0);
	}
	return 0;
}

static int open_device(struct fx *f, bool readonly, bool direct)
{
	return open_device_q(f, readonly, direct, 0);
}

static void close_device(struct fx *f)
{
	if (!f->blk)
		return;
	f->vd->ops->reset(f->vd->dev);
	for (unsigned q = 0; q < f->vd->nqueues; q++)
		close(f->vd->kick_fd[q]);
	virtio_blk_destroy(f->blk);
	f->blk = NULL;
	f->vd = NULL;
}

static struct fx *fx_alloc(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->file_fd = -1;
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	if (!f->buf) {
		free(f);
		return NULL;
	}
	return f;
}

static int setup_common(void **state, bool readonly)
{
	struct fx *f = fx_alloc();
	if (!f)
		return -1;
	make_image(f, DISK_BYTES);
	if (open_device(f, readonly, false) != 0)
		return -1;
	start_device(f, false);
	take_snapshot(f);
	*state = f;
	return 0;
}

static int setup_rw(void **state)
{
	return setup_common(state, false);
}

static int setup_ro(void **state)
{
	return setup_common(state, true);
}

static int setup_bare(void **state)
{
	struct fx *f = fx_alloc();
	if (!f)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	close_device(f);
	if (f->file_fd >= 0) {
		close(f->file_fd);
		unlink(f->path);
	}
	free(f->buf);
	free(f);
	return 0;
}

static void check_pattern(const uint8_t *p, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != pat(off + i))
			fail_msg("byte %zu (disk offset %llu): %#x, want %#x", i,
				 (unsigned long long)(off + i), p[i], pat(off + i));
	}
}

/* ---- tests ---- */

static void test_config(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->vd;
	assert_int_equal(vd->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(vd->nqueues, 1);
	assert_int_equal(vd->queue_max_size, VIRTIO_BLK_QUEUE_SIZE);
	assert_int_equal(vd->config_size, sizeof(struct virtio_blk_config));
	assert_true(has_feature(f, VIRTIO_BLK_F_SEG_MAX));
	assert_true(has_feature(f, VIRTIO_BLK_F_BLK_SIZE));
	assert_true(has_feature(f, VIRTIO_BLK_F_FLUSH));
	assert_false(has_feature(f, VIRTIO_BLK_F_RO));
	assert_false(has_feature(f, VIRTIO_BLK_F_MQ));

	struct virtio_blk_config c;
	vd->ops->config_read(vd->dev, 0, (uint8_t *)&c, sizeof(c));
	assert_int_equal(c.capacity, DISK_SECTORS);
	assert_int_equal(c.seg_max, VIRTIO_BLK_QUEUE_SIZE - 2);
	assert_int_equal(c.blk_size, 512);
	if (has_feature(f, VIRTIO_BLK_F_DISCARD)) {
		assert_true(c.max_discard_sectors > 0);
		assert_true(c.max_discard_seg > 0);
		assert_true(c.discard_sector_alignment > 0);
	}
	if (has_feature(f, VIRTIO_BLK_F_WRITE_ZEROES)) {
		assert_true(c.max_write_zeroes_sectors > 0);
		assert_true(c.max_write_zeroes_seg > 0);
	}
	/* A field on its own, and reads past the end: zeros. */
	uint32_t seg_max = 0;
	vd->ops->config_read(vd->dev, offsetof(struct virtio_blk_config, seg_max),
			     (uint8_t *)&seg_max, 4);
	assert_int_equal(seg_max, VIRTIO_BLK_QUEUE_SIZE - 2);
	uint8_t tail[8];
	memset(tail, 0xaa, sizeof(tail));
	vd->ops->config_read(vd->dev, vd->config_size - 2, tail, sizeof(tail));
	for (unsigned i = 2; i < sizeof(tail); i++)
		assert_int_equal(tail[i], 0);
	memset(tail, 0xaa, sizeof(tail));
	vd->ops->config_read(vd->dev, UINT32_MAX - 2, tail, sizeof(tail));
	for (unsigned i = 0; i < sizeof(tail); i++)
		assert_int_equal(tail[i], 0);
}

static void test_read(void **state)
{
	struct fx *f = *state;
	uint32_t len;
	memset(drv_host(&f->q, DATA_GPA), 0xee, 4096);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 3, DATA_GPA, 1024, true, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1024 + 1);
	check_pattern(drv_host(&f->q, DATA_GPA), 3 * 512, 1024);
	assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + 1024), 0xee);
	/* The last sector, and a zero-length read. */
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, DATA_GPA, 512,
			     true, &len),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), (DISK_SECTORS - 1) * 512, 512);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, DISK_SECTORS, 0, 0, true, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	assert_int_equal(atomic_load(&f->vd->requests), 3);
	assert_int_equal(atomic_load(&f->vd->bytes), 1024 + 512);
	assert_int_equal(atomic_load(&f->vd->errors), 0);
	assert_true(drv_wait_count(&f->t.notified[0], 1));
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

static void test_write(void **state)
{
	struct fx *f = *state;
	uint32_t len;
	memset(drv_host(&f->q, DATA_GPA), 0xab, 1024);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 5, DATA_GPA, 1024, false, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);
	uint8_t buf[2048];
	read_file(f, 4 * 512, buf, sizeof(buf));
	check_pattern(buf, 4 * 512, 512);
	for (unsigned i = 512; i < 1536; i++)
		assert_int_equal(buf[i], 0xab);
	check_pattern(buf + 1536, 7 * 512, 512);
	/* Read it back through the device. */
	memset(drv_host(&f->q, DATA_GPA + 4096), 0, 1024);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 5, DATA_GPA + 4096, 1024, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(drv_host(&f->q, DATA_GPA + 4096), drv_host(&f->q, DATA_GPA), 1024);
	assert_int_equal(atomic_load(&f->vd->bytes), 2048);
}

static void test_flush_and_id(void **state)
{
	struct fx *f = *state;
	uint32_t len;
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 1);

	memset(drv_host(&f->q, DATA_GPA), 0xee, 64);
	assert_int_equal(req(f, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA,
			     VIRTIO_BLK_ID_BYTES, true, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, VIRTIO_BLK_ID_BYTES + 1);
	char want[VIRTIO_BLK_ID_BYTES] = "test-disk";
	assert_memory_equal(drv_host(&f->q, DATA_GPA), want, VIRTIO_BLK_ID_BYTES);
	/* A shorter buffer gets what fits. */
	memset(drv_host(&f->q, DATA_GPA), 0xee, 64);
	assert_int_equal(req(f, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 4, true, &len),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(drv_host(&f->q, DATA_GPA), "test", 4);
	assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + 4), 0xee);
	assert_int_equal(atomic_load(&f->vd->errors), 0);
}

static void test_default_id(void **state)
{
	struct fx *f = *state;
	make_image(f, DISK_BYTES);
	f->cfg = (struct disk_config){ .path = f->path };
	assert_int_equal(virtio_blk_create(&f->blk, &f->cfg, &f->mem), 0);
	f->vd = virtio_blk_vdev(f->blk);
	f->vd->transport = &f->t;
	f->vd->kick_fd[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	start_device(f, false);
	uint32_t len;
	assert_int_equal(req(f, VIRTIO_BLK_T_GET_ID, 0, DATA_GPA, 32, true, &len),
			 VIRTIO_BLK_S_OK);
	/* "cvmm-blk-XXXXXX": the base name. */
	assert_int_equal(len, VIRTIO_BLK_ID_BYTES + 1);
	assert_memory_equal(drv_host(&f->q, DATA_GPA), strrchr(f->path, '/') + 1,
			    strlen(strrchr(f->path, '/') + 1));
}

static void test_out_of_range(void **state)
{
	struct fx *f = *state;
	uint32_t len;
	memset(drv_host(&f->q, DATA_GPA), 0xee, 4096);
	/* One sector past the end. */
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, DATA_GPA, 1024,
			     true, &len),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, DISK_SECTORS, DATA_GPA, 512,
			     true, NULL),
			 VIRTIO_BLK_S_IOERR);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + i), 0xee);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, DATA_GPA,
			     1024, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, DISK_SECTORS + 100, DATA_GPA,
			     512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* Sectors whose byte offset overflows 64 bits, or nearly. */
	static const uint64_t huge[] = { UINT64_MAX, UINT64_MAX >> 9,
					 (UINT64_MAX >> 9) + 1, 1ULL << 55,
					 UINT64_MAX - 1 };
	for (unsigned i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		assert_int_equal(req(f, VIRTIO_BLK_T_OUT, huge[i], DATA_GPA, 512,
				     false, NULL),
				 VIRTIO_BLK_S_IOERR);
		assert_int_equal(req(f, VIRTIO_BLK_T_IN, huge[i], DATA_GPA, 512,
				     true, NULL),
				 VIRTIO_BLK_S_IOERR);
	}
	assert_file_unchanged(f);
	assert_int_equal(atomic_load(&f->vd->errors), 4 + 2 * 5);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
}

static void test_odd_length(void **state)
{
	struct fx *f = *state;
	memset(drv_host(&f->q, DATA_GPA), 0xee, 1024);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 513, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA), 0xee);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 100, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 511, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_file_unchanged(f);
}

static void test_unsupported(void **state)
{
	struct fx *f = *state;
	/* SCSI, legacy FLUSH_OUT, GET_LIFETIME, SECURE_ERASE, zoned, junk. */
	static const uint32_t types[] = { 2, 3, 5, 10, 14, 16, 99, 0x80000000u,
					  0x80000001u, UINT32_MAX };
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint32_t len;
		assert_int_equal(req(f, types[i], 0, DATA_GPA, 512, false, &len),
				 VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(len, 1);
	}
	assert_file_unchanged(f);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	/*
	 * No writable byte at all: nowhere to put a status. The device does
	 * not execute it and gives the chain back with 0 bytes written; the
	 * queue keeps working (no DEVICE_NEEDS_RESET).
	 */
	memset(drv_host(&f->q, DATA_GPA), 0x5a, 512);
	set_hdr(f, HDR_GPA, VIRTIO_BLK_T_OUT, 0);
	struct seg s[2] = { { HDR_GPA, 16, false }, { DATA_GPA, 512, false } };
	assert_int_equal(submit(f, s, 2, false), 0);
	assert_int_equal(atomic_load(&f->vd->errors), 1);
	assert_file_unchanged(f);
	/* Header alone. */
	assert_int_equal(submit(f, s, 1, false), 0);
	assert_int_equal(atomic_load(&f->vd->errors), 2);

	/* A header shorter than 16 bytes, with a status byte: IOERR. */
	*(uint8_t *)drv_host(&f->q, STATUS_GPA) = 0xff;
	struct seg s2[2] = { { HDR_GPA, 8, false }, { STATUS_GPA, 1, true } };
	assert_int_equal(submit(f, s2, 2, false), 1);
	assert_int_equal(*(uint8_t *)drv_host(&f->q, STATUS_GPA), VIRTIO_BLK_S_IOERR);
	/* Only a status byte. */
	*(uint8_t *)drv_host(&f->q, STATUS_GPA) = 0xff;
	assert_int_equal(submit(f, s2 + 1, 1, false), 1);
	assert_int_equal(*(uint8_t *)drv_host(&f->q, STATUS_GPA), VIRTIO_BLK_S_IOERR);

	/* Still serving. */
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), 0, 512);
	assert_int_equal(atomic_load(&f->t.needs_reset), 0);
	assert_file_unchanged(f);
}

static void test_ring_violation(void **state)
{
	struct fx *f = *state;
	/* A head index past the queue size: the queue is broken. */
	drv_make_avail(&f->q, QSIZE + 3);
	drv_kick(&f->q);
	assert_true(drv_wait_count(&f->t.needs_reset, 1));
	assert_true(atomic_load(&f->vd->errors) >= 1);
	/* Further kicks do nothing (and do not spin). */
	set_hdr(f, HDR_GPA, VIRTIO_BLK_T_IN, 0);
	struct seg s[2] = { { HDR_GPA, 16, false }, { STATUS_GPA, 1, true } };
	drv_make_avail(&f->q, place_chain(f, 0, s, 2, false));
	drv_kick(&f->q);
	usleep(20000);
	assert_int_equal(__atomic_load_n(&drv_used(&f->q)->idx, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(atomic_load(&f->vd->requests), 0);

	/* A reset and a fresh start bring it back. */
	f->vd->ops->reset(f->vd->dev);
	start_device(f, false);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 1, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), 512, 512);
}

static void test_multi_segment(void **state)
{
	struct fx *f = *state;
	for (int indirect = 0; indirect <= 1; indirect++) {
		/* IN of 4 sectors over odd-sized segments; header split in two;
		 * the last data bytes share a descriptor with the status. */
		memset(drv_host(&f->q, DATA_GPA), 0xee, 0x10000);
		set_hdr(f, HDR_GPA, VIRTIO_BLK_T_IN, 10);
		struct seg s[] = {
			{ HDR_GPA, 5, false },
			{ HDR_GPA + 5, 11, false },
			{ DATA_GPA + 0x1001, 100, true },
			{ DATA_GPA + 0x3000, 412, true },
			{ DATA_GPA + 0x5003, 1000, true },
			{ DATA_GPA + 0x7000, 536 + 1, true }, /* + status */
		};
		uint32_t len = submit(f, s, 6, indirect);
		assert_int_equal(len, 2048 + 1);
		assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + 0x7000 + 536),
				 VIRTIO_BLK_S_OK);
		uint8_t got[2048];
		size_t o = 0;
		for (unsigned i = 2; i < 6; i++) {
			uint32_t l = i == 5 ? s[i].len - 1 : s[i].len;
			memcpy(got + o, drv_host(&f->q, s[i].gpa), l);
			o += l;
		}
		check_pattern(got, 10 * 512, 2048);
		assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + 0x1001 + 100), 0xee);

		/* OUT of 3 sectors from 4 segments, data sharing the header's
		 * descriptor, then an oversized writable part (status last). */
		uint8_t *d = drv_host(&f->q, DATA_GPA + 0x9000);
		for (unsigned i = 0; i < 1536; i++)
			d[i] = (uint8_t)(i * 3 + indirect);
		uint8_t *h = drv_host(&f->q, HDR_GPA + 0x100);
		set_hdr(f, HDR_GPA + 0x100, VIRTIO_BLK_T_OUT, 20);
		memcpy(h + 16, d, 300);
		memset(drv_host(&f->q, STATUS_GPA), 0xff, 8);
		struct seg o2[] = {
			{ HDR_GPA + 0x100, 16 + 300, false },
			{ DATA_GPA + 0x9000 + 300, 700, false },
			{ DATA_GPA + 0x9000 + 1000, 36, false },
			{ DATA_GPA + 0x9000 + 1036, 500, false },
			{ STATUS_GPA, 8, true },
		};
		len = submit(f, o2, 5, indirect);
		assert_int_equal(len, 1);
		assert_int_equal(*(uint8_t *)drv_host(&f->q, STATUS_GPA + 7), VIRTIO_BLK_S_OK);
		assert_int_equal(*(uint8_t *)drv_host(&f->q, STATUS_GPA), 0xff);
		uint8_t buf[1536];
		read_file(f, 20 * 512, buf, sizeof(buf));
		assert_memory_equal(buf, d, 1536);
	}
	assert_int_equal(atomic_load(&f->vd->errors), 0);
}

static void test_batch(void **state)
{
	struct fx *f = *state;
	/* 64 reads made available at once, one kick. */
	enum { N = 64 };
	for (unsigned i = 0; i < N; i++) {
		set_hdr(f, HDR_GPA + 16 * i, VIRTIO_BLK_T_IN, i);
		*(uint8_t *)drv_host(&f->q, STATUS_GPA + i) = 0xff;
		struct seg s[3] = {
			{ HDR_GPA + 16 * i, 16, false },
			{ DATA_GPA + 512 * i, 512, true },
			{ STATUS_GPA + i, 1, true },
		};
		drv_make_avail(&f->q, place_chain(f, 3 * i, s, 3, false));
	}
	drv_kick(&f->q);
	wait_used(f, N);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(*(uint8_t *)drv_host(&f->q, STATUS_GPA + i), VIRTIO_BLK_S_OK);
		check_pattern(drv_host(&f->q, DATA_GPA + 512 * i), 512 * i, 512);
	}
	assert_int_equal(atomic_load(&f->vd->requests), N);
	assert_true(drv_wait_count(&f->t.notified[0], 1));
}

static void test_event_idx(void **state)
{
	struct fx *f = *state;
	f->vd->ops->reset(f->vd->dev);
	start_device(f, true);
	for (unsigned i = 0; i < 5; i++) {
		/* Ask for an interrupt for every completion (used_event). */
		__atomic_store_n(&drv_avail(&f->q)->ring[QSIZE], f->q.used_seen,
				 __ATOMIC_RELEASE);
		assert_int_equal(req(f, VIRTIO_BLK_T_IN, i, DATA_GPA, 512, true, NULL),
				 VIRTIO_BLK_S_OK);
		check_pattern(drv_host(&f->q, DATA_GPA), 512 * i, 512);
		/* The interrupt follows the used entry. */
		assert_true(drv_wait_count(&f->t.notified[0], i + 1));
	}
	/* Without a new used_event: no further interrupt. */
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	usleep(20000);
	assert_int_equal(atomic_load(&f->t.notified[0]), 5);
}

static void test_readonly(void **state)
{
	struct fx *f = *state;
	assert_true(has_feature(f, VIRTIO_BLK_F_RO));
	assert_false(has_feature(f, VIRTIO_BLK_F_DISCARD));
	assert_false(has_feature(f, VIRTIO_BLK_F_WRITE_ZEROES));
	memset(drv_host(&f->q, DATA_GPA), 0xab, 512);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 0, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 2, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), 1024, 512);
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_OK);
	struct virtio_blk_discard_write_zeroes r = { .sector = 0, .num_sectors = 8 };
	memcpy(drv_host(&f->q, DATA_GPA), &r, sizeof(r));
	assert_int_equal(req(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, sizeof(r),
			     false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA_GPA,
			     sizeof(r), false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	assert_file_unchanged(f);
}

static uint8_t ranges(struct fx *f, uint32_t type,
		      const struct virtio_blk_discard_write_zeroes *r, unsigned n)
{
	memcpy(drv_host(&f->q, DATA_GPA), r, n * sizeof(*r));
	return req(f, type, 0, DATA_GPA, n * (uint32_t)sizeof(*r), false, NULL);
}

static void assert_zero(struct fx *f, uint64_t off, size_t len)
{
	uint8_t buf[DISK_BYTES];
	read_file(f, off, buf, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			fail_msg("byte %llu not zero", (unsigned long long)(off + i));
}

static void test_discard(void **state)
{
	struct fx *f = *state;
	if (!has_feature(f, VIRTIO_BLK_F_DISCARD)) {
		struct virtio_blk_discard_write_zeroes r = { 8, 8, 0 };
		assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, &r, 1),
				 VIRTIO_BLK_S_UNSUPP);
		skip();
	}
	/* Bad requests first: nothing may change. */
	struct virtio_blk_discard_write_zeroes bad_flag = { 8, 8,
		VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, &bad_flag, 1),
			 VIRTIO_BLK_S_UNSUPP);
	struct virtio_blk_discard_write_zeroes unknown = { 8, 8, 2 };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, &unknown, 1),
			 VIRTIO_BLK_S_UNSUPP);
	struct virtio_blk_discard_write_zeroes past[2] = {
		{ 8, 8, 0 }, { DISK_SECTORS - 4, 8, 0 } };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, past, 2),
			 VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes over = { UINT64_MAX - 2, 8, 0 };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, &over, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req(f, VIRTIO_BLK_T_DISCARD, 0, DATA_GPA, 15, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req(f, VIRTIO_BLK_T_DISCARD, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes many[BLK_MAX_DISCARD_SEG + 1];
	for (unsigned i = 0; i <= BLK_MAX_DISCARD_SEG; i++)
		many[i] = (struct virtio_blk_discard_write_zeroes){ i, 1, 0 };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, many,
				BLK_MAX_DISCARD_SEG + 1),
			 VIRTIO_BLK_S_IOERR);
	assert_file_unchanged(f);

	/* Two ranges, one of them 4 KiB aligned (a real hole), one not. */
	struct virtio_blk_discard_write_zeroes ok[2] = { { 8, 8, 0 }, { 33, 3, 0 } };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, ok, 2), VIRTIO_BLK_S_OK);
	assert_zero(f, 8 * 512, 8 * 512);
	assert_zero(f, 33 * 512, 3 * 512);
	uint8_t buf[512];
	read_file(f, 7 * 512, buf, 512);
	check_pattern(buf, 7 * 512, 512);
	read_file(f, 16 * 512, buf, 512);
	check_pattern(buf, 16 * 512, 512);
	read_file(f, 32 * 512, buf, 512);
	check_pattern(buf, 32 * 512, 512);
	read_file(f, 36 * 512, buf, 512);
	check_pattern(buf, 36 * 512, 512);
	/* Up to the very end, and an empty range. */
	struct virtio_blk_discard_write_zeroes end[2] = {
		{ DISK_SECTORS - 2, 2, 0 }, { DISK_SECTORS, 0, 0 } };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_DISCARD, end, 2), VIRTIO_BLK_S_OK);
	assert_zero(f, (DISK_SECTORS - 2) * 512, 1024);
	struct stat st;
	assert_int_equal(fstat(f->file_fd, &st), 0);
	assert_int_equal(st.st_size, DISK_BYTES);
}

static void test_write_zeroes(void **state)
{
	struct fx *f = *state;
	if (!has_feature(f, VIRTIO_BLK_F_WRITE_ZEROES))
		skip();
	struct virtio_blk_discard_write_zeroes unknown = { 8, 8, 2 | 1 };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &unknown, 1),
			 VIRTIO_BLK_S_UNSUPP);
	struct virtio_blk_discard_write_zeroes past = { DISK_SECTORS - 1, 2, 0 };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &past, 1),
			 VIRTIO_BLK_S_IOERR);
	struct virtio_blk_discard_write_zeroes toolong = {
		0, BLK_MAX_WRITE_ZEROES_SECTORS + 1, 0 };
	assert_int_equal(ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, &toolong, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_file_unchanged(f);

	struct virtio_blk_discard_write_zeroes r[3] = {
		{ 1, 2, 0 },
		{ 16, 16, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
		{ 50, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP },
	};
	assert_int_equal(ranges(f, VIRTIO_BLK_T_WRITE_ZEROES, r, 3),
			 VIRTIO_BLK_S_OK);
	assert_zero(f, 512, 1024);
	assert_zero(f, 16 * 512, 16 * 512);
	assert_zero(f, 50 * 512, 512);
	uint8_t buf[512];
	static const unsigned intact[] = { 0, 3, 15, 32, 49, 51 };
	for (unsigned i = 0; i < sizeof(intact) / sizeof(intact[0]); i++) {
		read_file(f, intact[i] * 512, buf, 512);
		check_pattern(buf, intact[i] * 512, 512);
	}
	/* And through the device. */
	memset(drv_host(&f->q, DATA_GPA + 0x10000), 0xee, 1024);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 1, DATA_GPA + 0x10000, 1024,
			     true, NULL),
			 VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(*(uint8_t *)drv_host(&f->q, DATA_GPA + 0x10000 + i), 0);
	struct stat st;
	assert_int_equal(fstat(f->file_fd, &st), 0);
	assert_int_equal(st.st_size, DISK_BYTES);
}

/* The backend falls back (no ZERO_RANGE, no PUNCH_HOLE) and still zeroes. */
static void test_write_zeroes_fallbacks(void **state)
{
	struct fx *f = *state;
	make_image(f, DISK_BYTES);
	take_snapshot(f);
	struct blk_backend *be = calloc(1, sizeof(*be));
	struct vq_chain *c = calloc(1, sizeof(*c));
	assert_non_null(be);
	assert_non_null(c);
	be->fd = f->file_fd;
	be->capacity_sectors = DISK_SECTORS;
	be->write_zeroes_ok = be->discard_ok = true;
	struct {
		struct virtio_blk_outhdr h;
		struct virtio_blk_discard_write_zeroes r;
	} __attribute__((packed)) in;
	uint8_t status = 0xff;
	c->nseg = 2;
	c->nread = 1;
	c->segs[0] = (struct vq_seg){ .addr = (uint8_t *)&in, .len = sizeof(in) };
	c->segs[1] = (struct vq_seg){ .addr = &status, .len = 1, .writable = true };
	c->read_len = sizeof(in);
	c->write_len = 1;
	struct blk_req_result res;

	for (int mode = 0; mode < 3; mode++) {
		/* 0: nothing works (writes zeros); 1: punch only; 2: both. */
		be->punch_hole_works = mode >= 1;
		be->zero_range_works = mode >= 2;
		for (int unmap = 0; unmap <= 1; unmap++) {
			uint64_t sector = 4 + 8 * (uint64_t)(mode * 2 + unmap);
			in.h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_WRITE_ZEROES };
			in.r = (struct virtio_blk_discard_write_zeroes){
				sector, 5, unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0 };
			status = 0xff;
			assert_int_equal(blk_request_execute(be, c, &res), 0);
			assert_int_equal(status, VIRTIO_BLK_S_OK);
			assert_int_equal(res.used_len, 1);
			assert_zero(f, sector * 512, 5 * 512);
			uint8_t buf[512];
			read_file(f, (sector + 5) * 512, buf, 512);
			check_pattern(buf, (sector + 5) * 512, 512);
			read_file(f, (sector - 1) * 512, buf, 512);
			check_pattern(buf, (sector - 1) * 512, 512);
		}
	}
	/* DISCARD without hole punching is a successful no-op. */
	be->punch_hole_works = false;
	in.h.type = VIRTIO_BLK_T_DISCARD;
	in.r = (struct virtio_blk_discard_write_zeroes){ 100, 4, 0 };
	assert_int_equal(blk_request_execute(be, c, &res), 0);
	assert_int_equal(status, VIRTIO_BLK_S_OK);
	uint8_t buf[2048];
	read_file(f, 100 * 512, buf, sizeof(buf));
	check_pattern(buf, 100 * 512, sizeof(buf));
	free(c);
	free(be);
}

/*
 * A failed flush stays failed: fdatasync() on a pipe fails (EINVAL), the
 * injected error; then the backend points at the real image, where
 * fdatasync would succeed, as it does on Linux once a writeback error has
 * been reported. Until blk_backend_reset_error() (the device reset),
 * FLUSH, OUT and WRITE_ZEROES get IOERR without touching the file; IN and
 * GET_ID still work.
 */
static void test_failed_flush_sticks(void **state)
{
	struct fx *f = *state;
	make_image(f, DISK_BYTES);
	take_snapshot(f);
	struct blk_backend *be = calloc(1, sizeof(*be));
	struct vq_chain *c = calloc(1, sizeof(*c));
	assert_non_null(be);
	assert_non_null(c);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	be->fd = p[1];
	be->capacity_sectors = DISK_SECTORS;
	be->write_zeroes_ok = be->discard_ok = be->punch_hole_works = true;
	struct {
		struct virtio_blk_outhdr h;
		union {
			uint8_t data[512];
			struct virtio_blk_discard_write_zeroes r;
		};
	} __attribute__((packed)) in;
	uint8_t out[513];
	uint8_t status = 0xff;
	struct blk_req_result res;
	/* A header plus readable data (len bytes) and a status byte. */
#define EXEC_OUT(t_, len_) do {                                              \
		memset(&in, 0x5a, sizeof(in));                                \
		in.h = (struct virtio_blk_outhdr){ .type = (t_), .sector = 8 };   \
		*c = (struct vq_chain){ .nseg = 2, .nread = 1,                \
			.read_len = sizeof(in.h) + (len_), .write_len = 1 };  \
		c->segs[0] = (struct vq_seg){ .addr = (uint8_t *)&in,         \
					      .len = (uint32_t)c->read_len }; \
		c->segs[1] = (struct vq_seg){ .addr = &status, .len = 1,      \
					      .writable = true };             \
		status = 0xff;                                                \
		assert_int_equal(blk_request_execute(be, c, &res), 0);        \
	} while (0)

	EXEC_OUT(VIRTIO_BLK_T_FLUSH, 0);
	assert_int_equal(status, VIRTIO_BLK_S_IOERR);
	be->fd = f->file_fd;
	EXEC_OUT(VIRTIO_BLK_T_FLUSH, 0);
	assert_int_equal(status, VIRTIO_BLK_S_IOERR);
	EXEC_OUT(VIRTIO_BLK_T_OUT, 512);
	assert_int_equal(status, VIRTIO_BLK_S_IOERR);
	EXEC_OUT(VIRTIO_BLK_T_WRITE_ZEROES, sizeof(in.r));
	assert_int_equal(status, VIRTIO_BLK_S_IOERR);
	EXEC_OUT(VIRTIO_BLK_T_DISCARD, sizeof(in.r));
	assert_int_equal(status, VIRTIO_BLK_S_IOERR);
	assert_file_unchanged(f);

	/* Reads go on. */
	in.h = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 8 };
	*c = (struct vq_chain){ .nseg = 2, .nread = 1, .read_len = sizeof(in.h),
				.write_len = sizeof(out) };
	c->segs[0] = (struct vq_seg){ .addr = (uint8_t *)&in, .len = sizeof(in.h) };
	c->segs[1] = (struct vq_seg){ .addr = out, .len = sizeof(out), .writable = true };
	assert_int_equal(blk_request_execute(be, c, &res), 0);
	assert_int_equal(out[512], VIRTIO_BLK_S_OK);
	check_pattern(out, 8 * 512, 512);

	/* The device reset clears it: the file takes writes again. */
	blk_backend_reset_error(be);
	EXEC_OUT(VIRTIO_BLK_T_OUT, 512);
	assert_int_equal(status, VIRTIO_BLK_S_OK);
	EXEC_OUT(VIRTIO_BLK_T_FLUSH, 0);
	assert_int_equal(status, VIRTIO_BLK_S_OK);
	uint8_t buf[512];
	read_file(f, 8 * 512, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x5a);
#undef EXEC_OUT
	close(p[0]);
	close(p[1]);
	free(c);
	free(be);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random requests straight into blk_request_execute(): whatever the chain
 * holds, a valid status lands in the last writable byte, the used length
 * stays within the writable part, and the file never grows past the
 * capacity. (A fuzzer would do the same with its input as the chain.)
 */
static void test_random_requests(void **state)
{
	struct fx *f = *state;
	make_image(f, DISK_BYTES);
	struct blk_backend *be = calloc(1, sizeof(*be));
	struct vq_chain *c = calloc(1, sizeof(*c));
	uint8_t *pool = malloc(1 << 16);
	assert_non_null(be);
	assert_non_null(c);
	assert_non_null(pool);
	be->fd = f->file_fd;
	be->capacity_sectors = DISK_SECTORS;
	be->discard_ok = be->write_zeroes_ok = true;
	be->punch_hole_works = be->zero_range_works = true;
	memcpy(be->id, "rnd", 3);
	static const uint32_t types[] = { 0, 1, 4, 8, 11, 13, 2, 99 };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned seen[3] = { 0 };
	for (unsigned it = 0; it < 20000; it++) {
		uint64_t r = xorshift(&seed);
		unsigned nseg = 1 + (unsigned)(r % 6);
		c->nseg = nseg;
		c->nread = (unsigned)((r >> 8) % (nseg + 1));
		c->read_len = c->write_len = 0;
		for (unsigned i = 0; i < nseg; i++) {
			uint64_t q = xorshift(&seed);
			uint32_t len = 1 + (uint32_t)(q % 1200);
			if (q & (1ULL << 40))
				len = 512 * (1 + (uint32_t)((q >> 20) % 4));
			if (i == 0 && c->nread && (q & (1ULL << 41)))
				len = 16;
			uint32_t off = (uint32_t)((q >> 32) % ((1 << 16) - len));
			c->segs[i] = (struct vq_seg){ .addr = pool + off, .len = len,
						      .writable = i >= c->nread };
			if (i < c->nread)
				c->read_len += len;
			else
				c->write_len += len;
		}
		for (unsigned i = 0; i < 64; i++)
			pool[(xorshift(&seed) >> 3) & 0xffff] = (uint8_t)xorshift(&seed);
		if (c->nread && c->segs[0].len >= 16) {
			struct virtio_blk_outhdr h = {
				.type = types[xorshift(&seed) % 8],
				.sector = xorshift(&seed) % (DISK_SECTORS + 4),
			};
			if ((xorshift(&seed) & 15) == 0)
				h.sector = xorshift(&seed);
			memcpy(c->segs[0].addr, &h, sizeof(h));
		}
		struct blk_req_result res;
		int ret = blk_request_execute(be, c, &res);
		if (c->write_len == 0) {
			assert_int_equal(ret, -EINVAL);
			continue;
		}
		assert_int_equal(ret, 0);
		assert_true(res.status <= VIRTIO_BLK_S_UNSUPP);
		seen[res.status]++;
		assert_true(res.used_len >= 1 && res.used_len <= c->write_len);
		uint8_t st;
		const struct vq_seg *last = &c->segs[c->nseg - 1];
		st = last->addr[last->len - 1];
		assert_int_equal(st, res.status);
		struct stat sb;
		assert_int_equal(fstat(f->file_fd, &sb), 0);
		assert_true(sb.st_size <= DISK_BYTES);
	}
	/* Every outcome was exercised. */
	print_message("random: %u OK, %u IOERR, %u UNSUPP\n", seen[0], seen[1], seen[2]);
	assert_true(seen[0] > 100 && seen[1] > 100 && seen[2] > 100);
	free(pool);
	free(c);
	free(be);
}

/* Reads inside the capacity but past the end of a file that shrank: zeros. */
static void test_short_file(void **state)
{
	struct fx *f = *state;
	assert_int_equal(ftruncate(f->file_fd, DISK_BYTES - 1024 - 100), 0);
	memset(drv_host(&f->q, DATA_GPA), 0xee, 2048);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 4, DATA_GPA, 2048,
			     true, NULL),
			 VIRTIO_BLK_S_OK);
	uint8_t *p = drv_host(&f->q, DATA_GPA);
	check_pattern(p, (DISK_SECTORS - 4) * 512, 1024 - 100);
	for (unsigned i = 1024 - 100; i < 2048; i++)
		assert_int_equal(p[i], 0);
}

static void test_size_not_multiple(void **state)
{
	struct fx *f = *state;
	make_image(f, 1000);
	assert_int_equal(open_device(f, false, false), 0);
	start_device(f, false);
	struct virtio_blk_config c;
	f->vd->ops->config_read(f->vd->dev, 0, (uint8_t *)&c, sizeof(c));
	assert_int_equal(c.capacity, 1);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), 0, 512);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 1, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	memset(drv_host(&f->q, DATA_GPA), 0, 1024);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 1, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	struct stat st;
	assert_int_equal(fstat(f->file_fd, &st), 0);
	assert_int_equal(st.st_size, 1000);
}

static void test_lock(void **state)
{
	struct fx *f = *state;
	struct virtio_blk *other = NULL;
	struct disk_config rw = { .path = f->path };
	struct disk_config ro = { .path = f->path, .readonly = true };
	/* f holds the image read-write. */
	assert_int_equal(virtio_blk_create(&other, &rw, &f->mem), -EBUSY);
	assert_null(other);
	assert_int_equal(virtio_blk_create(&other, &ro, &f->mem), -EBUSY);
	/* Released at destroy. */
	close_device(f);
	assert_int_equal(virtio_blk_create(&other, &rw, &f->mem), 0);
	virtio_blk_destroy(other);

	/* Read-only twice is fine; read-write then is not. */
	struct virtio_blk *a = NULL, *b = NULL;
	assert_int_equal(virtio_blk_create(&a, &ro, &f->mem), 0);
	assert_int_equal(virtio_blk_create(&b, &ro, &f->mem), 0);
	assert_int_equal(virtio_blk_create(&other, &rw, &f->mem), -EBUSY);
	virtio_blk_destroy(a);
	virtio_blk_destroy(b);
}

static void test_create_errors(void **state)
{
	struct fx *f = *state;
	struct virtio_blk *b = (void *)1;
	struct disk_config c = { .path = "/nonexistent/cvmm-disk.img" };
	assert_int_equal(virtio_blk_create(&b, &c, &f->mem), -ENOENT);
	assert_null(b);
	c.path = "/tmp";
	assert_true(virtio_blk_create(&b, &c, &f->mem) < 0);
	c.path = "/dev/null"; /* a character device */
	c.readonly = true;
	assert_int_equal(virtio_blk_create(&b, &c, &f->mem), -EINVAL);
	c.path = NULL;
	assert_int_equal(virtio_blk_create(&b, &c, &f->mem), -EINVAL);
}

static void test_direct(void **state)
{
	struct fx *f = *state;
	make_image(f, DISK_BYTES);
	take_snapshot(f);
	int r = open_device(f, false, true);
	if (r == -EINVAL)
		skip(); /* no O_DIRECT on this file system */
	assert_int_equal(r, 0);
	start_device(f, false);
	struct virtio_blk_config c;
	f->vd->ops->config_read(f->vd->dev, 0, (uint8_t *)&c, sizeof(c));
	uint32_t bs = c.blk_size;
	assert_true(bs >= 512 && bs <= 4096);
	/* Aligned buffer: straight to the file. */
	memset(drv_host(&f->q, DATA_GPA), 0xee, 3 * bs);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, bs / 512, DATA_GPA, 2 * bs,
			     true, NULL),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), bs, 2 * bs);
	/* Misaligned buffer and odd segment sizes: through the bounce buffer. */
	memset(drv_host(&f->q, DATA_GPA + 0x20000), 0xee, 3 * bs);
	set_hdr(f, HDR_GPA, VIRTIO_BLK_T_IN, 2 * bs / 512);
	*(uint8_t *)drv_host(&f->q, STATUS_GPA) = 0xff;
	struct seg s[4] = {
		{ HDR_GPA, 16, false },
		{ DATA_GPA + 0x20001, 100, true },
		{ DATA_GPA + 0x30003, 2 * bs - 100, true },
		{ STATUS_GPA, 1, true },
	};
	assert_int_equal(submit(f, s, 4, true), 2 * bs + 1);
	assert_int_equal(*(uint8_t *)drv_host(&f->q, STATUS_GPA), VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA + 0x20001), 2 * bs, 100);
	check_pattern(drv_host(&f->q, DATA_GPA + 0x30003), 2 * bs + 100, 2 * bs - 100);
	/* Misaligned write. */
	uint8_t *d = drv_host(&f->q, DATA_GPA + 0x40001);
	for (unsigned i = 0; i < bs; i++)
		d[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 4 * bs / 512, DATA_GPA + 0x40001,
			     bs, false, NULL),
			 VIRTIO_BLK_S_OK);
	uint8_t buf[4096];
	read_file(f, 4 * bs, buf, bs);
	assert_memory_equal(buf, d, bs);
	/* Aligned write. */
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 6 * bs / 512, DATA_GPA, bs,
			     false, NULL),
			 VIRTIO_BLK_S_OK);
	read_file(f, 6 * bs, buf, bs);
	assert_memory_equal(buf, drv_host(&f->q, DATA_GPA), bs);
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(atomic_load(&f->vd->errors), 0);
}

static void test_reset_reactivate(void **state)
{
	struct fx *f = *state;
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 0, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	f->vd->ops->reset(f->vd->dev);
	assert_false(f->vd->vqs[0].ready);
	f->vd->ops->reset(f->vd->dev); /* twice is fine */
	start_device(f, false);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 9, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), 9 * 512, 512);
	/* Activate while active restarts cleanly too. */
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
}

/* ---- many requests in flight (both engines; some need io_uring) ---- */

/*
 * Adds (not published) request i at descriptors 3i..3i+2: its header at
 * HDR_GPA + 16i, len bytes of data at DATA_GPA + 4096i (device-writable
 * for IN and GET_ID), its status at STATUS_GPA + i (set to 0xff).
 */
static uint16_t add_req(struct fx *f, unsigned i, uint32_t type,
			uint64_t sector, uint32_t len)
{
	uint64_t hdr = HDR_GPA + 16ull * i, st = STATUS_GPA + i;
	set_hdr(f, hdr, type, sector);
	*(uint8_t *)drv_host(&f->q, st) = 0xff;
	struct seg s[3];
	unsigned n = 0;
	s[n++] = (struct seg){ hdr, 16, false };
	if (len)
		s[n++] = (struct seg){ DATA_GPA + 4096ull * i, len,
				       type == VIRTIO_BLK_T_IN ||
					       type == VIRTIO_BLK_T_GET_ID };
	s[n++] = (struct seg){ st, 1, true };
	uint16_t head = place_chain(f, 3 * i, s, n, false);
	drv_add_avail(&f->q, head);
	return head;
}

static uint8_t req_status(struct fx *f, unsigned i)
{
	return *(uint8_t *)drv_host(&f->q, STATUS_GPA + i);
}

static uint8_t *req_data(struct fx *f, unsigned i)
{
	return drv_host(&f->q, DATA_GPA + 4096ull * i);
}

/* The used entry at position pos (0: the first since start). */
static struct vring_used_elem used_at(struct fx *f, uint16_t pos)
{
	return drv_used(&f->q)->ring[pos % f->q.size];
}

/*
 * The device's own fd of the image (not the test's file_fd): found in
 * /proc/self/fd, so that a test can put something else in its place.
 */
static int device_fd(struct fx *f)
{
	int found = -1;
	for (int fd = 0; fd < 1024; fd++) {
		if (fd == f->file_fd)
			continue;
		char link[64], target[128];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strcmp(target, f->path) == 0) {
			assert_int_equal(found, -1); /* only one */
			found = fd;
		}
	}
	assert_true(found >= 0);
	return found;
}

/* Puts `with` in the place of the device's image fd; returns a copy of
 * the image fd, for the test to dup2() back. */
static int swap_fd(struct fx *f, int with)
{
	int fd = device_fd(f);
	int saved = dup(fd);
	assert_true(saved >= 0);
	assert_int_equal(dup2(with, fd), fd);
	return saved;
}

/* Writes go out, complete, then a FLUSH: it succeeds and what the writes
 * put in the file is there (a flush covers what completed before it). */
static void test_flush_after_writes(void **state)
{
	struct fx *f = *state;
	enum { N = 32 };
	for (unsigned i = 0; i < N; i++) {
		memset(req_data(f, i), 0x40 + i, 1024);
		add_req(f, i, VIRTIO_BLK_T_OUT, 2 * i, 1024);
	}
	drv_publish(&f->q);
	drv_kick(&f->q);
	wait_used(f, N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(req_status(f, i), VIRTIO_BLK_S_OK);
	add_req(f, N, VIRTIO_BLK_T_FLUSH, 0, 0);
	drv_publish(&f->q);
	drv_kick(&f->q);
	wait_used(f, 1);
	assert_int_equal(req_status(f, N), VIRTIO_BLK_S_OK);
	uint8_t buf[1024];
	for (unsigned i = 0; i < N; i++) {
		read_file(f, 2 * i * 512ull, buf, sizeof(buf));
		for (unsigned k = 0; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 0x40 + i);
	}
	/* Writes and a flush in one kick: all answered, the data there. */
	for (unsigned i = 0; i < 8; i++) {
		memset(req_data(f, i), 0x80 + i, 512);
		add_req(f, i, VIRTIO_BLK_T_OUT, 100 + i, 512);
	}
	add_req(f, 8, VIRTIO_BLK_T_FLUSH, 0, 0);
	drv_publish(&f->q);
	drv_kick(&f->q);
	wait_used(f, 9);
	for (unsigned i = 0; i <= 8; i++)
		assert_int_equal(req_status(f, i), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 8; i++) {
		read_file(f, (100 + i) * 512ull, buf, 512);
		for (unsigned k = 0; k < 512; k++)
			assert_int_equal(buf[k], 0x80 + i);
	}
	assert_int_equal(atomic_load(&f->vd->errors), 0);
}

/* 64 reads and writes of distinct sectors in one kick: each gets its own
 * status, data and used length, whatever order they complete in. */
static void test_many_in_flight(void **state)
{
	struct fx *f = *state;
	enum { N = 64 };
	for (unsigned i = 0; i < N; i++) {
		if (i % 2) {
			memset(req_data(f, i), 0xee, 512);
			add_req(f, i, VIRTIO_BLK_T_IN, i, 512);
		} else {
			memset(req_data(f, i), (uint8_t)i, 512);
			add_req(f, i, VIRTIO_BLK_T_OUT, i, 512);
		}
	}
	drv_publish(&f->q);
	drv_kick(&f->q);
	wait_used(f, N);
	bool seen[N] = { false };
	for (unsigned k = 0; k < N; k++) {
		struct vring_used_elem e = used_at(f, (uint16_t)k);
		assert_true(e.id % 3 == 0 && e.id / 3 < N);
		unsigned i = e.id / 3;
		assert_false(seen[i]);
		seen[i] = true;
		assert_int_equal(e.len, i % 2 ? 513 : 1);
		assert_int_equal(req_status(f, i), VIRTIO_BLK_S_OK);
		if (i % 2)
			check_pattern(req_data(f, i), i * 512ull, 512);
	}
	uint8_t buf[512];
	for (unsigned i = 0; i < N; i += 2) {
		read_file(f, i * 512ull, buf, sizeof(buf));
		for (unsigned k = 0; k < sizeof(buf); k++)
			assert_int_equal(buf[k], (uint8_t)i);
	}
	assert_int_equal(atomic_load(&f->vd->requests), N);
}

/* A write the file refuses (the image fd swapped for a read-only one):
 * IOERR for that request; reads go on. Both engines. */
static void test_write_ioerr(void **state)
{
	struct fx *f = *state;
	int fd = device_fd(f);
	int ro = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	int saved = dup(fd);
	assert_true(saved >= 0);
	assert_int_equal(dup2(ro, fd), fd);
	memset(req_data(f, 0), 0x11, 512);
	add_req(f, 0, VIRTIO_BLK_T_OUT, 3, 512);
	add_req(f, 1, VIRTIO_BLK_T_IN, 5, 512);
	drv_publish(&f->q);
	drv_kick(&f->q);
	wait_used(f, 2);
	assert_int_equal(req_status(f, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(req_status(f, 1), VIRTIO_BLK_S_OK);
	check_pattern(req_data(f, 1), 5 * 512, 512);
	assert_int_equal(atomic_load(&f->vd->errors), 1);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	close(ro);
	assert_file_unchanged(f);
	/* Not sticky: only a flush poisons. */
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 3, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_OK);
}

/* A flush that fails (fsync on a pipe: EINVAL) stays failed through the
 * device: FLUSH and OUT get IOERR on the good file again, until reset. */
static void test_flush_error_sticky_device(void **state)
{
	struct fx *f = *state;
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int fd = device_fd(f);
	int saved = swap_fd(f, p[1]);
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
	close(p[0]);
	close(p[1]);
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 3, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 3, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	assert_file_unchanged(f);
	f->vd->ops->reset(f->vd->dev);
	start_device(f, false);
	assert_int_equal(req(f, VIRTIO_BLK_T_OUT, 3, DATA_GPA, 512, false, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(req(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL),
			 VIRTIO_BLK_S_OK);
	/* The device remembers for the exit status (blk.h). */
	close_device(f);
	assert_null(f->blk);
}

/*
 * io_uring only: the image fd swapped for a pipe, so that a read waits
 * (in flight) until the test writes its 512 bytes into the pipe.
 */
struct held {
	int p[2];
	int fd, saved;
};

static void hold_reads(struct fx *f, struct held *h)
{
	if (engine != DISK_ENGINE_URING)
		skip();
	assert_int_equal(pipe2(h->p, O_CLOEXEC), 0);
	h->fd = device_fd(f);
	h->saved = swap_fd(f, h->p[0]);
}

static void release_reads(struct held *h, unsigned n, uint8_t byte)
{
	uint8_t buf[512];
	memset(buf, byte, sizeof(buf));
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(write(h->p[1], buf, sizeof(buf)), sizeof(buf));
}

static void unhold(struct held *h)
{
	assert_int_equal(dup2(h->saved, h->fd), h->fd);
	close(h->saved);
	close(h->p[0]);
	close(h->p[1]);
}

/* Completions in any order: a read in flight does not hold back a later
 * request; it is used when it completes, after it. */
static void test_out_of_order(void **state)
{
	struct fx *f = *state;
	struct held h;
	hold_reads(f, &h);
	uint16_t rd = add_req(f, 0, VIRTIO_BLK_T_IN, 0, 512);
	uint16_t id = add_req(f, 1, VIRTIO_BLK_T_GET_ID, 0, 20);
	drv_publish(&f->q);
	drv_kick(&f->q);
	wait_used(f, 1);
	assert_int_equal(used_at(f, 0).id, id);
	assert_int_equal(req_status(f, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(req_status(f, 0), 0xff); /* still in flight */
	assert_int_equal(drv_wait_pending(&f->q, 1, 100), 0);
	release_reads(&h, 1, 0x77);
	wait_used(f, 1);
	assert_int_equal(used_at(f, 1).id, rd);
	assert_int_equal(used_at(f, 1).len, 513);
	assert_int_equal(req_status(f, 0), VIRTIO_BLK_S_OK);
	for (unsigned k = 0; k < 512; k++)
		assert_int_equal(req_data(f, 0)[k], 0x77);
	unhold(&h);
}

/*
 * A read of more segments than a ring slot holds (BLK_URING_IOV) goes
 * through the ring too: held in flight, it does not hold back a later
 * request; its bytes land in every segment once it completes.
 */
static void test_many_segments_in_flight(void **state)
{
	struct fx *f = *state;
	struct held h;
	hold_reads(f, &h);
	enum { N = BLK_URING_IOV + 36 };
	uint64_t hdr = HDR_GPA, st = STATUS_GPA;
	set_hdr(f, hdr, VIRTIO_BLK_T_IN, 0);
	*(uint8_t *)drv_host(&f->q, st) = 0xff;
	struct seg s[N + 2];
	s[0] = (struct seg){ hdr, 16, false };
	for (unsigned i = 0; i < N; i++)
		s[1 + i] = (struct seg){ DATA_GPA + 1024ull * i, 512, true };
	s[N + 1] = (struct seg){ st, 1, true };
	memset(drv_host(&f->q, DATA_GPA), 0xee, 1024 * N);
	uint16_t rd = place_chain(f, 0, s, N + 2, true);
	drv_add_avail(&f->q, rd);
	uint16_t id = add_req(f, 1, VIRTIO_BLK_T_GET_ID, 0, 20);
	drv_publish(&f->q);
	drv_kick(&f->q);
	wait_used(f, 1);
	assert_int_equal(used_at(f, 0).id, id);
	assert_int_equal(req_status(f, 0), 0xff); /* still in flight */
	/* In one write (it fits the pipe): a short read would be finished
	 * with preadv, which a pipe refuses. */
	static uint8_t bytes[512 * N];
	memset(bytes, 0x66, sizeof(bytes));
	assert_int_equal(write(h.p[1], bytes, sizeof(bytes)), sizeof(bytes));
	wait_used(f, 1);
	assert_int_equal(used_at(f, 1).id, rd);
	assert_int_equal(used_at(f, 1).len, 512 * N + 1);
	assert_int_equal(req_status(f, 0), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < N; i++) {
		uint8_t *d = drv_host(&f->q, DATA_GPA + 1024ull * i);
		assert_int_equal(d[0], 0x66);
		assert_int_equal(d[511], 0x66);
		assert_int_equal(d[512], 0xee);
	}
	unhold(&h);
}

/* io_uring: the device thread waits in its ring; each lone request is
 * submitted by the io_uring_enter that then waits for it (never by a
 * submit of its own), and no request needs more than the two enters of
 * its cycle (submit-and-wait, then the wait for the next kick). */
static void test_lone_requests_one_enter(void **state)
{
	struct fx *f = *state;
	if (engine != DISK_ENGINE_URING)
		skip();
	struct blk_uring_stats s0, s1;
	assert_true(virtio_blk_uring_stats(f->blk, &s0));
	enum { N = 8 };
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(req(f, VIRTIO_BLK_T_IN, i, DATA_GPA, 512, true, NULL),
				 VIRTIO_BLK_S_OK);
		check_pattern(drv_host(&f->q, DATA_GPA), i * 512, 512);
	}
	assert_true(virtio_blk_uring_stats(f->blk, &s1));
	assert_int_equal(s1.submits - s0.submits, 0);
	assert_true(s1.submit_waits - s0.submit_waits >= N);
	assert_true(s1.submit_waits - s0.submit_waits + s1.waits - s0.waits <= 2 * N + 2);
}

/* A kick while the thread waits in the ring with a read in flight: the
 * new request is served at once, the read when it completes. */
static void test_kick_while_in_flight(void **state)
{
	struct fx *f = *state;
	struct held h;
	hold_reads(f, &h);
	add_req(f, 0, VIRTIO_BLK_T_IN, 0, 512);
	drv_publish(&f->q);
	drv_kick(&f->q);
	usleep(30 * 1000); /* popped, submitted: the thread waits */
	for (unsigned i = 1; i <= 3; i++) {
		uint16_t id = add_req(f, i, VIRTIO_BLK_T_GET_ID, 0, 20);
		drv_publish(&f->q);
		drv_kick(&f->q);
		wait_used(f, 1);
		assert_int_equal(used_at(f, (uint16_t)(i - 1)).id, id);
		assert_int_equal(req_status(f, i), VIRTIO_BLK_S_OK);
		assert_int_equal(req_status(f, 0), 0xff);
	}
	release_reads(&h, 1, 0x42);
	wait_used(f, 1);
	assert_int_equal(req_status(f, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(req_data(f, 0)[0], 0x42);
	unhold(&h);
}

/* Reset with a request in flight: it is cancelled (or waited for) and
 * nothing reaches the reset queue: no used entry, no status byte. */
static void test_reset_in_flight(void **state)
{
	struct fx *f = *state;
	struct held h;
	hold_reads(f, &h);
	memset(req_data(f, 0), 0xee, 512);
	add_req(f, 0, VIRTIO_BLK_T_IN, 0, 512);
	drv_publish(&f->q);
	drv_kick(&f->q);
	usleep(50 * 1000); /* popped and submitted */
	f->vd->ops->reset(f->vd->dev);
	release_reads(&h, 1, 0x77);
	usleep(20 * 1000);
	assert_int_equal(drv_used_idx(&f->q), 0);
	assert_int_equal(req_status(f, 0), 0xff);
	assert_int_equal(req_data(f, 0)[0], 0xee);
	unhold(&h);
	/* Served again after the next activation. */
	start_device(f, false);
	assert_int_equal(req(f, VIRTIO_BLK_T_IN, 9, DATA_GPA, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	check_pattern(drv_host(&f->q, DATA_GPA), 9 * 512, 512);
}

/* Pause waits for what is in flight: the thread parks only once the read
 * completed (used, interrupted), and touches nothing while parked. */
static void test_pause_in_flight(void **state)
{
	struct fx *f = *state;
	struct held h;
	hold_reads(f, &h);
	add_req(f, 0, VIRTIO_BLK_T_IN, 0, 512);
	drv_publish(&f->q);
	drv_kick(&f->q);
	usleep(50 * 1000);
	struct log_capture cap; /* "did not park within 100 ms": one line */
	log_capture_start(&cap, LOG_ERROR);
	assert_int_equal(virtio_worker_pause(f->vd->worker, 100), -ETIMEDOUT);
	assert_int_equal(log_capture_stop(&cap), 1);
	assert_false(virtio_worker_parked(f->vd->worker));
	unsigned irqs = atomic_load(&f->t.notified[0]);
	release_reads(&h, 1, 0x66);
	uint64_t end = now_ms() + DRV_WAIT_MS;
	while (!virtio_worker_parked(f->vd->worker) && now_ms() < end)
		usleep(DRV_POLL_US);
	assert_true(virtio_worker_parked(f->vd->worker));
	assert_int_equal(drv_used_idx(&f->q), 1);
	assert_int_equal(req_status(f, 0), VIRTIO_BLK_S_OK);
	assert_true(atomic_load(&f->t.notified[0]) > irqs);
	f->q.used_seen = 1;
	/* Parked: a new request waits for the resume. */
	add_req(f, 1, VIRTIO_BLK_T_GET_ID, 0, 20);
	drv_publish(&f->q);
	drv_kick(&f->q);
	assert_int_equal(drv_wait_pending(&f->q, 1, 100), 0);
	virtio_worker_resume(f->vd->worker);
	wait_used(f, 1);
	assert_int_equal(req_status(f, 1), VIRTIO_BLK_S_OK);
	unhold(&h);
}

/*
 * Back-pressure: a guest that keeps a queue of 8 full of the same read
 * (head 0, eight times) has eight requests in flight and no more: the
 * GET_IDs it adds next wait until slots come back, then are served.
 */
static void test_queue_full_backpressure(void **state)
{
	struct fx *f = *state;
	struct held h;
	hold_reads(f, &h);
	f->vd->ops->reset(f->vd->dev);
	start_device_n(f, false, 8);
	uint16_t rd = add_req(f, 0, VIRTIO_BLK_T_IN, 0, 512);
	for (unsigned i = 1; i < 8; i++)
		drv_add_avail(&f->q, rd); /* the same chain again */
	drv_publish(&f->q);
	drv_kick(&f->q);
	usleep(50 * 1000);
	/* Eight more: the avail ring has room again once all were popped. */
	uint16_t id = add_req(f, 1, VIRTIO_BLK_T_GET_ID, 0, 20);
	for (unsigned i = 1; i < 8; i++)
		drv_add_avail(&f->q, id);
	assert_int_equal(atomic_load(&f->vd->requests), 0);
	drv_publish(&f->q);
	drv_kick(&f->q);
	assert_int_equal(drv_wait_pending(&f->q, 1, 200), 0);
	release_reads(&h, 8, 0x55);
	/* (The used ring of 8 wraps: which entry is where is not checked.) */
	wait_used(f, 16);
	assert_int_equal(atomic_load(&f->vd->requests), 16);
	assert_int_equal(req_status(f, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(req_status(f, 1), VIRTIO_BLK_S_OK);
	unhold(&h);
}

/* num_queues=2: MQ offered, num_queues in the configuration; requests
 * on both queues are served and each queue gets its own interrupts. */
static void test_multiqueue(void **state)
{
	struct fx *f = *state;
	make_image(f, DISK_BYTES);
	assert_int_equal(open_device_q(f, false, false, 2), 0);
	struct virtio_dev *vd = f->vd;
	assert_int_equal(vd->nqueues, 2);
	assert_true(has_feature(f, VIRTIO_BLK_F_MQ));
	struct virtio_blk_config c;
	vd->ops->config_read(vd->dev, 0, (uint8_t *)&c, sizeof(c));
	assert_int_equal(c.num_queues, 2);
	/* Queue 1 first: enabled before activate (start_device_n activates). */
	struct drv_queue q1 = {
		.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
		.desc_gpa = DESC1_GPA, .avail_gpa = AVAIL1_GPA, .used_gpa = USED1_GPA,
		.kick_fd = vd->kick_fd[1],
	};
	memset(f->buf, 0, 0x60000);
	drv_queue_enable(&q1, &vd->vqs[1], &f->mem);
	start_device(f, false);
	drv_queue_enable(&q1, &vd->vqs[1], &f->mem); /* start_device cleared */
	/* One read on each queue, queue 1's chain in its own table. */
	add_req(f, 0, VIRTIO_BLK_T_IN, 4, 512);
	drv_publish(&f->q);
	set_hdr(f, HDR_GPA + 16, VIRTIO_BLK_T_IN, 6);
	*(uint8_t *)drv_host(&f->q, STATUS_GPA + 1) = 0xff;
	drv_set_desc(&q1, 0, HDR_GPA + 16, 16, VRING_DESC_F_NEXT, 1);
	drv_set_desc(&q1, 1, DATA_GPA + 4096, 512,
		     VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	drv_set_desc(&q1, 2, STATUS_GPA + 1, 1, VRING_DESC_F_WRITE, 0);
	drv_make_avail(&q1, 0);
	drv_kick(&f->q);
	drv_kick(&q1);
	wait_used(f, 1);
	assert_true(drv_wait_used_idx(&q1, 1));
	assert_int_equal(req_status(f, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(req_status(f, 1), VIRTIO_BLK_S_OK);
	check_pattern(req_data(f, 0), 4 * 512, 512);
	check_pattern(req_data(f, 1), 6 * 512, 512);
	assert_true(drv_wait_count(&f->t.notified[0], 1));
	assert_true(drv_wait_count(&f->t.notified[1], 1));
}

int main(void)
{
	/* Bad requests log by design; keep the output readable. */
	log_set_level(LOG_ERROR);
#define RW(fn) cmocka_unit_test_setup_teardown(fn, setup_rw, teardown)
#define RO(fn) cmocka_unit_test_setup_teardown(fn, setup_ro, teardown)
#define BARE(fn) cmocka_unit_test_setup_teardown(fn, setup_bare, teardown)
	const struct CMUnitTest tests[] = {
		RW(test_config),
		RW(test_read),
		RW(test_write),
		RW(test_flush_and_id),
		BARE(test_default_id),
		RW(test_out_of_range),
		RW(test_odd_length),
		RW(test_unsupported),
		RW(test_malformed),
		RW(test_ring_violation),
		RW(test_multi_segment),
		RW(test_batch),
		RW(test_event_idx),
		RO(test_readonly),
		RW(test_discard),
		RW(test_write_zeroes),
		BARE(test_write_zeroes_fallbacks),
		BARE(test_failed_flush_sticks),
		BARE(test_random_requests),
		RW(test_short_file),
		BARE(test_size_not_multiple),
		RW(test_lock),
		BARE(test_create_errors),
		BARE(test_direct),
		RW(test_reset_reactivate),
		RW(test_flush_after_writes),
		RW(test_many_in_flight),
		RW(test_write_ioerr),
		RW(test_flush_error_sticky_device),
		RW(test_out_of_order),
		RW(test_many_segments_in_flight),
		RW(test_reset_in_flight),
		RW(test_lone_requests_one_enter),
		RW(test_kick_while_in_flight),
		RW(test_pause_in_flight),
		RW(test_queue_full_backpressure),
		BARE(test_multiqueue),
	};
#undef RW
#undef RO
#undef BARE
	/* The whole suite on each engine (io_uring needs the kernel's). */
	engine = DISK_ENGINE_URING;
	int failed = cmocka_run_group_tests_name("virtio-blk, engine=uring",
						 tests, NULL, NULL);
	fixed_buffers = true;
	failed += cmocka_run_group_tests_name("virtio-blk, engine=uring, fixed_buffers=on",
					      tests, NULL, NULL);
	fixed_buffers = false;
	engine = DISK_ENGINE_SYNC;
	failed += cmocka_run_group_tests_name("virtio-blk, engine=sync",
					      tests, NULL, NULL);
	return failed;
}
