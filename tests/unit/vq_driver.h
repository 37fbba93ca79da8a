/* SPDX-License-Identifier: MIT */
/*
 * The guest driver's side of a split virtqueue, for the unit tests that play
 * the driver: rings built by hand in a plain buffer registered as guest
 * memory, chains made available, kicks through the queue's eventfd, bounded
 * waits on the used ring, and fake transport callbacks that count what the
 * device signals. Header-only (static inline): each test binary is one .c.
 *
 * Ring fields are written and read little-endian, as a virtio 1.0 driver
 * does.
 */
#ifndef CVMM_TESTS_UNIT_VQ_DRIVER_H
#define CVMM_TESTS_UNIT_VQ_DRIVER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <endian.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest_mem.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"

/* The bound of the waits that take no timeout. */
#define DRV_WAIT_MS 5000
/* How often the waits look again. */
#define DRV_POLL_US 500

/* ---- time ---- */

static inline uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Sleeps and checks the process (the device thread) stayed idle meanwhile:
 * no spinning. The measured window starts after a settling pause, so that
 * the thread's start-up (costly under ASan) is not counted.
 */
static inline void assert_idle(unsigned ms)
{
	usleep(50 * 1000);
	struct timespec a, b;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	usleep(ms * 1000);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	int64_t used_us = (b.tv_sec - a.tv_sec) * 1000000LL +
			  (b.tv_nsec - a.tv_nsec) / 1000;
	assert_true(used_us < (int64_t)ms * 1000 / 4);
}

/* Waits (bounded, DRV_WAIT_MS) until *c reaches at_least. */
static inline bool drv_wait_count(_Atomic unsigned *c, unsigned at_least)
{
	uint64_t end = now_ms() + DRV_WAIT_MS;
	bool ok;
	while (!(ok = atomic_load(c) >= at_least) && now_ms() < end)
		usleep(DRV_POLL_US);
	return ok;
}

/* ---- guest memory ---- */

/*
 * A zeroed, page-aligned buffer of size bytes registered in *mem as guest
 * memory at gpa; NULL when that fails.
 */
static inline uint8_t *drv_mem_alloc(struct guest_mem *mem, uint64_t gpa,
				     uint64_t size)
{
	uint8_t *buf = aligned_alloc(4096, size);
	if (!buf)
		return NULL;
	memset(buf, 0, size);
	if (guest_mem_add(mem, gpa, size, buf) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- one queue, as the driver sees it ---- */

struct drv_queue {
	uint8_t *mem;      /* host address of guest-physical mem_gpa */
	uint64_t mem_gpa;
	uint16_t size;     /* queue size */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Slot buffers (drv_add_slot): chain s uses descriptors 2s and 2s+1
	 * and the buf_size bytes at buf_gpa + s * buf_size. */
	uint64_t buf_gpa;
	uint32_t buf_size;
	unsigned slots;
	uint16_t avail_idx;     /* driver shadow */
	uint16_t published_idx; /* avail->idx as last published */
	uint16_t used_seen;     /* next used entry to consume */
	int kick_fd;            /* what drv_kick writes to */
	bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
};

static inline void *drv_host(const struct drv_queue *dq, uint64_t gpa)
{
	return dq->mem + (gpa - dq->mem_gpa);
}

static inline struct vring_desc *drv_desc_at(const struct drv_queue *dq,
					     uint64_t table_gpa, unsigned i)
{
	return (struct vring_desc *)drv_host(dq, table_gpa) + i;
}

static inline struct vring_avail *drv_avail(const struct drv_queue *dq)
{
	return drv_host(dq, dq->avail_gpa);
}

static inline struct vring_used *drv_used(const struct drv_queue *dq)
{
	return drv_host(dq, dq->used_gpa);
}

/* EVENT_IDX fields: the driver's used_event, the device's avail_event. */
static inline uint16_t *drv_used_event(const struct drv_queue *dq)
{
	return &drv_avail(dq)->ring[dq->size];
}

static inline uint16_t *drv_avail_event(const struct drv_queue *dq)
{
	return (uint16_t *)&drv_used(dq)->ring[dq->size];
}

/* Hands the driver's rings to the device's virtqueue (the transport's
 * part: queue_enable). */
static inline void drv_queue_enable(const struct drv_queue *dq,
				    struct virtqueue *vq,
				    const struct guest_mem *mem)
{
	assert_int_equal(vq_init(vq, mem, dq->size, dq->desc_gpa, dq->avail_gpa,
				 dq->used_gpa, dq->event_idx),
			 0);
}

/* Descriptor i of the table at table_gpa (the ring's, or an indirect one). */
static inline void drv_set_desc_in(const struct drv_queue *dq,
				   uint64_t table_gpa, unsigned i,
				   uint64_t addr, uint32_t len, uint16_t flags,
				   uint16_t next)
{
	struct vring_desc *d = drv_desc_at(dq, table_gpa, i);
	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

static inline void drv_set_desc(const struct drv_queue *dq, unsigned i,
				uint64_t addr, uint32_t len, uint16_t flags,
				uint16_t next)
{
	drv_set_desc_in(dq, dq->desc_gpa, i, addr, len, flags, next);
}

/* Places head in the avail ring (not yet published). */
static inline void drv_add_avail(struct drv_queue *dq, uint16_t head)
{
	/* Atomic: the device thread reads ring slots while the driver
	 * refills them (as a guest's vCPU and cvmm do; TSan sees both). */
	__atomic_store_n(&drv_avail(dq)->ring[dq->avail_idx % dq->size], htole16(head),
			 __ATOMIC_RELAXED);
	dq->avail_idx++;
}

/* Publishes avail->idx: what was added becomes the device's. */
static inline void drv_publish(struct drv_queue *dq)
{
	__atomic_store_n(&drv_avail(dq)->idx, htole16(dq->avail_idx),
			 __ATOMIC_RELEASE);
	dq->published_idx = dq->avail_idx;
}

/* Makes chain head available, published. */
static inline void drv_make_avail(struct drv_queue *dq, uint16_t head)
{
	drv_add_avail(dq, head);
	drv_publish(dq);
}

static inline void drv_kick(const struct drv_queue *dq)
{
	uint64_t one = 1;
	assert_int_equal(write(dq->kick_fd, &one, sizeof(one)), sizeof(one));
}

/*
 * Publishes avail->idx and kicks if the device asked for it: with EVENT_IDX,
 * when its avail_event lies among the entries published since the last
 * time; without, unless it set VRING_USED_F_NO_NOTIFY.
 */
static inline void drv_publish_and_kick(struct drv_queue *dq)
{
	uint16_t old_idx = dq->published_idx;
	drv_publish(dq);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool kick;
	if (dq->event_idx) {
		uint16_t ev = le16toh(__atomic_load_n(drv_avail_event(dq),
						      __ATOMIC_ACQUIRE));
		kick = vring_need_event(ev, dq->avail_idx, old_idx);
	} else {
		kick = !(le16toh(__atomic_load_n(&drv_used(dq)->flags,
						 __ATOMIC_ACQUIRE)) &
			 VRING_USED_F_NO_NOTIFY);
	}
	if (kick)
		drv_kick(dq);
}

static inline uint16_t drv_used_idx(const struct drv_queue *dq)
{
	return le16toh(__atomic_load_n(&drv_used(dq)->idx, __ATOMIC_ACQUIRE));
}

/* Waits (bounded, DRV_WAIT_MS) until used->idx is want. */
static inline bool drv_wait_used_idx(const struct drv_queue *dq, uint16_t want)
{
	uint64_t end = now_ms() + DRV_WAIT_MS;
	bool ok;
	while (!(ok = drv_used_idx(dq) == want) && now_ms() < end)
		usleep(DRV_POLL_US);
	return ok;
}

/* Used entries available to the driver (not consumed yet). */
static inline unsigned drv_used_pending(const struct drv_queue *dq)
{
	return (uint16_t)(drv_used_idx(dq) - dq->used_seen);
}

/* Waits (bounded) until at least n used entries are pending; returns how
 * many are. */
static inline unsigned drv_wait_pending(const struct drv_queue *dq,
					unsigned n, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	unsigned got;
	while ((got = drv_used_pending(dq)) < n && now_ms() < end)
		usleep(DRV_POLL_US);
	return got;
}

/* ---- slot buffers ---- */

static inline uint64_t drv_slot_gpa(const struct drv_queue *dq, unsigned slot)
{
	return dq->buf_gpa + (uint64_t)slot * dq->buf_size;
}

/*
 * Adds (not published) a chain over len bytes of the next slot's buffer:
 * one descriptor, or two when first is not 0 (first bytes, then the rest).
 * flags: VRING_DESC_F_WRITE for device-writable buffers, else 0. Returns
 * the host address of the slot's buffer.
 */
static inline void *drv_add_slot(struct drv_queue *dq, uint32_t len,
				 uint32_t first, uint16_t flags)
{
	unsigned slot = dq->avail_idx % dq->slots;
	uint16_t head = (uint16_t)(2 * slot);
	uint64_t gpa = drv_slot_gpa(dq, slot);
	if (first) {
		drv_set_desc(dq, head, gpa, first, flags | VRING_DESC_F_NEXT,
			     (uint16_t)(head + 1));
		drv_set_desc(dq, head + 1u, gpa + first, len - first, flags, 0);
	} else {
		drv_set_desc(dq, head, gpa, len, flags, 0);
	}
	drv_add_avail(dq, head);
	return drv_host(dq, gpa);
}

/* Consumes the next used entry (a slot chain); returns the host address of
 * its buffer and the length the device wrote in *len. */
static inline uint8_t *drv_take_used(struct drv_queue *dq, uint32_t *len)
{
	struct vring_used_elem e = drv_used(dq)->ring[dq->used_seen % dq->size];
	dq->used_seen++;
	uint32_t id = le32toh(e.id);
	assert_true(id < dq->size && id % 2 == 0);
	*len = le32toh(e.len);
	return drv_host(dq, drv_slot_gpa(dq, id / 2));
}

/* ---- fake transport callbacks ---- */

#define DRV_MAX_QUEUES 3

/* What the device signalled, counted. */
struct drv_transport {
	_Atomic unsigned notified[DRV_MAX_QUEUES]; /* per queue */
	_Atomic unsigned needs_reset;
	_Atomic unsigned config_changed;
};

static inline void drv_fake_notify_queue(struct virtio_dev *vd, unsigned q)
{
	struct drv_transport *t = vd->transport;
	assert_true(q < vd->nqueues && q < DRV_MAX_QUEUES);
	atomic_fetch_add(&t->notified[q], 1);
}

static inline void drv_fake_notify_config(struct virtio_dev *vd)
{
	struct drv_transport *t = vd->transport;
	atomic_fetch_add(&t->config_changed, 1);
}

static inline void drv_fake_needs_reset(struct virtio_dev *vd)
{
	struct drv_transport *t = vd->transport;
	atomic_fetch_add(&t->needs_reset, 1);
}

/* Plays the transport for vd: queue interrupts and needs-reset are counted
 * in *t (config interrupts only where the test sets notify_config). */
static inline void drv_fake_transport(struct virtio_dev *vd,
				      struct drv_transport *t)
{
	vd->transport = t;
	vd->notify_queue = drv_fake_notify_queue;
	vd->set_needs_reset = drv_fake_needs_reset;
}

#endif
