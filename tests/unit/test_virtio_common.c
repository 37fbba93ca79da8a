/* SPDX-License-Identifier: MIT */
/*
 * What every virtio device shares (virtio/common.c), through a test device
 * of its own: the configuration space reader (bounds, partial reads, the
 * hook for changing fields, the generation behind a transport), the setup
 * helper (what it fills, what it refuses), activate/reset (the device
 * thread, queue kicks and the device's own fds, idle activations, the
 * initial kick) and the queue loops (serve: used lengths, budget, retry,
 * a broken ring; receive: kick and pop).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus.h"
#include "guest_mem.h"
#include "log.h"
#include "log_capture.h"
#include "virtio/common.h"
#include "virtio/core.h"
#include "virtio/mmio.h"
#include "vq_driver.h"

#define MEM_GPA 0x100000ULL
#define MEM_SIZE 0x100000ULL
#define DESC_GPA (MEM_GPA + 0x0)
#define AVAIL_GPA (MEM_GPA + 0x1000)
#define USED_GPA (MEM_GPA + 0x2000)
#define BUF_GPA (MEM_GPA + 0x10000)
#define QSIZE 16
#define MMIO_ADDR 0xd0000000ULL

/* The test device's configuration space: 12 bytes, little-endian. */
struct tdev_config {
	uint32_t magic;
	uint16_t status; /* changes: config_update */
	uint16_t pad;
	uint8_t tail[4];
};

struct tdev {
	struct virtio_common common;
	struct tdev_config config;
	_Atomic uint16_t status;
	int src_fd;       /* an fd of the device's own (eventfd), or -1 */
	int activate_ret; /* what the activate hook returns */
	unsigned src_idx;
	_Atomic unsigned kicked[2];
	_Atomic unsigned fd_calls;
	_Atomic unsigned last_fd_idx;
	unsigned activates, resets;
	/* serve(): what it writes, and which call answers RETRY (0: none). */
	unsigned served;
	unsigned retry_at;
};

struct fx {
	uint8_t *buf;
	struct guest_mem mem;
	struct tdev *t;
	struct virtio_dev *vd;
	struct drv_queue q[2];
	struct drv_transport tr;
};

/* ---- the test device ---- */

static void t_config_update(void *dev, void *cfg)
{
	struct tdev *t = dev;
	struct tdev_config *c = cfg;
	c->status = htole16(atomic_load(&t->status));
}

static void t_kicked(void *dev, unsigned q)
{
	struct tdev *t = dev;
	assert_true(q < 2);
	atomic_fetch_add(&t->kicked[q], 1);
}

static void t_fd_ready(void *dev, unsigned idx)
{
	struct tdev *t = dev;
	eventfd_drain(t->src_fd);
	atomic_store(&t->last_fd_idx, idx);
	atomic_fetch_add(&t->fd_calls, 1);
}

static int t_activate(void *dev)
{
	struct tdev *t = dev;
	t->activates++;
	if (t->activate_ret)
		return t->activate_ret;
	if (t->src_fd >= 0) {
		int r = virtio_common_add_fd(&t->common, t->src_fd, EPOLLIN);
		if (r < 0)
			return r;
		t->src_idx = (unsigned)r;
	}
	return 0;
}

static void t_reset(void *dev)
{
	((struct tdev *)dev)->resets++;
}

static int t_serve(void *dev, struct vq_chain *c, uint32_t *written)
{
	struct tdev *t = dev;
	t->served++;
	if (t->retry_at && t->served == t->retry_at)
		return VIRTIO_SERVE_RETRY;
	*written = (uint32_t)c->write_len;
	return 0;
}

static struct virtio_common_params t_params(struct tdev *t,
					    const struct guest_mem *mem)
{
	return (struct virtio_common_params){
		.name = "test-dev",
		.label = "test-dev (unit)",
		.thread_name = "a-thread-name-longer-than-15",
		.device_id = VIRTIO_ID_RNG,
		.nqueues = 2,
		.queue_max_size = QSIZE,
		.queue_names = { "t-q0", "t-q1" },
		.features = 1ULL << 3,
		.config = &t->config,
		.config_size = sizeof(t->config),
		.config_update = t_config_update,
		.queue_kicked = t_kicked,
		.fd_ready = t_fd_ready,
		.activate = t_activate,
		.reset = t_reset,
		.mem = mem,
		.dev = t,
	};
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	f->buf = drv_mem_alloc(&f->mem, MEM_GPA, MEM_SIZE);
	f->t = calloc(1, sizeof(*f->t));
	if (!f->buf || !f->t)
		return -1;
	struct tdev *t = f->t;
	t->config = (struct tdev_config){ .magic = htole32(0x11223344),
					  .tail = { 0xa1, 0xa2, 0xa3, 0xa4 } };
	t->src_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->src_fd < 0)
		return -1;
	struct virtio_common_params p = t_params(t, &f->mem);
	if (virtio_common_init(&t->common, &p))
		return -1;
	f->vd = &t->common.vd;
	for (unsigned q = 0; q < 2; q++) {
		f->q[q] = (struct drv_queue){
			.mem = f->buf, .mem_gpa = MEM_GPA, .size = QSIZE,
			.desc_gpa = DESC_GPA + q * 0x4000,
			.avail_gpa = AVAIL_GPA + q * 0x4000,
			.used_gpa = USED_GPA + q * 0x4000,
			.buf_gpa = BUF_GPA + q * 0x10000, .buf_size = 256,
			.slots = QSIZE / 2,
			.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
		};
		if (f->q[q].kick_fd < 0)
			return -1;
		f->vd->kick_fd[q] = f->q[q].kick_fd;
	}
	drv_fake_transport(f->vd, &f->tr);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	virtio_common_destroy(&f->t->common);
	for (unsigned q = 0; q < 2; q++)
		close(f->q[q].kick_fd);
	close(f->t->src_fd);
	free(f->t);
	free(f->buf);
	free(f);
	return 0;
}

static void config_read(struct fx *f, uint32_t off, uint8_t *data, uint32_t len)
{
	f->vd->ops->config_read(f->vd->dev, off, data, len);
}

/* ---- the configuration space reader ---- */

static void test_config_read_bounds(void **state)
{
	(void)state;
	const uint8_t cfg[6] = { 1, 2, 3, 4, 5, 6 };
	uint8_t d[8];

	memset(d, 0xee, sizeof(d));
	virtio_config_read(cfg, sizeof(cfg), 0, d, 6);
	assert_memory_equal(d, cfg, 6);
	assert_int_equal(d[6], 0xee); /* nothing past len */

	/* Partial reads anywhere inside. */
	virtio_config_read(cfg, sizeof(cfg), 2, d, 3);
	assert_memory_equal(d, ((uint8_t[]){ 3, 4, 5 }), 3);
	virtio_config_read(cfg, sizeof(cfg), 5, d, 1);
	assert_int_equal(d[0], 6);

	/* Straddling the end: the rest reads 0. */
	memset(d, 0xee, sizeof(d));
	virtio_config_read(cfg, sizeof(cfg), 4, d, 4);
	assert_memory_equal(d, ((uint8_t[]){ 5, 6, 0, 0 }), 4);

	/* At, past and far past the end; no overflow near 2^32. */
	static const uint8_t zero[8];
	uint32_t offs[] = { 6, 7, 4096, UINT32_MAX - 3, UINT32_MAX };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		memset(d, 0xee, sizeof(d));
		virtio_config_read(cfg, sizeof(cfg), offs[i], d, 8);
		assert_memory_equal(d, zero, 8);
	}

	/* No space at all, or no struct: zeros. */
	memset(d, 0xee, sizeof(d));
	virtio_config_read(cfg, 0, 0, d, 4);
	assert_memory_equal(d, zero, 4);
	memset(d, 0xee, sizeof(d));
	virtio_config_read(NULL, 12, 0, d, 8);
	assert_memory_equal(d, zero, 8);

	/* len 0 writes nothing. */
	memset(d, 0xee, sizeof(d));
	virtio_config_read(cfg, sizeof(cfg), 0, d, 0);
	assert_int_equal(d[0], 0xee);
}

static void test_config_through_ops(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->vd->config_size, sizeof(struct tdev_config));
	struct tdev_config c;
	atomic_store(&f->t->status, 0x0102);
	config_read(f, 0, (uint8_t *)&c, sizeof(c));
	assert_int_equal(le32toh(c.magic), 0x11223344);
	assert_int_equal(le16toh(c.status), 0x0102);
	assert_memory_equal(c.tail, ((uint8_t[]){ 0xa1, 0xa2, 0xa3, 0xa4 }), 4);

	/* The changing field, byte by byte, as a driver may read it. */
	atomic_store(&f->t->status, 0xbeef);
	uint8_t b[2];
	config_read(f, offsetof(struct tdev_config, status), &b[0], 1);
	config_read(f, offsetof(struct tdev_config, status) + 1, &b[1], 1);
	assert_int_equal(b[0], 0xef);
	assert_int_equal(b[1], 0xbe);
	/* The device's own struct is not written by a read. */
	assert_int_equal(f->t->config.status, 0);

	/* Past the end: zeros, also where the hook's copy has room. */
	uint8_t past[8];
	memset(past, 0xee, sizeof(past));
	config_read(f, sizeof(c) - 2, past, 8);
	assert_memory_equal(past, ((uint8_t[]){ 0xa3, 0xa4, 0, 0, 0, 0, 0, 0 }), 8);
	memset(past, 0xee, sizeof(past));
	config_read(f, UINT32_MAX - 1, past, 8);
	assert_memory_equal(past, ((uint8_t[8]){ 0 }), 8);
}

/* The generation a driver reads moves with each change the device reports,
 * and the new value is there when it does (virtio-mmio, no KVM). */
static void test_config_generation(void **state)
{
	struct fx *f = *state;
	struct bus bus;
	assert_int_equal(bus_init(&bus, "mmio"), 0);
	struct virtio_mmio *m;
	assert_int_equal(virtio_mmio_create(&m, f->vd, &bus, MMIO_ADDR, 5, NULL), 0);
	uint8_t d[4];
#define RD32(off)                                                              \
	(assert_true(bus_access(&bus, MMIO_ADDR + (off), d, 4, false)),        \
	 (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 |         \
		 (uint32_t)d[3] << 24)
	uint32_t status_off = VIRTIO_MMIO_CONFIG + offsetof(struct tdev_config, status);
	uint32_t gen0 = RD32(VIRTIO_MMIO_CONFIG_GENERATION);
	assert_int_equal(RD32(VIRTIO_MMIO_CONFIG), 0x11223344);
	assert_int_equal(RD32(status_off) & 0xffff, 0);
	/* Unchanged: the same generation, however often it is read. */
	assert_int_equal(RD32(VIRTIO_MMIO_CONFIG_GENERATION), gen0);

	atomic_store(&f->t->status, 7);
	f->vd->notify_config(f->vd);
	uint32_t gen1 = RD32(VIRTIO_MMIO_CONFIG_GENERATION);
	assert_int_not_equal(gen1, gen0);
	assert_int_equal(RD32(status_off) & 0xffff, 7);
	atomic_store(&f->t->status, 9);
	f->vd->notify_config(f->vd);
	assert_int_not_equal(RD32(VIRTIO_MMIO_CONFIG_GENERATION), gen1);
	assert_int_equal(RD32(status_off) & 0xffff, 9);
	/* Past the device's space (12 bytes), the window reads 0. */
	assert_int_equal(RD32(VIRTIO_MMIO_CONFIG + 12), 0);
#undef RD32
	virtio_transport_destroy(virtio_mmio_transport(m));
	bus_destroy(&bus);
	/* The transport took the kick fds it made: the test's again. */
	for (unsigned q = 0; q < 2; q++)
		f->vd->kick_fd[q] = f->q[q].kick_fd;
	drv_fake_transport(f->vd, &f->tr);
}

/* ---- the setup helper ---- */

static void test_init_fills_vdev(void **state)
{
	struct fx *f = *state;
	struct virtio_dev *vd = f->vd;
	assert_string_equal(vd->name, "test-dev");
	assert_int_equal(vd->device_id, VIRTIO_ID_RNG);
	assert_int_equal(vd->nqueues, 2);
	assert_int_equal(vd->queue_max_size, QSIZE);
	assert_int_equal(vd->config_size, sizeof(struct tdev_config));
	assert_ptr_equal(vd->dev, &f->t->common);
	assert_ptr_equal(vd->mem, &f->mem);
	assert_ptr_equal(vd->worker, &f->t->common.worker);
	assert_non_null(vd->ops->config_read);
	assert_null(vd->ops->config_write);
	assert_int_equal(vd->ops->features(vd->dev), 1ULL << 3);
	assert_string_equal(vd->vqs[0].name, "t-q0");
	assert_string_equal(vd->vqs[1].name, "t-q1");
	assert_null(vd->vqs[2].name);
	assert_string_equal(f->t->common.label, "test-dev (unit)");
	assert_string_equal(f->t->common.thread_name, "a-thread-name-l");
	assert_false(virtio_worker_running(&f->t->common.worker));

	/* Kick fds are the transport's to make: -1 until then. */
	struct virtio_common c;
	struct virtio_common_params p = t_params(f->t, &f->mem);
	p.label = NULL;
	assert_int_equal(virtio_common_init(&c, &p), 0);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		assert_int_equal(c.vd.kick_fd[q], -1);
	assert_string_equal(c.label, "test-dev"); /* no label: the name */
	virtio_common_destroy(&c);
	virtio_common_destroy(&c); /* twice is fine */
}

static void test_init_rejects(void **state)
{
	struct fx *f = *state;
	struct virtio_common c;
	struct virtio_common_params good = t_params(f->t, &f->mem), p;
#define REJECT(field, value)                                                   \
	do {                                                                   \
		p = good;                                                      \
		p.field = value;                                               \
		assert_int_equal(virtio_common_init(&c, &p), -EINVAL);         \
		assert_false(c.initialized);                                   \
		virtio_common_destroy(&c);                                     \
	} while (0)
	REJECT(name, NULL);
	REJECT(thread_name, NULL);
	REJECT(nqueues, 0);
	REJECT(nqueues, VIRTIO_MAX_QUEUES + 1);
	REJECT(queue_max_size, 0);
	REJECT(config_size, VIRTIO_COMMON_CONFIG_MAX + 1);
	REJECT(queue_kicked, NULL);
	REJECT(mem, NULL);
#undef REJECT
	assert_int_equal(virtio_common_init(&c, NULL), -EINVAL);
}

/* ---- activate and reset ---- */

static void test_activate_serves_kicks_and_fds(void **state)
{
	struct fx *f = *state;
	struct tdev *t = f->t;
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	assert_true(virtio_worker_running(&t->common.worker));
	assert_int_equal(t->activates, 1);
	assert_int_equal(t->src_idx, 2); /* after the two queues */

	drv_kick(&f->q[1]);
	assert_true(drv_wait_count(&t->kicked[1], 1));
	assert_int_equal(atomic_load(&t->kicked[0]), 0);
	drv_kick(&f->q[0]);
	assert_true(drv_wait_count(&t->kicked[0], 1));
	/* The kick eventfds were drained: no second call. */
	assert_idle(50);
	assert_int_equal(atomic_load(&t->kicked[0]), 1);
	assert_int_equal(atomic_load(&t->kicked[1]), 1);

	uint64_t one = 1;
	assert_int_equal(write(t->src_fd, &one, sizeof(one)), sizeof(one));
	assert_true(drv_wait_count(&t->fd_calls, 1));
	assert_int_equal(atomic_load(&t->last_fd_idx), 2);

	/* Not polled for anything: the fd is quiet; polled again: served. */
	virtio_common_poll_fd(&t->common, t->src_idx, EPOLLONESHOT);
	assert_int_equal(t->common.events[0], EPOLLONESHOT);
	assert_int_equal(write(t->src_fd, &one, sizeof(one)), sizeof(one));
	assert_idle(50);
	assert_int_equal(atomic_load(&t->fd_calls), 1);
	virtio_common_poll_fd(&t->common, t->src_idx, EPOLLIN);
	assert_true(drv_wait_count(&t->fd_calls, 2));
	/* No such fd of the device's (a queue's, or past the end): ignored. */
	virtio_common_poll_fd(&t->common, 0, EPOLLOUT);
	virtio_common_poll_fd(&t->common, 3, EPOLLOUT);
	assert_int_equal(t->common.events[0], EPOLLIN);

	/* A second DRIVER_OK without reset: the old thread goes first. */
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	assert_int_equal(t->resets, 1);
	assert_int_equal(t->activates, 2);
	drv_kick(&f->q[1]);
	assert_true(drv_wait_count(&t->kicked[1], 2));

	f->vd->ops->reset(f->vd->dev);
	assert_false(virtio_worker_running(&t->common.worker));
	assert_int_equal(t->resets, 2);
	assert_int_equal(t->common.nfds, 0);
	/* Stopped: kicks wait for the next activation. */
	drv_kick(&f->q[0]);
	assert_idle(50);
	assert_int_equal(atomic_load(&t->kicked[0]), 1);
	f->vd->ops->reset(f->vd->dev); /* twice is fine */
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	assert_true(drv_wait_count(&t->kicked[0], 2)); /* the pending kick */
}

static void test_activate_idle(void **state)
{
	struct fx *f = *state;
	f->t->activate_ret = VIRTIO_COMMON_IDLE;
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	assert_false(virtio_worker_running(&f->t->common.worker));
	assert_int_equal(f->t->common.nfds, 0);
	drv_kick(&f->q[0]);
	assert_idle(50);
	assert_int_equal(atomic_load(&f->t->kicked[0]), 0);
	/* A hook's -errno is the activation's. */
	f->t->activate_ret = -ENOMEM;
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(f->vd->ops->activate(f->vd->dev), -ENOMEM);
	log_capture_stop(&cap);
	assert_false(virtio_worker_running(&f->t->common.worker));
	assert_non_null(strstr(cap.text, "test-dev (unit): cannot activate"));
}

static void test_kick_at_start(void **state)
{
	struct fx *f = *state;
	struct tdev *t = f->t;
	t->common.p.kick_at_start = true;
	drv_queue_enable(&f->q[0], &f->vd->vqs[0], &f->mem);
	/* Queue 1 not enabled: not kicked. */
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	assert_true(drv_wait_count(&t->kicked[0], 1));
	assert_idle(50);
	assert_int_equal(atomic_load(&t->kicked[0]), 1);
	assert_int_equal(atomic_load(&t->kicked[1]), 0);
	f->vd->ops->reset(f->vd->dev);
	/* Without it, nothing until the driver kicks. */
	t->common.p.kick_at_start = false;
	assert_int_equal(f->vd->ops->activate(f->vd->dev), 0);
	assert_idle(50);
	assert_int_equal(atomic_load(&t->kicked[0]), 1);
}

/* ---- the queue loops ---- */

/* n chains of 64 device-writable bytes on queue 0, published. */
static void post(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		drv_add_slot(&f->q[0], 64, 0, VRING_DESC_F_WRITE);
	drv_publish(&f->q[0]);
}

static void test_serve(void **state)
{
	struct fx *f = *state;
	struct tdev *t = f->t;
	struct vq_chain chain;
	/* Not ready: left alone. */
	virtio_common_serve(&t->common, 0, &chain, 8, t_serve);
	assert_int_equal(t->served, 0);

	drv_queue_enable(&f->q[0], &f->vd->vqs[0], &f->mem);
	post(f, 3);
	virtio_common_serve(&t->common, 0, &chain, 8, t_serve);
	assert_int_equal(t->served, 3);
	assert_int_equal(drv_used_idx(&f->q[0]), 3);
	for (unsigned i = 0; i < 3; i++) {
		uint32_t len;
		drv_take_used(&f->q[0], &len);
		assert_int_equal(len, 64);
	}
	assert_int_equal(atomic_load(&f->tr.notified[0]), 1);

	/* Budget 2: two chains, then the queue kicked again for the rest. */
	post(f, 3);
	eventfd_drain(f->q[0].kick_fd);
	virtio_common_serve(&t->common, 0, &chain, 2, t_serve);
	assert_int_equal(t->served, 5);
	assert_int_equal(drv_used_idx(&f->q[0]), 5);
	assert_int_equal(eventfd_drain(f->q[0].kick_fd), 1);
	virtio_common_serve(&t->common, 0, &chain, 2, t_serve);
	assert_int_equal(drv_used_idx(&f->q[0]), 6);

	/* RETRY: the chain goes back, serving stops; it is served next time. */
	t->retry_at = t->served + 2;
	post(f, 2);
	virtio_common_serve(&t->common, 0, &chain, 8, t_serve);
	assert_int_equal(drv_used_idx(&f->q[0]), 7);
	assert_true(vq_has_available(&f->vd->vqs[0]));
	t->retry_at = 0;
	virtio_common_serve(&t->common, 0, &chain, 8, t_serve);
	assert_int_equal(drv_used_idx(&f->q[0]), 8);
	assert_int_equal(atomic_load(&f->tr.needs_reset), 0);

	/* A broken ring: NEEDS_RESET and one error, once; then left alone. */
	unsigned served = t->served;
	__atomic_store_n(&drv_avail(&f->q[0])->idx, htole16(200), __ATOMIC_RELEASE);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	virtio_common_serve(&t->common, 0, &chain, 8, t_serve);
	virtio_common_serve(&t->common, 0, &chain, 8, t_serve);
	log_capture_stop(&cap);
	assert_true(f->vd->vqs[0].broken);
	assert_int_equal(atomic_load(&f->tr.needs_reset), 1);
	assert_int_equal(atomic_load(&f->vd->errors), 1);
	assert_int_equal(t->served, served);
}

static void test_rx_kick_and_pop(void **state)
{
	struct fx *f = *state;
	struct virtio_common *c = &f->t->common;
	struct vq_chain chain;
	assert_false(virtio_common_rx_kicked(c, 0)); /* not ready */
	drv_queue_enable(&f->q[0], &f->vd->vqs[0], &f->mem);
	assert_true(virtio_common_rx_kicked(c, 0));
	/* Notifications off while the device reads its fd. */
	assert_true(le16toh(drv_used(&f->q[0])->flags) & VRING_USED_F_NO_NOTIFY);
	assert_int_equal(virtio_common_rx_pop(c, 0, &chain), -ENOENT);
	/* Ran dry: on again, the next buffers kick the queue. */
	assert_false(le16toh(drv_used(&f->q[0])->flags) & VRING_USED_F_NO_NOTIFY);
	post(f, 1);
	assert_int_equal(virtio_common_rx_pop(c, 0, &chain), 0);
	assert_int_equal(chain.write_len, 64);
	assert_int_equal(virtio_common_rx_pop(c, 0, &chain), -ENOENT);

	/* Broken: -EIO, NEEDS_RESET; a kick is then ignored. */
	__atomic_store_n(&drv_avail(&f->q[0])->idx, htole16(200), __ATOMIC_RELEASE);
	struct log_capture cap;
	log_capture_start(&cap, LOG_WARN);
	assert_int_equal(virtio_common_rx_pop(c, 0, &chain), -EIO);
	log_capture_stop(&cap);
	assert_int_equal(atomic_load(&f->tr.needs_reset), 1);
	assert_false(virtio_common_rx_kicked(c, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_read_bounds),
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_config_through_ops),
		T(test_config_generation),
		T(test_init_fills_vdev),
		T(test_init_rejects),
		T(test_activate_serves_kicks_and_fds),
		T(test_activate_idle),
		T(test_kick_at_start),
		T(test_serve),
		T(test_rx_kick_and_pop),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
